"""``invert``: full-waveform inversion of a batch of velocity models with ``simulate``'s gradient.

Each model is fitted to its own observed data by minimising the objective of
``keras_fwi.physics.objective`` (relative L2 misfit, optionally low-passed and trace-normalised, plus
total-variation and smoothness terms), inside velocity bounds, over a multiscale schedule of
low-pass cutoffs. Two optimisers:

- ``"adam"``: each model's gradient is divided by its largest absolute value, then Adam turns it
  into a step of at most about ``learning_rate`` m/s per cell; the result is clipped to the bounds.
  Models are independent: a model that reaches ``target_misfit`` stops moving.
- ``"lbfgs"``: SciPy's L-BFGS-B, one per model (each with its own line search and curvature pairs;
  sharing them over a batch refined worse, benchmarks/RESULTS.md), one model more at once than there
  are CPU cores (``keras_fwi.physics.concurrency``), with the bounds as box constraints. Its unknowns
  are every cell's velocity, optionally in depth-row units (``precondition``), or in a block stage one
  velocity per region of the segmented model (``keras_fwi.physics.segments``).

Coarse-grid stages may be re-anchored to the full grid every ``correct_every`` iterations
(``Objective.correct``); the optimisers live in ``keras_fwi.physics.optimizers``.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from keras_fwi._validation import non_negative_int, one_of, positive_int
from keras_fwi.physics.concurrency import each_model
from keras_fwi.physics.objective import Objective
from keras_fwi.physics.optimizers import Recorder, adam_stage, lbfgs_stage
from keras_fwi.physics.segments import Blocks, segment
from keras_fwi.physics.simulate import default_parallel
from keras_fwi.physics.survey import Survey

__all__ = ["InversionResult", "invert"]

_MEMORY_PER_CHUNK = 2e9  # bytes of stored wavefields one gradient evaluation may hold


@dataclasses.dataclass
class InversionResult:
    """What ``invert`` returns.

    Attributes:
        velocity: float32 (batch, nz, nx), the refined models in m/s.
        history: dict of lists, one entry per evaluation: ``iteration``, ``frequency`` (low-pass
            cutoff in Hz, None for the full band), ``misfit`` and ``objective`` (per model),
            ``step`` (per model, largest velocity change in m/s since the previous entry),
            ``seconds`` (since the start) and, when true models were given, ``mae`` (per model, m/s).
        misfit_before, misfit_after: (batch,) full-band relative misfit of the start and the result.
        mae_before, mae_after: (batch,) MAE in m/s against the true models, or None.
        stopped: why the loop ended: "iterations", "misfit" or "time".
        seconds: wall time of the whole inversion.
    """

    velocity: np.ndarray
    history: dict
    misfit_before: np.ndarray
    misfit_after: np.ndarray
    mae_before: np.ndarray | None
    mae_after: np.ndarray | None
    stopped: str
    seconds: float


def _models(name: str, value, survey: Survey, batch: int | None = None) -> np.ndarray:
    """``value`` as float64 (batch, nz, nx), finite and positive, else a ValueError naming ``name``."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (survey.nz, survey.nx):
        raise ValueError(f"{name} must have shape (batch, {survey.nz}, {survey.nx}) or (batch, 1, {survey.nz}, "
                         f"{survey.nx}) to match the survey, got {np.shape(value)}")
    if batch is not None and len(array) != batch:
        raise ValueError(f"{name} has {len(array)} models but observed has {batch} samples; give one per sample")
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be finite and positive (m/s); it has NaN, infinite or non-positive values")
    return array


def seismic_batch(array: np.ndarray, survey: Survey) -> np.ndarray | None:
    """``array`` as (batch, shots, nt, receivers), one sample gaining a batch axis; None when its shape
    does not match the survey (the caller names the source in its error)."""
    if array.ndim == 3:
        array = array[None]
    return array if array.ndim == 4 and array.shape[1:] == (survey.shots, survey.nt, survey.receivers) else None


