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
differentiable with respect to velocity through ``tf.GradientTape``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf

from keras_fwi.physics.survey import Survey

__all__ = ["damping_profile", "simulate"]

_C1, _C2, _C3 = -2.5, 4.0 / 3.0, -1.0 / 12.0


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
    velocity = tf.convert_to_tensor(velocity)
    if not velocity.dtype.is_floating:
        velocity = tf.cast(velocity, tf.float32)
    velocity = tf.cast(velocity, tf.float32)
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


def simulate(velocity, survey: Survey) -> tf.Tensor:
    """Shot gathers for each velocity model, by OpenFWI's finite-difference scheme.

    Args:
        velocity: array or tensor, (batch, nz, nx) or (batch, 1, nz, nx), in m/s.
        survey: ``Survey``, geometry, time sampling, boundary width and free surface.

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
    return _compiled(survey)(velocity)


@functools.lru_cache(maxsize=16)
def _compiled(survey: Survey):
    """One XLA-compiled simulator per survey (the survey's arrays are baked in as constants)."""
    nbc, nt, dt, dx = survey.boundary, survey.nt, survey.dt, survey.dx
    height, width = survey.nz + 2 * nbc, survey.nx + 2 * nbc
    rows = np.clip(np.arange(height) - nbc, 0, survey.nz - 1)
    cols = np.clip(np.arange(width) - nbc, 0, survey.nx - 1)
    damping_shape = tf.constant(damping_profile(survey) * dt, tf.float32)
    kappa_scale = 3.0 * math.log(1e7) / (2.0 * (nbc - 1) * dx)
    wavelet = tf.constant(survey.wavelet(), tf.float32)
    # One-hot source map per shot, so injection is a fused multiply-add in the update.
    source_map = np.zeros((survey.shots, height, width), np.float32)
    source_map[np.arange(survey.shots), np.add(survey.source_z, nbc), np.add(survey.source_x, nbc)] = 1.0
    source_map = tf.constant(source_map)
    receiver_index = tf.constant((np.add(survey.receiver_z, nbc) * width
                                  + np.add(survey.receiver_x, nbc)).astype(np.int32))
    free_surface_row = nbc if survey.free_surface else None

    @tf.function(jit_compile=True, reduce_retracing=True)
    def run(velocity):
        batch = tf.shape(velocity)[0]
        v = tf.gather(tf.gather(velocity, rows, axis=1), cols, axis=2)[:, None]  # (batch, 1, H, W)
        v_min = tf.reduce_min(velocity, axis=[1, 2])[:, None, None, None]
        kappa_dt = kappa_scale * v_min * damping_shape
        alpha = tf.square(v * (dt / dx))
        temp1 = 2.0 + 2.0 * _C1 * alpha - kappa_dt
        temp2 = 1.0 - kappa_dt
        source = tf.square(v * dt) * source_map  # (batch, shots, H, W)
        zeros = tf.zeros([batch, survey.shots, height, width], tf.float32)

        def step(t, p0, p1, records):
            padded = tf.pad(p1, [[0, 0], [0, 0], [2, 2], [2, 2]])
            near = (padded[:, :, 1:-3, 2:-2] + padded[:, :, 3:-1, 2:-2]
                    + padded[:, :, 2:-2, 1:-3] + padded[:, :, 2:-2, 3:-1])
            far = (padded[:, :, :-4, 2:-2] + padded[:, :, 4:, 2:-2]
                   + padded[:, :, 2:-2, :-4] + padded[:, :, 2:-2, 4:])
            p = temp1 * p1 - temp2 * p0 + alpha * (_C2 * near + _C3 * far) + source * wavelet[t]
            if free_surface_row is not None:
                p = _free_surface(p, free_surface_row)
            flat = tf.reshape(p, [batch, survey.shots, height * width])
            records = records.write(t, tf.gather(flat, receiver_index, axis=2))
            return t + 1, p1, p, records

        records = tf.TensorArray(tf.float32, size=nt, element_shape=[None, survey.shots, survey.receivers])
        _, _, _, records = tf.while_loop(lambda t, *_: t < nt, step, (0, zeros, zeros, records),
                                         maximum_iterations=nt)
        return tf.transpose(records.stack(), [1, 2, 0, 3])  # (batch, shots, nt, receivers)

    return run


def _free_surface(p: tf.Tensor, row: int) -> tf.Tensor:
    """Zero pressure at ``row`` by odd mirroring: rows row-1, row-2 hold -p at row+1, row+2 (the
    stencil reaches two cells), rows above those are zero."""
    shape = tf.shape(p)
    above = tf.zeros([shape[0], shape[1], row - 2, shape[3]], p.dtype)
    image = -tf.reverse(p[:, :, row + 1:row + 3], axis=[2])
    surface = tf.zeros_like(p[:, :, row:row + 1])
    return tf.concat([above, image, surface, p[:, :, row + 1:]], axis=2)
