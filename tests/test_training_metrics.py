"""Metrics give the references' numbers: NumPy transcriptions of each formula, a port of OpenFWI's
pytorch_ssim run with torch, whole-set accumulation over uneven batches, and use in compile/evaluate."""

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_fwi.training import metrics as fwi_metrics

LABEL_MIN, LABEL_MAX = 1500.0, 4500.0
BATCHES = (5, 3, 2)  # uneven, so a mean of per-batch values would differ from the whole-set value


def make_maps(samples=sum(BATCHES), depth=20, width=24, seed=0):
    """Layered normalised maps in [-1, 1] and noisy predictions of them, (samples, 1, depth, width)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(-1, 1, depth)[None, :, None]
    truth = np.tanh(rng.uniform(1, 3, (samples, 1, 1)) * rows + rng.uniform(-0.5, 0.5, (samples, 1, 1)))
    truth = np.broadcast_to(truth, (samples, depth, width))
    pred = np.clip(truth + rng.normal(0, 0.1, truth.shape) * rng.uniform(0.2, 2, (samples, 1, 1)), -1, 1)
    return truth[:, None].astype("float32"), pred[:, None].astype("float32")


def to_ms(maps):
    """OpenFWI's denormalisation to m/s."""
    return (maps.astype("float64") / 2 + 0.5) * (LABEL_MAX - LABEL_MIN) + LABEL_MIN


def np_ssim(truth, pred):
    """OpenFWI's SSIM in NumPy: rescale to [0, 1], zero-padded 11×11 Gaussian σ 1.5, mean over all pixels."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2)).astype("float32")
    g = g / np.float32(g.astype("float64").sum())  # float32 like torch's: SSIM is sensitive to the window's sum
    window = np.outer(g, g).astype("float64")

    def blur(img):  # (n, h, w), zero padding 5, output same size
        padded = np.pad(img, ((0, 0), (5, 5), (5, 5)))
        views = np.lib.stride_tricks.sliding_window_view(padded, (11, 11), axis=(1, 2))
        return np.einsum("nhwij,ij->nhw", views, window)

    x, y = truth[:, 0].astype("float64") / 2 + 0.5, pred[:, 0].astype("float64") / 2 + 0.5
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))


def np_psnr(truth, pred):
    """FCNVMB's PSNR: per map 10·log10(mean(truth²)/mean((pred-truth)²)) in m/s, then the mean over maps."""
    t, p = to_ms(truth), to_ms(pred)
    values = [10 * math.log10(np.mean(ti**2) / np.mean((pi - ti) ** 2)) for ti, pi in zip(t, p)]
    return np.mean(values)


REFERENCES = {
    "mae": (lambda: fwi_metrics.MAE(), lambda t, p: np.mean(np.abs(p - t.astype("float64")))),
    "rmse": (lambda: fwi_metrics.RMSE(), lambda t, p: np.sqrt(np.mean((p - t.astype("float64")) ** 2))),
    "velocity_mae": (lambda: fwi_metrics.VelocityMAE(LABEL_MIN, LABEL_MAX),
                     lambda t, p: np.mean(np.abs(to_ms(p) - to_ms(t)))),
    "velocity_rmse": (lambda: fwi_metrics.VelocityRMSE(LABEL_MIN, LABEL_MAX),
                      lambda t, p: np.sqrt(np.mean((to_ms(p) - to_ms(t)) ** 2))),
    "ssim": (lambda: fwi_metrics.SSIM(), np_ssim),
    "fcnvmb_psnr": (lambda: fwi_metrics.PSNR(LABEL_MIN, LABEL_MAX), np_psnr),
}


def accumulate(metric, truth, pred, batches=BATCHES):
    """Feed the set batch by batch and return the metric's result."""
    start = 0
    for size in batches:
        metric.update_state(truth[start:start + size], pred[start:start + size])
        start += size
    return float(metric.result())


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_metric_matches_numpy_formula_over_uneven_batches(name):
    build, reference = REFERENCES[name]
    truth, pred = make_maps()
    metric = build()
    assert metric.name == name
    expected = reference(truth, pred)
    assert accumulate(metric, truth, pred) == pytest.approx(expected, rel=2e-5)
    # One update with the whole set gives the same value.
    whole = build()
    whole.update_state(truth, pred)
    assert float(whole.result()) == pytest.approx(expected, rel=2e-5)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_channels_last_maps_give_the_same_value(name):
    build, _ = REFERENCES[name]
    truth, pred = make_maps()
    first = accumulate(build(), truth, pred)
    last = accumulate(build(), truth.transpose(0, 2, 3, 1), pred.transpose(0, 2, 3, 1))
    explicit = accumulate(build().__class__.from_config({**build().get_config(), "data_format": "channels_last"}),
                          truth.transpose(0, 2, 3, 1), pred.transpose(0, 2, 3, 1))
    assert last == pytest.approx(first, rel=1e-6)
    assert explicit == pytest.approx(first, rel=1e-6)


