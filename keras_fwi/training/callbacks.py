"""Callbacks for crash-safe training: atomic checkpoints, exact resume, a NaN stop that says what to do.

Keras' ``BackupAndRestore`` is the model for resuming; ``ResumableBackup`` writes the weights
(model and optimizer: moments, EMA, iteration count, hence the schedule step) to a new file, then
commits the epoch with an atomic rename of a small JSON that points at it. A ``SIGKILL`` at any
instant leaves the previous complete state in place.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np

from keras_fwi._progress import PlainProgbar, is_terminal
from keras_fwi.artefacts import save_model
from keras_fwi.io_utils import atomic_output

__all__ = ["AtomicModelCheckpoint", "NaNGuard", "ResumableBackup", "RunProgressBar", "non_finite_state",
           "recompute_batch_norm"]


def _write_json_atomically(path: Path, payload: dict) -> None:
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(payload, indent=2))


class ResumableBackup(keras.callbacks.Callback):
    """Save the full training state at each epoch end; ``restore`` it before training resumes.

    Modelled on ``keras.callbacks.BackupAndRestore`` (epoch-level backups of weights and optimizer),
    with atomic writes and a restore the trainer calls itself before its training loop (whose data
    order depends only on the seed and the epoch, so the resumed epochs see the same batches).

    Args:
        backup_dir: folder for ``state.json`` and ``epoch-NNNN.weights.h5``; kept after training
            (so a finished run is known to be finished).
    """

    STATE = "state.json"

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.refused = None  # why the last epoch's state was not backed up, if it was not

    @classmethod
    def epochs_done(cls, backup_dir) -> int:
        """The epochs the last committed backup in ``backup_dir`` holds (0 if none)."""
        state_path = Path(backup_dir) / cls.STATE
        return int(json.loads(state_path.read_text())["epoch"]) if state_path.is_file() else 0

    @classmethod
    def iterations_done(cls, backup_dir) -> int:
        """Optimizer iterations of the last committed backup (0 if none)."""
        state_path = Path(backup_dir) / cls.STATE
        return int(json.loads(state_path.read_text()).get("iterations", 0)) if state_path.is_file() else 0

    @classmethod
    def restore(cls, model: keras.Model, backup_dir) -> int:
        """Load the last backed-up state into ``model`` (compiled); return the epochs it had done (0 if none)."""
        state_path = Path(backup_dir) / cls.STATE
        if not state_path.is_file():
            return 0
        state = json.loads(state_path.read_text())
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(Path(backup_dir) / state["weights"])
        return int(state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        bad = non_finite_state(self.model)
        if bad:  # never commit a poisoned state: the last finite epoch stays the restore point
            self.refused = (f"after epoch {epoch + 1} {len(bad)} weight or optimizer arrays are not finite "
                            f"(first: {', '.join(bad[:3])}); that state was not backed up")
            self.model.stop_training = True
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        weights = f"epoch-{epoch + 1:04d}.weights.h5"
        with atomic_output(self.backup_dir / weights, overwrite=True) as tmp:
            self.model.save_weights(tmp)
        # convert_to_numpy, not int(): under a tf.distribute strategy the counter is a MirroredVariable.
        iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        _write_json_atomically(self.backup_dir / self.STATE, {"epoch": epoch + 1, "weights": weights,
                                                              "iterations": iterations})
        for old in self.backup_dir.glob("epoch-*.weights.h5"):
            if old.name != weights:
                old.unlink()


def non_finite_state(model: keras.Model) -> list[str]:
    """Paths of the model's weights and optimizer variables that hold NaN or Inf (empty if all finite)."""
    variables = list(model.weights)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    return [variable.path for variable in variables
            if variable.dtype.startswith("float") and not np.isfinite(keras.ops.convert_to_numpy(variable)).all()]


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Write ``last.keras`` every epoch and ``best.keras`` when ``monitor`` improves, atomically.

    The best value so far is kept in ``best.json`` beside them, so a resumed run compares against it.

    Args:
        directory: folder for the checkpoints.
        monitor: log key to minimise. Default ``"val_loss"`` (OpenFWI keeps the best validation loss).
        dataset: preset name or ``DatasetPreset`` recorded in each file (``keras_fwi.artefacts``), or None.
    """

    def __init__(self, directory, monitor: str = "val_loss", dataset=None):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.dataset = dataset

    def _best(self) -> float:
        path = self.directory / "best.json"
        return json.loads(path.read_text())["value"] if path.is_file() else math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if non_finite_state(self.model):
            return  # ResumableBackup stops the run; keep the last finite checkpoints
        self.directory.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.directory / "last.keras", self.dataset, overwrite=True)
        value = logs.get(self.monitor)
        if value is not None and np.isfinite(value) and value < self._best():
            save_model(self.model, self.directory / "best.keras", self.dataset, overwrite=True)
            _write_json_atomically(self.directory / "best.json",
                                   {"epoch": epoch + 1, "monitor": self.monitor, "value": float(value)})


class RunProgressBar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, counting epochs out of the whole run ("Epoch 4/12", also after a resume);
    when stdout is not a terminal, one plain line per epoch (no ANSI codes, backspaces or carriage returns)."""

    def __init__(self, total_epochs: int):
        super().__init__()
        self.total_epochs = total_epochs

    def set_params(self, params):
        super().set_params(params)
        self.epochs = self.total_epochs
        if self.verbose == 1 and not is_terminal():
            self.verbose = 2  # one line per epoch in a log, as fit(verbose=2), not one per refresh

    def _maybe_init_progbar(self):
        if self.progbar is None and not is_terminal():
            self.progbar = PlainProgbar(target=self.target, verbose=self.verbose, unit_name="step",
                                         stateless_metrics=set())
        super()._maybe_init_progbar()


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

