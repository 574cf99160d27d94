"""Shared helpers of the export tests: small models whose outputs are far from constant."""

from __future__ import annotations

import numpy as np

SMALL_WIDTHS = (8, 8, 16, 16, 32)
SMALL_FILTERS = (4, 8, 16, 32, 64)
FLATVEL_A = dict(data_min=-26.95, data_max=52.77, label_min=1500.0, label_max=4500.0, dataset="flatvel-a")


def calibrated(model, seed: int = 0):
    """Set every BatchNorm's moving statistics to those of one random batch (like SWA's update_bn).

    A freshly initialised InversionNet in inference mode maps everything to ~0 (activations shrink
    through 30 layers), which would make any parity check pass; calibrated, its tanh output spans
    most of [-1, 1].
    """
    import keras

    shape = (4, *model.input_shape[1:])
    seismic = np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # the moving averages become exactly this batch's statistics
    model(seismic, training=True)
    for layer in norms:
        layer.momentum = 0.9
    return model


def small_inversionnet(data_format: str = "channels_first", seed: int = 0):
    import keras

    import keras_fwi.models

    keras.utils.set_random_seed(seed)
    return calibrated(keras_fwi.models.inversionnet(widths=SMALL_WIDTHS, data_format=data_format), seed)


def small_fcnvmb(seed: int = 0):
    """FCNVMB at a tenth of its SEG size: 5 shots × 64 samples × 48 receivers → 40×48."""
    import keras

    import keras_fwi.models

    keras.utils.set_random_seed(seed)
    model = keras_fwi.models.fcnvmb(shots=5, time_samples=64, receivers=48, velocity_shape=(40, 46),
                                    filters=SMALL_FILTERS)
    return calibrated(model, seed)


def raw_seismic(shape, batch: int = 3, seed: int = 1) -> np.ndarray:
    """Raw OpenFWI-like amplitudes within flatvel-a's range, float32."""
    rng = np.random.default_rng(seed)
    return rng.uniform(FLATVEL_A["data_min"], FLATVEL_A["data_max"], (batch, *shape)).astype(np.float32)
