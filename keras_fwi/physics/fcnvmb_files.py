"""Synthetic datasets in FCNVMB's own ``.mat`` layout, simulated with ``keras_fwi.physics``.

The layout and variable names of the reference (YangFangShu/FCNVMB ``PathConfig.py``,
``func/DataLoad_Train.py``), for ``dataset="fcnvmb-simulated"`` (``georec``/``vmodel``) or
``"fcnvmb-seg-salt"`` (``srec``/``svmodel``)::

    out_dir/georec_train/georec<i>.mat   variable Rec: (time, receivers, shots) = (2000, 301, 29) float32
    out_dir/vmodel_train/vmodel<i>.mat   variable vmodel: (depth, width) = (201, 301) float32, m/s
    out_dir/georec_test/georec<j>.mat, out_dir/vmodel_test/vmodel<j>.mat   held-out samples
    out_dir/dataset.json                 family, seed, sizes, survey

Training samples are numbered 1..train, test samples continue after them (the reference's test
script reads from 1601 after 1600 training models). Velocity model ``k`` (0-based over train then
test) depends only on (family, seed, k), as in ``generate_dataset`` (its records too, up to float32
rounding of how many models were simulated together). Each file is written under a
temporary name and renamed. Writing needs scipy (``pip install 'keras_fwi[data]'``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from keras_fwi import __version__
from keras_fwi._validation import non_negative_int, one_of, positive_int
from keras_fwi.io_utils import atomic_output, check_output_folder
from keras_fwi.physics.families import FAMILIES
from keras_fwi.physics.survey import Survey

__all__ = ["DEFAULT_FAMILIES", "fcnvmb_survey", "generate_fcnvmb_dataset"]

# Velocity families standing in for each reference dataset, by its seismic file prefix: layered
# models for the simulated set (georec), layered backgrounds with salt bodies for SEG salt (srec).
DEFAULT_FAMILIES = {"georec": "curvevel-a", "srec": "salt"}
DESCRIPTION = "dataset.json"


def _preset(dataset):
    from keras_fwi.data.presets import get_preset

    preset = get_preset(dataset)
    if preset.format != "fcnvmb":
        raise ValueError(f"dataset must be an FCNVMB preset (format fcnvmb), got {preset.name!r} of format "
                         f"{preset.format!r}; use generate_dataset for OpenFWI's layout")
    return preset


def fcnvmb_survey(dataset="fcnvmb-simulated", **changes) -> Survey:
    """``Survey.fcnvmb`` with ``changes``, checked against the preset's stored sizes."""
    survey = Survey.fcnvmb(**changes)
    _check_survey(survey, _preset(dataset))
    return survey


def _check_survey(survey: Survey, preset) -> None:
    """Refuse a survey whose records or models would not have the preset's stored shapes."""
    found = (survey.nt, survey.receivers, survey.shots, (survey.nz, survey.nx))
    wanted = (preset.raw_time_samples, preset.receivers * preset.receiver_decimation, preset.shots,
              tuple(preset.velocity_shape))
    if found != wanted:
        raise ValueError(f"survey records (time, receivers, shots) = {found[:3]} on a {found[3]} model, but dataset "
                         f"{preset.name!r} stores {wanted[:3]} on {wanted[3]}; pass a survey of that geometry or a "
                         f"preset matching the survey (DatasetPreset.replace)")


def _folders(out_dir: Path, split: str) -> tuple[Path, Path]:
    return out_dir / f"georec_{split}", out_dir / f"vmodel_{split}"


def _paths(out_dir: Path, preset, number: int, split: str) -> tuple[Path, Path]:
    seismic_folder, velocity_folder = _folders(out_dir, split)
    return (seismic_folder / f"{preset.seismic_file_prefix}{number}.mat",
            velocity_folder / f"{preset.velocity_file_prefix}{number}.mat")


def _save_mat(path: Path, name: str, array: np.ndarray, overwrite: bool) -> None:
    import scipy.io

    with atomic_output(path, overwrite=overwrite) as tmp:
        scipy.io.savemat(tmp, {name: array}, do_compression=False)


def _complete(seismic_path: Path, velocity_path: Path, preset) -> bool:
    """Whether both files of a sample exist with the expected variables and shapes (headers only)."""
    import scipy.io

    expected = ((seismic_path, preset.seismic_variable,
                 (preset.raw_time_samples, preset.receivers * preset.receiver_decimation, preset.shots)),
                (velocity_path, preset.velocity_variable, tuple(preset.velocity_shape)))
    for path, name, shape in expected:
        try:
            found = {entry[0]: tuple(entry[1]) for entry in scipy.io.whosmat(str(path))}
        except Exception:  # missing or unreadable: not complete
            return False
        if found.get(name) != shape:
            return False
    return True


