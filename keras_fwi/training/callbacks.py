"""Callbacks for crash-safe training: atomic checkpoints, exact resume, a NaN stop that says what to do.

Keras' ``BackupAndRestore`` is the model for resuming; ``ResumableBackup`` keeps its interface but
writes the weights (model and optimizer: moments, EMA, iteration count, hence the schedule step)
to a new file, then commits the epoch with an atomic rename of a small JSON that points at it. A
``SIGKILL`` at any instant leaves the previous complete state in place.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from keras_fwi.io_utils import atomic_output

__all__ = ["AtomicModelCheckpoint", "NaNGuard", "ResumableBackup", "recompute_batch_norm"]


def _write_json_atomically(path: Path, payload: dict) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(payload, indent=2))


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """Save the full training state at each epoch end; restore it when ``fit`` starts.

    Args:
        backup_dir: folder for ``state.json`` and ``epoch-NNNN.weights.h5``; kept after training
            (so a finished run is known to be finished).
    """

    STATE = "state.json"

    def __init__(self, backup_dir):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.backup_path = Path(backup_dir)

    @classmethod
    def completed_epochs(cls, backup_dir) -> int:
        """Epochs fully trained according to the backup in ``backup_dir`` (0 if none)."""
        state = Path(backup_dir) / cls.STATE
        return json.loads(state.read_text())["epoch"] if state.is_file() else 0

    def _load_model(self):
        state_path = self.backup_path / self.STATE
        if not state_path.is_file():
            return
        state = json.loads(state_path.read_text())
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.backup_path / state["weights"])
        self.model._initial_epoch = state["epoch"]

    def _save_model(self):
        self.backup_path.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{self._current_epoch:04d}.weights.h5"
        with atomic_output(self.backup_path / weights, overwrite=True) as tmp:
            self.model.save_weights(tmp)
        _write_json_atomically(self.backup_path / self.STATE, {"epoch": self._current_epoch, "weights": weights})
        for old in self.backup_path.glob("epoch-*.weights.h5"):
            if old.name != weights:
                old.unlink()


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Write ``last.keras`` every epoch and ``best.keras`` when ``monitor`` improves, atomically.

    The best value so far is kept in ``best.json`` beside them, so a resumed run compares against it.

    Args:
        directory: folder for the checkpoints.
        monitor: log key to minimise. Default ``"val_loss"`` (OpenFWI keeps the best validation loss).
    """

    def __init__(self, directory, monitor: str = "val_loss"):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor

    def _best(self) -> float:
        path = self.directory / "best.json"
        return json.loads(path.read_text())["value"] if path.is_file() else math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.directory / "last.keras", overwrite=True) as tmp:
            self.model.save(tmp)
        value = logs.get(self.monitor)
        if value is not None and np.isfinite(value) and value < self._best():
            with atomic_output(self.directory / "best.keras", overwrite=True) as tmp:
                self.model.save(tmp)
            _write_json_atomically(self.directory / "best.json",
                                   {"epoch": epoch + 1, "monitor": self.monitor, "value": float(value)})


class NaNGuard(keras.callbacks.Callback):
    """Stop at the first non-finite loss and keep a message that says what to try (``self.message``)."""

    def __init__(self):
        super().__init__()
        self.message = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.message = (
                f"the training loss became {loss} at epoch {self._epoch + 1}, batch {batch + 1}; training stopped. "
                "Try a lower optimizer.learning_rate or more warm-up (optimizer.warmup_epochs), check that "
                "the data are normalised for this dataset preset, or train with --precision float32 "
                "(float16 overflows without loss scaling)")
            self.model.stop_training = True


def recompute_batch_norm(model: keras.Model, dataset, steps: int | None = None) -> int:
    """Re-estimate every BatchNorm layer's moving mean/variance as plain averages over ``dataset``.

    In short runs the exponential moving averages lag the weights, and a model that fits well with
    batch statistics predicts badly in inference mode. Like ``torch.optim.swa_utils.update_bn``,
    this runs the training data through the network in training mode with a cumulative average
    (momentum ``n / (n + 1)`` at batch ``n``), leaving the weights unchanged.

    Args:
        model: the model; its BatchNorm layers are updated in place.
        dataset: iterable of ``(seismic, ...)`` batches or seismic batches.
        steps: batches to use; None for one pass over ``dataset``.

    Returns:
        The number of batches used.
    """
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for batch in dataset:
            if steps is not None and count >= steps:
                break
            seismic = batch[0] if isinstance(batch, (tuple, list)) else batch
            for layer in layers:
                layer.momentum = count / (count + 1)
            model(seismic, training=True)  # eager: each layer reads its momentum at call time
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count

