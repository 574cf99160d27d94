"""The FWI objective: data misfit (optionally low-passed and trace-normalised) plus regularisation.

For each model ``i`` of a batch, with ``d = simulate(v)`` and observed data ``d_obs`` (both
``[batch, shot, time, receiver]``), ``F`` the low-pass filter of the current stage and ``N`` the
optional per-trace normalisation,

    misfit_i = || N(W F d_i) - N(W F d_obs_i) ||^2 / || N(W F d_obs_i) ||^2    (1 = as bad as no data)
    J_i      = misfit_i + tv * TV(u_i) + smoothness * S(u_i) + lateral_smoothness * L(u_i),
    u = v / (v_max - v_min),

``W`` the optional time weight ``w(t) = (t / T)^p [t <= t_w]`` (``time_weights``: a time gain of
power ``p`` = ``time_gain``, T the record length ``nt dt``, makes late, weak deep reflections count
as much as the direct wave; a window ``t_w`` of the current stage ignores the data after it, so
the shallow part settles before deep reflections are fitted) and where ``TV(u)`` is the mean over
cells of ``sqrt(du_z^2 + (a du_x)^2 + eps^2)`` (forward differences),
``S(u)`` the mean of ``du_z^2 + (a du_x)^2`` and ``L(u)`` the mean of ``du_x^2`` alone. ``a`` (``lateral``,
default 1: isotropic) weighs lateral changes against vertical ones: a > 1 favours layered models
(structure that varies more with depth than along x), as structure-oriented regularisation in FWI
does, without any model family's shape. Dividing by the observed energy and measuring ``u`` in
units of the velocity range make the weights dimensionless and the same for any survey and grid.

Low-passing: ``F`` multiplies the spectrum by ``1 / (1 + (f / f_c)^(2 order))``, the squared gain of
a Butterworth filter, which is what a zero-phase forward-backward (``filtfilt``) Butterworth
applies; the time axis is zero-padded to twice its length first so nothing wraps around. Because
the simulation is linear in the source, ``F`` applied to simulated data equals simulating with the
filtered wavelet, so filtering both observed and simulated data is the same as low-passing the
source and the observed data, without touching the simulator.

Coarse stages (``set_cutoff(cutoff, factor)`` with factor > 1) simulate on a grid ``factor`` times
coarser (``keras_fwi.physics.coarse``), compare at every ``factor``-th sample of the low-passed
observed data, and leave out (both data) the traces closer than ``factor + 1`` cells to their
source, whose near field depends on the grid. A coarse grid's data differ from the fine grid's by a
few per cent (dispersion, sources moved to coarse cells), which biases the coarse misfit's minimum
away from the true model; ``correct(v)`` removes that bias near ``v``: it adds, per model, the
fine-minus-coarse data difference at ``v`` to every later coarse simulation (a defect correction,
as multigrid's full approximation scheme does), so at ``v`` the coarse misfit and the fine one agree.
"""

from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf

from keras_fwi.physics.coarse import CoarseGrid, matched_boundary
from keras_fwi.physics.simulate import simulate
from keras_fwi.physics.survey import Survey

__all__ = ["Objective", "lateral_penalty", "lowpass", "lowpass_gain", "smoothness_penalty", "time_weights",
           "total_variation"]

COARSE_POINTS_PER_WAVELENGTH = 5.0  # a coarse stage needs this many cells per wavelength at its cutoff
TV_EPSILON = 1e-3  # in units of the velocity range per cell: keeps TV differentiable where flat
_TRACE_FLOOR = 1e-6  # trace norms below this fraction of the largest count as this
_TRACING = threading.Lock()  # one graph built at a time (see Objective._graph)


def lowpass_gain(nt: int, dt: float, cutoff: float | None, order: int = 4) -> np.ndarray | None:
    """Zero-phase Butterworth gain on the rfft frequencies of ``2 nt`` samples, shape (nt + 1,), or None.

    Args:
        nt: samples per trace. dt: sample interval in s. cutoff: -6 dB frequency in Hz (the squared
            Butterworth gain is 1/2 there), or None for the full band. order: Butterworth order.
    """
    if cutoff is None:
        return None
    if not 0 < cutoff < 0.5 / dt:
        raise ValueError(f"low-pass cutoff must be between 0 and the Nyquist frequency {0.5 / dt:g} Hz, "
                         f"got {cutoff!r}")
    frequencies = np.fft.rfftfreq(2 * nt, dt)
    return 1.0 / (1.0 + (frequencies / cutoff) ** (2 * order))


