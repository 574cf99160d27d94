"""The two optimisers of ``invert`` and the history they share: Adam with per-model normalised
gradients, SciPy's L-BFGS-B, and ``Recorder`` (history, progress bar, stopping rules)."""

from __future__ import annotations

import time

import numpy as np

from keras_fwi.physics.objective import Objective
from keras_fwi.physics.segments import Blocks

__all__ = ["Recorder", "adam_stage", "lbfgs_stage", "row_units"]

_ADAM_BETAS, _ADAM_EPSILON = (0.9, 0.999), 1e-8
PRECONDITION_CAP = 30.0  # largest ratio of two rows' units (row_units): about 1000x weaker gradients


class Recorder:
    """History, progress bar and stopping rules shared by both optimisers; ``cancel``: a
    ``threading.Event`` that stops the loop when set, or None."""

    def __init__(self, truth, total: int, target_misfit, time_limit, progress: bool, cancel=None):
        from tqdm.auto import tqdm

        self.truth, self.target, self.limit, self.cancel = truth, target_misfit, time_limit, cancel
        self.start = time.perf_counter()
        self.history = {"iteration": [], "frequency": [], "misfit": [], "objective": [], "step": [], "seconds": []}
        if truth is not None:
            self.history["mae"] = []
        self.iteration, self.previous = 0, None
        self.bar = tqdm(total=total, disable=not progress, unit="it", desc="invert", leave=False)

    def record(self, velocity, objective, misfit, cutoff) -> None:
        step = np.zeros(len(velocity)) if self.previous is None else np.abs(velocity - self.previous).max(axis=(1, 2))
        self.previous = velocity.copy()
        entries = {"iteration": self.iteration, "frequency": cutoff, "misfit": misfit.tolist(),
                   "objective": objective.tolist(), "step": step.tolist(),
                   "seconds": time.perf_counter() - self.start}
        if self.truth is not None:
            entries["mae"] = np.abs(velocity - self.truth).mean(axis=(1, 2)).tolist()
        for key, value in entries.items():
            self.history[key].append(value)
        postfix = {"misfit": f"{float(np.mean(misfit)):.3g}", "band": "full" if cutoff is None else f"{cutoff:g} Hz"}
        if self.truth is not None:
            postfix["mae"] = f"{float(np.mean(entries['mae'])):.1f}"
        self.bar.set_postfix(postfix, refresh=False)

    def advance(self) -> None:
        self.iteration += 1
        self.bar.update(1)

    def reason_to_stop(self, misfit) -> str | None:
        if self.cancel is not None and self.cancel.is_set():  # a model refined beside this one failed
            return "cancelled"
        if self.limit is not None and time.perf_counter() - self.start >= self.limit:
            return "time"
        if self.target is not None and np.all(misfit <= self.target):
            return "misfit"
        return None


def adam_stage(objective: Objective, velocity, bounds, count, learning_rate, recorder) -> tuple[np.ndarray, str]:
    """``count`` Adam steps from ``velocity``; returns (velocity, stop reason or "")."""
    (beta1, beta2), low, high = _ADAM_BETAS, *bounds
    first, second = np.zeros_like(velocity), np.zeros_like(velocity)
    for step in range(1, count + 1):
        total, misfit, gradient = objective(velocity)
        recorder.record(velocity, total, misfit, objective.cutoff)
        reason = recorder.reason_to_stop(misfit)
        if reason:
            return velocity, reason
        largest = np.abs(gradient).max(axis=(1, 2), keepdims=True)
        active = largest > 0
        if recorder.target is not None:
            active &= misfit[:, None, None] > recorder.target
        gradient = np.where(active, gradient / np.where(largest > 0, largest, 1.0), 0.0)
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * gradient ** 2
        update = learning_rate * (first / (1 - beta1 ** step)) / (np.sqrt(second / (1 - beta2 ** step)) + _ADAM_EPSILON)
        velocity = np.clip(velocity - np.where(active, update, 0.0), low, high)
        recorder.advance()
    return velocity, ""


