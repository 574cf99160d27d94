"""Coarse-grid simulation of a fine model, for the low-frequency stages of ``invert``.

At a low-pass cutoff well below the survey's peak frequency, a grid ``factor`` times coarser (cells
``factor * dx``, steps ``factor * dt``: the Courant number, so the CFL check, is unchanged) still has
enough cells per wavelength, and each simulation costs far less. ``CoarseGrid`` maps a fine model to
such a grid and the coarse data back to the fine survey's sources and receivers:

- model: coarse cell ``i`` sits at fine cell ``factor * i``; its velocity is the tent-weighted mean
  of the fine cells within ``factor - 1`` of it (edges replicated). The map is linear, so the
  gradient with respect to the fine model is the coarse one spread back (TensorFlow differentiates
  through it) and the models being inverted stay on the fine grid.
- sources (``split_sources=True``, the default): a source between coarse cells is the bilinear
  combination of shots at the (up to 4) cells around it, which the simulation's linearity in the
  source makes exact up to the discretisation; it costs more shots (OpenFWI's 5 sources at depth
  cell 1 become 14 coarse shots at factor 2). ``False`` moves each to the nearest cell instead
  (cheaper; 2-3 times the data error, and worse refinements, benchmarks/RESULTS.md).
- receivers: each trace is the bilinear interpolation of the coarse cells around the receiver.
- amplitude: simulate adds ``(v dt)^2 w`` to one cell, a point source of strength ``w dx^2``, so
  coarse data are ``factor^2`` times the fine data; they are divided by that.
- time: sample ``k`` of a survey is at time ``(k + 1) dt``, so coarse sample ``j`` is fine sample
  ``factor (j + 1) - 1``; observed data are low-passed on the fine time axis first (``decimate``).

Low-passed at a cutoff with >= 5 coarse cells per wavelength and with the traces within a few cells
of the source muted (their near field depends on the grid), coarse and fine data of OpenFWI-type
layered models agree to about 5-8 % relative RMS (tests/test_physics_coarse.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import tensorflow as tf

from keras_fwi._validation import positive_int
from keras_fwi.physics.simulate import simulate
from keras_fwi.physics.survey import Survey

__all__ = ["CoarseGrid", "matched_boundary"]


def _interpolation(positions: np.ndarray, size: int) -> np.ndarray:
    """(len(positions), size) linear-interpolation weights of fractional cells on 0..size-1; rows sum to 1."""
    positions = np.clip(np.asarray(positions, np.float64), 0, size - 1)
    low = np.minimum(np.floor(positions).astype(int), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight = positions - low
    matrix = np.zeros((len(positions), size))
    np.add.at(matrix, (np.arange(len(positions)), low), 1 - weight)
    np.add.at(matrix, (np.arange(len(positions)), high), weight)
    return matrix


def _bilinear(z, x, nz: int, nx: int, nearest: bool) -> np.ndarray:
    """(len(z), nz * nx) weights of points at fractional coarse cells (z, x); ``nearest``: one cell each."""
    if nearest:
        z, x = np.round(z), np.round(x)
    weights = _interpolation(z, nz)[:, :, None] * _interpolation(x, nx)[:, None, :]
    return weights.reshape(len(weights), -1)


def matched_boundary(survey: Survey, factor: int, widths: int = 1) -> int:
    """Coarse cells of an absorbing layer ``widths`` times as wide in metres as ``survey``'s (at least 6).
    ``CoarseGrid``'s default is 2 widths, which keeps the coarse data close to the fine grid's; 1
    reflects more, which corrected coarse stages remove with the rest of the coarse grid's error, and
    simulates a third fewer cells (OpenFWI's survey at factor 2: 47 x 47 instead of 59 x 59;
    benchmarks/RESULTS.md)."""
    return max(6, math.ceil(widths * survey.boundary / factor))


class CoarseGrid:
    """Simulate a fine survey's data on a grid ``factor`` times coarser.

    Args:
        survey: the fine ``Survey`` (the observed data's).
        factor: int >= 1, coarsening of dx and dt; the coarse survey records ``nt // factor`` samples.
        split_sources: bool, put each source between its neighbouring coarse cells (bilinear weights,
            more simulated shots) instead of at the nearest one.
        boundary: int or None, the coarse absorbing layer's width in coarse cells. None:
            ``matched_boundary(survey, factor, 2)``; a caller that corrects the coarse data towards the
            fine grid's (``Objective.correct``) may take the cheaper ``matched_boundary(survey, factor)``.

    Attributes:
        survey: the coarse ``Survey``: cell ``i`` is fine cell ``factor * i``; its shots are the coarse
            cells the sources need, its receivers the cells the fine receivers' interpolation needs.
        factor: int.

    Raises:
        ValueError: a factor < 1, or one that leaves fewer than 4 cells or samples on an axis.
    """

    def __init__(self, survey: Survey, factor: int, split_sources: bool = True, boundary: int | None = None):
        factor = positive_int("grid factor", factor)
        boundary = matched_boundary(survey, factor, 2) if boundary is None else boundary
        self.fine, self.factor = survey, factor
        nz, nx = (math.ceil((survey.nz - 1) / factor) + 1, math.ceil((survey.nx - 1) / factor) + 1)
        nt = survey.nt // factor
        if min(nz, nx, nt) < 4:
            raise ValueError(f"grid factor {factor} leaves a {nz} x {nx} grid with {nt} samples; use a smaller factor")
        receivers = _bilinear(np.divide(survey.receiver_z, factor), np.divide(survey.receiver_x, factor), nz, nx,
                              nearest=False)  # (R, nz * nx)
        sources = _bilinear(np.divide(survey.source_z, factor), np.divide(survey.source_x, factor), nz, nx,
                            nearest=not split_sources)  # (S, nz * nx)
        receiver_cells = np.flatnonzero(receivers.any(axis=0))
        source_cells = np.flatnonzero(sources.any(axis=0))
        self._receivers = receivers[:, receiver_cells].T.astype(np.float32)  # (coarse R, R)
        self._sources = sources[:, source_cells].astype(np.float32)  # (S, coarse S)
        with warnings.catch_warnings():  # the coarse grid is for low-passed data: no dispersion warning
            warnings.simplefilter("ignore", UserWarning)
            self.survey = survey.replace(nz=nz, nx=nx, nt=nt, dx=survey.dx * factor, dt=survey.dt * factor,
                                         boundary=boundary,
                                         source_z=tuple(int(c) // nx for c in source_cells),
                                         source_x=tuple(int(c) % nx for c in source_cells),
                                         receiver_z=tuple(int(c) // nx for c in receiver_cells),
                                         receiver_x=tuple(int(c) % nx for c in receiver_cells))
        # restriction: tent-weighted mean of the fine cells within factor - 1 of fine cell factor * i
        offsets = np.arange(1 - factor, factor)
        self._taps = [(offset, (factor - abs(offset)) / factor ** 2) for offset in offsets]

    def _restrict_axis(self, velocity: tf.Tensor, axis: int, size: int, fine_size: int) -> tf.Tensor:
        centres = np.arange(size) * self.factor
        return tf.add_n([weight * tf.gather(velocity, np.clip(centres + offset, 0, fine_size - 1), axis=axis)
                         for offset, weight in self._taps])

    def restrict(self, velocity) -> tf.Tensor:
        """Fine models (batch, nz, nx) -> coarse (batch, nz_c, nx_c) m/s, tent-weighted local means
        (edges replicated); linear, so differentiable."""
        velocity = tf.convert_to_tensor(velocity, tf.float32)
        velocity = self._restrict_axis(velocity, 1, self.survey.nz, self.fine.nz)
        return self._restrict_axis(velocity, 2, self.survey.nx, self.fine.nx)

    def simulate(self, velocity, parallel: int | None = None, keep_wavefields: bool = False) -> tf.Tensor:
        """Fine models (batch, nz, nx) m/s -> data (batch, shots, nt // factor, receivers) at the fine
        survey's sources and receivers, in the fine survey's amplitude units; differentiable
        (``parallel`` and ``keep_wavefields`` as in ``simulate``)."""
        # (batch, coarse shots, nt_c, coarse R)
        data = simulate(self.restrict(velocity), self.survey, parallel, keep_wavefields)
        data = tf.einsum("bstr,fs,rq->bftq", data, self._sources, self._receivers)
        return data / float(self.factor ** 2)

    def decimate(self, data) -> np.ndarray:
        """Fine-time data [batch, shot, time, receiver] (low-pass them first) -> the coarse samples.
        Sample k of a survey is at time (k + 1) dt, so coarse sample j is fine sample factor (j + 1) - 1."""
        return np.asarray(data)[:, :, self.factor - 1::self.factor][:, :, :self.survey.nt]