def lowpass(data, gain: np.ndarray | None) -> tf.Tensor:
    """Apply ``lowpass_gain`` along axis 2 of ``data`` [batch, shot, time, receiver]; differentiable."""
    data = tf.convert_to_tensor(data, tf.float32)
    if gain is None:
        return data
    nt = data.shape[2]
    traces = tf.transpose(data, [0, 1, 3, 2])  # rfft works on the last axis
    spectrum = tf.signal.rfft(traces, fft_length=[2 * nt]) * tf.cast(gain, tf.complex64)
    filtered = tf.signal.irfft(spectrum, fft_length=[2 * nt])[..., :nt]
    return tf.transpose(filtered, [0, 1, 3, 2])


def time_weights(survey: Survey, record_length: float, gain: float = 0.0,
                 window: float | None = None) -> np.ndarray | None:
    """float32 (1, 1, nt, 1) weights ``(t / record_length)^gain``, zero after ``window`` s, for the
    samples of ``survey`` (sample k at t = (k + 1) dt), or None when they would all be 1.

    Args:
        survey: the survey simulated (a coarse grid's own ``dt`` and ``nt``).
        record_length: T in s, the observed record's length (the fine survey's ``nt dt``).
        gain: float >= 0, power p of the time gain (0: none). window: s, or None for the whole trace.
    """
    if not gain and window is None:
        return None
    times = (np.arange(survey.nt) + 1) * survey.dt
    weights = (times / record_length) ** gain
    if window is not None:
        weights = np.where(times <= window * (1 + 1e-9), weights, 0.0)
    return weights.astype(np.float32)[None, None, :, None]


def _normalise_traces(data: tf.Tensor) -> tf.Tensor:
    """Each trace (axis 2) divided by its L2 norm, floored at ``_TRACE_FLOOR`` of the largest."""
    norms = tf.sqrt(tf.reduce_sum(tf.square(data), axis=2, keepdims=True))
    floor = _TRACE_FLOOR * tf.reduce_max(norms, axis=[1, 2, 3], keepdims=True) + 1e-30
    return data / tf.maximum(norms, floor)


def _far_traces(survey: Survey, radius: float) -> np.ndarray:
    """float32 (1, shots, 1, receivers): 1 for receivers at least ``radius`` cells from the shot's
    source, 0 for the nearer ones (their near field depends on the grid; coarse stages mute them)."""
    dz = np.subtract.outer(survey.source_z, survey.receiver_z)
    dx = np.subtract.outer(survey.source_x, survey.receiver_x)
    return (np.hypot(dz, dx) >= radius).astype(np.float32)[None, :, None, :]