def row_units(gradient: np.ndarray, power: float) -> np.ndarray:
    """(batch, nz, 1) relative units of each depth row's velocities for L-BFGS-B: (the RMS of the
    row's ``gradient`` (batch, nz, nx) / the largest row's)^-power, from 1 to ``PRECONDITION_CAP``.

    From a surface survey the gradient fades with depth by two to three orders of magnitude (spreading,
    transmission losses, fewer wave paths), so in plain units the shallow rows take nearly all of each
    step and deep ones barely move; measured in these units, a deep row's velocity moves about as
    readily as a shallow one's (a diagonal preconditioner; L-BFGS-B then learns the rest of the
    curvature). Power 1/2: when every row is about as far off, a row's gradient is proportional to its
    curvature, and these units make the curvature even (tests/test_physics_precondition.py).
    """
    rows = np.sqrt(np.mean(np.square(gradient), axis=2, keepdims=True))
    largest = rows.max(axis=1, keepdims=True)
    relative = np.divide(rows, largest, out=np.ones_like(rows), where=largest > 0)
    return np.clip(np.maximum(relative, 1e-30) ** -power, 1.0, PRECONDITION_CAP)


def lbfgs_stage(objective: Objective, velocity, bounds, count, recorder, memory: int = 10,
                blocks: Blocks | None = None, precondition: float = 0.0) -> tuple[np.ndarray, str]:
    """SciPy L-BFGS-B for ``count`` iterations on the batch, keeping ``memory`` curvature pairs.
    Its variables are every cell's velocity in units of the bounds' width, each depth row's scaled by
    ``row_units`` at ``velocity`` with power ``precondition`` (0: none), or with ``blocks`` (made from
    ``velocity``) one velocity per region."""
    try:
        from scipy.optimize import Bounds, minimize
    except ImportError:
        raise ImportError("method='lbfgs' needs SciPy: pip install scipy (or keras_fwi[data])") from None
    shape, cache, outcome = velocity.shape, {}, {"reason": ""}
    if blocks is None:
        first = objective(velocity)  # the run's first evaluation, which also gives the row units
        units = (bounds[1] - bounds[0]) * (row_units(first[2], precondition) if precondition else 1.0)
        units = np.broadcast_to(units, shape).ravel()
        to_velocity, from_gradient, x0 = (lambda x: (x * units).reshape(shape)), np.ravel, velocity.ravel() / units
        cache[x0.tobytes()] = first
    else:
        units = bounds[1] - bounds[0]
        to_velocity, from_gradient, x0 = (lambda x: blocks.velocity(x * units)), blocks.gradient, blocks.start / units

    def evaluate(x):
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = objective(to_velocity(x))
        return cache[key]

    def fun(x):
        total, _, gradient = evaluate(x)
        return float(total.sum()), from_gradient(gradient) * units

    def callback(intermediate_result):
        x = intermediate_result.x
        total, misfit, _ = evaluate(x)
        recorder.advance()
        recorder.record(to_velocity(x), total, misfit, objective.cutoff)
        outcome["reason"] = recorder.reason_to_stop(misfit) or ""
        if outcome["reason"]:
            raise StopIteration

    total, misfit, _ = evaluate(x0)
    recorder.record(to_velocity(x0), total, misfit, objective.cutoff)
    outcome["reason"] = recorder.reason_to_stop(misfit) or ""
    if outcome["reason"]:
        return to_velocity(x0), outcome["reason"]
    limits = Bounds(np.broadcast_to(bounds[0] / units, x0.shape), np.broadcast_to(bounds[1] / units, x0.shape))
    result = minimize(fun, x0, jac=True, method="L-BFGS-B", callback=callback, bounds=limits,
                      options={"maxiter": count, "maxfun": 3 * count, "ftol": 0.0, "gtol": 0.0, "maxcor": memory})
    return np.clip(to_velocity(result.x), *bounds), outcome["reason"]
