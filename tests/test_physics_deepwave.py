"""simulate against deepwave (an independent simulator) on layered models.

Deepwave's scalar propagator with accuracy 4 discretises the same equation with a PML instead of
OpenFWI's damping layer; it injects -v^2 dt^2 w and records one step later, so its data are compared
negated and advanced by one sample. With 40 boundary cells both absorb well enough for the traces to
agree to within a few tenths of a percent in amplitude.
"""

import warnings

import numpy as np
import pytest

from keras_fwi.physics import Survey, simulate
from keras_fwi.physics.families import velocity_model

torch = pytest.importorskip("torch")
deepwave = pytest.importorskip("deepwave")


def _deepwave(velocity: np.ndarray, survey: Survey) -> np.ndarray:
    """deepwave.scalar in our conventions: (shots, nt, receivers)."""
    sources = np.stack([survey.source_z, survey.source_x], axis=1)[:, None, :]
    receivers = np.repeat(np.stack([survey.receiver_z, survey.receiver_x], axis=1)[None], survey.shots, axis=0)
    amplitudes = torch.tensor(survey.wavelet(), dtype=torch.float32)[None, None].repeat(survey.shots, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = deepwave.scalar(torch.tensor(velocity, dtype=torch.float32), survey.dx, survey.dt,
                              source_amplitudes=amplitudes, source_locations=torch.tensor(sources),
                              receiver_locations=torch.tensor(receivers), accuracy=4,
                              pml_width=survey.boundary, pml_freq=survey.frequency)
    data = -np.transpose(out[-1].numpy(), (0, 2, 1))
    return np.concatenate([data[:, 1:], np.zeros_like(data[:, :1])], axis=1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """deepwave's two-thread runs crawl on this shared 2-core machine (see benchmarks/RESULTS.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("family, index", [("flatvel-b", 1), ("curvevel-a", 2), ("flatfault-a", 0)])
def test_layered_models_agree_with_deepwave(family, index):
    survey = Survey(nz=40, nx=40, dx=10.0, nt=400, dt=1e-3, frequency=15.0, source_z=1, source_x=[5, 34],
                    receiver_z=1, receiver_x=list(range(40)), boundary=40)
    velocity = velocity_model(family, index, seed=0, shape=(40, 40))
    ours = simulate(velocity[None], survey).numpy()[0][:, :-1]
    theirs = _deepwave(velocity, survey)[:, :-1]
    correlation = np.sum(ours * theirs) / np.sqrt(np.sum(ours ** 2) * np.sum(theirs ** 2))
    assert correlation >= 0.999
    assert np.sqrt(np.sum(ours ** 2) / np.sum(theirs ** 2)) == pytest.approx(1.0, abs=0.01)
