"""Training: losses, schedules, metrics, callbacks and the trainer behind ``keras_fwi train``.

>>> model.compile(optimizer="adamw", loss=keras_fwi.training.L1L2Loss(),
...               metrics=keras_fwi.training.openfwi_metrics(1500, 4500))

Names are imported on first use (PEP 562): Keras registers the loss, metrics and schedule when
``keras_fwi._registration`` imports their modules, which must not drag in the trainer.
"""

from __future__ import annotations

import importlib

# Public name -> module under keras_fwi.training that defines it.
_HOMES = {
    "AtomicModelCheckpoint": "callbacks", "NaNGuard": "callbacks", "ResumableBackup": "callbacks",
    "recompute_batch_norm": "callbacks",
    "L1L2Loss": "losses",
    "MAE": "metrics", "PSNR": "metrics", "RMSE": "metrics", "SSIM": "metrics", "VelocityMAE": "metrics",
    "VelocityRMSE": "metrics", "openfwi_metrics": "metrics",
    "WarmupMultiStep": "schedules",
    "TrainResult": "trainer", "TrainingDiverged": "trainer", "train": "trainer",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
