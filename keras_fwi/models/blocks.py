"""Layer blocks shared by the builders, written to reproduce PyTorch's layers exactly.

PyTorch pads convolutions symmetrically (``padding=p`` adds ``p`` zeros on both sides). Keras'
``padding="same"`` puts the odd extra zero after the data at stride 2, which shifts every sampling
grid and gives a different network, so every block pads explicitly with ``ZeroPadding2D`` and then
convolves with ``padding="valid"``. A PyTorch ``ConvTranspose2d(padding=p)`` equals a full
("valid") transposed convolution followed by cropping ``p`` rows/columns on each side.

All blocks work on channels-last tensors ``(batch, height, width, channels)``.
"""

from __future__ import annotations

import keras

# PyTorch BatchNorm2d defaults: eps 1e-5, running stats updated with weight 0.1 on the new batch,
# which is Keras momentum 0.9.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def batch_norm(x, name: str):
    """BatchNorm with PyTorch's epsilon and momentum; layer ``{name}_bn``."""
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def conv(x, filters: int, kernel_size, strides=1, padding=0, name: str = "conv"):
    """``torch.nn.Conv2d(kernel_size, stride, padding)`` with bias; layers ``{name}_pad``, ``{name}_conv``."""
    padding = _pair(padding)
    if padding != (0, 0):
        x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(filters, _pair(kernel_size), strides=_pair(strides), padding="valid",
                               name=f"{name}_conv")(x)


def deconv(x, filters: int, kernel_size, strides=1, padding=0, name: str = "deconv"):
    """``torch.nn.ConvTranspose2d(kernel_size, stride, padding)``; layers ``{name}_conv``, ``{name}_crop``."""
    x = keras.layers.Conv2DTranspose(filters, _pair(kernel_size), strides=_pair(strides), padding="valid",
                                     name=f"{name}_conv")(x)
    padding = _pair(padding)
    if padding != (0, 0):
        x = keras.layers.Cropping2D(padding, name=f"{name}_crop")(x)
    return x


def conv_bn_act(x, filters: int, kernel_size=3, strides=1, padding=1, activation="leaky_relu",
                name: str = "block"):
    """Conv → BatchNorm → activation (OpenFWI's ``ConvBlock``, FCNVMB's conv unit)."""
    x = conv(x, filters, kernel_size, strides, padding, name=name)
    x = batch_norm(x, name)
    return activation_layer(activation, name)(x)


def deconv_bn_act(x, filters: int, kernel_size=2, strides=2, padding=0, name: str = "block"):
    """Transposed conv → BatchNorm → LeakyReLU(0.2) (OpenFWI's ``DeconvBlock``)."""
    x = deconv(x, filters, kernel_size, strides, padding, name=name)
    x = batch_norm(x, name)
    return activation_layer("leaky_relu", name)(x)


def activation_layer(activation: str, name: str):
    """The block's non-linearity as a layer named ``{name}_act``."""
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")
    return keras.layers.Activation(activation, name=f"{name}_act")


def conv_output_length(length: int, kernel_size: int, stride: int, padding: int) -> int:
    """Length of a PyTorch convolution's output along one axis (floor division, like PyTorch)."""
    return (length + 2 * padding - kernel_size) // stride + 1
