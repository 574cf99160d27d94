"""``RunDirectory``: the one reader (and writer) of a ``keras_fwi train`` run directory.

``train``, ``evaluate`` and ``export`` all read runs through it, so each file's meaning and each
fallback is written once. No TensorFlow here. A run directory holds::

    config.yaml            the experiment, as run (``--resume`` reads it back)
    start.json             how the weights started: ``init_from`` (a .keras model or PyTorch
                           checkpoint, absolute path) and the ``freeze`` patterns
    data.json              the training and validation files read (generated ones included)
    backup/state.json      the last committed epoch (exact resume), beside ``epoch-NNNN.weights.h5``
    checkpoints/           last.keras, best.keras (by validation loss), best.json
    model.keras            the final model (BatchNorm statistics re-estimated)
    history.csv, logs/     per-epoch history, TensorBoard
    metrics.json           held-out metrics (normalised and m/s) and the mean-map baseline
    predictions.png        ground truth, prediction and difference for a few held-out samples
    .keras_fwi.lock        while a run is going: its holder (``run_lock``; one writer at a time)
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from keras_fwi.config import ExperimentConfig
from keras_fwi.io_utils import atomic_output
from keras_fwi.run_lock import LOCK_NAME, RunLock

__all__ = ["RESUME_OVERRIDES", "RunDirectory", "config_differences", "resume_config"]

# What a resumed run may change: the advice after a divergence (lower the learning rate), a longer or
# shorter run, and a batch that fits another machine. Everything else must match the saved run.
RESUME_OVERRIDES = ("optimizer.learning_rate", "training.epochs", "training.batch_size")


def _flat(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value and key != "options":
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(saved: ExperimentConfig, given: ExperimentConfig) -> dict:
    """``{dotted key: (saved value, given value)}`` for every key that differs."""
    old, new = _flat(saved.to_dict()), _flat(given.to_dict())
    return {key: (old.get(key), new.get(key)) for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)}


def resume_config(saved: ExperimentConfig, given: ExperimentConfig | None) -> ExperimentConfig:
    """The configuration a resumed run continues with: ``given`` if it differs from ``saved`` only in
    ``RESUME_OVERRIDES``; ``saved`` when ``given`` is None.

    Raises:
        ValueError: naming each other difference, with both values.
    """
    if given is None:
        return saved
    refused = {key: pair for key, pair in config_differences(saved, given).items() if key not in RESUME_OVERRIDES}
    if refused:
        listed = "; ".join(f"{key}: saved {old!r}, given {new!r}" for key, (old, new) in refused.items())
        raise ValueError(f"--resume continues the saved run, and these options differ from it: {listed}. Only "
                         f"{', '.join(RESUME_OVERRIDES)} may change on resume; drop the others or start a new "
                         "run in another --run-dir")
    return given


class RunDirectory:
    """Paths and records of one run directory (see the module docstring for its layout)."""

    def __init__(self, path):
        self.path = Path(path)
        self.config_path = self.path / "config.yaml"
        self.backup = self.path / "backup"
        self.model_path = self.path / "model.keras"
        self.checkpoints = self.path / "checkpoints"

    def holds_run(self) -> bool:
        return self.config_path.is_file()

    def is_empty(self) -> bool:
        """No folder, or nothing in it but the lock of a run that is starting (``run_lock``)."""
        return not self.path.is_dir() or all(item.name == LOCK_NAME for item in self.path.iterdir())

    def lock(self, command: str = "keras_fwi train") -> RunLock:
        """The advisory lock that makes one process at a time the writer of this run directory."""
        return RunLock(self.path, command)

    def config(self) -> ExperimentConfig:
        """The saved experiment. Raises FileNotFoundError if this is not a run directory."""
        if not self.holds_run():
            raise FileNotFoundError(f"{self.path} is not a keras_fwi run directory (no config.yaml)")
        return ExperimentConfig.from_dict(yaml.safe_load(self.config_path.read_text()))

    def start(self) -> dict:
        """``{"init_from": str | None, "freeze": [patterns]}`` as recorded (nothing recorded: neither)."""
        path = self.path / "start.json"
        recorded = json.loads(path.read_text()) if path.is_file() else {}
        return {"init_from": recorded.get("init_from"), "freeze": list(recorded.get("freeze", []))}

    def sources(self) -> dict | None:
        """``{"train": ..., "val": ...}`` as read by the run (None before its data were resolved)."""
        path = self.path / "data.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def epochs_done(self) -> int:
        """Epochs of the last committed backup (0 if none)."""
        state = self.backup / "state.json"
        return int(json.loads(state.read_text())["epoch"]) if state.is_file() else 0

    def validation_source(self, generate: bool = False) -> str | None:
        """The run's validation files: as recorded in data.json, else ``data.val``, else (with
        ``generate``) the generated dataset's test split. None if the run has none."""
        recorded = self.sources()
        if recorded is not None:
            return recorded.get("val")
        data = self.config().data
        if data.val is None and data.generate is not None and generate:
            from keras_fwi.training.datasets import generated_splits

            return str(generated_splits(data.generate)[1])
        return data.val

    def write_start(self, config: ExperimentConfig, init_from: str | None, freeze) -> None:
        """Record the experiment and how its weights start (atomic writes, replacing earlier ones)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.config_path, overwrite=True) as tmp:
            tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        start = {"init_from": str(Path(init_from).resolve()) if init_from else None, "freeze": list(freeze)}
        with atomic_output(self.path / "start.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(start, indent=2))

    def write_sources(self, sources: dict) -> None:
        with atomic_output(self.path / "data.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(sources, indent=2))
