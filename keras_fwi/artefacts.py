"""The dataset preset an artefact carries: ``.keras`` files, run directories, and where it is read.

A model is only usable with the constants of the data it was trained on (shapes, OpenFWI's
normalisation ranges, units). keras_fwi therefore writes the whole ``DatasetPreset`` with every
artefact, the keras-hub way (a preset saved with the model), and reads it back instead of asking:

- ``.keras``: a ``keras_fwi.json`` member inside the archive, beside Keras' own ``config.json``
  (``keras.saving.load_model`` ignores it; ``read_preset`` returns it);
- run directory: ``preset.json`` (written by ``keras_fwi train``, also inside its ``.keras`` files);
- ONNX: the ``dataset`` and ``preset`` metadata entries (``keras_fwi.export.metadata``).

``--dataset`` is then needed only for files that lack a preset; given for one that has it, it must
name the same dataset (``resolve_preset``). TensorFlow-free unless a model is loaded or saved.

>>> save_model(model, "model.keras", dataset="flatvel-a")
>>> read_preset("model.keras").name
'flatvel-a'
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import zipfile
from pathlib import Path

from keras_fwi.data.presets import DatasetPreset, get_preset, preset_from_dict
from keras_fwi.io_utils import atomic_output

__all__ = ["MEMBER", "RUN_PRESET", "attach_preset", "float32_model", "load_model", "preset_record", "read_preset",
           "resolve_preset", "save_model", "units"]

MEMBER = "keras_fwi.json"  # inside a .keras archive
RUN_PRESET = "preset.json"  # in a run directory


def units(preset: DatasetPreset) -> tuple[str, str]:
    """``(input units, output units)`` of a model trained on ``preset``'s data as the recipes feed it."""
    return ("normalised", "normalised") if preset.normalize else ("raw", "m/s")


def preset_record(dataset: str | DatasetPreset) -> dict:
    """What an artefact stores: the preset's name, every constant, and the model's units."""
    import keras_fwi

    preset = get_preset(dataset)
    input_units, output_units = units(preset)
    return {"dataset": preset.name, "preset": dataclasses.asdict(preset), "input_units": input_units,
            "output_units": output_units, "keras_fwi_version": keras_fwi.__version__}


def _preset_of_record(record: dict, where: str) -> DatasetPreset:
    try:
        return preset_from_dict(record["preset"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where} holds a malformed keras_fwi preset record ({error}); re-save the model with "
                         "keras_fwi.artefacts.save_model or pass --dataset") from None


def _check_archive(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a .keras file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a valid .keras file (Keras 3 saves a zip archive named *.keras); it may "
                         "be truncated or corrupt: re-save or re-download it")


def read_preset(path: str | os.PathLike) -> DatasetPreset | None:
    """The preset recorded in a ``.keras`` file or a run directory, or None if it records none.

    A run directory's ``preset.json`` is read, else the dataset named in its ``config.yaml``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a valid ``.keras`` file, or a malformed record.
    """
    path = Path(path)
    if path.is_dir():
        if (path / RUN_PRESET).is_file():
            return _preset_of_record(json.loads((path / RUN_PRESET).read_text(encoding="utf-8")), str(path / RUN_PRESET))
        if (path / "config.yaml").is_file():  # a run written before presets were recorded
            from keras_fwi.config import load_config

            return get_preset(load_config(path / "config.yaml").data.dataset)
        return None
    _check_archive(path)
    with zipfile.ZipFile(path) as archive:
        if MEMBER not in archive.namelist():
            return None
        record = json.loads(archive.read(MEMBER).decode("utf-8"))
    return _preset_of_record(record, str(path))


