"""What ``keras_fwi refine`` does, as Python calls: load and check inputs, predict a start, invert, write.

>>> survey = load_survey("openfwi")
>>> seismic = load_seismic("data.npy", survey)                      # (N, 5, 1000, 70) raw amplitudes
>>> start = predict_start("model.onnx", seismic, "flatvel-a", survey)   # (N, 70, 70) m/s
>>> report = refine(seismic, start, survey, dataset="flatvel-a")
>>> write_outputs("refined/", report, seismic, survey)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from keras_fwi._refine_defaults import REFINE_DEFAULTS
from keras_fwi.io_utils import atomic_output, refuse_to_clobber
from keras_fwi.physics.inversion import invert, seismic_batch
from keras_fwi.physics.survey import Survey

__all__ = ["load_seismic", "load_survey", "load_velocity", "predict_start", "refine", "write_outputs"]

_SURVEYS = {"openfwi": Survey.openfwi, "fcnvmb": Survey.fcnvmb}


def load_survey(spec: str) -> Survey:
    """``"openfwi"``, ``"fcnvmb"`` or a JSON file of ``Survey`` fields (as ``Survey.to_dict`` writes)."""
    if spec in _SURVEYS:
        return _SURVEYS[spec]()
    path = Path(spec)
    if path.suffix != ".json" or not path.is_file():
        raise ValueError(f"--survey must be openfwi, fcnvmb or an existing .json file of Survey fields, got {spec!r}")
    try:
        return Survey.from_dict(json.loads(path.read_text()))
    except TypeError as error:
        raise ValueError(f"survey file {path}: {error}") from None


def _load_npy(path, what: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    array = np.load(path, allow_pickle=False)
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{what} file {path} holds {array.dtype} values; it must be numeric")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} file {path} contains NaN or infinite values; clean or drop those samples")
    return array


def load_seismic(path, survey: Survey) -> np.ndarray:
    """Raw seismic (N, shots, nt, receivers) float32 from ``path``; one sample gains a batch axis.

    Raises:
        ValueError: a shape that does not match the survey, NaN/Inf values.
    """
    seismic = _load_npy(path, "seismic")
    batch = seismic_batch(seismic, survey)
    if batch is None:
        raise ValueError(f"seismic {path} has shape {seismic.shape} but the survey records "
                         f"{(survey.shots, survey.nt, survey.receivers)} (shots, time, receivers) per sample; "
                         "pass the matching --survey or --dataset")
    return batch.astype(np.float32)


def load_velocity(path, survey: Survey, samples: int, what: str) -> np.ndarray:
    """Velocity maps (N, nz, nx) float32 in m/s from ``path``, checked against the survey and N."""
    velocity = _load_npy(path, what)
    if velocity.ndim == 4 and velocity.shape[1] == 1:
        velocity = velocity[:, 0]
    if velocity.ndim == 2:
        velocity = velocity[None]
    if velocity.ndim != 3 or velocity.shape != (samples, survey.nz, survey.nx):
        raise ValueError(f"{what} {path} has shape {velocity.shape}; expected ({samples}, 1, {survey.nz}, "
                         f"{survey.nx}) or ({samples}, {survey.nz}, {survey.nx}) m/s, one map per seismic sample")
    if velocity.min() <= 0:
        raise ValueError(f"{what} {path} has non-positive velocities; it must hold m/s")
    return velocity.astype(np.float32)


def predict_start(model_path, seismic: np.ndarray, dataset: str, survey: Survey) -> np.ndarray:
    """The network's velocity (N, nz, nx) m/s for raw ``seismic``: a ``.keras`` model normalises with
    ``dataset``'s constants; a ``.onnx`` model with its metadata (else ``dataset``'s)."""
    from keras_fwi.data import denormalize_velocity, normalize_seismic

    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.suffix == ".onnx":
        from keras_fwi.export.runtime import Predictor

        predictor = Predictor(path)
        if predictor.units == "m/s":
            velocity = predictor.predict(seismic)
        else:
            velocity = denormalize_velocity(predictor.predict(normalize_seismic(seismic, dataset)), dataset)
    elif path.suffix == ".keras":
        import keras

        model = keras.saving.load_model(path, safe_mode=True, compile=False)
        inputs = normalize_seismic(seismic, dataset).astype(np.float32)
        channels_last = model.input_shape[1] != seismic.shape[1]
        if channels_last:
            inputs = np.transpose(inputs, (0, 2, 3, 1))
        output = np.asarray(model.predict(inputs, batch_size=16, verbose=0))
        velocity = denormalize_velocity(output[..., 0] if channels_last else output[:, 0], dataset)
    else:
        raise ValueError(f"--model must be a .keras or .onnx file, got {path}")
    velocity = np.asarray(velocity, np.float32).reshape(len(seismic), -1, *velocity.shape[-2:])[:, 0]
    if velocity.shape[1:] != (survey.nz, survey.nx):
        raise ValueError(f"model {path} predicts {velocity.shape[1:]} maps but the survey's grid is "
                         f"({survey.nz}, {survey.nx}); pass the matching --survey")
    return velocity


def _bounds(dataset: str | None, survey: Survey) -> tuple[float, float]:
    """The dataset preset's velocity range when it has one, else the survey's."""
    if dataset is not None:
        from keras_fwi.data import get_preset

        preset = get_preset(dataset)
        if preset.label_min is not None and preset.label_max is not None:
            return float(preset.label_min), float(preset.label_max)
    return survey.velocity_range


def _stage_options(frequencies, iterations, grid_factors, blocks) -> tuple:
    """(iterations, grid_factors, blocks), each left None filled in (see ``refine``)."""
    default = list(frequencies) == list(REFINE_DEFAULTS["frequencies"])
    if iterations is None:
        iterations = REFINE_DEFAULTS["iterations"] if default else sum(REFINE_DEFAULTS["iterations"])
    if default:
        grid_factors = REFINE_DEFAULTS["grid_factors"] if grid_factors is None else grid_factors
        blocks = REFINE_DEFAULTS["blocks"] if blocks is None else blocks
    return iterations, grid_factors, blocks


def refine(seismic, start, survey: Survey, *, dataset: str | None = None, labels=None,
           iterations=None, method: str = REFINE_DEFAULTS["method"],
           learning_rate: float = REFINE_DEFAULTS["learning_rate"],
           lbfgs_memory: int = REFINE_DEFAULTS["lbfgs_memory"], tv=REFINE_DEFAULTS["tv"],
           lateral: float = REFINE_DEFAULTS["lateral"],
           lateral_smoothness: float = REFINE_DEFAULTS["lateral_smoothness"],
           frequencies=REFINE_DEFAULTS["frequencies"], grid_factors=None,
           time_gain: float = REFINE_DEFAULTS["time_gain"], windows=REFINE_DEFAULTS["windows"],
           correct_every: int = REFINE_DEFAULTS["correct_every"], blocks=None,
           precondition: float = REFINE_DEFAULTS["precondition"], time_limit: float | None = None,
           batch_size: int | None = None, progress: bool = True) -> dict:
    """``invert`` with the measured defaults; returns a JSON-ready report plus ``velocity`` and ``start``.

    Args:
        seismic: (N, shots, nt, receivers) raw amplitudes. start, labels: (N, nz, nx) m/s (labels optional).
        dataset: preset name whose velocity range bounds the models (default: the survey's range).
        iterations, grid_factors, blocks: None takes the default schedule's (``REFINE_DEFAULTS``)
            with the default ``frequencies``; with other frequencies, the default total of
            iterations split over their stages, no coarse grids and no blocks.
        Others: as ``invert``.

    Returns:
        dict with ``velocity`` (N, nz, nx) float32, ``start``, ``labels``, ``history``, ``settings`` and
        ``summary`` (mean misfit and MAE before/after, seconds per sample, stop reason).
    """
    bounds = _bounds(dataset, survey)
    iterations, grid_factors, blocks = _stage_options(frequencies, iterations, grid_factors, blocks)
    result = invert(seismic, start, survey, iterations=iterations, method=method, learning_rate=learning_rate,
                    lbfgs_memory=lbfgs_memory, frequencies=frequencies, grid_factors=grid_factors, bounds=bounds,
                    tv=tv, lateral=lateral,
                    lateral_smoothness=lateral_smoothness, time_gain=time_gain, windows=windows,
                    correct_every=correct_every, blocks=blocks, precondition=precondition, time_limit=time_limit,
                    true_velocity=labels,
                    batch_size=batch_size, progress=progress)
    summary = {"samples": len(seismic), "misfit_before": float(result.misfit_before.mean()),
               "misfit_after": float(result.misfit_after.mean()), "seconds": result.seconds,
               "seconds_per_sample": result.seconds / len(seismic), "stopped": result.stopped}
    if labels is not None:
        summary.update(mae_before=float(result.mae_before.mean()), mae_after=float(result.mae_after.mean()),
                       mae_before_per_sample=result.mae_before.tolist(), mae_after_per_sample=result.mae_after.tolist())
    settings = {"iterations": iterations, "method": method, "learning_rate": learning_rate,
                "lbfgs_memory": lbfgs_memory,
                "tv": list(tv) if isinstance(tv, (list, tuple)) else tv, "lateral": lateral,
                "lateral_smoothness": lateral_smoothness, "time_gain": time_gain,
                "windows": list(windows) if isinstance(windows, (list, tuple)) else windows,
                "correct_every": correct_every, "blocks": None if blocks is None else list(blocks),
                "precondition": precondition,
                "frequencies": list(frequencies),
                "grid_factors": None if grid_factors is None else list(grid_factors), "bounds": list(bounds),
                "time_limit": time_limit,
                "dataset": dataset, "survey": survey.to_dict()}
    return {"velocity": result.velocity, "start": np.asarray(start, np.float32), "labels": labels,
            "history": result.history, "settings": settings, "summary": summary}


def write_outputs(out, report: dict, seismic: np.ndarray, survey: Survey, overwrite: bool = False) -> list[Path]:
    """Write velocity.npy (N, 1, nz, nx) m/s, refine.json and refine.png into ``out``, each atomically."""
    out = Path(out)
    paths = [out / "velocity.npy", out / "refine.json", out / "refine.png"]
    for path in paths:
        refuse_to_clobber(path, overwrite)
    with atomic_output(paths[0], overwrite) as tmp:
        np.save(tmp, report["velocity"][:, None], allow_pickle=False)
    with atomic_output(paths[1], overwrite) as tmp:
        tmp.write_text(json.dumps({key: report[key] for key in ("summary", "settings", "history")}, indent=1))
    from keras_fwi.physics.refine_figure import plot_refinement

    plot_refinement(report, seismic, survey, paths[2], overwrite)
    return paths
