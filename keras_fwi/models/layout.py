"""Input/output layout of keras_fwi models.

OpenFWI and FCNVMB store seismic data as ``(batch, shots, time, receivers)`` and velocity maps as
``(batch, 1, depth, width)``: PyTorch's channels-first layout with shots as channels. Keras
convolutions on CPU run channels-last, so a model built with ``data_format="channels_first"`` (the
default) takes and returns the OpenFWI layout and transposes inside the graph; with
``data_format="channels_last"`` it takes ``(batch, time, receivers, shots)`` and returns
``(batch, depth, width, 1)`` with no transposes.
"""

from __future__ import annotations

import keras

from keras_fwi._validation import one_of, positive_int, positive_int_tuple

DATA_FORMATS = ("channels_first", "channels_last")


def check_sizes(shots, time_samples, receivers, velocity_shape) -> tuple[int, int, int, int, int]:
    """``(shots, time_samples, receivers, depth, width)`` as ints; ``ValueError`` naming any that is not positive."""
    depth, width = positive_int_tuple("velocity_shape", velocity_shape, length=2)
    return (positive_int("shots", shots), positive_int("time_samples", time_samples),
            positive_int("receivers", receivers), depth, width)


def seismic_input(shots: int, time_samples: int, receivers: int, data_format: str):
    """Return ``(model_input, channels_last_tensor)`` for seismic data in ``data_format``."""
    one_of("data_format", data_format, DATA_FORMATS)
    if data_format == "channels_first":
        inputs = keras.Input((shots, time_samples, receivers), name="seismic")
        return inputs, keras.layers.Permute((2, 3, 1), name="to_channels_last")(inputs)
    inputs = keras.Input((time_samples, receivers, shots), name="seismic")
    return inputs, inputs


def velocity_output(x, data_format: str, activation: str | None):
    """Final activation in float32 (also under mixed precision), in ``data_format``; layer ``velocity``."""
    if data_format == "channels_first":
        x = keras.layers.Permute((3, 1, 2), name="to_channels_first")(x)
    return keras.layers.Activation(activation or "linear", dtype="float32", name="velocity")(x)