def resolve_preset(recorded: DatasetPreset | None, given: str | DatasetPreset | None,
                   where: str) -> DatasetPreset | None:
    """The artefact's preset, or ``given`` (``--dataset``) for one that records none.

    Raises:
        ValueError: both are known and name different datasets (the message names both), or
            ``given`` is not a known preset.
    """
    if given is None:
        return recorded
    wanted = get_preset(given)
    if recorded is not None and recorded.name != wanted.name:
        raise ValueError(f"--dataset {wanted.name} (dataset=) conflicts with {where}, which records dataset "
                         f"{recorded.name!r}; drop --dataset to use the model's own preset")
    return recorded if recorded is not None else wanted


def attach_preset(path: str | os.PathLike, dataset: str | DatasetPreset, overwrite: bool = False) -> None:
    """Record ``dataset``'s preset in an existing ``.keras`` file (e.g. one saved by plain ``model.save``).

    The file is rewritten atomically. Raises ``ValueError`` if it records another dataset already
    (``overwrite=True`` replaces it) or is not a valid ``.keras`` file.
    """
    path = Path(path)
    recorded = read_preset(path)
    preset = get_preset(dataset)
    if recorded is not None and recorded.name != preset.name and not overwrite:
        raise ValueError(f"{path} already records dataset {recorded.name!r}, not {preset.name!r}; pass "
                         "overwrite=True to replace it")
    with atomic_output(path, overwrite=True) as tmp:
        _copy_without_member(path, tmp)
        _append_record(tmp, preset)


def _copy_without_member(source: Path, target: Path) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            if item.filename != MEMBER:
                with old.open(item) as reader, new.open(item, "w") as writer:
                    shutil.copyfileobj(reader, writer)


def _append_record(archive_path: Path, preset: DatasetPreset) -> None:
    with zipfile.ZipFile(archive_path, "a") as archive:
        archive.writestr(MEMBER, json.dumps(preset_record(preset), indent=2))


def save_model(model, path: str | os.PathLike, dataset: str | DatasetPreset | None = None,
               overwrite: bool = False) -> Path:
    """``model.save`` to a ``.keras`` file atomically, with ``dataset``'s preset recorded in it.

    The file computes in float32 whatever precision the model trained in (``float32_model``).

    Args:
        model: a ``keras.Model``.
        path: the ``.keras`` file to write.
        dataset: preset name or ``DatasetPreset`` of the training data; None records none.
        overwrite: replace an existing file.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"path must end in .keras (Keras' native format), got {path}")
    model = float32_model(model)
    with atomic_output(path, overwrite=overwrite) as tmp:
        model.save(tmp)
        if dataset is not None:
            _append_record(tmp, get_preset(dataset))
    return path


def float32_model(model):
    """``model`` itself if every layer computes in float32, else a float32 copy with the same weights.

    A saved model always computes in float32: mixed precision (``mixed_float16``/``mixed_bfloat16``) is
    how a run trains on its machine, recorded in the run's ``config.yaml``, not a property of the model.
    So the ``.keras`` file, its ONNX export (float32 unless ``--fp16``) and everything started from
    either predict the same maps. The copy keeps the compile configuration (loss, metrics), not the
    optimizer's state (a run's exact state is its ``backup/``).
    """
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    import keras

    def float32_layer(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    compile_config = model.get_compile_config() if model.compiled else None
    if compile_config:
        copy.compile_from_config(compile_config)
    return copy


def write_run_preset(run_dir: str | os.PathLike, dataset: str | DatasetPreset) -> None:
    """Write ``preset.json`` into a run directory."""
    with atomic_output(Path(run_dir) / RUN_PRESET, overwrite=True) as tmp:
        tmp.write_text(json.dumps(preset_record(dataset), indent=2), encoding="utf-8")


def load_model(path: str | os.PathLike, compile: bool = False):
    """``keras.saving.load_model`` with ``safe_mode=True`` and errors that name the file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a valid ``.keras`` file (not a zip archive, or Keras cannot read it).
    """
    path = Path(path)
    _check_archive(path)
    import keras

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a valid .keras file: {type(error).__name__}: {error}") from None
