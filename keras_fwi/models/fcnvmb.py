"""FCNVMB (Yang & Ma 2019): the U-Net of the reference code ``UnetModel``, reproduced exactly.

Two reference quirks are kept because trained weights depend on them: the skip connection of each
level is the *pooled* output of its down stage (so it has half the size of the map it joins and is
zero-padded up to it, floor before and ceil after), and the decoded map is cropped at offset 1.
"""

from __future__ import annotations

import keras

from keras_fwi._validation import positive_int_tuple
from keras_fwi.models import blocks
from keras_fwi.models.layout import check_sizes, seismic_input, velocity_output

_LEVELS = 4  # down/up stages; the decoder output is 2**_LEVELS times the coarsest map
_CROP_OFFSET = 1


def _stage(x, filters: int, name: str):
    """Two [conv 3×3 pad 1 → BatchNorm → ReLU] units, ``{name}_conv1`` and ``{name}_conv2``."""
    x = blocks.conv_bn_act(x, filters, 3, 1, 1, activation="relu", name=f"{name}_conv1")
    return blocks.conv_bn_act(x, filters, 3, 1, 1, activation="relu", name=f"{name}_conv2")


def _up_stage(skip, deeper, filters: int, name: str):
    """Upsample ``deeper`` 2× (``{name}_deconv``), zero-pad ``skip`` to its size, concat, one stage."""
    upsampled = keras.layers.Conv2DTranspose(filters, 2, strides=2, padding="valid", name=f"{name}_deconv")(deeper)
    rows = upsampled.shape[1] - skip.shape[1]
    cols = upsampled.shape[2] - skip.shape[2]
    if rows or cols:
        skip = keras.layers.ZeroPadding2D(((rows // 2, (rows + 1) // 2), (cols // 2, (cols + 1) // 2)),
                                          name=f"{name}_skip_pad")(skip)
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([skip, upsampled])
    return _stage(x, filters, name)


def decoded_shape(time_samples: int, receivers: int) -> tuple[int, int]:
    """(rows, cols) of FCNVMB's decoder output before the crop: 16 × the ceil-pooled coarsest map."""
    rows, cols = time_samples, receivers
    for _ in range(_LEVELS):
        rows, cols = -(-rows // 2), -(-cols // 2)
    return rows * 2**_LEVELS, cols * 2**_LEVELS


def fcnvmb(shots: int = 29, time_samples: int = 400, receivers: int = 301,
           velocity_shape: tuple[int, int] = (201, 301),
           filters: tuple[int, int, int, int, int] = (64, 128, 256, 512, 1024),
           data_format: str = "channels_first", name: str = "fcnvmb") -> keras.Model:
    """Build FCNVMB's U-Net as a plain functional ``keras.Model``.

    Defaults are the paper's SEG setting: 29 shots × 400 time samples (2000 decimated by 5) × 301
    receivers → a 201×301 velocity map (10 m cells), 31,058,497 trainable parameters. Max pooling is
    2×2 stride 2 in ceil mode (Keras ``padding="same"`` pooling is identical). Linear output, in the
    units of the training labels (m/s for the reference recipe).

    Args:
        shots: int, number of sources (input channels). Default 29.
        time_samples: int, samples per trace after decimation. Default 400.
        receivers: int, receivers per shot. Default 301.
        velocity_shape: (depth, width) of the output map in cells. Default (201, 301).
        filters: five ints, widths of the four down stages and the centre, each twice the one
            before (as the reference requires). Default (64, 128, 256, 512, 1024).
        data_format: ``"channels_first"`` (reference layout, default) or ``"channels_last"``.
        name: str, model name.

    Input shape:
        ``(batch, shots, time_samples, receivers)`` or ``(batch, time_samples, receivers, shots)``.

    Output shape:
        ``(batch, 1, depth, width)`` or ``(batch, depth, width, 1)``, float32 under any policy.

    Raises:
        ValueError: an argument is not positive, or the input is too small for the decoder to cover
            ``velocity_shape`` after the offset-1 crop.

    Example:
        >>> model = keras_fwi.models.fcnvmb()
        >>> model.output_shape
        (None, 1, 201, 301)
    """
    shots, time_samples, receivers, depth, width = check_sizes(shots, time_samples, receivers, velocity_shape)
    filters = positive_int_tuple("filters", filters, length=5)
    if any(deeper != 2 * shallower for shallower, deeper in zip(filters, filters[1:])):
        # Each reference up stage convolves [skip, upsampled] = 2·filters[i] channels with a stage built
        # for filters[i + 1] input channels, so the published network exists only for doubling widths.
        raise ValueError(f"filters must double from level to level, like (64, 128, 256, 512, 1024), got {filters}")
    rows, cols = decoded_shape(time_samples, receivers)
    for arg, size, needed in (("time_samples", time_samples, depth), ("receivers", receivers, width)):
        decoded = rows if arg == "time_samples" else cols
        if decoded < _CROP_OFFSET + needed:
            raise ValueError(
                f"{arg}={size} is too small for velocity_shape={(depth, width)}: FCNVMB's decoder output "
                f"has {decoded} along that axis, but the crop at offset {_CROP_OFFSET} needs "
                f"{_CROP_OFFSET + needed}; use more {arg} or a smaller velocity_shape")

    inputs, x = seismic_input(shots, time_samples, receivers, data_format)
    skips = []
    for level in range(_LEVELS):
        x = _stage(x, filters[level], name=f"down{level + 1}")
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"down{level + 1}_pool")(x)
        skips.append(x)
    x = _stage(x, filters[_LEVELS], name="center")
    for level in reversed(range(_LEVELS)):
        x = _up_stage(skips[level], x, filters[level], name=f"up{level + 1}")
    x = keras.layers.Cropping2D(((_CROP_OFFSET, rows - _CROP_OFFSET - depth),
                                 (_CROP_OFFSET, cols - _CROP_OFFSET - width)), name="crop")(x)
    x = keras.layers.Conv2D(1, 1, name="final")(x)
    outputs = velocity_output(x, data_format, None)
    return keras.Model(inputs, outputs, name=name)
