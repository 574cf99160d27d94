"""Velocity-model families named like OpenFWI's datasets, plus FCNVMB-style salt models.

Every model is drawn from its own random stream, seeded by ``(seed, family, index)``: model ``i``
is the same whether it is drawn alone, in a batch or on another machine, and parameters are
continuous, so no two models coincide. Velocities are in m/s on a (nz, nx) grid, depth first.

Families (``layers`` counts layers including the deepest half-space):

- ``flatvel-a``: 2-5 flat layers, velocity increasing with depth, 1500-4500 m/s.
- ``flatvel-b``: 2-5 flat layers, velocities in any order (neighbours differ by >= 300 m/s).
- ``curvevel-a``/``curvevel-b``: as above, interfaces curved by a sum of two random sinusoids of
  up to nz/8 cells amplitude shared by all interfaces (plus a small per-interface variation).
- ``flatfault-a``/``curvefault-a``: flat/curved ``-a`` layers cut by one straight fault (dip
  45-90 degrees, anywhere across the model) that moves the hanging wall by nz/20-nz/6 cells up or
  down.
- ``salt``: gently curved layered background increasing with depth (1500-4000 m/s) holding 1-2
  salt bodies (4400-4500 m/s) with irregular outlines, FCNVMB's SEG-like setting.

``smooth`` (cells, Gaussian sigma) blurs a model into a starting model for FWI.
"""

from __future__ import annotations

import zlib

import numpy as np

from keras_fwi._validation import one_of, positive_int, positive_int_tuple
from keras_fwi.data.presets import get_preset

__all__ = ["FAMILIES", "V_MAX", "V_MIN", "smooth_model", "velocity_model", "velocity_models"]

# OpenFWI's label range in m/s, from the dataset preset the families imitate (one definition).
V_MIN, V_MAX = get_preset("flatvel-a").label_min, get_preset("flatvel-a").label_max
_MIN_CONTRAST = 300.0  # m/s between neighbouring layers, so every interface reflects


def _layer_velocities(rng, layers: int, increasing: bool, v_min=V_MIN, v_max=V_MAX) -> np.ndarray:
    if increasing:
        # Sorted draws with a minimum step: spread the spare range randomly between layers.
        spare = (v_max - v_min) - _MIN_CONTRAST * (layers - 1)
        cuts = np.sort(rng.uniform(0.0, spare, layers))
        return v_min + cuts + _MIN_CONTRAST * np.arange(layers)
    velocities = [rng.uniform(v_min, v_max)]
    while len(velocities) < layers:
        candidate = rng.uniform(v_min, v_max)
        if abs(candidate - velocities[-1]) >= _MIN_CONTRAST:
            velocities.append(candidate)
    return np.asarray(velocities)