def _prepare(out_dir: Path, description: dict, resume: bool, overwrite: bool) -> None:
    from keras_fwi.physics.generate import read_description

    described = out_dir / DESCRIPTION
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        if not resume:
            raise FileExistsError(f"{out_dir} is not empty; pass --resume to continue an interrupted run, "
                                  "--overwrite to replace its dataset files, or choose an empty --out")
        found = read_description(described) if described.is_file() else None
        ignore = ("keras_fwi_version",)
        if found is None or {k: v for k, v in found.items() if k not in ignore} != \
                {k: v for k, v in description.items() if k not in ignore}:
            raise FileExistsError(f"{out_dir} holds no run of this dataset to resume ({DESCRIPTION} missing or "
                                  "different); choose an empty --out or pass --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(described, overwrite=True) as tmp:
        tmp.write_text(json.dumps(description, indent=2) + "\n")


def _remove_stale_temporaries(out_dir: Path, preset, jobs: list) -> None:
    """Delete the temporaries (``.georec3.mat.<random>.tmp.mat``) a killed run left of the samples ``jobs``.

    Called only with ``resume`` or ``overwrite``, which say that no other live run writes these files.
    """
    for _, number, split in jobs:
        for path in _paths(out_dir, preset, number, split):
            for temporary in path.parent.glob(f".{path.name}.*.tmp.mat"):
                temporary.unlink(missing_ok=True)


def generate_fcnvmb_dataset(out_dir, samples: int, *, dataset: str = "fcnvmb-simulated", family: str | None = None,
                            test_samples: int = 0, survey: Survey | None = None, seed: int = 0,
                            smooth: float | None = None, resume: bool = False, overwrite: bool = False,
                            batch_size: int = 4, progress: bool = True) -> dict:
    """Simulate ``samples + test_samples`` velocity models and write them in FCNVMB's layout.

    Args:
        out_dir: folder; created if missing (see the module docstring for what goes in it).
        samples: int, training samples (``georec_train``/``vmodel_train``).
        dataset: str or ``DatasetPreset`` of format fcnvmb: file prefixes, variable names and shapes.
        family: str, a key of ``FAMILIES``; default by the preset's file prefix (``DEFAULT_FAMILIES``):
            ``curvevel-a`` for fcnvmb-simulated, ``salt`` for fcnvmb-seg-salt.
        test_samples: int >= 0, held-out samples (``georec_test``/``vmodel_test``).
        survey: ``Survey`` whose (nt, receivers, shots, (nz, nx)) match the preset; default
            ``Survey.fcnvmb()`` (2000 samples of 1 ms, 301 receivers, 29 shots, 201 x 301 cells).
        seed: int >= 0; the same seed gives the same files.
        smooth: optional Gaussian sigma (cells) applied to the models.
        resume: keep complete samples already written by the same settings (temporaries a killed run
            left of the samples are deleted).
        overwrite: replace existing files.
        batch_size: models simulated together.
        progress: print a progress bar.

    Returns:
        The description written to ``dataset.json`` with ``written`` and ``skipped`` sample numbers.

    Raises:
        ValueError: bad arguments or a survey that does not match the preset (checked before anything
            is written), or an unreadable ``dataset.json`` to resume.
        OSError: ``out_dir`` cannot be written (checked before computing).
        FileExistsError: ``out_dir`` is not empty and neither ``resume`` nor ``overwrite`` is set.
        ImportError: scipy is missing.
    """
    from keras_fwi.data.fcnvmb import _scipy_io
    from keras_fwi.physics.generate import check_smooth, synthesize

    _scipy_io()  # the clear "pip install 'keras_fwi[data]'" error before any simulation
    preset = _preset(dataset)
    samples = positive_int("samples", samples)
    test_samples = non_negative_int("test_samples", test_samples)
    family = family or DEFAULT_FAMILIES.get(preset.seismic_file_prefix, "curvevel-a")
    one_of("family", family, tuple(FAMILIES))
    survey = Survey.fcnvmb() if survey is None else survey
    _check_survey(survey, preset)
    seed, smooth = non_negative_int("seed", seed), check_smooth(smooth)
    batch_size = positive_int("batch_size", batch_size)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a folder")
    check_output_folder(out_dir)  # a read-only or impossible --out fails now, not after the first file
    description = {"format": "fcnvmb", "dataset": preset.name, "family": family, "samples": samples,
                   "test_samples": test_samples, "seed": seed, "smooth": smooth, "survey": survey.to_dict(),
                   "keras_fwi_version": __version__}
    _prepare(out_dir, description, resume, overwrite)
    jobs = [(k, k + 1, "train" if k < samples else "test") for k in range(samples + test_samples)]
    if resume or overwrite:
        _remove_stale_temporaries(out_dir, preset, jobs)
    skipped = [number for _, number, split in jobs
               if resume and _complete(*_paths(out_dir, preset, number, split), preset)]
    todo = [job for job in jobs if job[1] not in skipped]
    bar = _progress_bar(len(todo)) if progress and todo else None
    for run in _consecutive_runs(todo, batch_size):
        seismic, velocity = synthesize(family, len(run), survey, seed, run[0][0], smooth, batch_size=len(run))
        for (_, number, split), gathers, model in zip(run, seismic, velocity):
            seismic_path, velocity_path = _paths(out_dir, preset, number, split)
            rec = np.ascontiguousarray(gathers.transpose(1, 2, 0), dtype=np.float32)  # (time, receivers, shots)
            _save_mat(seismic_path, preset.seismic_variable, rec, overwrite or resume)
            _save_mat(velocity_path, preset.velocity_variable, model[0].astype(np.float32), overwrite or resume)
        if bar is not None:
            bar.add(len(run))
    return {**description, "written": [number for _, number, _ in todo], "skipped": skipped}


def _consecutive_runs(jobs: list, size: int) -> list[list]:
    """Split ``(index, ...)`` jobs into runs of consecutive indices, at most ``size`` long."""
    runs: list[list] = []
    for job in jobs:
        if runs and len(runs[-1]) < size and runs[-1][-1][0] + 1 == job[0]:
            runs[-1].append(job)
        else:
            runs.append([job])
    return runs


def _progress_bar(target: int):
    from keras_fwi._progress import progress_bar

    return progress_bar(target, unit_name="sample")