def _observed(value, survey: Survey) -> np.ndarray:
    array = seismic_batch(np.asarray(value, dtype=np.float32), survey)
    expected = (survey.shots, survey.nt, survey.receivers)
    if array is None:
        raise ValueError(f"observed must have shape (batch, {', '.join(map(str, expected))}) [batch, shot, time, "
                         f"receiver] to match the survey, got {np.shape(value)}")
    if not np.all(np.isfinite(array)):
        raise ValueError("observed contains NaN or infinite values; clean or drop those samples")
    return array


def _bounds(bounds, survey: Survey) -> tuple[float, float]:
    low, high = survey.velocity_range if bounds is None else bounds
    low, high = float(low), float(high)
    if not 0 < low < high:
        raise ValueError(f"bounds must be (min, max) m/s with 0 < min < max, got {bounds!r}")
    survey.check_stability(high)
    return low, high


def _stage_values(name: str, value, stages: int) -> list:
    """``value`` (one item or one per stage) as one item per stage, else a ValueError."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * stages
    if len(values) != stages:
        raise ValueError(f"{name} gives {len(values)} stages but frequencies {stages}")
    return values


def _as_float(item) -> float:
    """``float(item)``, NaN for what is not a number (refused by the callers' checks)."""
    try:
        return float(item)
    except (TypeError, ValueError):
        return math.nan


def _per_stage(name: str, value, stages: int) -> list[float]:
    """``value`` (one number or one per stage) as one finite number >= 0 per stage, else a ValueError."""
    values = [_as_float(item) for item in _stage_values(name, value, stages)]
    if not all(math.isfinite(item) and item >= 0 for item in values):
        raise ValueError(f"{name} must be a finite number >= 0 (or one per stage), got {value!r}")
    return values


def _windows(windows, stages: int) -> list[float | None]:
    """``windows`` (None, one window or one per stage; s, None for the whole trace) as one per stage."""
    values = [None if item is None else _as_float(item) for item in _stage_values("windows", windows, stages)]
    if not all(item is None or (math.isfinite(item) and item > 0) for item in values):
        raise ValueError(f"windows must be times in s > 0 or None for the whole trace (or one per stage), "
                         f"got {windows!r}")
    return values


def _levels(blocks, stages: int) -> list[int]:
    """``blocks`` (None, or one count of velocity levels per stage, 0: per cell) as one int per stage."""
    values = [0] * stages if blocks is None else _stage_values("blocks", blocks, stages)
    try:
        return [non_negative_int("blocks", item) for item in values]
    except ValueError:
        raise ValueError(f"blocks must give an integer >= 0 per stage (0: every cell free), got {blocks!r}") from None


def _schedule(iterations, frequencies, grid_factors=None, tv=0.0, windows=None,
              blocks=None) -> list[tuple[float | None, int, int, float, float | None, int]]:
    """[(cutoff Hz or None, grid factor, iterations, TV weight, window s or None, block levels)] per stage."""
    frequencies = list(frequencies)
    if not frequencies:
        raise ValueError("frequencies must list at least one stage (None for the full band)")
    factors = [1] * len(frequencies) if grid_factors is None else list(grid_factors)
    if len(factors) != len(frequencies):
        raise ValueError(f"grid_factors gives {len(factors)} stages but frequencies {len(frequencies)}")
    factors = [positive_int("grid_factors", factor) for factor in factors]
    if isinstance(iterations, (list, tuple)):
        if len(iterations) != len(frequencies):
            raise ValueError(f"iterations gives {len(iterations)} stages but frequencies {len(frequencies)}")
        counts = [positive_int("iterations", count) for count in iterations]
    else:
        total = positive_int("iterations", iterations)
        counts = [total // len(frequencies) + (i < total % len(frequencies)) for i in range(len(frequencies))][::-1]
    weights = _per_stage("tv", tv, len(frequencies))
    return [(None if f is None else float(f), factor, count, weight, window, levels)
            for f, factor, count, weight, window, levels in zip(frequencies, factors, counts, weights,
                                                                 _windows(windows, len(frequencies)),
                                                                 _levels(blocks, len(frequencies))) if count]


def _default_chunk(survey: Survey, batch: int) -> int:
    """Models per gradient evaluation so that the stored wavefields stay under _MEMORY_PER_CHUNK."""
    cells = (survey.nz + 2 * survey.boundary) * (survey.nx + 2 * survey.boundary)
    per_model = 4.0 * survey.nt * survey.shots * cells
    return max(1, min(batch, int(_MEMORY_PER_CHUNK // per_model)))


def invert(observed, initial, survey: Survey, *, iterations=40, method: str = "adam",
           learning_rate: float = 20.0, lbfgs_memory: int = 10, frequencies=(None,), grid_factors=None,
           bounds=None, tv=0.0,
           lateral: float = 1.0, smoothness: float = 0.0, lateral_smoothness: float = 0.0,
           normalize_traces: bool = False, time_gain: float = 0.0, windows=None, correct_every: int = 0,
           blocks=None, precondition: float = 0.0, target_misfit: float | None = None,
           time_limit: float | None = None, true_velocity=None, batch_size: int | None = None,
           progress: bool = True) -> InversionResult:
    """Full-waveform inversion: refine ``initial`` velocity models so that they explain ``observed`` data.

    Args:
        observed: array [batch, shot, time, receiver] (or one sample without batch), raw amplitudes
            recorded with ``survey``.
        initial: array (batch, nz, nx) or (batch, 1, nz, nx), starting models in m/s (clipped to
            ``bounds``).
        survey: ``Survey`` of the data (geometry, dt, boundary).
        iterations: int, total gradient iterations split evenly over the stages, or one count per stage.
        method: "adam" (per-model normalised gradients) or "lbfgs" (SciPy's L-BFGS-B).
        learning_rate: float, m/s, Adam's largest step per cell (unused by "lbfgs").
        lbfgs_memory: int, curvature pairs L-BFGS-B keeps (SciPy's ``maxcor``; unused by "adam").
        frequencies: sequence of low-pass cutoffs in Hz, one stage each, None for the full band;
            e.g. (6.0, 10.0, None) goes from low to full band.
        grid_factors: sequence of ints, one per stage, or None (all 1): simulate that stage on a grid
            that many times coarser in space and time (``keras_fwi.physics.coarse``, about factor^3
            times cheaper per iteration; the stage needs a cutoff with >= 5 coarse cells per wavelength
            at the slowest velocity). The models stay on the survey's grid.
        correct_every: int >= 0, in coarse stages, every this many iterations re-anchor the coarse
            data to the survey's grid at the current models (``Objective.correct``: one fine forward
            simulation each), so coarse stages converge towards the fine misfit's minimum instead of
            the coarse grid's; the optimiser restarts after each. With it, a coarse grid puts each
            source at its nearest cell and absorbs with a thinner layer (the correction removes what
            either changes; cheaper). 0: no corrections, sources split, the wider layer.
        blocks: None, or one int per stage: 0 fits every cell; k > 0 fits one velocity per region of
            the current models segmented into k velocity levels (``keras_fwi.physics.segments``), so
            a whole layer moves as one (blocky, layered models; re-segmented at every correction).
            Needs ``method="lbfgs"``.
        precondition: float >= 0, for "lbfgs", the power p of a depth preconditioner: each depth row's
            velocities are optimised in units (its gradient's RMS / the largest row's)^-p times
            larger (at most 30; ``keras_fwi.physics.optimizers.row_units``), set at the start of each
            L-BFGS-B run, so deep, weakly lit rows move as readily as shallow ones. 0: none.
        bounds: (min, max) m/s, default ``survey.velocity_range``; max must be stable (CFL).
        tv, smoothness: float >= 0, weights of total variation and squared-gradient regularisation
            (dimensionless; see ``keras_fwi.physics.objective``); ``tv`` may give one weight per stage.
        lateral: float > 0, weight of lateral (x) differences against vertical ones in both
            regularisers; 1 is isotropic, > 1 favours layered models.
        lateral_smoothness: float >= 0, weight of the mean squared lateral difference (favours layers).
        normalize_traces: bool, compare traces each divided by its L2 norm (amplitude-robust).
        time_gain: float >= 0, power p of a time gain (t / T)^p on both data (T: the record length),
            so late, weak deep reflections weigh as much as early arrivals; 0: none.
        windows: None, or one time in s (None: whole trace) per stage: the stage fits only the
            samples up to it (layer stripping: e.g. (0.4, 0.7, None) fits the shallow part first).
        target_misfit: float or None, stop (a model, for Adam) once the relative misfit is below it.
        time_limit: float or None, seconds after which the loop stops (for "lbfgs", each model
            starting gets an even share of the time left among the rounds of models still to start).
        true_velocity: array like ``initial`` or None; with it the history holds the MAE in m/s.
        batch_size: int or None, models per simulation for "adam" (default: as many as fit in about
            2 GB); "lbfgs" simulates one model at a time.
        progress: bool, show a tqdm progress bar.

    Returns:
        ``InversionResult`` (velocity float32 (batch, nz, nx) m/s, history, misfit and MAE before and after).

    Raises:
        ValueError: shapes that do not match the survey, NaN/Inf or non-positive values, bad bounds
            or an upper bound too fast for the survey's dt (CFL), unknown method, bad schedule.
        ImportError: ``method="lbfgs"`` without SciPy.

    Example:
        >>> survey = Survey.openfwi()
        >>> result = invert(seismic, start, survey, iterations=40, tv=1e-2)
        >>> result.velocity.shape, result.misfit_after
    """
    one_of("method", method, ("adam", "lbfgs"))
    observed = _observed(observed, survey)
    batch = len(observed)
    bounds = _bounds(bounds, survey)
    velocity = np.clip(_models("initial", initial, survey, batch), *bounds)
    truth = None if true_velocity is None else _models("true_velocity", true_velocity, survey, batch)
    stages = _schedule(iterations, frequencies, grid_factors, tv, windows, blocks)
    if method == "adam" and any(stage[5] for stage in stages):
        raise ValueError("blocks need method='lbfgs' (Adam steps every cell on its own)")
    for name, value in (("smoothness", smoothness), ("lateral_smoothness", lateral_smoothness),
                        ("learning_rate", learning_rate), ("time_gain", time_gain), ("precondition", precondition)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (math.isfinite(lateral) and lateral > 0):
        raise ValueError(f"lateral must be a finite number > 0 (1: isotropic), got {lateral!r}")
    chunk = _default_chunk(survey, batch) if batch_size is None else positive_int("batch_size", batch_size)
    settings = {"survey": survey, "stages": stages, "method": method, "bounds": bounds,
                "learning_rate": learning_rate, "memory": positive_int("lbfgs_memory", lbfgs_memory),
                "terms": (smoothness, normalize_traces, lateral, lateral_smoothness, time_gain),
                "correct_every": non_negative_int("correct_every", correct_every),
                "precondition": float(precondition), "target_misfit": target_misfit, "progress": progress}
    if method == "adam" or batch == 1:
        return _run(observed, velocity, truth, chunk=chunk, time_limit=time_limit, **settings)
    # One L-BFGS-B per model (each its own line search and curvature pairs), side by side (concurrency).
    begin = time.perf_counter()

    def one(index, budget, share, cancel):
        return _run(observed[index:index + 1], velocity[index:index + 1],
                    None if truth is None else truth[index:index + 1], chunk=1, time_limit=budget,
                    parallel=share, cancel=cancel, **settings)

    results = each_model(one, batch, default_parallel(), time_limit)
    return _merge(results, time.perf_counter() - begin)


def _rounds(count: int, every: int) -> list[int]:
    """``count`` iterations as rounds of ``every`` (the last one shorter); one round when every is 0."""
    if not every:
        return [count]
    return [every] * (count // every) + ([count % every] if count % every else [])


def _run(observed, velocity, truth, *, survey, stages, method, bounds, learning_rate, memory, terms, target_misfit,
         progress, chunk, time_limit, correct_every, precondition, parallel=None, cancel=None) -> InversionResult:
    """``invert`` on checked inputs: one optimiser over the whole batch (``parallel`` as ``Objective``'s,
    ``cancel`` as ``Recorder``'s)."""
    smoothness, normalize_traces, lateral, lateral_smoothness, time_gain = terms
    objective = Objective(observed, survey, bounds[1] - bounds[0], smoothness=smoothness,
                          normalize_traces=normalize_traces, chunk=chunk, lateral=lateral,
                          lateral_smoothness=lateral_smoothness, time_gain=time_gain, parallel=parallel)
    recorder = Recorder(truth, sum(stage[2] for stage in stages), target_misfit, time_limit, progress, cancel)
    start_velocity, stopped = velocity.copy(), "iterations"
    try:
        for cutoff, factor, count, tv, window, levels in stages:
            objective.tv = tv
            objective.set_cutoff(cutoff, factor, window, corrected=bool(correct_every))
            every = correct_every if factor > 1 else 0  # only coarse stages have a grid to re-anchor
            for rounds in _rounds(count, every):
                if every:
                    objective.correct(velocity)
                if method == "adam":
                    velocity, reason = adam_stage(objective, velocity, bounds, rounds, learning_rate, recorder)
                else:
                    blocks = Blocks(velocity, segment(velocity, levels), bounds) if levels else None
                    velocity, reason = lbfgs_stage(objective, velocity, bounds, rounds, recorder, memory, blocks,
                                                   precondition)
                if reason:
                    break
            if reason:
                stopped = reason
                break
        weighted = bool(time_gain) or any(stage[4] is not None for stage in stages)
        objective.time_gain = 0.0  # misfits before and after: plain full-band L2, whatever the stages weighed
        objective.set_cutoff(None)
        total, misfit_after, _ = objective(velocity, gradient=False)
        history = recorder.history
        if weighted or history["iteration"][-1] != recorder.iteration or history["frequency"][-1] is not None:
            recorder.record(velocity, total, misfit_after, None)
        first_full = [i for i, f in enumerate(history["frequency"]) if f is None and history["iteration"][i] == 0
                      and not weighted]
        misfit_before = (np.asarray(recorder.history["misfit"][first_full[0]]) if first_full
                         else objective(start_velocity, gradient=False)[1])
    finally:
        recorder.bar.close()
    mae = (lambda v: None if truth is None else np.abs(v - truth).mean(axis=(1, 2)))
    return InversionResult(velocity.astype(np.float32), recorder.history, misfit_before, misfit_after,
                           mae(start_velocity), mae(velocity), stopped, time.perf_counter() - recorder.start)


def _merge(results: list, seconds: float) -> InversionResult:
    """One ``InversionResult`` from per-model ones (run apart). History entry ``k`` holds
    each model's ``k``-th entry (its last one when it has fewer); ``seconds`` there is the sum over
    models of the time each took to reach it."""
    longest = max(results, key=lambda result: len(result.history["iteration"])).history
    history = {key: [] for key in longest}
    for k in range(len(longest["iteration"])):
        entries = [result.history for result in results]
        at = [min(k, len(entry["iteration"]) - 1) for entry in entries]
        history["iteration"].append(longest["iteration"][k])
        history["frequency"].append(longest["frequency"][k])
        history["seconds"].append(sum(entry["seconds"][i] for entry, i in zip(entries, at)))
        for key in set(longest) - {"iteration", "frequency", "seconds"}:
            history[key].append([entry[key][i][0] for entry, i in zip(entries, at)])
    join = (lambda name: None if getattr(results[0], name) is None
            else np.concatenate([getattr(result, name) for result in results]))
    reasons = [result.stopped for result in results]
    stopped = "time" if "time" in reasons else ("misfit" if all(r == "misfit" for r in reasons) else "iterations")
    return InversionResult(join("velocity"), history, join("misfit_before"), join("misfit_after"),
                           join("mae_before"), join("mae_after"), stopped, seconds)
