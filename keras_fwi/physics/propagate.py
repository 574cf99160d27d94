"""The time-stepping kernel of ``simulate`` and its adjoint, each one XLA program.

On the extended grid, with ``L`` the symmetric neighbour stencil (4/3 at distance 1, -1/12 at
distance 2, zero outside the grid) and ``F`` the optional free-surface projection, each step is

    p[n+1] = F( (2 - 5 alpha - K) p[n] - (1 - K) p[n-1] + alpha L p[n] + e_s a w[n] ),

and sample ``n`` of the data is ``p[n+1]`` at the receivers. The adjoint runs the same recursion
backwards in time with the transposed operators. TensorFlow's own while-loop gradients cannot cross
the XLA boundary, and they would keep every intermediate; this gradient re-runs the forward pass
storing only the wavefields, then runs the adjoint, so plain ``simulate`` calls store nothing.
Callers that always differentiate (``invert``) ask the forward run to keep them instead
(``keep_wavefields``), which spares the re-run.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

__all__ = ["Grid", "differentiable", "make_propagator"]

_C1, _C2, _C3 = -2.5, 4.0 / 3.0, -1.0 / 12.0


def _stencil(p: tf.Tensor) -> tf.Tensor:
    """``L p`` for p (batch, shots, H, W): weighted neighbour sums, zero beyond the grid."""
    padded = tf.pad(p, [[0, 0], [0, 0], [2, 2], [2, 2]])
    near = (padded[:, :, 1:-3, 2:-2] + padded[:, :, 3:-1, 2:-2]
            + padded[:, :, 2:-2, 1:-3] + padded[:, :, 2:-2, 3:-1])
    far = (padded[:, :, :-4, 2:-2] + padded[:, :, 4:, 2:-2]
           + padded[:, :, 2:-2, :-4] + padded[:, :, 2:-2, 4:])
    return _C2 * near + _C3 * far


def free_surface(p: tf.Tensor, row: int) -> tf.Tensor:
    """``F``: zero pressure at ``row`` by odd mirroring; rows row-1, row-2 hold -p at row+1, row+2
    (the stencil reaches two cells) and rows above are zero."""
    shape = tf.shape(p)
    above = tf.zeros([shape[0], shape[1], row - 2, shape[3]], p.dtype)
    image = -tf.reverse(p[:, :, row + 1:row + 3], axis=[2])
    return tf.concat([above, image, tf.zeros_like(p[:, :, row:row + 1]), p[:, :, row + 1:]], axis=2)


def free_surface_adjoint(g: tf.Tensor, row: int) -> tf.Tensor:
    """``F^T``: rows at and above ``row`` vanish; the mirrored rows send -g back to row+1, row+2."""
    shape = tf.shape(g)
    reflected = g[:, :, row + 1:row + 3] - tf.reverse(g[:, :, row - 2:row], axis=[2])
    return tf.concat([tf.zeros([shape[0], shape[1], row + 1, shape[3]], g.dtype), reflected,
                      g[:, :, row + 3:]], axis=2)


class Grid:
    """Where sources, receivers and the free surface sit on the extended grid (batch, shots, H, W),
    and the operations both kernels share: inject, record, project, and their adjoints."""

    def __init__(self, source_cells, receiver_cells, shape: tuple[int, int], free_surface_row: int | None):
        self.source_cells = np.asarray(source_cells, np.int32)
        self.receiver_cells = np.asarray(receiver_cells, np.int32)
        self.shape, self.free_surface_row = tuple(shape), free_surface_row
        self.shots, self.receivers = len(self.source_cells), len(self.receiver_cells)

    def project(self, p: tf.Tensor) -> tf.Tensor:
        """``F``: the free surface, or nothing."""
        return p if self.free_surface_row is None else free_surface(p, self.free_surface_row)

    def project_adjoint(self, g: tf.Tensor) -> tf.Tensor:
        return g if self.free_surface_row is None else free_surface_adjoint(g, self.free_surface_row)

    def source_index(self, batch) -> tf.Tensor:
        """scatter_nd indices (batch * shots, 4) of each shot's source cell."""
        width = self.shape[1]
        return tf.stack([tf.repeat(tf.range(batch), self.shots), tf.tile(tf.range(self.shots), [batch]),
                         tf.tile(self.source_cells // width, [batch]), tf.tile(self.source_cells % width, [batch])],
                        axis=1)

    def receive(self, p: tf.Tensor) -> tf.Tensor:
        """p at the receivers, (batch, shots, receivers)."""
        height, width = self.shape
        return tf.gather(tf.reshape(p, [tf.shape(p)[0], self.shots, height * width]), self.receiver_cells, axis=2)

    def inject(self, values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
        """Adjoint of ``receive``: (batch, shots, receivers) values placed on a zero grid shaped like ``like``."""
        height, width = self.shape
        batch = tf.shape(like)[0]
        index = tf.stack([tf.repeat(tf.range(batch), self.shots * self.receivers),
                          tf.tile(tf.repeat(tf.range(self.shots), self.receivers), [batch]),
                          tf.tile(self.receiver_cells, [batch * self.shots])], axis=1)
        flat = tf.scatter_nd(index, tf.reshape(values, [-1]), [batch, self.shots, height * width])
        return tf.reshape(flat, tf.shape(like))


def differentiable(forward, adjoint, keep_wavefields: bool):
    """``propagate(*inputs) -> records`` with an adjoint-state gradient, each run one XLA program.

    Args:
        forward: ``forward(*inputs, keep) -> (records, stored)``, ``stored`` the wavefields the
            adjoint needs when ``keep`` is True (else None).
        adjoint: ``adjoint(d_records, stored, *inputs) -> gradients of sum(d_records * records)``
            with respect to each input.
        keep_wavefields: bool. False: the forward run stores nothing (plain simulation needs no
            memory for the gradient) and a gradient re-runs it, storing. True: the forward run stores,
            and a gradient is one forward run cheaper (for callers that always differentiate).
    """
    compiled = functools.partial(tf.function, jit_compile=True, autograph=False)
    forward_records = compiled(lambda *inputs: forward(*inputs, False)[0])
    forward_stored = compiled(lambda *inputs: forward(*inputs, True))
    rerun_adjoint = compiled(lambda d_records, *inputs: adjoint(d_records, forward(*inputs, True)[1], *inputs))
    stored_adjoint = compiled(adjoint)

    @tf.custom_gradient
    def propagate(*inputs):
        if keep_wavefields:
            records, stored = forward_stored(*inputs)
            return records, lambda d_records: stored_adjoint(d_records, stored, *inputs)
        return forward_records(*inputs), lambda d_records: rerun_adjoint(d_records, *inputs)

    return propagate


def make_propagator(wavelet: np.ndarray, source_cells: np.ndarray, receiver_cells: np.ndarray,
                    shape: tuple[int, int], free_surface_row: int | None,
                    keep_wavefields: bool = False):
    """Return ``propagate(alpha, kappa_dt, source_amplitude) -> records``, differentiable.

    Args:
        wavelet: (nt,) source time function.
        source_cells, receiver_cells: (shots,), (receivers,) flat indices into the extended grid.
        shape: (H, W), the extended grid.
        free_surface_row: row of the free surface on the extended grid, or None.
        keep_wavefields: bool, the forward run stores what the gradient needs (see ``differentiable``).

    The returned function takes alpha and kappa_dt (batch, 1, H, W) and source_amplitude
    (batch, shots), all float32, and returns records (batch, shots, nt, receivers).
    """
    height, width = shape
    nt, n_shots, n_receivers = len(wavelet), len(source_cells), len(receiver_cells)
    # NumPy, not tf.constant: the first call may come while tracing a caller's graph, and a constant
    # made there could not be used from any other graph or eagerly.
    wavelet = np.asarray(wavelet, np.float32)
    grid = Grid(source_cells, receiver_cells, shape, free_surface_row)

    def forward(alpha, kappa_dt, source_amplitude, keep_fields):
        batch, source = tf.shape(alpha)[0], tf.constant(wavelet)
        temp1, temp2 = 2.0 + 2.0 * _C1 * alpha - kappa_dt, 1.0 - kappa_dt
        index, amplitude = grid.source_index(batch), tf.reshape(source_amplitude, [-1])
        zeros = tf.zeros([batch, n_shots, height, width], tf.float32)
        fields = tf.TensorArray(tf.float32, size=nt if keep_fields else 0, dynamic_size=False)

        def step(t, p0, p1, records, fields):
            p = temp1 * p1 - temp2 * p0 + alpha * _stencil(p1)
            # Scatter, not a dense per-shot source map: that would cost one more full read per step.
            p = grid.project(tf.tensor_scatter_nd_add(p, index, amplitude * source[t]))
            if keep_fields:
                fields = fields.write(t, p)
            return t + 1, p1, p, records.write(t, grid.receive(p)), fields

        records = tf.TensorArray(tf.float32, size=nt, element_shape=[None, n_shots, n_receivers])
        _, _, _, records, fields = tf.while_loop(lambda t, *_: t < nt, step, (0, zeros, zeros, records, fields),
                                                 maximum_iterations=nt)
        return tf.transpose(records.stack(), [1, 2, 0, 3]), (fields.stack() if keep_fields else None)

    def adjoint(d_records, fields, alpha, kappa_dt, source_amplitude):
        """Gradients of sum(d_records * records) with respect to (alpha, kappa_dt, source_amplitude),
        from the fields the forward run stored (fields[n] = p[n+1])."""
        batch, source = tf.shape(alpha)[0], tf.constant(wavelet)
        temp1, temp2 = 2.0 + 2.0 * _C1 * alpha - kappa_dt, 1.0 - kappa_dt
        d_records = tf.transpose(d_records, [2, 0, 1, 3])  # (nt, batch, shots, receivers)
        index = grid.source_index(batch)
        zeros = tf.zeros([batch, n_shots, height, width], tf.float32)

        def field(n):  # p[n], zero before the start
            return tf.cond(n >= 1, lambda: fields[tf.maximum(n - 1, 0)], lambda: zeros)

        def step(i, b1, b2, g_alpha, g_kappa, g_source):
            m = nt - i  # adjoint of p[m], from b1 = dJ/draw[m+1] and b2 = dJ/draw[m+2]
            injected = grid.inject(d_records[m - 1], zeros)
            a = injected + temp1 * b1 + _stencil(alpha * b1) - temp2 * b2
            b = grid.project_adjoint(a)  # dJ/draw[m]
            previous, before = field(m - 1), field(m - 2)
            g_alpha += b * (_stencil(previous) + 2.0 * _C1 * previous)
            g_kappa += b * (before - previous)
            g_source += tf.reshape(tf.gather_nd(b, index), [batch, n_shots]) * source[m - 1]
            return i + 1, b, b1, g_alpha, g_kappa, g_source

        init = (0, zeros, zeros, zeros, zeros, tf.zeros([batch, n_shots], tf.float32))
        _, _, _, g_alpha, g_kappa, g_source = tf.while_loop(lambda i, *_: i < nt, step, init, maximum_iterations=nt)
        return (tf.reduce_sum(g_alpha, axis=1, keepdims=True), tf.reduce_sum(g_kappa, axis=1, keepdims=True),
                g_source)

    return differentiable(forward, adjoint, keep_wavefields)
