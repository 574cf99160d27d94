"""Synthetic training data: velocity models from a family, shot gathers from ``simulate``.

``synthesize`` returns a few samples in memory; ``generate_dataset`` writes OpenFWI's layout:

    out_dir/data{i}.npy    (per_file, shots, nt, receivers) float32, i = 1, 2, ...
    out_dir/model{i}.npy   (per_file, 1, nz, nx) float32, m/s
    out_dir/train.txt, out_dir/test.txt   "data path<TAB>model path" per line (absolute paths)
    out_dir/dataset.json   survey, family, seed, sizes

A dataset may cycle through absorbing layers file by file (``survey`` a list of surveys that differ
only in ``absorbing``/``boundary``): a network trained on it cannot learn one layer's late
artefacts, so it works on data made with either (OpenFWI's damping layer or a PML).

Sample ``k`` depends only on (family, seed, k), so shards, resumed runs and one-machine runs write
identical files. Each file is written to a temporary name and renamed, so an interrupted run never
leaves a half file under a final name.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np

from keras_fwi import __version__
from keras_fwi._validation import non_negative_int, one_of, positive_int
from keras_fwi.io_utils import atomic_output, check_output_folder
from keras_fwi.physics.families import FAMILIES, velocity_models
from keras_fwi.physics.survey import Survey

__all__ = ["DESCRIPTION", "SURVEYS", "generate_dataset", "read_description", "synthesize"]

SURVEYS = {"openfwi": Survey.openfwi, "fcnvmb": Survey.fcnvmb}
DESCRIPTION = "dataset.json"
_SPLITS = ("train.txt", "test.txt")
# Names another job writing into the same folder uses for a moment: atomic_output's temporaries of
# the files generate_dataset writes (".data3.npy.<random>.tmp.npy") and check_output_folder's probe.
_OWN_TEMPORARY = re.compile(r"\.(dataset\.json|train\.txt|test\.txt|(data|model)\d+\.npy)\.\w+\.tmp\.(json|txt|npy)"
                            r"|\.keras_fwi-write-check\.\w+")


def _survey(survey) -> Survey:
    if survey is None:
        return Survey.openfwi()
    if isinstance(survey, str):
        one_of("survey", survey, tuple(SURVEYS))
        return SURVEYS[survey]()
    if not isinstance(survey, Survey):
        raise ValueError(f"survey must be a Survey or one of {sorted(SURVEYS)}, got {survey!r}")
    return survey


def _geometry(survey: Survey) -> dict:
    return {key: value for key, value in survey.to_dict().items() if key not in ("absorbing", "boundary")}


def _surveys(survey) -> tuple[Survey, ...]:
    """One survey, or several (a list) that differ only in their absorbing layer."""
    if not isinstance(survey, (list, tuple)):
        return (_survey(survey),)
    surveys = tuple(_survey(item) for item in survey)
    if not surveys:
        raise ValueError("survey: give a survey or a non-empty list of surveys")
    for other in surveys[1:]:
        if _geometry(other) != _geometry(surveys[0]):
            raise ValueError("the surveys of one dataset may differ only in their absorbing layer (absorbing, "
                             f"boundary); got {_geometry(surveys[0])} and {_geometry(other)}")
    return surveys


def synthesize(family: str, samples: int, survey: Survey | str | None = None, seed: int = 0, start: int = 0,
               smooth: float | None = None, batch_size: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``start .. start + samples - 1`` of ``family``, simulated in memory.

    Args:
        family: str, a key of ``keras_fwi.physics.families.FAMILIES``.
        samples: int, how many.
        survey: ``Survey``, or "openfwi" / "fcnvmb"; default OpenFWI's.
        seed: int >= 0; sample k depends only on (family, seed, k).
        start: int >= 0, index of the first sample.
        smooth: optional Gaussian sigma (cells) applied to the models before simulation.
        batch_size: models simulated together.

    Returns:
        (seismic, velocity): float32 (samples, shots, nt, receivers) and (samples, 1, nz, nx) in m/s.
    """
    from keras_fwi.physics.simulate import simulate  # TensorFlow only when simulating

    survey = _survey(survey)
    batch_size = positive_int("batch_size", batch_size)
    velocity = velocity_models(family, samples, seed, start, (survey.nz, survey.nx), smooth)
    seismic = np.concatenate([simulate(velocity[i:i + batch_size], survey).numpy()
                              for i in range(0, len(velocity), batch_size)])
    return seismic, velocity[:, None]


def _description(family, samples, per_file, surveys, seed, smooth, test_files) -> dict:
    files = samples // per_file
    cycle = {"surveys": [survey.to_dict() for survey in surveys]} if len(surveys) > 1 else {}
    return {"format": "openfwi", "family": family, "samples": samples, "per_file": per_file,
            "files": files, "seed": seed, "smooth": smooth,
            "train_files": list(range(1, files - test_files + 1)),
            "test_files": list(range(files - test_files + 1, files + 1)),
            "survey": surveys[0].to_dict(), **cycle, "keras_fwi_version": __version__}


