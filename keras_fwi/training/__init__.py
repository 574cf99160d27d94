"""Training: losses, schedules, metrics, callbacks and the trainer behind ``keras_fwi train``.

>>> model.compile(optimizer="adamw", loss=keras_fwi.training.L1L2Loss(),
...               metrics=keras_fwi.training.openfwi_metrics(1500, 4500))
"""

from keras_fwi.training.callbacks import AtomicModelCheckpoint, NaNGuard, ResumableBackup, recompute_batch_norm
from keras_fwi.training.fcnvmb_metrics import FcnvmbSSIM, fcnvmb_metrics
from keras_fwi.training.losses import L1L2Loss
from keras_fwi.training.metrics import MAE, PSNR, RMSE, SSIM, VelocityMAE, VelocityRMSE, openfwi_metrics
from keras_fwi.training.schedules import WarmupMultiStep
from keras_fwi.training.trainer import TrainingDiverged, TrainResult, train

__all__ = [
    "MAE", "PSNR", "RMSE", "SSIM", "AtomicModelCheckpoint", "FcnvmbSSIM", "L1L2Loss", "NaNGuard", "ResumableBackup",
    "TrainResult", "TrainingDiverged", "VelocityMAE", "VelocityRMSE", "WarmupMultiStep", "fcnvmb_metrics",
    "openfwi_metrics",
    "recompute_batch_norm", "train",
]