def _differences(u: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Forward differences of u (batch, nz, nx) along depth and width, zero at the far edge."""
    dz = tf.pad(u[:, 1:] - u[:, :-1], [[0, 0], [0, 1], [0, 0]])
    dx = tf.pad(u[:, :, 1:] - u[:, :, :-1], [[0, 0], [0, 0], [0, 1]])
    return dz, dx


def total_variation(u, lateral: float = 1.0) -> tf.Tensor:
    """TV per model: mean of sqrt(dz^2 + (lateral dx)^2 + TV_EPSILON^2) over cells, shape (batch,);
    ``lateral`` = 1 is isotropic, > 1 penalises changes along x (axis 2) more than along depth."""
    dz, dx = _differences(tf.convert_to_tensor(u, tf.float32))
    return tf.reduce_mean(tf.sqrt(dz ** 2 + (lateral * dx) ** 2 + TV_EPSILON ** 2), axis=[1, 2])


def lateral_penalty(u) -> tf.Tensor:
    """Mean squared lateral difference (along x, axis 2) per model, shape (batch,)."""
    _, dx = _differences(tf.convert_to_tensor(u, tf.float32))
    return tf.reduce_mean(dx ** 2, axis=[1, 2])


def smoothness_penalty(u, lateral: float = 1.0) -> tf.Tensor:
    """Mean of dz^2 + (lateral dx)^2 per model, shape (batch,)."""
    dz, dx = _differences(tf.convert_to_tensor(u, tf.float32))
    return tf.reduce_mean(dz ** 2 + (lateral * dx) ** 2, axis=[1, 2])


class Objective:
    """``J_i(v)`` and its gradient for a batch of models against fixed observed data.

    Args:
        observed: float32 array [batch, shot, time, receiver], raw amplitudes.
        survey: ``Survey`` the data were recorded with.
        velocity_scale: float, m/s, the unit of ``u`` in the regularisation (the bounds' width).
        tv, smoothness: float >= 0, regularisation weights (``tv`` may be changed between stages).
        lateral: float > 0, weight of lateral differences against vertical ones in both terms.
        lateral_smoothness: float >= 0, weight of the squared lateral differences alone.
        time_gain: float >= 0, power p of the time gain ``(t / T)^p`` on both data (0: none).
        normalize_traces: bool, compare traces after dividing each by its norm.
        chunk: int, models per simulation (bounds the gradient's memory).
        parallel: int or None, ``simulate``'s ``parallel`` (None: its default, every CPU core).

    Every simulation keeps its wavefields (``simulate``'s ``keep_wavefields``): most are differentiated,
    and one compiled program per grid then serves both the misfit and its gradient.
    """

    def __init__(self, observed: np.ndarray, survey: Survey, velocity_scale: float, tv: float = 0.0,
                 smoothness: float = 0.0, normalize_traces: bool = False, chunk: int = 4, lateral: float = 1.0,
                 lateral_smoothness: float = 0.0, time_gain: float = 0.0, parallel=None):
        self.survey, self.scale, self.lateral = survey, float(velocity_scale), float(lateral)
        self.tv, self.smoothness, self.normalize_traces = float(tv), float(smoothness), bool(normalize_traces)
        self.chunk, self.lateral_smoothness, self.time_gain = int(chunk), float(lateral_smoothness), float(time_gain)
        self._raw, self.parallel = np.asarray(observed, np.float32), parallel
        self.set_cutoff(None)

    def set_cutoff(self, cutoff: float | None, factor: int = 1, window: float | None = None,
                   corrected: bool = False) -> None:
        """Low-pass both data at ``cutoff`` Hz from now on (None: full band), simulating on a grid
        ``factor`` times coarser (``keras_fwi.physics.coarse``; needs a cutoff low enough for it),
        comparing only the samples up to ``window`` s (None: all). ``corrected``: the stage will call
        ``correct``, which removes most of the coarse grid's error, so the grid takes the cheaper
        options: each source at its nearest cell and a thinner absorbing layer (``matched_boundary``)."""
        self.cutoff, self.factor, self.window = cutoff, int(factor), window
        self._grid, mask = None, None
        if self.factor > 1:
            self._check_coarse(cutoff)
            self._grid = CoarseGrid(self.survey, self.factor, split_sources=not corrected,
                                    boundary=matched_boundary(self.survey, self.factor) if corrected else None)
            mask = _far_traces(self.survey, self.factor + 1)
        fine_gain = lowpass_gain(self.survey.nt, self.survey.dt, cutoff)
        survey = self.survey if self._grid is None else self._grid.survey
        self._gain = lowpass_gain(survey.nt, survey.dt, cutoff)
        self._mask = None if mask is None else tf.constant(mask)
        weights = time_weights(survey, self.survey.nt * self.survey.dt, self.time_gain, window)
        self._weights = None if weights is None else tf.constant(weights)
        self._fine_gain, self._corrections, self._functions = fine_gain, None, {}
        self._observed = [self._as_compared(self._raw[start:start + self.chunk])
                          for start in range(0, len(self._raw), self.chunk)]
        self._energy = [tf.reduce_sum(tf.square(d), axis=[1, 2, 3]) for d in self._observed]

    def _as_compared(self, data) -> tf.Tensor:
        """Fine-grid data as the misfit compares them: low-passed, decimated and muted in a coarse
        stage, time-weighted and normalised."""
        data = lowpass(data, self._fine_gain)
        if self._grid is not None:
            data = tf.constant(self._grid.decimate(data.numpy())) * self._mask
        return self._prepare(data)

    def correct(self, velocity: np.ndarray) -> None:
        """In a coarse stage, anchor the coarse data to the fine grid's at ``velocity`` (batch, nz, nx)
        m/s: later coarse simulations get ``fine(velocity) - coarse(velocity)`` added, per model, until
        the next ``correct`` or ``set_cutoff``. Costs one fine and one coarse forward simulation; does
        nothing in a fine stage."""
        if self._grid is None:
            return
        self._corrections = []
        for start in range(0, len(velocity), self.chunk):
            part = tf.convert_to_tensor(velocity[start:start + self.chunk], tf.float32)
            fine = simulate(part, self.survey, parallel=self.parallel, keep_wavefields=True)
            self._corrections.append(self._as_compared(fine) - self._coarse(part))

    def _coarse(self, velocity: tf.Tensor) -> tf.Tensor:
        """The coarse grid's data as the misfit compares them (before any correction)."""
        data = self._grid.simulate(velocity, self.parallel, keep_wavefields=True)
        return self._prepare(lowpass(data, self._gain) * self._mask)

    def _check_coarse(self, cutoff) -> None:
        """ValueError unless ``cutoff`` leaves COARSE_POINTS_PER_WAVELENGTH cells per wavelength."""
        v_min, spacing = self.survey.velocity_range[0], self.survey.dx * self.factor
        highest = v_min / (COARSE_POINTS_PER_WAVELENGTH * spacing)
        if cutoff is None or cutoff > highest:
            raise ValueError(f"grid factor {self.factor} (cells of {spacing:g} m) needs a low-pass cutoff of at "
                             f"most {highest:.3g} Hz ({COARSE_POINTS_PER_WAVELENGTH:g} cells per wavelength at "
                             f"{v_min:g} m/s), got {'the full band' if cutoff is None else f'{cutoff:g} Hz'}; "
                             f"lower the stage's frequency or its grid factor")

    def _prepare(self, data: tf.Tensor) -> tf.Tensor:
        """Time weights, then the trace normalisation, as the misfit compares them."""
        if self._weights is not None:
            data = data * self._weights
        return _normalise_traces(data) if self.normalize_traces else data

    def _chunk_terms(self, velocity, observed, energy, correction) -> tuple[tf.Tensor, tf.Tensor]:
        if self._grid is None:
            simulated = simulate(velocity, self.survey, parallel=self.parallel, keep_wavefields=True)
            simulated = self._prepare(lowpass(simulated, self._gain))
        else:
            simulated = self._coarse(velocity)
            if correction is not None:
                simulated = simulated + correction
        misfit = tf.reduce_sum(tf.square(simulated - observed), axis=[1, 2, 3]) / energy
        total, u = misfit, velocity / self.scale
        if self.tv:
            total = total + self.tv * total_variation(u, self.lateral)
        if self.smoothness:
            total = total + self.smoothness * smoothness_penalty(u, self.lateral)
        if self.lateral_smoothness:
            total = total + self.lateral_smoothness * lateral_penalty(u)
        return total, misfit

    def _evaluate(self, velocity, observed, energy, correction, gradient: bool):
        """(total, misfit, gradient or None) of one chunk of models."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(velocity)
            total, misfit = self._chunk_terms(velocity, observed, energy, correction)
        return total, misfit, (tape.gradient(total, velocity) if gradient else None)

    def _graph(self, velocity, observed, energy, correction, gradient: bool):
        """``_evaluate`` as a TensorFlow graph for these inputs' shapes and the current stage and
        weights. Run eagerly, its operations and their gradients, one Python call each, cost more
        than a coarse grid's whole simulation (benchmarks/RESULTS.md). Graphs are built under a lock:
        models refined side by side (``keras_fwi.physics.concurrency``) would otherwise build theirs
        at once, which TensorFlow's tracing does not support."""
        key = (self.tv, self.smoothness, self.lateral, self.lateral_smoothness, self.normalize_traces,
               self.parallel, tuple(velocity.shape), correction is None, gradient)
        if key not in self._functions:
            with _TRACING:
                self._functions[key] = tf.function(self._evaluate, autograph=False).get_concrete_function(
                    velocity, observed, energy, correction, gradient)
        return self._functions[key]

    def __call__(self, velocity: np.ndarray, gradient: bool = True):
        """(objective (batch,), misfit (batch,), gradient dJ_i/dv_i (batch, nz, nx) in 1/(m/s) or None)."""
        totals, misfits, gradients = [], [], []
        for index, start in enumerate(range(0, len(velocity), self.chunk)):
            part = tf.convert_to_tensor(velocity[start:start + self.chunk], tf.float32)
            inputs = (part, self._observed[index], self._energy[index],
                      None if self._corrections is None else self._corrections[index], gradient)
            total, misfit, slope = self._graph(*inputs)(*inputs)
            if gradient:
                gradients.append(slope.numpy().astype(np.float64))
            totals.append(total.numpy().astype(np.float64))
            misfits.append(misfit.numpy().astype(np.float64))
        return (np.concatenate(totals), np.concatenate(misfits),
                np.concatenate(gradients) if gradient else None)
