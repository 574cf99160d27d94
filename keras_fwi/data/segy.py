"""SEG-Y shot gathers → model input: group traces into shots by header, resample to the model's clock.

One SEG-Y file is one survey, i.e. one model input ``(shots, time, receivers)``. Traces are grouped
into shots by a trace-header field (``FieldRecord`` by default), ordered by shot id, and within a
shot ordered by receiver position (``GroupX``). The time axis is resampled from the file's sample
interval to the preset's ``dt`` with a polyphase filter (anti-aliased, ``scipy.signal.resample_poly``)
and cut to ``time_samples``. Geometry that does not fit the model is refused with the numbers.
Requires segyio and scipy (``pip install 'keras_fwi[data]'``).
"""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np

from keras_fwi._validation import positive_int
from keras_fwi.data import checks
from keras_fwi.data.presets import DatasetPreset, get_preset

__all__ = ["read_segy_shots", "segy_dataset"]


def _segyio():
    try:
        import segyio
    except ImportError:
        raise ImportError("reading SEG-Y needs segyio: pip install 'keras_fwi[data]'") from None
    return segyio


def _trace_field(segyio, name: str):
    try:
        return getattr(segyio.TraceField, name)
    except AttributeError:
        raise ValueError(f"unknown SEG-Y trace header field {name!r}; use a segyio.TraceField name such as "
                         f"'FieldRecord', 'EnergySourcePoint', 'SourceX', 'GroupX' or 'offset'") from None


def _resample(traces: np.ndarray, file_dt_us: float, model_dt_us: float, time_samples: int, path: Path) -> np.ndarray:
    """Resample (..., samples) from ``file_dt_us`` to ``model_dt_us`` and keep ``time_samples``."""
    available = (traces.shape[-1] - 1) * file_dt_us
    needed = (time_samples - 1) * model_dt_us
    if available + 1e-6 < needed:
        raise ValueError(f"{path}: records are {available / 1e6:g} s long ({traces.shape[-1]} samples at "
                         f"{file_dt_us:g} us) but the model needs {needed / 1e6:g} s ({time_samples} samples at "
                         f"{model_dt_us:g} us)")
    ratio = fractions.Fraction(file_dt_us / model_dt_us).limit_denominator(1000)
    if ratio != 1:
        from scipy import signal

        traces = signal.resample_poly(traces, ratio.numerator, ratio.denominator, axis=-1)
    return np.asarray(traces[..., :time_samples], np.float32)


def read_segy_shots(path, *, dataset: str | DatasetPreset, shot_key: str = "FieldRecord",
                    receiver_key: str = "GroupX") -> np.ndarray:
    """Read a SEG-Y file of shot gathers as one raw seismic sample in OpenFWI layout.

    Args:
        path: SEG-Y file (any trace order).
        dataset: preset (or ``DatasetPreset``) giving shots, receivers, ``time_samples`` and ``dt``.
        shot_key: trace-header field identifying the shot. Default ``"FieldRecord"``.
        receiver_key: trace-header field ordering receivers within a shot. Default ``"GroupX"``.

    Returns:
        float32 array (shots, time_samples, receivers), raw amplitudes (not normalised).

    Raises:
        ValueError: unreadable file, unknown header field, a shot count or receivers per shot that
            differ from the preset, records shorter than the model's time span, NaN/Inf.
    """
    segyio = _segyio()
    preset = get_preset(dataset)
    path = Path(path)
    if preset.dt is None:
        raise ValueError(f"dataset {preset.name!r} has no dt to resample SEG-Y to; set preset.replace(dt=...) in s")
    shot_field, receiver_field = _trace_field(segyio, shot_key), _trace_field(segyio, receiver_key)
    if not path.is_file():
        raise FileNotFoundError(f"SEG-Y file {path} not found")
    try:
        with segyio.open(str(path), "r", ignore_geometry=True) as handle:
            shot_ids = np.asarray(handle.attributes(shot_field)[:])
            receivers = np.asarray(handle.attributes(receiver_field)[:])
            traces = np.asarray(handle.trace.raw[:], np.float64)
            file_dt_us = float(segyio.tools.dt(handle, fallback_dt=0.0))
    except (RuntimeError, OSError, ValueError) as error:
        raise ValueError(f"{path} could not be read as SEG-Y: {error}") from None
    if file_dt_us <= 0:
        raise ValueError(f"{path} records no sample interval (binary and trace headers are 0)")

    unique_shots = np.unique(shot_ids)
    if unique_shots.size != preset.shots:
        raise ValueError(f"{path} has {unique_shots.size} shots by {shot_key} (ids {unique_shots[:10].tolist()}"
                         f"{' ...' if unique_shots.size > 10 else ''}); dataset {preset.name!r} expects "
                         f"{preset.shots} shots. Pick another shot_key or a preset that matches the survey")
    counts = {int(shot): int(np.sum(shot_ids == shot)) for shot in unique_shots}
    wrong = {shot: count for shot, count in counts.items() if count != preset.receivers}
    if wrong:
        raise ValueError(f"{path}: shots {sorted(wrong)} have {sorted(set(wrong.values()))} traces; dataset "
                         f"{preset.name!r} expects {preset.receivers} receivers per shot")
    gathers = []
    for shot in unique_shots:
        rows = np.flatnonzero(shot_ids == shot)
        rows = rows[np.argsort(receivers[rows], kind="stable")]
        gathers.append(traces[rows])
    seismic = _resample(np.stack(gathers), file_dt_us, preset.dt * 1e6, preset.time_samples, path)
    seismic = np.ascontiguousarray(seismic.transpose(0, 2, 1))  # (shots, receivers, time) → OpenFWI layout
    checks.check_seismic_values(seismic[None], path, 0)
    return seismic


def segy_dataset(paths, *, dataset: str | DatasetPreset, batch_size: int = 1, normalize: bool | None = None,
                 shot_key: str = "FieldRecord", receiver_key: str = "GroupX",
                 data_format: str = "channels_first"):
    """Unlabelled ``tf.data.Dataset`` of SEG-Y surveys, one sample per file, for ``model.predict``.

    Every file is read and checked before this returns (field surveys are few), so geometry errors
    surface here as ``ValueError``.

    Args:
        paths: a SEG-Y path or a list of them.
        dataset: preset whose geometry and normalisation the model was trained with.
        batch_size: surveys per batch. Default 1.
        normalize: None follows the preset (OpenFWI: normalised like its training data).
        shot_key, receiver_key: trace-header fields, see ``read_segy_shots``.
        data_format: ``"channels_first"`` (batch, shots, time, receivers) or ``"channels_last"``.

    Returns:
        ``tf.data.Dataset`` of float32 seismic batches.
    """
    import tensorflow as tf

    from keras_fwi._validation import one_of
    from keras_fwi.data import tf_transforms

    preset = get_preset(dataset)
    batch_size = positive_int("batch_size", batch_size)
    one_of("data_format", data_format, ("channels_first", "channels_last"))
    normalize = preset.normalize if normalize is None else bool(normalize)
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError("paths is empty; give at least one SEG-Y file")
    surveys = np.stack([read_segy_shots(p, dataset=preset, shot_key=shot_key, receiver_key=receiver_key)
                        for p in paths])
    seismic = tf_transforms.normalize_seismic(surveys, preset) if normalize else tf.constant(surveys)
    if data_format == "channels_last":
        seismic = tf.transpose(seismic, (0, 2, 3, 1))
    return tf.data.Dataset.from_tensor_slices(seismic).batch(batch_size)
