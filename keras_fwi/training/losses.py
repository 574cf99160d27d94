"""OpenFWI's training loss: λ1 · L1 + λ2 · L2 on normalised velocity maps."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fwi")
class L1L2Loss(keras.losses.Loss):
    """``l1 · mean|pred − true| + l2 · mean(pred − true)²``, per sample, averaged over the batch.

    With equal-size maps the batch average equals PyTorch's ``L1Loss()``/``MSELoss()`` mean over all
    elements, so the value is OpenFWI's ``lambda_g1v · l1loss + lambda_g2v · l2loss``. OpenFWI's
    script defaults to λ1 = λ2 = 1; its README trains InversionNet with λ2 = 0 (pure L1).

    Args:
        l1: float ≥ 0, weight of the mean absolute error. Default 1.
        l2: float ≥ 0, weight of the mean squared error. Default 0.
    """

    def __init__(self, l1: float = 1.0, l2: float = 0.0, name: str = "l1_l2_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if l1 < 0 or l2 < 0 or l1 + l2 == 0:
            raise ValueError(f"loss weights must be ≥ 0 and not both 0, got l1={l1}, l2={l2}")
        self.l1 = float(l1)
        self.l2 = float(l2)

    def call(self, y_true, y_pred):
        difference = y_pred - ops.cast(y_true, y_pred.dtype)
        axes = tuple(range(1, len(difference.shape)))
        loss = 0.0
        if self.l1:
            loss = loss + self.l1 * ops.mean(ops.abs(difference), axis=axes)
        if self.l2:
            loss = loss + self.l2 * ops.mean(ops.square(difference), axis=axes)
        return loss

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
