"""The convolutional PML (CPML) time-stepping kernel and its exact adjoint, each one XLA program.

The absorbing layer stretches each coordinate, d/dx -> (1/s_x) d/dx with s_x = 1 + sigma / (alpha + i w)
(Komatitsch & Martin 2007); for the 2nd-order scalar equation the stretched second derivative is
applied with two memory fields per axis, psi and zeta, updated by recursive convolution (Pasalic &
McGarry 2010, the form deepwave uses). Per axis, with ``D1``/``D2`` the 4th-order first/second
difference stencils (in cells, zero beyond the grid) and the 1-D profiles ``a = exp(-(sigma + alpha) dt)``,
``b = sigma / (sigma + alpha) (a - 1)`` and ``b' = D1 b``:

    t     = (1 + b) D2 p + b' D1 p + D1(a psi)
    w     = sum over axes of (1 + b) t + a zeta
    p+    = F( 2 p - p- + alpha_v w + e_s a_s w_src[n] ),          alpha_v = (v dt / dx)^2
    psi+  = b D1 p + a psi,       zeta+ = b t + a zeta,

which is OpenFWI's interior update wherever a = b = 0. Sample ``n`` of the data is ``p[n+1]`` at the
receivers. Each step therefore computes ``D2 p`` over the whole grid and what the stretching adds only
in a strip along each absorbing side (``boundary + 4`` cells: the profiles' reach plus the stencil's),
where psi and zeta live too; the strips' terms join the grid by concatenation with zeros, which XLA
fuses into the update (padding them did not fuse: 2.4x slower, benchmarks/RESULTS.md). The adjoint
runs the transposed step backwards (``D2`` is symmetric, ``D1`` antisymmetric), so the gradient is
exact for the discrete scheme; the forward pass of the gradient stores ``w`` at
every step (as many fields as the damping kernel stores) and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from keras_fwi.physics.propagate import Grid, differentiable

__all__ = ["cpml_profiles", "make_cpml_propagator"]

# OpenFWI's reflection target and a quadratic profile, as deepwave and Komatitsch & Martin use.
_REFLECTION = 1e-3
_POWER = 2


def _along(q: tf.Tensor, axis: int, start: int, size: int) -> tf.Tensor:
    return q[:, :, start:start + size] if axis == 2 else q[..., start:start + size]


def _first(p: tf.Tensor, axis: int) -> tf.Tensor:
    """``D1 p`` in cells along depth (axis 2) or width (axis 3), zero beyond the grid:
    (8 (p+1 - p-1) - (p+2 - p-2)) / 12."""
    n = p.shape[axis]
    q = tf.pad(p, [[2, 2] if i == axis else [0, 0] for i in range(4)])
    return (8.0 * (_along(q, axis, 3, n) - _along(q, axis, 1, n)) - (_along(q, axis, 4, n) - _along(q, axis, 0, n))) / 12.0


def _second(p: tf.Tensor, axis: int) -> tf.Tensor:
    """``D2 p`` in cells along axis 2 or 3, zero beyond the grid: -5/2 p + 4/3 (p+-1) - 1/12 (p+-2)."""
    n = p.shape[axis]
    q = tf.pad(p, [[2, 2] if i == axis else [0, 0] for i in range(4)])
    return (-2.5 * p + (4.0 / 3.0) * (_along(q, axis, 3, n) + _along(q, axis, 1, n))
            - (1.0 / 12.0) * (_along(q, axis, 4, n) + _along(q, axis, 0, n)))


def _profile(width: int, size: int, dx: float, dt: float, v_max: float, frequency: float) -> np.ndarray:
    """(3, size) float64: ``a``, ``b`` and ``D1 b`` over the first ``size`` cells of an absorbing
    side, counted inwards from the outermost cell (fraction 1 there, 0 from the model's edge on)."""
    fraction = np.clip((width - np.arange(size, dtype=np.float64)) / width, 0.0, 1.0)
    sigma = -(1 + _POWER) * v_max * math.log(_REFLECTION) / (2 * width * dx) * fraction ** _POWER
    alpha = math.pi * frequency * (1 - fraction)
    a = np.exp(-(sigma + alpha) * dt)
    b = np.where(fraction > 0, sigma / (sigma + alpha) * (a - 1), 0.0)
    a = np.where(fraction > 0, a, 0.0)
    padded = np.pad(b, 2)
    db = (8.0 * (padded[3:-1] - padded[1:-3]) - (padded[4:] - padded[:-4])) / 12.0
    return np.stack([a, b, db])


def cpml_profiles(survey) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """The CPML's strips on the extended grid, one per absorbing side: (axis, start, a, b, D1 b),
    axis 2 (depth) with (1, 1, S, 1) arrays and axis 3 (width) with (1, 1, 1, S) arrays, float32, for
    cells start .. start + S - 1 of that axis, S = boundary + 4 (or the whole axis if shorter).

    Beyond its strip a side's profiles are zero and so is what it adds to ``D2 p``. sigma's scale uses
    the survey's largest velocity (``velocity_range[1]``), not the model's, so a model's data never
    depends on the other models in its batch. A free surface replaces the top side.
    """
    nbc = survey.boundary
    side = _profile(nbc, nbc + 3, survey.dx, survey.dt, survey.velocity_range[1], survey.frequency)
    strips = []
    for axis, n_model, low in ((2, survey.nz, not survey.free_surface), (3, survey.nx, True)):
        length = n_model + 2 * nbc
        size = min(nbc + 4, length)
        near = np.zeros((3, size))
        near[:, :min(nbc + 3, size)] = side[:, :size]
        far = near[:, ::-1] * np.array([[1.0], [1.0], [-1.0]])  # the mirror image; D1 b is odd under it
        shape = (1, 1, size, 1) if axis == 2 else (1, 1, 1, size)
        for start, rows in ([(0, near)] if low else []) + [(length - size, far)]:
            strips.append((axis, start, *(row.reshape(shape).astype(np.float32) for row in rows)))
    return strips


def _laplacian(p: tf.Tensor) -> tf.Tensor:
    """``D2 p`` along depth plus along width (in cells), zero beyond the grid."""
    return _second(p, 2) + _second(p, 3)


def _assemble(parts: list, axis: int, length: int) -> tf.Tensor:
    """Strip-shaped ``(start, q)`` pieces of one axis placed on a zero grid ``length`` cells long there."""
    parts = sorted(parts, key=lambda part: part[0])
    ends = [start + q.shape[axis] for start, q in parts]
    if any(start < end for (start, _), end in zip(parts[1:], ends)):  # overlapping strips: small grids only
        return tf.add_n([tf.pad(q, [[start, length - end] if i == axis else [0, 0] for i in range(4)])
                         for (start, q), end in zip(parts, ends)])
    pieces, at = [], 0
    for (start, q), end in zip(parts + [(length, None)], ends + [length]):
        if start > at:
            like = parts[0][1]
            gap = ([start - at if i == axis else size for i, size in enumerate(like.shape)]
                   if like.shape.is_fully_defined()  # static: XLA fuses the zeros into the concatenation
                   else tf.tensor_scatter_nd_update(tf.shape(like), [[axis]], [start - at]))
            pieces.append(tf.zeros(gap, like.dtype))
        if q is not None:
            pieces.append(q)
        at = end
    return tf.concat(pieces, axis=axis)


def _stretched_step(p, phi, zeta, axis, a, b, db):
    """One side of one forward step, on its strip: what the stretching adds to ``D2 p`` there, and
    the next phi = a psi and zeta."""
    d1, d2 = _first(p, axis), _second(p, axis)
    stretched = (1.0 + b) * d2 + db * d1 + _first(phi, axis)
    return (1.0 + b) * stretched + a * zeta - d2, a * (b * d1 + phi), b * stretched + a * zeta


def _stretched_adjoint(lam_w, lam_phi, lam_zeta, axis, a, b, db):
    """Transpose of ``_stretched_step``: from the adjoints of its outputs, those of (p, phi, zeta)."""
    lam_stretched = (1.0 + b) * lam_w + b * lam_zeta
    # D2 is symmetric and D1 antisymmetric on the zero-bordered strip: D1^T = -D1.
    lam_p = (_second((1.0 + b) * lam_stretched - lam_w, axis)
             - _first(db * lam_stretched + a * b * lam_phi, axis))
    return lam_p, a * lam_phi - _first(lam_stretched, axis), a * (lam_w + lam_zeta)


def make_cpml_propagator(wavelet: np.ndarray, source_cells: np.ndarray, receiver_cells: np.ndarray,
                         shape: tuple[int, int], free_surface_row: int | None, profiles: list,
                         keep_wavefields: bool = False):
    """Return ``propagate(alpha, source_amplitude) -> records``, differentiable.

    Args:
        wavelet: (nt,) source time function.
        source_cells, receiver_cells: (shots,), (receivers,) flat indices into the extended grid.
        shape: (H, W), the extended grid.
        free_surface_row: row of the free surface on the extended grid, or None.
        profiles: ``cpml_profiles(survey)``, the strips.
        keep_wavefields: bool, the forward run stores what the gradient needs (see ``differentiable``).

    The returned function takes alpha = (v dt / dx)^2 (batch, 1, H, W) and source_amplitude
    (batch, shots), float32, and returns records (batch, shots, nt, receivers).
    """
    height, width = shape
    nt, n_shots, n_receivers = len(wavelet), len(source_cells), len(receiver_cells)
    # NumPy, not tf.constant: the first call may come while tracing a caller's graph.
    wavelet = np.asarray(wavelet, np.float32)
    grid = Grid(source_cells, receiver_cells, shape, free_surface_row)

    def strips(batch):
        """Zero psi (or zeta) fields, one per side, each the shape of its strip."""
        return [tf.zeros([batch, n_shots, a.shape[2] if axis == 2 else height, a.shape[3] if axis == 3 else width])
                for axis, _, a, _, _ in profiles]

    def forward(alpha, source_amplitude, keep_w):
        batch, source = tf.shape(alpha)[0], tf.constant(wavelet)
        index, amplitude = grid.source_index(batch), tf.reshape(source_amplitude, [-1])
        zeros = tf.zeros([batch, n_shots, height, width], tf.float32)
        stored = tf.TensorArray(tf.float32, size=nt if keep_w else 0, dynamic_size=False)

        def step(t, p0, p1, phi, zeta, records, stored):
            added, new_phi, new_zeta = {2: [], 3: []}, [], []
            for (axis, start, *profile), phi_k, zeta_k in zip(profiles, phi, zeta):
                w_k, phi_k, zeta_k = _stretched_step(_along(p1, axis, start, phi_k.shape[axis]), phi_k, zeta_k,
                                                     axis, *profile)
                added[axis].append((start, w_k))
                new_phi, new_zeta = new_phi + [phi_k], new_zeta + [zeta_k]
            w = _laplacian(p1) + sum(_assemble(parts, axis, shape[axis - 2]) for axis, parts in added.items() if parts)
            p = grid.project(tf.tensor_scatter_nd_add(2.0 * p1 - p0 + alpha * w, index, amplitude * source[t]))
            if keep_w:
                stored = stored.write(t, w)
            return t + 1, p1, p, new_phi, new_zeta, records.write(t, grid.receive(p)), stored

        records = tf.TensorArray(tf.float32, size=nt, element_shape=[None, n_shots, n_receivers])
        init = (0, zeros, zeros, strips(batch), strips(batch), records, stored)
        out = tf.while_loop(lambda t, *_: t < nt, step, init, maximum_iterations=nt)
        records, stored = out[-2], out[-1]
        return tf.transpose(records.stack(), [1, 2, 0, 3]), (stored.stack() if keep_w else None)

    def adjoint(d_records, stored, alpha, source_amplitude):
        """Gradients of sum(d_records * records) with respect to (alpha, source_amplitude), from the
        ``w`` the forward run stored."""
        batch, source = tf.shape(alpha)[0], tf.constant(wavelet)
        d_records = tf.transpose(d_records, [2, 0, 1, 3])  # (nt, batch, shots, receivers)
        index = grid.source_index(batch)
        zeros = tf.zeros([batch, n_shots, height, width], tf.float32)

        def step(i, lam_p, lam_prev, lam_phi, lam_zeta, g_alpha, g_source):
            n = nt - 1 - i  # undo step n, which made p[n+1] (recorded as sample n)
            lam_q = grid.project_adjoint(lam_p + grid.inject(d_records[n], zeros))
            g_alpha += lam_q * stored[n]
            g_source += tf.reshape(tf.gather_nd(lam_q, index), [batch, n_shots]) * source[n]
            lam_w = alpha * lam_q
            added, new_phi, new_zeta = {2: [], 3: []}, [], []
            for (axis, start, *profile), phi_k, zeta_k in zip(profiles, lam_phi, lam_zeta):
                lam_k, phi_k, zeta_k = _stretched_adjoint(_along(lam_w, axis, start, phi_k.shape[axis]), phi_k,
                                                          zeta_k, axis, *profile)
                added[axis].append((start, lam_k))
                new_phi, new_zeta = new_phi + [phi_k], new_zeta + [zeta_k]
            lam_here = (2.0 * lam_q + lam_prev + _laplacian(lam_w)  # D2 is symmetric
                        + sum(_assemble(parts, axis, shape[axis - 2]) for axis, parts in added.items() if parts))
            return i + 1, lam_here, -lam_q, new_phi, new_zeta, g_alpha, g_source

        init = (0, zeros, zeros, strips(batch), strips(batch), zeros, tf.zeros([batch, n_shots]))
        out = tf.while_loop(lambda i, *_: i < nt, step, init, maximum_iterations=nt)
        return tf.reduce_sum(out[-2], axis=1, keepdims=True), out[-1]

    return differentiable(forward, adjoint, keep_wavefields)
