"""The training and validation pipelines of an experiment, generating the data first if needed."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from pathlib import Path

from keras_fwi.config import DataConfig, GenerateConfig
from keras_fwi.data.epochs import epoch_seed

__all__ = ["cache_folder", "epoch_seed", "experiment_datasets", "generated_splits", "preset_dataset"]  # epoch_seed: keras_fwi.data.epochs


def cache_folder() -> Path:
    """Where generated datasets are cached: ``$KERAS_FWI_CACHE`` or ``~/.cache/keras_fwi``."""
    # Absolute: a run directory records the generated split files' paths (data.json).
    return Path(os.environ.get("KERAS_FWI_CACHE", Path.home() / ".cache" / "keras_fwi")).expanduser().absolute()


def _generated_surveys(generate: GenerateConfig):
    """The survey of ``generate``, or a tuple of them when ``absorbing`` lists several layers."""
    from keras_fwi.physics.generate import SURVEYS

    preset = SURVEYS[generate.survey]
    if generate.absorbing is None or isinstance(generate.absorbing, str):
        changes = {"absorbing": generate.absorbing} if generate.absorbing is not None else {}
        if generate.boundary is not None:
            changes["boundary"] = generate.boundary
        return preset(**changes)
    if generate.boundary is not None:
        raise ValueError("data.generate.boundary sets one absorbing layer's width; with a list of absorbing "
                         "layers each takes its default width (drop data.generate.boundary)")
    return tuple(preset(absorbing=layer) for layer in generate.absorbing)


def generated_splits(generate: GenerateConfig, progress: bool = True) -> tuple[Path, Path]:
    """Generate (once; resumable) the dataset ``generate`` describes; return its train and test split files.

    The folder name is a hash of the settings, so a changed setting never reuses stale files.
    """
    from keras_fwi.physics.generate import SURVEYS, generate_dataset

    if generate.survey not in SURVEYS:
        raise ValueError(f"data.generate.survey must be one of {sorted(SURVEYS)}, got {generate.survey!r}")
    survey = _generated_surveys(generate)
    # The key holds the resolved survey (absorbing layer and width included), so neither a changed
    # setting nor a changed package default ever reuses stale files.
    resolved = [item.to_dict() for item in survey] if isinstance(survey, tuple) else survey.to_dict()
    settings = json.dumps({**dataclasses.asdict(generate), "survey": resolved}, sort_keys=True)
    folder = cache_folder() / "generated" / f"{generate.family}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"
    splits = folder / "train.txt", folder / "test.txt"
    if not all(split.is_file() for split in splits) or not (folder / "complete").is_file():
        generate_dataset(folder, generate.family, generate.samples, generate.per_file, survey=survey,
                         seed=generate.seed, test_fraction=generate.test_fraction, resume=True, progress=progress)
        (folder / "complete").write_text(settings)
    return splits


def preset_dataset(source, dataset: str, batch_size: int, *, data_format: str = "channels_first",
                   normalize: bool | None = None):
    """Unshuffled batches of ``source`` read by the preset's own reader, as training reads them.

    FCNVMB presets read ``.mat`` folders/files with ``fcnvmb_dataset`` (decimation included), others
    OpenFWI files with ``openfwi_dataset``: the preset decides the reader, not the file suffix.
    ``normalize`` None follows the preset; False gives raw amplitudes (and m/s).
    """
    from keras_fwi.data import fcnvmb_dataset, get_preset, openfwi_dataset

    read = fcnvmb_dataset if get_preset(dataset).format == "fcnvmb" else openfwi_dataset
    return read(source, dataset=dataset, batch_size=batch_size, shuffle=False, data_format=data_format,
                normalize=normalize)


def experiment_datasets(data: DataConfig, global_batch_size: int, seed: int, data_format: str = "channels_first",
                        input_context=None, progress: bool = True):
    """``(train_pipeline, validation, sources)``: a function ``(first, stop)`` → one training ``tf.data``
    pipeline for epochs ``first … stop - 1`` (``None``: every sample once, in file order), the validation
    pipeline (None without validation data, never sharded), and ``{"train": ..., "val": ...}``, the split files or
    folders actually read. Epoch ``e``'s order depends only on ``(seed, e)``: a resumed run sees the
    order an uninterrupted run sees.

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

        def read(source, shuffle, epochs=None, check=None, flip=False, shard=True):
            if input_context is not None and shard:
                raise ValueError("FCNVMB .mat data cannot be sharded across workers by file: use "
                                 "training.shard samples (--shard samples, the default)")

            def one(epoch_seed_=None):
                return fcnvmb_dataset(source, dataset=data.dataset, batch_size=global_batch_size,
                                      shuffle=shuffle, seed=epoch_seed_, data_format=data_format)
            if epochs is None:
                return one()
            # fcnvmb_dataset has no multi-epoch mode: one small pipeline per epoch, chained (no memory maps).
            pipelines = [one(epoch_seed(seed, epoch)) for epoch in range(*epochs)]
            return functools.reduce(lambda a, b: a.concatenate(b), pipelines) if pipelines else one().take(0)
    else:
        augmentation = Augmentation(data.noise_snr_db, data.trace_dropout)  # checks the values up front

        def read(source, shuffle, epochs=None, check="scan", flip=False, shard=True):
            # Augment the shuffled training epochs only: never validation, nor the in-order pass.
            return openfwi_dataset(source, dataset=data.dataset, batch_size=global_batch_size, shuffle=shuffle,
                                   seed=seed, epochs=epochs, horizontal_flip=flip,
                                   sample_temporal=data.sample_temporal, check_values=check,
                                   input_context=input_context if shard else None, data_format=data_format,
                                   augment=augmentation if shuffle else None)
    # Validation is never sharded: with input_context every worker evaluates all of it (the metrics are
    # means, so summing them over workers leaves them unchanged), and one validation file is enough.
    val_ds = read(val, shuffle=False, shard=False) if val is not None else None
    scanned = []

    def train_pipeline(epochs: tuple[int, int] | None):
        """Batches of epochs ``epochs[0] … epochs[1] - 1``, shuffled (and flipped); ``None``: all samples once
        in file order. The first pipeline made checks every value up front, later ones as they stream."""
        check = "stream" if scanned else "scan"
        scanned.append(epochs)
        if epochs is None:
            return read(train, shuffle=False, check=check)
        return read(train, shuffle=True, epochs=tuple(epochs), check=check, flip=data.flip)

    return train_pipeline, val_ds, {"train": str(train), "val": None if val is None else str(val)}
