"""FCNVMB's PSNR and SSIM against a line-by-line transcription of its func/utils.py; metric sets and units."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from keras_fwi.data import get_preset  # noqa: E402
from keras_fwi.training.fcnvmb_metrics import FcnvmbSSIM, fcnvmb_metrics, metric_units, preset_metrics  # noqa: E402


# --- YangFangShu/FCNVMB func/utils.py, transcribed (Variable dropped; size_average=True) -----------------
def turn(GT):
    dim = GT.shape
    for j in range(0, dim[1]):
        for i in range(0, dim[0] // 2):
            temp = GT[i, j]
            GT[i, j] = GT[dim[0] - 1 - i, j]
            GT[dim[0] - 1 - i, j] = temp
    return GT


def PSNR(prediction, target):
    prediction = torch.from_numpy(prediction)
    target = torch.from_numpy(target)
    zero = torch.zeros_like(target)
    criterion = torch.nn.MSELoss(reduction="mean")
    MSE = criterion(prediction, target)
    total = criterion(target, zero)
    return 10. * math.log10(total.item() / MSE.item())


def gaussian(window_size, sigma):
    gauss = torch.Tensor([math.exp(-(x - window_size // 2) ** 2 / float(2 * sigma ** 2)) for x in range(window_size)])
    return gauss / gauss.sum()


def create_window(window_size, channel):
    _1D_window = gaussian(window_size, 1.5).unsqueeze(1)
    _2D_window = _1D_window.mm(_1D_window.t()).float().unsqueeze(0).unsqueeze(0)
    return _2D_window.expand(channel, 1, window_size, window_size).contiguous()


def _ssim(img1, img2, window, window_size, channel):
    F = torch.nn.functional
    mu1 = F.conv2d(img1, window, padding=window_size // 2, groups=channel)
    mu2 = F.conv2d(img2, window, padding=window_size // 2, groups=channel)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    sigma1_sq = F.conv2d(img1 * img1, window, padding=window_size // 2, groups=channel) - mu1_sq
    sigma2_sq = F.conv2d(img2 * img2, window, padding=window_size // 2, groups=channel) - mu2_sq
    sigma12 = F.conv2d(img1 * img2, window, padding=window_size // 2, groups=channel) - mu1_mu2
    L = 255
    C1 = (0.01 * L) ** 2
    C2 = (0.03 * L) ** 2
    ssim_map = ((2 * mu1_mu2 + C1) * (2 * sigma12 + C2)) / ((mu1_sq + mu2_sq + C1) * (sigma1_sq + sigma2_sq + C2))
    return ssim_map.mean()


def SSIM(img1, img2, window_size=11):
    img1, img2 = torch.from_numpy(img1), torch.from_numpy(img2)
    (_, channel, _, _) = img1.size()
    window = create_window(window_size, channel).type_as(img1)
    return _ssim(img1, img2, window, window_size, channel)


def reference_scores(predictions, truths):
    """FCNVMB_test.py's loop: turn each map, PSNR and SSIM per map; the set's means."""
    psnrs, ssims = [], []
    for pd, gt in zip(predictions, truths):
        pd, gt = turn(pd.copy()), turn(gt.copy())
        psnrs.append(PSNR(pd, gt))
        ssims.append(float(SSIM(pd.reshape(-1, 1, *pd.shape), gt.reshape(-1, 1, *gt.shape))))
    return float(np.mean(psnrs)), float(np.mean(ssims))
# ---------------------------------------------------------------------------------------------------------


def maps(seed=0, count=5, shape=(20, 24)):
    """Layered m/s truths with a salt-like block, and predictions = truth + smooth and rough errors."""
    rng = np.random.default_rng(seed)
    depth = np.arange(shape[0])[:, None] * np.ones(shape)
    truth = 1500 + 2500 * depth / shape[0] + rng.uniform(-200, 200, (count, 1, 1))
    truth[:, 8:14, 6:16] = 4500.0
    prediction = truth + rng.normal(0, 80, truth.shape) + 150 * np.sin(np.arange(shape[1]) / 3.0)
    return truth.astype(np.float32), prediction.astype(np.float32)


def test_psnr_and_ssim_match_fcnvmbs_own_code_on_m_per_s_maps():
    truth, prediction = maps()
    expected_psnr, expected_ssim = reference_scores(prediction, truth)
    metrics = {metric.name: metric for metric in fcnvmb_metrics()}
    for batch in (slice(0, 2), slice(2, 5)):  # accumulated over batches of different sizes
        for metric in metrics.values():
            metric.update_state(truth[batch, None], prediction[batch, None])
    assert float(metrics["fcnvmb_psnr"].result()) == pytest.approx(expected_psnr, rel=1e-5)
    assert float(metrics["fcnvmb_ssim"].result()) == pytest.approx(expected_ssim, rel=1e-5)
    assert 0.05 < expected_ssim < 0.99  # neither trivial nor perfect: the constants matter here
    diff = prediction.astype(np.float64) - truth
    assert float(metrics["velocity_mae"].result()) == pytest.approx(np.abs(diff).mean(), rel=1e-5)
    assert float(metrics["velocity_rmse"].result()) == pytest.approx(np.sqrt((diff ** 2).mean()), rel=1e-5)


def test_fcnvmb_ssim_is_not_openfwis():
    from keras_fwi.training.metrics import SSIM as OpenFwiSSIM

    truth, prediction = maps(seed=1)
    ours, openfwi = FcnvmbSSIM(), OpenFwiSSIM()
    normalised = [(m - 1500) / 3000 * 2 - 1 for m in (truth, prediction)]
    ours.update_state(truth[:, None], prediction[:, None])
    openfwi.update_state(normalised[0][:, None], normalised[1][:, None])
    assert abs(float(ours.result()) - float(openfwi.result())) > 0.05


def test_normalised_maps_are_compared_in_m_per_s():
    truth, prediction = maps(seed=2)
    normalised = [((m - 1500.0) / 3000.0 - 0.5) * 2 for m in (truth, prediction)]
    in_ms, from_normalised = fcnvmb_metrics(), fcnvmb_metrics(1500.0, 4500.0)
    for a, b in zip(in_ms, from_normalised):
        a.update_state(truth[:, None], prediction[:, None])
        b.update_state(normalised[0][:, None], normalised[1][:, None])
        assert float(b.result()) == pytest.approx(float(a.result()), rel=1e-3), a.name


def test_each_preset_gets_its_references_metrics_with_units():
    fcnvmb = preset_metrics(get_preset("fcnvmb-seg-salt"))
    assert [m.name for m in fcnvmb] == ["velocity_mae", "velocity_rmse", "fcnvmb_psnr", "fcnvmb_ssim"]
    openfwi = preset_metrics(get_preset("flatvel-a"))
    assert [m.name for m in openfwi] == ["mae", "rmse", "ssim", "velocity_mae", "velocity_rmse", "fcnvmb_psnr"]
    units = metric_units(openfwi + fcnvmb)
    assert units["mae"] == "normalised" and units["velocity_mae"] == "m/s" and units["fcnvmb_psnr"] == "dB"
    assert units["ssim"].startswith("1 (OpenFWI") and units["fcnvmb_ssim"].startswith("1 (FCNVMB")


def test_fcnvmb_ssim_config_round_trip():
    import keras

    metric = FcnvmbSSIM(1500.0, 4500.0, data_format="channels_first")
    clone = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert isinstance(clone, FcnvmbSSIM) and (clone.label_min, clone.label_max) == (1500.0, 4500.0)
    with pytest.raises(ValueError, match="label_max must be greater than label_min"):
        FcnvmbSSIM(4500.0, 1500.0)
