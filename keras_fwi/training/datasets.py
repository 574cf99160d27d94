"""The training and validation pipelines of an experiment, generating the data first if needed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from keras_fwi.config import DataConfig, GenerateConfig

__all__ = ["cache_folder", "epoch_seed", "experiment_datasets", "generated_splits"]


def cache_folder() -> Path:
    """Where generated datasets are cached: ``$KERAS_FWI_CACHE`` or ``~/.cache/keras_fwi``."""
    return Path(os.environ.get("KERAS_FWI_CACHE", Path.home() / ".cache" / "keras_fwi"))


def generated_splits(generate: GenerateConfig, progress: bool = True) -> tuple[Path, Path]:
    """Generate (once; resumable) the dataset ``generate`` describes; return its train and test split files.

    The folder name is a hash of the settings, so a changed setting never reuses stale files.
    """
    from keras_fwi.physics.generate import SURVEYS, generate_dataset

    if generate.survey not in SURVEYS:
        raise ValueError(f"data.generate.survey must be one of {sorted(SURVEYS)}, got {generate.survey!r}")
    changes = {"absorbing": generate.absorbing} if generate.absorbing is not None else {}
    if generate.boundary is not None:
        changes["boundary"] = generate.boundary
    survey = SURVEYS[generate.survey](**changes)
    # The key holds the resolved survey (absorbing layer and width included), so neither a changed
    # setting nor a changed package default ever reuses stale files.
    settings = json.dumps({**dataclasses.asdict(generate), "survey": survey.to_dict()}, sort_keys=True)
    folder = cache_folder() / "generated" / f"{generate.family}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
    splits = folder / "train.txt", folder / "test.txt"
    if not all(split.is_file() for split in splits) or not (folder / "complete").is_file():
        generate_dataset(folder, generate.family, generate.samples, generate.per_file, survey=survey,
                         seed=generate.seed, test_fraction=generate.test_fraction, resume=True, progress=progress)
        (folder / "complete").write_text(settings)
    return splits


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's shuffle and flips: a function of (seed, epoch) only, so a resumed run
    sees exactly the order an uninterrupted one would have seen."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def experiment_datasets(data: DataConfig, global_batch_size: int, seed: int, data_format: str = "channels_first",
                        input_context=None, progress: bool = True):
    """``(train_for_epoch, validation, sources)``: a function epoch → training ``tf.data`` pipeline, the
    validation pipeline, and ``{"train": ..., "val": ...}``, the split files or folders actually read.

    ``data.train``/``data.val`` are OpenFWI split files or folders; without ``data.train`` the
    ``data.generate`` settings make (and cache) a dataset with the package's simulator. The first
    pipeline made checks every file's values up front; later ones check each batch as it streams.

    Raises:
        ValueError: neither files nor generation settings are given.
    """
    from keras_fwi.data import Augmentation, fcnvmb_dataset, get_preset, openfwi_dataset

    train, val = data.train, data.val
    if train is None:
        if data.generate is None:
            raise ValueError("the experiment has no training data: set data.train (an OpenFWI split file or "
                             "folder) or data.generate (simulate a dataset)")
        train, generated_val = generated_splits(data.generate, progress)
        val = val or generated_val
    if get_preset(data.dataset).format == "fcnvmb":  # one .mat file per sample, raw units by default
        if data.flip or data.sample_temporal != 1 or data.noise_snr_db is not None or data.trace_dropout:
            raise ValueError("data.flip, data.sample_temporal, data.noise_snr_db and data.trace_dropout apply to "
                             "OpenFWI-format data, not FCNVMB .mat files")

        def read(source, shuffle, seed=None, check=None, flip=False):
            return fcnvmb_dataset(source, dataset=data.dataset, batch_size=global_batch_size, shuffle=shuffle,
                                  seed=seed, data_format=data_format)
    else:
        augmentation = Augmentation(data.noise_snr_db, data.trace_dropout)  # checks the values up front

        def read(source, shuffle, seed=None, check="scan", flip=False):
            # Augment the shuffled training epochs only: never validation, nor the in-order pass.
            return openfwi_dataset(source, dataset=data.dataset, batch_size=global_batch_size, shuffle=shuffle,
                                   seed=seed, horizontal_flip=flip, sample_temporal=data.sample_temporal,
                                   check_values=check, input_context=input_context, data_format=data_format,
                                   augment=augmentation if shuffle else None)
    val_ds = read(val, shuffle=False) if val is not None else None
    scanned = []

    def train_for_epoch(epoch: int | None):
        """Epoch ``epoch``'s shuffled (and flipped) batches; ``None``: all samples in file order."""
        check = "stream" if scanned else "scan"
        scanned.append(epoch)
        if epoch is None:
            return read(train, shuffle=False, check=check)
        return read(train, shuffle=True, seed=epoch_seed(seed, epoch), check=check, flip=data.flip)

    return train_for_epoch, val_ds, {"train": str(train), "val": None if val is None else str(val)}