def _flat_interfaces(rng, layers: int, nz: int, nx: int) -> np.ndarray:
    """Depths (cells) of ``layers - 1`` interfaces, each constant across x: shape (layers - 1, nx)."""
    min_gap = max(2, nz // (3 * layers))
    if layers * min_gap > nz:
        raise ValueError(f"a model {nz} cells deep cannot hold {layers} layers at least {min_gap} cells thick; "
                         "use a deeper model (nz)")
    for _ in range(1000):  # rejection sampling; the draws of every feasible case so far end in a few tries
        depths = np.sort(rng.uniform(min_gap, nz - min_gap, layers - 1))
        if layers == 2 or np.min(np.diff(depths)) >= min_gap:
            break
    else:  # a tight fit that random draws rarely meet: evenly spaced interfaces
        depths = np.linspace(min_gap, nz - min_gap, layers + 1)[1:-1] if layers > 2 else depths
    return np.repeat(depths[:, None], nx, axis=1)


def _curvature(rng, nz: int, nx: int) -> np.ndarray:
    """A smooth lateral undulation (cells) shared by all interfaces, shape (nx,)."""
    x = np.arange(nx) / nx
    shape = np.zeros(nx)
    for _ in range(2):
        wavelength = rng.uniform(0.5, 2.0)
        shape += rng.uniform(-1.0, 1.0) * np.sin(2 * np.pi * x / wavelength + rng.uniform(0, 2 * np.pi))
    return shape * (nz / 8.0) / max(1.0, np.max(np.abs(shape)))


def _curved_interfaces(rng, layers: int, nz: int, nx: int) -> np.ndarray:
    flat = _flat_interfaces(rng, layers, nz, nx)
    wiggle = 0.15 * np.stack([_curvature(rng, nz, nx) for _ in range(layers - 1)]) if layers > 1 else 0
    return flat + _curvature(rng, nz, nx)[None, :] + wiggle


def _render(interfaces: np.ndarray, velocities: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Velocity at each cell: the layer below as many interfaces as lie above ``depth`` (nz, nx)."""
    layer = np.sum(interfaces[:, None, :] <= depth[None, :, :], axis=0)
    return velocities[layer]


def _fault_depth(rng, nz: int, nx: int) -> np.ndarray:
    """Depth at which each cell reads the unfaulted layers: shifted by the throw on one side."""
    z, x = np.meshgrid(np.arange(nz, dtype=np.float64), np.arange(nx, dtype=np.float64), indexing="ij")
    dip = np.deg2rad(rng.uniform(45.0, 90.0)) * rng.choice([-1.0, 1.0])
    top_x = rng.uniform(0.2 * nx, 0.8 * nx)
    fault_x = top_x + z / np.tan(dip)
    throw = rng.uniform(nz / 20.0, nz / 6.0) * rng.choice([-1.0, 1.0])
    return np.where(x > fault_x, z - throw, z)


def _layered(rng, nz, nx, curved: bool, increasing: bool, faulted: bool) -> np.ndarray:
    layers = int(rng.integers(2, 6))
    interfaces = (_curved_interfaces if curved else _flat_interfaces)(rng, layers, nz, nx)
    velocities = _layer_velocities(rng, layers, increasing)
    depth = _fault_depth(rng, nz, nx) if faulted else np.broadcast_to(np.arange(nz, dtype=np.float64)[:, None],
                                                                      (nz, nx))
    return _render(interfaces, velocities, depth)


def _salt(rng, nz: int, nx: int) -> np.ndarray:
    layers = int(rng.integers(3, 7))
    interfaces = _curved_interfaces(rng, layers, nz, nx)
    background = _render(interfaces, _layer_velocities(rng, layers, True, V_MIN, 4000.0),
                         np.broadcast_to(np.arange(nz, dtype=np.float64)[:, None], (nz, nx)))
    z, x = np.meshgrid(np.arange(nz) / nz, np.arange(nx) / nx, indexing="ij")
    model = background.copy()
    for _ in range(int(rng.integers(1, 3))):
        centre_z, centre_x = rng.uniform(0.35, 0.8), rng.uniform(0.15, 0.85)
        radius_z, radius_x = rng.uniform(0.1, 0.25), rng.uniform(0.08, 0.25)
        # Lobed outline: the radius varies with angle around the centre by a few harmonics.
        angle = np.arctan2(z - centre_z, x - centre_x)
        lobes = sum(rng.uniform(-0.15, 0.15) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5))
        inside = ((z - centre_z) / radius_z) ** 2 + ((x - centre_x) / radius_x) ** 2 < (1.0 + lobes) ** 2
        model[inside] = rng.uniform(4400.0, V_MAX)
    return model


FAMILIES = {
    "flatvel-a": lambda rng, nz, nx: _layered(rng, nz, nx, curved=False, increasing=True, faulted=False),
    "flatvel-b": lambda rng, nz, nx: _layered(rng, nz, nx, curved=False, increasing=False, faulted=False),
    "curvevel-a": lambda rng, nz, nx: _layered(rng, nz, nx, curved=True, increasing=True, faulted=False),
    "curvevel-b": lambda rng, nz, nx: _layered(rng, nz, nx, curved=True, increasing=False, faulted=False),
    "flatfault-a": lambda rng, nz, nx: _layered(rng, nz, nx, curved=False, increasing=True, faulted=True),
    "curvefault-a": lambda rng, nz, nx: _layered(rng, nz, nx, curved=True, increasing=True, faulted=True),
    "salt": _salt,
}


def smooth_model(velocity: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a (..., nz, nx) model with ``sigma`` cells, edges replicated; same dtype."""
    if not sigma > 0:
        raise ValueError(f"smooth must be a positive Gaussian sigma in cells, got {sigma!r}")
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.asarray(velocity, dtype=np.float64)
    for axis in (-2, -1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        out = np.apply_along_axis(lambda line: np.convolve(line, kernel, mode="valid"), axis, padded)
    return out.astype(np.asarray(velocity).dtype)


def velocity_model(family: str, index: int, seed: int = 0, shape=(70, 70), smooth: float | None = None
                   ) -> np.ndarray:
    """Model ``index`` of ``family`` under ``seed``: float32 (nz, nx) in m/s.

    Args:
        family: str, a key of ``FAMILIES``.
        index: int >= 0, the sample number; the model depends only on (family, seed, index).
        seed: int >= 0, the dataset seed.
        shape: (nz, nx) cells; OpenFWI's families are 70 x 70.
        smooth: optional Gaussian sigma in cells for a smoothed (starting) model.

    Raises:
        ValueError: unknown family, negative index or seed, bad shape or smooth.
    """
    one_of("family", family, tuple(FAMILIES))
    for name, value in (("index", index), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    nz, nx = positive_int_tuple("shape", tuple(shape), 2)
    rng = np.random.default_rng([int(seed), zlib.crc32(family.encode()), int(index)])
    model = FAMILIES[family](rng, nz, nx)
    if smooth is not None:
        model = smooth_model(model, smooth)
    return np.clip(model, V_MIN, V_MAX).astype(np.float32)


def velocity_models(family: str, count: int, seed: int = 0, start: int = 0, shape=(70, 70),
                    smooth: float | None = None) -> np.ndarray:
    """Models ``start .. start + count - 1`` of ``family``: float32 (count, nz, nx) in m/s."""
    count = positive_int("count", count)
    return np.stack([velocity_model(family, start + i, seed, shape, smooth) for i in range(count)])
