"""OpenFWI's learning-rate schedule, stepped per iteration: linear warm-up, then multistep decay."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fwi")
class WarmupMultiStep(keras.optimizers.schedules.LearningRateSchedule):
    """``lr(step) = learning_rate · warm-up(step) · gamma ** (number of milestones ≤ step)``.

    Warm-up rises linearly from ``warmup_factor`` to 1 over ``warmup_steps`` iterations (OpenFWI's
    ``WarmupMultiStepLR`` with factor 1e-5). Steps count optimizer updates, so a resumed run picks up
    the schedule exactly from ``optimizer.iterations``.

    Args:
        learning_rate: float, base rate (already multiplied by the number of replicas, as OpenFWI does).
        milestones: increasing ints, iterations at which the rate is multiplied by ``gamma``.
        gamma: float, decay factor. Default 0.1.
        warmup_steps: int ≥ 0, iterations of warm-up. Default 0.
        warmup_factor: float, starting fraction of the rate. Default 1e-5.
    """

    def __init__(self, learning_rate: float, milestones=(), gamma: float = 0.1, warmup_steps: int = 0,
                 warmup_factor: float = 1e-5):
        milestones = tuple(int(m) for m in milestones)
        if list(milestones) != sorted(milestones):
            raise ValueError(f"milestones must be increasing, got {milestones}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be ≥ 0, got {warmup_steps}")
        self.learning_rate = float(learning_rate)
        self.milestones = milestones
        self.gamma = float(gamma)
        self.warmup_steps = int(warmup_steps)
        self.warmup_factor = float(warmup_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        factor = ops.ones_like(step)
        if self.warmup_steps:
            alpha = step / self.warmup_steps
            factor = ops.where(step < self.warmup_steps, self.warmup_factor * (1 - alpha) + alpha, factor)
        for milestone in self.milestones:
            factor = ops.where(step >= milestone, factor * self.gamma, factor)
        return self.learning_rate * factor

    def get_config(self):
        return {"learning_rate": self.learning_rate, "milestones": list(self.milestones), "gamma": self.gamma,
                "warmup_steps": self.warmup_steps, "warmup_factor": self.warmup_factor}
