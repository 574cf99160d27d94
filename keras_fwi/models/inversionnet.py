"""InversionNet (Wu & Lin 2019) exactly as in OpenFWI's ``network.InversionNet``.

Encoder: seven strided convolutions over time (first four 1-D along time, then 3×3) compress a
shot gather to a 1×1 code of ``widths[4]`` channels; decoder: transposed convolutions up to 80×80,
cropped to the velocity map, then conv → BatchNorm → tanh (maps normalised to [-1, 1]).
"""

from __future__ import annotations

import itertools

import keras

from keras_fwi._validation import positive_int_tuple
from keras_fwi.models import blocks
from keras_fwi.models.layout import check_sizes, seismic_input, velocity_output

# (name, width index, kernel, stride, padding) of the encoder blocks, in PyTorch terms (time, receiver).
_ENCODER = (
    ("convblock1", 0, (7, 1), (2, 1), (3, 0)),
    ("convblock2_1", 1, (3, 1), (2, 1), (1, 0)),
    ("convblock2_2", 1, (3, 1), (1, 1), (1, 0)),
    ("convblock3_1", 1, (3, 1), (2, 1), (1, 0)),
    ("convblock3_2", 1, (3, 1), (1, 1), (1, 0)),
    ("convblock4_1", 2, (3, 1), (2, 1), (1, 0)),
    ("convblock4_2", 2, (3, 1), (1, 1), (1, 0)),
    ("convblock5_1", 2, (3, 3), (2, 2), (1, 1)),
    ("convblock5_2", 2, (3, 3), (1, 1), (1, 1)),
    ("convblock6_1", 3, (3, 3), (2, 2), (1, 1)),
    ("convblock6_2", 3, (3, 3), (1, 1), (1, 1)),
    ("convblock7_1", 3, (3, 3), (2, 2), (1, 1)),
    ("convblock7_2", 3, (3, 3), (1, 1), (1, 1)),
)
# (stage number, width index) of the four upsampling stages after the 5×5 stage.
_DECODER = ((2, 3), (3, 2), (4, 1), (5, 0))
_DECODED_SIZE = 80  # 5 · 2⁴


def _encoder_lengths(length: int, axis: int) -> list[int]:
    """Lengths along ``axis`` (0 time, 1 receivers) entering each encoder block, then leaving the last."""
    lengths = [length]
    for _, _, kernel, stride, padding in _ENCODER:
        lengths.append(blocks.conv_output_length(lengths[-1], kernel[axis], stride[axis], padding[axis]))
    return lengths


def _fits_encoder(length: int, axis: int) -> bool:
    """True if every strided block receives at least 2 samples along ``axis`` (so it really halves)."""
    entering = _encoder_lengths(length, axis)[:-1]
    return all(size >= 2 for size, block in zip(entering, _ENCODER) if block[3][axis] > 1)


def encoded_shape(time_samples: int, receivers: int) -> tuple[int, int]:
    """(time, receivers) size of the encoder's map before the final full-size convolution.

    It is (8, 9) at OpenFWI's 1000 × 70, hence OpenFWI's 8 × ceil(70 / 8) kernel.

    Raises:
        ValueError: the input is too small for the encoder (a strided block would get < 2 samples).
    """
    shape = []
    for axis, (arg, length) in enumerate((("time_samples", time_samples), ("receivers", receivers))):
        if not _fits_encoder(length, axis):
            minimum = next(n for n in itertools.count(1) if _fits_encoder(n, axis))
            raise ValueError(f"{arg}={length} is too small for InversionNet's encoder, whose strided layers "
                             f"each need at least 2 samples to halve; use at least {minimum}")
        shape.append(_encoder_lengths(length, axis)[-1])
    return shape[0], shape[1]