def check_smooth(smooth) -> float | None:
    """Return ``smooth`` unchanged; raise ``ValueError`` unless it is None or a finite sigma > 0."""
    if smooth is None:
        return None
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float, np.integer, np.floating)) \
            or not math.isfinite(smooth) or smooth <= 0:
        raise ValueError(f"smooth must be a positive Gaussian sigma in cells (or None for no smoothing), "
                         f"got {smooth!r}")
    return smooth


def read_description(path: Path) -> dict:
    """The mapping stored in a dataset folder's ``dataset.json``.

    Raises:
        ValueError: naming ``path``, when it is not JSON text or not a JSON object, and saying how to go on.
    """
    fix = "choose another --out, or pass --overwrite to write the dataset anew in this folder"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError (a truncated or foreign file)
        raise ValueError(f"{path} is not a readable dataset description ({error}); {fix}") from None
    if not isinstance(found, dict):
        raise ValueError(f"{path} holds a JSON {type(found).__name__}, not a dataset description (a JSON "
                         f"object); {fix}")
    return found


def _is_own_temporary(path: Path) -> bool:
    """Whether ``path`` is a transient file of a generate job (see ``_OWN_TEMPORARY``)."""
    return _OWN_TEMPORARY.fullmatch(path.name) is not None


def _same_dataset(found: dict, wanted: dict) -> bool:
    ignore = ("keras_fwi_version",)
    return {k: v for k, v in found.items() if k not in ignore} == \
           {k: v for k, v in wanted.items() if k not in ignore}


