"""``simulate``: OpenFWI's acoustic finite-difference forward modelling in TensorFlow.

The scheme is the one OpenFWI made its data with, so amplitudes match theirs: 2nd order in time,
4th order in space (Laplacian weights -5/2, 4/3, -1/12), the model extended by edge replication into
an absorbing layer of ``survey.boundary`` cells, and the update

    p+ = 2 p - p- + alpha (L p),    alpha = (v dt / dx)^2,

after which the source adds ``(v dt)^2 w(t)`` at its cell and the receivers record ``p``. The
absorbing layer is ``survey.absorbing``:

- ``"cpml"`` (default): a convolutional PML (``keras_fwi.physics.cpml``). 12 cells reproduce a
  120-cell PML (deepwave's) to 0.1-0.6 % relative RMS, on an extended grid of 94 x 94 cells.
- ``"damping"``: OpenFWI's own layer, ``p+ -= kappa dt (p - p-)`` with the quadratic damping
  ``kappa(d) = 3 v_min ln(1e7) / (2 a) (d / a)^2``, ``a = (boundary - 1) dx``, at OpenFWI's 120
  cells (a 310 x 310 grid) to reproduce OpenFWI's data bit for bit. It reflects a little: its data
  differ from a 120-cell PML's by 0.3-1.2 % RMS, most of it late and from fast deep layers, so that is
  also how far the CPML's data are from OpenFWI's (benchmarks/RESULTS.md).

The whole time loop is one XLA program, batched over models and shots, and differentiable with
respect to velocity through ``tf.GradientTape`` (an exact adjoint-state gradient that holds one field
per time step of the extended grid while it runs).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf

from keras_fwi._system import cpu_count
from keras_fwi._validation import positive_int
from keras_fwi.physics.cpml import cpml_profiles, make_cpml_propagator
from keras_fwi.physics.propagate import make_propagator
from keras_fwi.physics.survey import Survey

__all__ = ["damping_profile", "default_parallel", "simulate"]


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


def simulate(velocity, survey: Survey, parallel: int | None = None, keep_wavefields: bool = False) -> tf.Tensor:
    """Shot gathers for each velocity model, by OpenFWI's finite-difference scheme.

    Args:
        velocity: array or tensor, (batch, nz, nx) or (batch, 1, nz, nx), in m/s.
        survey: ``Survey``, geometry, time sampling, absorbing layer and free surface.
        parallel: int, how many XLA programs run side by side, each on a share of the models (or of
            the shots when there are fewer models). XLA runs one program on one CPU core, so the
            default is the number of usable CPU cores, or 1 when TensorFlow sees a GPU.
        keep_wavefields: bool, for a caller that will take the gradient: the run keeps what the
            adjoint needs (nt x shots x (nz + 2 boundary) x (nx + 2 boundary) float32 per model,
            about 180 MB on OpenFWI's survey) until the gradient is taken, which then skips re-running
            the simulation (about 30 % cheaper). Default False: nothing kept, the gradient re-runs it.

    Returns:
        float32 tensor (batch, shots, nt, receivers): pressure at the receivers, in OpenFWI's units.

    Raises:
        ValueError: velocity of the wrong shape, not finite and positive, or too fast for the
            survey's dt and dx (CFL; the message gives the largest stable dt).

    Example:
        >>> survey = Survey.openfwi()
        >>> seismic = simulate(np.full((2, 70, 70), 3000.0), survey)   # (2, 5, 1000, 70)
    """
    velocity = _as_velocity(velocity, survey)
    if parallel is None:
        parallel = default_parallel()
    parallel = positive_int("parallel", parallel)
    batch = velocity.shape[0]
    if parallel == 1 or (batch is not None and batch == 1 and survey.shots == 1):
        return _compiled(survey, tuple(range(survey.shots)), bool(keep_wavefields))(velocity)
    return _split_run(survey, parallel, bool(keep_wavefields))(velocity)


def default_parallel() -> int:
    """``simulate``'s default ``parallel``: the usable CPU cores, or 1 when TensorFlow sees a GPU."""
    return 1 if tf.config.list_logical_devices("GPU") else cpu_count()


@functools.lru_cache(maxsize=16)
def _split_run(survey: Survey, parallel: int, keep_wavefields: bool):
    """A graph that runs ``parallel`` compiled programs on disjoint models (or shots) concurrently;
    TensorFlow's inter-op threads execute independent XLA launches at the same time."""

    @tf.function(autograph=False)
    def run(velocity):
        batch = velocity.shape[0]
        if batch is not None and batch >= parallel:
            sizes = [batch // parallel + (i < batch % parallel) for i in range(parallel)]
            everything = _compiled(survey, tuple(range(survey.shots)), keep_wavefields)
            return tf.concat([everything(part) for part in tf.split(velocity, sizes)], axis=0)
        groups = np.array_split(np.arange(survey.shots), min(parallel, survey.shots))
        return tf.concat([_compiled(survey, tuple(int(s) for s in group), keep_wavefields)(velocity)
                          for group in groups], axis=1)

    return run


@functools.lru_cache(maxsize=64)
def _compiled(survey: Survey, shots: tuple, keep_wavefields: bool):
    """The simulator for one survey and shot subset: velocity -> coefficients -> XLA time loop."""
    nbc, dt, dx = survey.boundary, survey.dt, survey.dx
    height, width = survey.nz + 2 * nbc, survey.nx + 2 * nbc
    rows = np.clip(np.arange(height) - nbc, 0, survey.nz - 1)
    cols = np.clip(np.arange(width) - nbc, 0, survey.nx - 1)
    source_cells = ((np.asarray(survey.source_z)[list(shots)] + nbc) * width
                    + np.asarray(survey.source_x)[list(shots)] + nbc)
    receiver_cells = (np.add(survey.receiver_z, nbc) * width + np.add(survey.receiver_x, nbc))
    surface = nbc if survey.free_surface else None
    if survey.absorbing == "cpml":
        propagate = make_cpml_propagator(survey.wavelet(), source_cells, receiver_cells, (height, width),
                                         surface, cpml_profiles(survey), keep_wavefields)
    else:
        damping_shape = (damping_profile(survey) * dt).astype(np.float32)  # NumPy: see make_propagator
        kappa_scale = 3.0 * math.log(1e7) / (2.0 * (nbc - 1) * dx)
        damped = make_propagator(survey.wavelet(), source_cells, receiver_cells, (height, width), surface,
                                 keep_wavefields)

        def propagate(alpha, source_amplitude, velocity):
            v_min = tf.reduce_min(velocity, axis=[1, 2])[:, None, None, None]
            return damped(alpha, kappa_scale * v_min * damping_shape, source_amplitude)

    @tf.function(autograph=False)
    def run(velocity):
        batch = tf.shape(velocity)[0]
        v = tf.gather(tf.gather(velocity, rows, axis=1), cols, axis=2)  # (batch, H, W), edges replicated
        alpha = tf.square(v[:, None] * (dt / dx))
        source_amplitude = tf.square(tf.gather(tf.reshape(v, [batch, height * width]), source_cells, axis=1) * dt)
        if survey.absorbing == "cpml":
            return propagate(alpha, source_amplitude)
        return propagate(alpha, source_amplitude, velocity)

    return run