def test_rmse_is_over_the_whole_set_not_a_mean_of_batch_values():
    truth, pred = make_maps()
    batch_values = []
    start = 0
    for size in BATCHES:
        metric = fwi_metrics.RMSE()
        metric.update_state(truth[start:start + size], pred[start:start + size])
        batch_values.append(float(metric.result()))
        start += size
    whole_set = accumulate(fwi_metrics.RMSE(), truth, pred)
    assert abs(whole_set - np.mean(batch_values)) > 1e-4 * whole_set


def test_ssim_matches_a_port_of_openfwi_pytorch_ssim():
    torch = pytest.importorskip("torch")
    f = torch.nn.functional

    def openfwi_ssim(img1, img2):  # pytorch_ssim._ssim with window 11, one channel, size_average
        g = torch.tensor([math.exp(-((x - 5) ** 2) / (2 * 1.5**2)) for x in range(11)])
        g = (g / g.sum()).unsqueeze(1)
        window = g.mm(g.t()).float().unsqueeze(0).unsqueeze(0)
        mu1, mu2 = f.conv2d(img1, window, padding=5), f.conv2d(img2, window, padding=5)
        s1 = f.conv2d(img1 * img1, window, padding=5) - mu1.pow(2)
        s2 = f.conv2d(img2 * img2, window, padding=5) - mu2.pow(2)
        s12 = f.conv2d(img1 * img2, window, padding=5) - mu1 * mu2
        c1, c2 = 0.01**2, 0.03**2
        ssim_map = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1.pow(2) + mu2.pow(2) + c1) * (s1 + s2 + c2))
        return ssim_map.mean().item()

    truth, pred = make_maps(depth=70, width=70, seed=3)
    # As OpenFWI's test.py calls it: labels first, both rescaled from (-1, 1) to (0, 1).
    expected = openfwi_ssim(torch.from_numpy(truth) / 2 + 0.5, torch.from_numpy(pred) / 2 + 0.5)
    assert accumulate(fwi_metrics.SSIM(), truth, pred) == pytest.approx(expected, abs=1e-6)
    assert 0.3 < expected < 0.99  # a discriminating case, not a trivial 0 or 1


def test_perfect_prediction_scores():
    truth, _ = make_maps()
    assert accumulate(fwi_metrics.SSIM(), truth, truth) == pytest.approx(1.0, abs=1e-6)
    assert accumulate(fwi_metrics.MAE(), truth, truth) == 0.0
    assert math.isinf(accumulate(fwi_metrics.PSNR(LABEL_MIN, LABEL_MAX), truth, truth))


def test_reset_state_starts_a_new_set():
    truth, pred = make_maps()
    metric = fwi_metrics.MAE()
    accumulate(metric, truth, pred)
    metric.reset_state()
    metric.update_state(truth[:2], pred[:2])
    assert float(metric.result()) == pytest.approx(np.mean(np.abs(pred[:2] - truth[:2])), rel=1e-5)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_sample_weight_zero_drops_maps(name):
    build, reference = REFERENCES[name]
    truth, pred = make_maps()
    weights = np.ones(len(truth), "float32")
    weights[[1, 6]] = 0.0
    metric = build()
    metric.update_state(truth, pred, sample_weight=weights[:, None])
    kept = weights > 0
    assert float(metric.result()) == pytest.approx(reference(truth[kept], pred[kept]), rel=2e-5)