def _write_text(path: Path, text: str, overwrite: bool) -> None:
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _prepare_folder(out_dir: Path, description: dict, resume: bool, overwrite: bool, sharded: bool) -> None:
    """Refuse a foreign or non-empty folder; write the description and split files once.

    Temporaries of our own writes do not make a folder non-empty: another shard starting at the same
    moment may be writing ``dataset.json`` under a temporary name.
    """
    described = out_dir / DESCRIPTION
    if described.exists() and not overwrite:
        found = read_description(described)
        if not _same_dataset(found, description):
            raise ValueError(f"{out_dir} holds a different dataset ({DESCRIPTION} has family "
                             f"{found.get('family')!r}, seed {found.get('seed')!r}, samples "
                             f"{found.get('samples')!r}); choose another --out or pass --overwrite")
    same = described.exists()
    if out_dir.exists() and any(not _is_own_temporary(path) for path in out_dir.iterdir()):
        if not (resume or overwrite or (sharded and same)):
            raise FileExistsError(f"{out_dir} is not empty; pass --resume to continue an interrupted run, "
                                  "--overwrite to replace its dataset files, or choose an empty --out")
        if resume and not same:
            # Resuming replaces incomplete data{i}/model{i} files: only do that in our own dataset.
            raise FileExistsError(f"{out_dir} is not empty and has no {DESCRIPTION}, so it holds no run to "
                                  "resume; choose an empty --out or pass --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not same or overwrite:
        _write_text(described, json.dumps(description, indent=2) + "\n", overwrite=True)
    for name, numbers in zip(_SPLITS, (description["train_files"], description["test_files"])):
        # OpenFWI's loader drops each line's last character, so every line ends in a newline. Paths are
        # relative to the split file (keras_fwi's readers resolve them there), so the folder can move.
        text = "".join(f"data{i}.npy\tmodel{i}.npy\n" for i in numbers)
        if overwrite or not (out_dir / name).exists() or (out_dir / name).read_text(encoding="utf-8") != text:
            _write_text(out_dir / name, text, overwrite=True)


def _complete(out_dir: Path, number: int, data_shape: tuple, model_shape: tuple) -> bool:
    """Whether file pair ``number`` exists with the expected shapes (headers only are read)."""
    for name, shape in ((f"data{number}.npy", data_shape), (f"model{number}.npy", model_shape)):
        path = out_dir / name
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return False
        if array.shape != shape or array.dtype != np.float32:
            return False
    return True


def _remove_stale_temporaries(out_dir: Path, numbers: list[int]) -> None:
    """Delete the temporaries of file pairs ``numbers`` (``.data3.npy.<random>.tmp.npy``) a killed run left.

    Only the pairs this job writes: in a sharded run the other jobs write theirs into the same folder
    at the same time, and their temporaries are in flight. Called only with ``resume`` or
    ``overwrite``, which say that no other live run writes these pairs.
    """
    for number in numbers:
        for stem in ("data", "model"):
            for path in out_dir.glob(f".{stem}{number}.npy.*.tmp.npy"):
                path.unlink(missing_ok=True)


def _parse_shard(shard) -> tuple[int, int]:
    try:
        index, count = (int(item) for item in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be (index, count), got {shard!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard index must satisfy 0 <= index < count, got {index}/{count}")
    return index, count


def generate_dataset(out_dir, family: str, samples: int, per_file: int = 500,
                     survey: Survey | str | None = None, seed: int = 0, smooth: float | None = None,
                     test_fraction: float = 0.2, shard=(0, 1), resume: bool = False, overwrite: bool = False,
                     batch_size: int = 4, progress: bool = True) -> dict:
    """Write a dataset in OpenFWI's layout to ``out_dir`` (see the module docstring).

    Args:
        out_dir: folder; created if missing.
        family: str, a key of ``FAMILIES``.
        samples: int, total samples; a multiple of ``per_file`` (OpenFWI's loader assumes full files).
        per_file: int, samples per ``data{i}.npy`` / ``model{i}.npy``; OpenFWI uses 500.
        survey: ``Survey`` or "openfwi" / "fcnvmb" (default OpenFWI's), or a list of surveys that
            differ only in their absorbing layer: file ``i`` is simulated with entry ``(i - 1) % len``
            (recorded as ``surveys`` in ``dataset.json``).
        seed: int >= 0; the same seed gives the same files.
        smooth: optional Gaussian sigma (cells) for smoothed models.
        test_fraction: share of files listed in test.txt (the last ones; at least one when there
            are two or more files).
        shard: (index, count): this job writes files ``i`` with ``(i - 1) % count == index``.
        resume: keep complete file pairs already there and write the rest; temporaries a killed run
            left of this job's files are deleted (never those of other shards' files).
        overwrite: replace existing dataset files.
        batch_size: models simulated together.
        progress: show a progress bar with samples/s.

    Returns:
        The dataset description (as written to ``dataset.json``) with ``written`` and ``skipped``
        file numbers for this run added.

    Raises:
        ValueError: bad arguments (all checked before anything is written), ``out_dir`` holds a
            different dataset or an unreadable ``dataset.json``.
        FileExistsError: ``out_dir`` is not empty, or holds this job's files, and neither ``resume``
            nor ``overwrite`` is set.
        OSError: ``out_dir`` cannot be written (checked before computing).
    """
    one_of("family", family, tuple(FAMILIES))
    surveys = _surveys(survey)
    survey = surveys[0]  # the geometry every file shares
    samples, per_file = positive_int("samples", samples), positive_int("per_file", per_file)
    if samples % per_file:
        raise ValueError(f"samples ({samples}) must be a multiple of per_file ({per_file}): OpenFWI's "
                         "loader assumes every file is full")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    index, count = _parse_shard(shard)
    seed, smooth = non_negative_int("seed", seed), check_smooth(smooth)
    batch_size = positive_int("batch_size", batch_size)
    files = samples // per_file
    test_files = min(files - 1, max(1, math.ceil(files * test_fraction))) if test_fraction > 0 else 0
    out_dir = Path(out_dir)
    description = _description(family, samples, per_file, surveys, seed, smooth, test_files)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a folder")
    check_output_folder(out_dir)  # a read-only or impossible --out fails now, not after the first file
    _prepare_folder(out_dir, description, resume, overwrite, sharded=count > 1)
    mine = [number for number in range(1, files + 1) if (number - 1) % count == index]
    if resume or overwrite:
        _remove_stale_temporaries(out_dir, mine)
    else:  # a shard's folder holds the other shards' files; its own must not be there yet
        existing = [path for n in mine for path in (out_dir / f"data{n}.npy", out_dir / f"model{n}.npy")
                    if path.exists()]
        if existing:
            raise FileExistsError(f"{existing[0]} already exists; pass --resume to keep complete files and write "
                                  "the rest, or --overwrite to replace them")
    data_shape = (per_file, survey.shots, survey.nt, survey.receivers)
    model_shape = (per_file, 1, survey.nz, survey.nx)
    skipped = [n for n in mine if resume and _complete(out_dir, n, data_shape, model_shape)]
    todo = [n for n in mine if n not in skipped]
    bar = _progress_bar(len(todo) * per_file) if progress else None
    started, done = time.perf_counter(), 0
    for number in todo:
        seismic, velocity = synthesize(family, per_file, surveys[(number - 1) % len(surveys)], seed,
                                       (number - 1) * per_file, smooth, batch_size)
        # A pair left half-done by a killed run is ours and deterministic: replace it on resume.
        for name, array in ((f"data{number}.npy", seismic), (f"model{number}.npy", velocity)):
            with atomic_output(out_dir / name, overwrite=overwrite or resume) as tmp:
                np.save(tmp, array, allow_pickle=False)
        done += per_file
        if bar is not None:
            bar.update(done, values=[("samples/s", done / (time.perf_counter() - started))])
    return {**description, "written": todo, "skipped": skipped}


def _progress_bar(target: int):
    from keras_fwi._progress import progress_bar

    return progress_bar(target, unit_name="sample", stateful_metrics=["samples/s"])

