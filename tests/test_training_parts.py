import bisect

import numpy as np
import keras
import pytest

from keras_fwi import models
from keras_fwi.training.callbacks import NaNGuard, recompute_batch_norm
from keras_fwi.training.losses import L1L2Loss
from keras_fwi.training.schedules import WarmupMultiStep
from keras_fwi.training.trainer import PARTS, _freeze


def openfwi_lr(base, step, milestones, gamma, warmup_iters, warmup_factor=1e-5):
    """OpenFWI's WarmupMultiStepLR.get_lr, transcribed from its formula (linear warm-up)."""
    factor = 1.0
    if step < warmup_iters:
        alpha = step / warmup_iters
        factor = warmup_factor * (1 - alpha) + alpha
    return base * factor * gamma ** bisect.bisect_right(milestones, step)


def test_schedule_matches_openfwi():
    schedule = WarmupMultiStep(4e-4, milestones=(30, 60), gamma=0.1, warmup_steps=20)
    for step in [0, 1, 10, 19, 20, 29, 30, 31, 59, 60, 61, 500]:
        assert float(schedule(step)) == pytest.approx(openfwi_lr(4e-4, step, [30, 60], 0.1, 20), rel=1e-6)
    restored = WarmupMultiStep.from_config(schedule.get_config())
    assert float(restored(25)) == pytest.approx(float(schedule(25)))
    with pytest.raises(ValueError, match="milestones must be increasing"):
        WarmupMultiStep(1e-3, milestones=(60, 30))


def test_l1_l2_loss_matches_numpy():
    rng = np.random.default_rng(0)
    truth, pred = rng.uniform(-1, 1, (2, 3, 1, 7, 5)).astype("float32")
    loss = L1L2Loss(l1=0.7, l2=0.3)
    expected = 0.7 * np.abs(pred - truth).mean() + 0.3 * np.square(pred - truth).mean()
    assert float(loss(truth, pred)) == pytest.approx(expected, rel=1e-6)
    assert L1L2Loss.from_config(loss.get_config()).l2 == 0.3
    with pytest.raises(ValueError, match="loss weights must be ≥ 0 and not both 0"):
        L1L2Loss(l1=0, l2=0)


def test_batch_norm_recomputed_as_plain_averages():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9)(inputs))
    batches = [np.random.default_rng(i).normal(i, 1 + i, (5, 4, 4, 3)).astype("float32") for i in range(3)]
    assert recompute_batch_norm(model, batches) == 3
    layer = model.layers[-1]
    np.testing.assert_allclose(layer.moving_mean.numpy(), np.mean([b.mean(axis=(0, 1, 2)) for b in batches], 0),
                               rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               np.mean([b.var(axis=(0, 1, 2)) for b in batches], 0), rtol=1e-4)
    assert layer.momentum == 0.9


def test_nan_guard_stops_and_says_what_to_try():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    guard = NaNGuard()
    target = np.full((8, 1), np.nan, "float32")
    model.fit(np.ones((8, 3), "float32"), target, batch_size=4, epochs=3, callbacks=[guard], verbose=0)
    assert "became nan at epoch 1, batch 1" in guard.message
    assert "lower optimizer.learning_rate" in guard.message and "--precision float32" in guard.message


@pytest.mark.parametrize("arch, build", [
    ("inversionnet", lambda: models.inversionnet(widths=(4, 4, 8, 8, 16))),
    ("fcnvmb", lambda: models.fcnvmb(shots=2, time_samples=32, receivers=32, velocity_shape=(20, 20),
                                     filters=(4, 8, 16, 32, 64))),
])
def test_freeze_named_parts(arch, build):
    model = build()
    frozen = _freeze(model, ["encoder"], arch)
    assert frozen and all(not model.get_layer(name).trainable for name in frozen)
    weighted = [layer for layer in model.layers if layer.weights]
    encoder = {layer.name for layer in weighted if layer.name in frozen}
    decoder = {layer.name for layer in weighted if layer.trainable}
    assert encoder and decoder and not encoder & decoder
    with pytest.raises(ValueError, match="--freeze 'bottleneck' matches no layer"):
        _freeze(model, ["bottleneck"], arch)
    assert set(PARTS[arch]) == {"encoder", "decoder"}