def test_compile_evaluate_and_reload_give_the_numpy_values(tmp_path):
    inputs = keras.Input((1, 20, 24), name="seismic")  # OpenFWI layout in and out, as the real models
    hidden = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(keras.layers.Permute((2, 3, 1))(inputs))
    outputs = keras.layers.Permute((3, 1, 2), name="velocity")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mae", metrics=fwi_metrics.openfwi_metrics(LABEL_MIN, LABEL_MAX))
    truth, seismic = make_maps()
    results = model.evaluate(seismic, truth, batch_size=4, return_dict=True, verbose=0)
    pred = model.predict(seismic, batch_size=4, verbose=0)
    for name, (_, reference) in REFERENCES.items():
        assert results[name] == pytest.approx(reference(truth, pred), rel=1e-4), name

    model.fit(seismic, truth, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    again = reloaded.evaluate(seismic, truth, batch_size=3, return_dict=True, verbose=0)
    pred = reloaded.predict(seismic, verbose=0)
    assert again["fcnvmb_psnr"] == pytest.approx(np_psnr(truth, pred), rel=1e-4)
    assert again["ssim"] == pytest.approx(np_ssim(truth, pred), rel=1e-4)


def test_openfwi_metrics_names():
    assert [m.name for m in fwi_metrics.openfwi_metrics()] == ["mae", "rmse", "ssim"]
    assert [m.name for m in fwi_metrics.openfwi_metrics(1500, 4500)] == [
        "mae", "rmse", "ssim", "velocity_mae", "velocity_rmse", "fcnvmb_psnr"]


@pytest.mark.parametrize("shape, match", [
    ((4, 3, 20, 24), r"exactly one of axes 1 and 3 of size 1"),
    ((4, 1, 20, 1), r"cannot tell the channel axis .*pass data_format"),
    ((4, 20, 24), r"must be rank 4, .*got shape \(4, 20, 24\)"),
])
def test_bad_map_shapes_are_refused(shape, match):
    maps = np.zeros(shape, "float32")
    with pytest.raises(ValueError, match=match):
        fwi_metrics.MAE().update_state(maps, maps)


def test_explicit_layout_with_wrong_channel_axis_is_refused():
    maps = np.zeros((4, 20, 24, 1), "float32")
    with pytest.raises(ValueError, match=r"channels_first layout must have 1 channel on axis 1; got shape"):
        fwi_metrics.SSIM(data_format="channels_first").update_state(maps, maps)


def test_maps_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match=r"rmse: true and predicted maps differ in size"):
        fwi_metrics.RMSE().update_state(np.zeros((2, 1, 20, 24)), np.zeros((2, 1, 24, 20)))


def test_bad_sample_weight_is_refused():
    maps = np.zeros((2, 1, 20, 24), "float32")
    with pytest.raises(ValueError, match=r"one weight per velocity map, shape \(batch,\); got shape \(2, 20\)"):
        fwi_metrics.MAE().update_state(maps, maps, sample_weight=np.ones((2, 20)))


@pytest.mark.parametrize("kwargs, match", [
    ({"label_min": 4500, "label_max": 1500}, "label_max must be greater than label_min, got label_min=4500"),
    ({"label_min": "1500", "label_max": 4500}, "label_min must be a finite number of m/s, got '1500'"),
    ({"label_min": 1500, "label_max": float("nan")}, "label_max must be a finite number of m/s, got nan"),
])
def test_bad_velocity_range_is_refused(kwargs, match):
    for cls in (fwi_metrics.VelocityMAE, fwi_metrics.VelocityRMSE, fwi_metrics.PSNR):
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)


def test_bad_data_format_and_half_range_are_refused():
    with pytest.raises(ValueError, match="data_format must be one of 'channels_first', 'channels_last', got 'NCHW'"):
        fwi_metrics.MAE(data_format="NCHW")
    with pytest.raises(ValueError, match="give both label_min and label_max"):
        fwi_metrics.openfwi_metrics(label_min=1500)


_MIRRORED_SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
sys.path.insert(0, sys.argv[1])
from test_training_metrics import LABEL_MAX, LABEL_MIN, REFERENCES, make_maps
from keras_fwi.training import metrics as fwi_metrics
with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
    inputs = keras.Input((1, 20, 24))
    hidden = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(keras.layers.Permute((2, 3, 1))(inputs))
    model = keras.Model(inputs, keras.layers.Permute((3, 1, 2))(hidden))
    model.compile(loss="mae", metrics=fwi_metrics.openfwi_metrics(LABEL_MIN, LABEL_MAX), jit_compile=False)
truth, seismic = make_maps()
results = model.evaluate(seismic, truth, batch_size=4, return_dict=True, verbose=0)  # last batch splits 1 + 1
pred = model.predict(seismic, verbose=0)
for name, (_, reference) in REFERENCES.items():
    expected = reference(truth, pred)
    assert abs(results[name] - expected) <= 1e-4 * abs(expected), (name, results[name], expected)
print("ok")
"""


@pytest.mark.slow
def test_metrics_sum_over_replicas_of_a_mirrored_strategy():
    """Two logical CPUs need a fresh process: TensorFlow fixes its devices when it starts."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT, tests_dir], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
