"""``simulate``: OpenFWI's acoustic finite-difference forward modelling in TensorFlow.

The scheme is the one OpenFWI made its data with, so amplitudes match theirs: 2nd order in time,
4th order in space (Laplacian weights -5/2, 4/3, -1/12), the model extended by edge replication into
an absorbing layer of ``survey.boundary`` cells with the quadratic damping
``kappa(d) = 3 v_min ln(1e7) / (2 a) (d / a)^2``, ``a = (boundary - 1) dx``, and the update

    p+ = (2 - 5 alpha - kappa dt) p - (1 - kappa dt) p- + alpha (4/3 S1 - 1/12 S2),
    alpha = (v dt / dx)^2,

where S1, S2 are the sums of the four neighbours at distance 1 and 2 (cells beyond the extended grid
count as zero). After each update the source adds ``(v dt)^2 w(t)`` at its cell and the receivers
record ``p``. The whole time loop is one XLA program, batched over models and shots, and
differentiable with respect to velocity through ``tf.GradientTape`` (an adjoint-state gradient that
holds all ``nt`` wavefields of the extended grid while it runs: 1.9 GB per model of 5 shots at
OpenFWI's 120-cell boundary, 0.45 GB at 40).

A narrower ``boundary`` is much faster (the extended grid is 310 x 310 cells at 120, 150 x 150 at 40)
and changes the data a little: on FlatVel-A and CurveFault-A models, 40 cells differ from the
120-cell result by 4.6-5.8 % relative RMS (largest error 1.1 or 1.4 % of OpenFWI's data range), 60
cells by 2.8 %, 20 cells by 16 % (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import tensorflow as tf

from keras_fwi._validation import positive_int
from keras_fwi.physics.propagate import make_propagator
from keras_fwi.physics.survey import Survey

__all__ = ["damping_profile", "simulate"]


def damping_profile(survey: Survey) -> np.ndarray:
    """``(d / a)^2`` on the extended grid, shape (nz + 2 boundary, nx + 2 boundary), float64.

    As in OpenFWI, the left and right strips take the lateral distance over the full height (so the
    corners do too) and the top and bottom strips the vertical distance; ``d`` is 0 in the boundary
    cell next to the model and ``a = (boundary - 1) dx`` in the outermost one.
    """
    nbc = survey.boundary
    ramp = (np.arange(nbc, dtype=np.float64) / (nbc - 1)) ** 2  # (d / a)^2, d = 0 .. a
    profile = np.zeros((survey.nz + 2 * nbc, survey.nx + 2 * nbc))
    profile[:, :nbc] = ramp[::-1]
    profile[:, nbc + survey.nx:] = ramp
    profile[:nbc, nbc:nbc + survey.nx] = ramp[::-1, None]
    profile[nbc + survey.nz:, nbc:nbc + survey.nx] = ramp[:, None]
    return profile


def _as_velocity(velocity, survey: Survey) -> tf.Tensor:
    """Validate ``velocity`` and return it as float32 (batch, nz, nx)."""
    velocity = tf.cast(tf.convert_to_tensor(velocity), tf.float32)
    if velocity.shape.rank == 4 and velocity.shape[1] == 1:
        velocity = velocity[:, 0]  # OpenFWI's model layout (batch, 1, nz, nx)
    expected = (survey.nz, survey.nx)
    if velocity.shape.rank != 3 or tuple(velocity.shape[1:]) != expected:
        raise ValueError(f"velocity must have shape (batch, {survey.nz}, {survey.nx}) (or (batch, 1, "
                         f"{survey.nz}, {survey.nx})) to match the survey, got {tuple(velocity.shape)}")
    if tf.executing_eagerly():
        v_min, v_max = float(tf.reduce_min(velocity)), float(tf.reduce_max(velocity))
        if not (math.isfinite(v_min) and math.isfinite(v_max)) or v_min <= 0:
            raise ValueError(f"velocity must be finite and positive (m/s), got values in [{v_min}, {v_max}]")
        survey.check_stability(v_max)
    return velocity


def simulate(velocity, survey: Survey, parallel: int | None = None) -> tf.Tensor:
    """Shot gathers for each velocity model, by OpenFWI's finite-difference scheme.

    Args:
        velocity: array or tensor, (batch, nz, nx) or (batch, 1, nz, nx), in m/s.
        survey: ``Survey``, geometry, time sampling, boundary width and free surface.
        parallel: int, how many XLA programs run side by side, each on a share of the models (or of
            the shots when there are fewer models). XLA runs one program on one CPU core, so the
            default is the number of usable CPU cores, or 1 when TensorFlow sees a GPU.

    Returns:
        float32 tensor (batch, shots, nt, receivers): pressure at the receivers, in OpenFWI's units.

    Raises:
        ValueError: velocity of the wrong shape, not finite and positive, or too fast for the
            survey's dt and dx (CFL; the message gives the largest stable dt).

    Example:
        >>> survey = Survey.openfwi(boundary=40)
        >>> seismic = simulate(np.full((2, 70, 70), 3000.0), survey)   # (2, 5, 1000, 70)
    """
    velocity = _as_velocity(velocity, survey)
    if parallel is None:
        parallel = 1 if tf.config.list_logical_devices("GPU") else len(os.sched_getaffinity(0))
    parallel = positive_int("parallel", parallel)
    batch = velocity.shape[0]
    if parallel == 1 or (batch is not None and batch == 1 and survey.shots == 1):
        return _compiled(survey, tuple(range(survey.shots)))(velocity)
    return _split_run(survey, parallel)(velocity)


@functools.lru_cache(maxsize=16)
def _split_run(survey: Survey, parallel: int):
    """A graph that runs ``parallel`` compiled programs on disjoint models (or shots) concurrently;
    TensorFlow's inter-op threads execute independent XLA launches at the same time."""

    @tf.function(autograph=False)
    def run(velocity):
        batch = velocity.shape[0]
        if batch is not None and batch >= parallel:
            sizes = [batch // parallel + (i < batch % parallel) for i in range(parallel)]
            everything = _compiled(survey, tuple(range(survey.shots)))
            return tf.concat([everything(part) for part in tf.split(velocity, sizes)], axis=0)
        groups = np.array_split(np.arange(survey.shots), min(parallel, survey.shots))
        return tf.concat([_compiled(survey, tuple(int(s) for s in group))(velocity) for group in groups], axis=1)

    return run


@functools.lru_cache(maxsize=64)
def _compiled(survey: Survey, shots: tuple):
    """The simulator for one survey and shot subset: velocity -> coefficients -> XLA time loop."""
    nbc, dt, dx = survey.boundary, survey.dt, survey.dx
    height, width = survey.nz + 2 * nbc, survey.nx + 2 * nbc
    rows = np.clip(np.arange(height) - nbc, 0, survey.nz - 1)
    cols = np.clip(np.arange(width) - nbc, 0, survey.nx - 1)
    damping_shape = (damping_profile(survey) * dt).astype(np.float32)  # NumPy: see make_propagator
    kappa_scale = 3.0 * math.log(1e7) / (2.0 * (nbc - 1) * dx)
    source_cells = ((np.asarray(survey.source_z)[list(shots)] + nbc) * width
                    + np.asarray(survey.source_x)[list(shots)] + nbc)
    receiver_cells = (np.add(survey.receiver_z, nbc) * width + np.add(survey.receiver_x, nbc))
    propagate = make_propagator(survey.wavelet(), source_cells, receiver_cells, (height, width),
                                nbc if survey.free_surface else None)

    @tf.function(autograph=False)
    def run(velocity):
        batch = tf.shape(velocity)[0]
        v = tf.gather(tf.gather(velocity, rows, axis=1), cols, axis=2)  # (batch, H, W), edges replicated
        v_min = tf.reduce_min(velocity, axis=[1, 2])[:, None, None, None]
        kappa_dt = kappa_scale * v_min * damping_shape
        alpha = tf.square(v[:, None] * (dt / dx))
        source_amplitude = tf.square(tf.gather(tf.reshape(v, [batch, height * width]), source_cells, axis=1) * dt)
        return propagate(alpha, kappa_dt, source_amplitude)

    return run
