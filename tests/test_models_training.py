"""Both networks are plain keras.Models that learn: a tiny one overfits one batch (loss falls ≥ 10×)."""

import numpy as np
import keras
import pytest

from keras_fwi import models


def layered_maps(batch: int, depth: int, width: int, seed: int) -> np.ndarray:
    """Smooth layered maps in [-1, 1], shaped (batch, 1, depth, width): learnable, distinct targets."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(-1, 1, depth)[:, None]
    maps = [np.tanh(rng.uniform(1, 3) * rows + rng.uniform(-0.5, 0.5)) * np.ones((1, width)) for _ in range(batch)]
    return np.stack(maps)[:, None].astype("float32")


@pytest.mark.parametrize("build, target_shape", [
    (lambda: models.inversionnet(widths=(8, 8, 16, 16, 32)), (70, 70)),
    (lambda: models.fcnvmb(shots=5, time_samples=64, receivers=64, velocity_shape=(48, 48),
                           filters=(8, 16, 32, 64, 128)), (48, 48)),
])
def test_tiny_model_overfits_one_batch(build, target_shape):
    model = build()
    seismic = np.random.default_rng(0).standard_normal((4,) + model.input_shape[1:]).astype("float32")
    velocity = layered_maps(4, *target_shape, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    history = model.fit(seismic, velocity, batch_size=4, epochs=80, verbose=0).history["loss"]
    assert history[-1] < history[0] / 10, f"loss went {history[0]:.4f} → {history[-1]:.4f}"
