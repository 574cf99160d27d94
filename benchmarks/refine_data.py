"""Test maps and observed data for benchmarks/bench_refine.py, made independently of keras_fwi.

Velocity maps come from a small generator written here (not keras_fwi.physics.families): FlatVel-A-
type maps (3-5 flat layers, velocity increasing with depth), CurveVel-A-type maps (the same layers
bent by one shared sinusoid) and a Marmousi-like model (dipping, folded layers cut by two faults,
with a high-velocity lens). Observed data come from deepwave (accuracy 4, a 120-cell PML), turned
into OpenFWI's conventions as tests/test_physics_deepwave.py does: deepwave injects -v^2 dt^2 w and
records one step later, so its traces are negated and advanced by one sample.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.ndimage import gaussian_filter

V_MIN, V_MAX = 1500.0, 4500.0


def _layer_speeds(rng, layers: int) -> np.ndarray:
    """Increasing speeds, at least 250 m/s apart, in [V_MIN, V_MAX]."""
    while True:
        speeds = np.sort(rng.uniform(V_MIN, V_MAX, layers))
        if np.all(np.diff(speeds) >= 250.0):
            return speeds


def _interfaces(rng, layers: int, nz: int) -> np.ndarray:
    """layers - 1 sorted depths (cells), at least 6 cells apart and from the top and bottom."""
    while True:
        depths = np.sort(rng.integers(6, nz - 6, layers - 1))
        if np.all(np.diff(depths) >= 6):
            return depths


def layered_map(rng, nz: int = 70, nx: int = 70, curved: bool = False) -> np.ndarray:
    """One FlatVel-A-type (or, curved, CurveVel-A-type) map (nz, nx) in m/s."""
    layers = int(rng.integers(3, 6))
    speeds, depths = _layer_speeds(rng, layers), _interfaces(rng, layers, nz)
    x = np.arange(nx)
    bend = (rng.uniform(3, 8) * np.sin(2 * np.pi * x / rng.uniform(40, 120) + rng.uniform(0, 2 * np.pi))
            if curved else np.zeros(nx))
    z = np.arange(nz)[:, None, None]
    layer = np.sum(z >= depths[None, None, :] + bend[None, :, None], axis=-1)
    return speeds[layer].astype(np.float32)


def layered_maps(count: int, seed: int, curved: bool, nz: int = 70, nx: int = 70) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([layered_map(rng, nz, nx, curved) for _ in range(count)])


def marmousi_like(nz: int = 150, nx: int = 300) -> np.ndarray:
    """A Marmousi-like model (nz, nx) m/s: folded layers with a gradient, two normal faults, a fast lens."""
    z, x = np.mgrid[0:nz, 0:nx].astype(np.float64)
    fold = 12 * np.sin(2 * np.pi * x / 180) + 0.15 * (x - nx / 2)
    throw = 10 * (x + 0.5 * z > 0.45 * nx) + 8 * (x - 0.4 * z > 0.7 * nx)
    depth = z - fold * (z / nz) - throw
    layer = np.floor(depth / 11).astype(int)
    speed = 1600 + 16 * np.clip(depth, 0, None) + 180 * np.sin(1.7 * layer) ** 2
    lens = ((x - 0.3 * nx) / (0.12 * nx)) ** 2 + ((z - 0.65 * nz) / (0.06 * nz)) ** 2 < 1
    speed = np.where(lens, 4200.0, speed)
    speed[:8] = 1500.0  # water
    return np.clip(speed, V_MIN, V_MAX).astype(np.float32)


def smoothed(velocity: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed maps (batch, nz, nx), sigma in cells, edges reflected."""
    return np.stack([gaussian_filter(v.astype(np.float64), sigma, mode="nearest") for v in velocity]).astype(np.float32)


def deepwave_data(velocity: np.ndarray, survey) -> np.ndarray:
    """deepwave's scalar data [batch, shot, time, receiver] for models (batch, nz, nx), OpenFWI conventions."""
    import deepwave
    import torch

    sources = np.stack([survey.source_z, survey.source_x], axis=1)[:, None, :]
    receivers = np.repeat(np.stack([survey.receiver_z, survey.receiver_x], axis=1)[None], survey.shots, axis=0)
    wavelet = torch.tensor(survey.wavelet(), dtype=torch.float32)[None, None].repeat(survey.shots, 1, 1)
    out = []
    for model in velocity:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = deepwave.scalar(torch.tensor(model, dtype=torch.float32), survey.dx, survey.dt,
                                      source_amplitudes=wavelet, source_locations=torch.tensor(sources),
                                      receiver_locations=torch.tensor(receivers), accuracy=4, pml_width=120,
                                      pml_freq=survey.frequency)[-1]
        data = -np.transpose(records.numpy(), (0, 2, 1))
        out.append(np.concatenate([data[:, 1:], np.zeros_like(data[:, :1])], axis=1))
    return np.stack(out).astype(np.float32)