def inversionnet(shots: int = 5, time_samples: int = 1000, receivers: int = 70,
                 velocity_shape: tuple[int, int] = (70, 70),
                 widths: tuple[int, int, int, int, int] = (32, 64, 128, 256, 512),
                 data_format: str = "channels_first", name: str = "inversionnet") -> keras.Model:
    """Build InversionNet as a plain functional ``keras.Model``.

    Defaults are OpenFWI's: 5 shots × 1000 time samples × 70 receivers → a 70×70 map, widths
    ``dim1..dim5`` = (32, 64, 128, 256, 512), 24,409,123 trainable parameters. Every conv/deconv
    is followed by BatchNorm (eps 1e-5, momentum 0.9) and LeakyReLU(0.2), except the tanh head.

    The last encoder convolution spans the whole remaining map, so the code is 1×1 for any input
    size; at OpenFWI's size its kernel is 8 × ceil(receivers / 8), as in OpenFWI.

    Args:
        shots: int, number of sources (input channels). Default 5.
        time_samples: int, samples per trace after any temporal downsampling. Default 1000.
        receivers: int, receivers per shot. Default 70.
        velocity_shape: (depth, width) of the output map in cells, each at most 80. Default (70, 70).
        widths: five ints, channel widths ``dim1..dim5``. Default (32, 64, 128, 256, 512).
        data_format: ``"channels_first"`` (OpenFWI layout, default) or ``"channels_last"``; see
            ``keras_fwi.models.layout``.
        name: str, model name.

    Input shape:
        ``(batch, shots, time_samples, receivers)`` (channels_first) or
        ``(batch, time_samples, receivers, shots)`` (channels_last); normalised amplitudes.

    Output shape:
        ``(batch, 1, depth, width)`` or ``(batch, depth, width, 1)``: velocity normalised to [-1, 1],
        float32 under any dtype policy.

    Raises:
        ValueError: an argument is not positive, the input is too small for the encoder, or the
            requested map is larger than the 80×80 decoder output.

    Example:
        >>> model = keras_fwi.models.inversionnet()
        >>> model.output_shape
        (None, 1, 70, 70)
    """
    shots, time_samples, receivers, depth, width = check_sizes(shots, time_samples, receivers, velocity_shape)
    widths = positive_int_tuple("widths", widths, length=5)
    if depth > _DECODED_SIZE or width > _DECODED_SIZE:
        raise ValueError(f"velocity_shape must be at most ({_DECODED_SIZE}, {_DECODED_SIZE}) (the decoder's "
                         f"output before cropping), got {(depth, width)}")
    code_kernel = encoded_shape(time_samples, receivers)

    inputs, x = seismic_input(shots, time_samples, receivers, data_format)
    for block, width_index, kernel, stride, padding in _ENCODER:
        x = blocks.conv_bn_act(x, widths[width_index], kernel, stride, padding, name=block)
    x = blocks.conv_bn_act(x, widths[4], code_kernel, 1, 0, name="convblock8")

    x = blocks.deconv_bn_act(x, widths[4], 5, 1, 0, name="deconv1_1")
    x = blocks.conv_bn_act(x, widths[4], name="deconv1_2")
    for stage, width_index in _DECODER:
        x = blocks.deconv_bn_act(x, widths[width_index], 4, 2, 1, name=f"deconv{stage}_1")
        x = blocks.conv_bn_act(x, widths[width_index], name=f"deconv{stage}_2")
    crop_rows, crop_cols = _DECODED_SIZE - depth, _DECODED_SIZE - width
    if crop_rows or crop_cols:
        x = keras.layers.Cropping2D(((crop_rows // 2, crop_rows - crop_rows // 2),
                                     (crop_cols // 2, crop_cols - crop_cols // 2)), name="crop")(x)
    x = blocks.conv(x, 1, 3, 1, 1, name="deconv6")
    x = blocks.batch_norm(x, "deconv6")
    outputs = velocity_output(x, data_format, "tanh")
    return keras.Model(inputs, outputs, name=name)
