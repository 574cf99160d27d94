"""Checks that refuse bad data files with one error naming the file, the sample and what was expected.

Header checks (format, dtype, shape, sample counts) read only the ``.npy`` header; value checks
(NaN/Inf, velocity range) stream through memory-mapped files in chunks. No TensorFlow import.
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path

import numpy as np

from keras_fwi.data.presets import DatasetPreset

__all__ = [
    "check_file_pairs",
    "check_openfwi_files",
    "check_pair_counts",
    "check_seismic_header",
    "check_seismic_values",
    "check_velocity_header",
    "check_velocity_values",
    "open_npy",
    "scan_values",
]

_SCAN_CHUNK_BYTES = 64 * 2**20  # bounded memory per scanning thread


def _read_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from a ``.npy`` header, refusing anything that is not a plain array."""
    with open(path, "rb") as handle:
        start = handle.read(6)
        handle.seek(0)
        if start[:2] == b"PK":
            raise ValueError(f"{path} is an .npz archive; save each array as its own .npy file")
        if start != b"\x93NUMPY":
            kind = "it looks like a pickle" if start[:1] == b"\x80" else "no .npy header"
            raise ValueError(f"{path} is not a .npy array file ({kind}); save the array with np.save")
        try:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle, max_header_size=100_000)
        except ValueError as error:
            raise ValueError(f"{path} has a corrupt .npy header: {error}") from None
        offset = handle.tell()
    if dtype.hasobject:
        raise ValueError(f"{path} holds a pickled object array (dtype {dtype}); keras_fwi never unpickles data "
                         f"files (it can run code). Save a numeric array: np.save(path, array.astype(np.float32))")
    return shape, dtype, offset


def open_npy(path: str | os.PathLike) -> np.ndarray:
    """Memory-map a ``.npy`` file read-only without ever unpickling it.

    Raises:
        ValueError: the file holds pickled/object data, is not a ``.npy`` file, is an ``.npz``
            archive, or is shorter than its header says.
    """
    path = Path(path)
    shape, dtype, offset = _read_header(path)
    expected_bytes = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual_bytes = path.stat().st_size
    if actual_bytes < expected_bytes:
        raise ValueError(f"{path} is truncated: its header promises shape {shape} {dtype} ({expected_bytes} bytes) "
                         f"but the file has {actual_bytes} bytes; re-copy the file")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} could not be memory-mapped as a .npy array: {error}") from None


def _check_dtype(array: np.ndarray, path: Path, what: str) -> None:
    if array.dtype.fields is not None or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{path} has dtype {array.dtype}; {what} must be floating point (float32); convert with "
                         f"array.astype(np.float32)")


def _layout_hint(found: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """Suggest the np.transpose that turns ``found`` sample axes into ``expected``, if one exists."""
    if len(found) != len(expected) or sorted(found) != sorted(expected):
        return ""
    remaining = list(range(len(found)))
    order = []
    for size in expected:
        axis = next(a for a in remaining if found[a] == size)
        remaining.remove(axis)
        order.append(axis + 1)
    return f"; the axes look permuted: np.transpose(array, {(0, *order)}) gives the expected layout"


def check_seismic_header(array: np.ndarray, path: Path, preset: DatasetPreset) -> None:
    """Check dtype and shape ``(samples, shots, time, receivers)`` of a seismic array.

    Raises:
        ValueError: naming ``path``, the shape or dtype found and the one expected.
    """
    _check_dtype(array, path, "seismic amplitudes")
    expected = preset.seismic_shape
    if array.ndim == 4 and tuple(array.shape[1:]) == expected:
        if array.shape[0] == 0:
            raise ValueError(f"{path} holds no samples (shape {array.shape})")
        return
    message = (f"{path} has shape {array.shape}; dataset {preset.name!r} expects (samples, shots, time, receivers) = "
               f"(N, {', '.join(map(str, expected))})")
    if array.ndim == 4:
        message += _layout_hint(tuple(array.shape[1:]), expected)
    elif array.ndim == 3 and tuple(array.shape) == expected:
        message += "; this is a single sample without the sample axis: save array[None]"
    raise ValueError(message)


def check_velocity_header(array: np.ndarray, path: Path, preset: DatasetPreset) -> None:
    """Check dtype and shape ``(samples, 1, depth, width)`` of a velocity array.

    Raises:
        ValueError: naming ``path``, the shape or dtype found and the one expected.
    """
    _check_dtype(array, path, "velocities")
    expected = preset.velocity_sample_shape
    if array.ndim == 4 and tuple(array.shape[1:]) == expected:
        return
    message = (f"{path} has shape {array.shape}; dataset {preset.name!r} expects velocity maps (samples, 1, depth, "
               f"width) = (N, {', '.join(map(str, expected))})")
    if array.ndim == 3 and tuple(array.shape[1:]) == preset.velocity_shape:
        message += "; the channel axis is missing: use array[:, None]"
    elif array.ndim == 4:
        message += _layout_hint(tuple(array.shape[1:]), expected)
    raise ValueError(message)


def check_pair_counts(seismic: np.ndarray, velocity: np.ndarray, seismic_path: Path, velocity_path: Path) -> None:
    """Raise ``ValueError`` unless a data file and its model file hold the same number of samples."""
    if seismic.shape[0] != velocity.shape[0]:
        raise ValueError(f"{seismic_path} has {seismic.shape[0]} samples but its model file {velocity_path} has "
                         f"{velocity.shape[0]}; each data sample needs exactly one velocity map")


def _first_bad_sample(bad_per_sample: np.ndarray) -> int | None:
    indices = np.flatnonzero(bad_per_sample)
    return int(indices[0]) if indices.size else None


def check_seismic_values(chunk: np.ndarray, path: Path, first_index: int) -> None:
    """Refuse NaN or Inf in seismic samples ``first_index ...`` of ``path``."""
    finite = np.isfinite(chunk).reshape(chunk.shape[0], -1).all(axis=1)
    bad = _first_bad_sample(~finite)
    if bad is not None:
        kind = "NaN" if np.isnan(chunk[bad]).any() else "Inf"
        raise ValueError(f"{path}, sample {first_index + bad}: seismic data contains {kind}; expected finite "
                         f"amplitudes")


def check_velocity_values(chunk: np.ndarray, path: Path, first_index: int, preset: DatasetPreset) -> None:
    """Refuse NaN/Inf, non-positive velocities, and velocities outside the preset's m/s range."""
    flat = chunk.reshape(chunk.shape[0], -1)
    bad = _first_bad_sample(~np.isfinite(flat).all(axis=1))
    if bad is not None:
        kind = "NaN" if np.isnan(flat[bad]).any() else "Inf"
        raise ValueError(f"{path}, sample {first_index + bad}: velocity map contains {kind}; expected finite m/s")
    low = preset.label_min if preset.label_min is not None else np.finfo(np.float64).tiny
    high = preset.label_max if preset.label_max is not None else np.inf
    minima, maxima = flat.min(axis=1), flat.max(axis=1)
    bad = _first_bad_sample((minima < low) | (maxima > high))
    if bad is not None:
        expected = (f"dataset {preset.name!r} expects {preset.label_min:g} to {preset.label_max:g} m/s"
                    if preset.label_max is not None else "velocities must be positive m/s")
        raise ValueError(f"{path}, sample {first_index + bad}: velocities range from {minima[bad]:g} to "
                         f"{maxima[bad]:g}, outside the expected range; {expected} (wrong dataset, or not in m/s?)")


def _scan_file(array: np.ndarray, path: Path, preset: DatasetPreset | None) -> None:
    sample_bytes = max(1, array[0].nbytes)
    step = max(1, _SCAN_CHUNK_BYTES // sample_bytes)
    for start in range(0, array.shape[0], step):
        chunk = np.asarray(array[start:start + step])
        if preset is None:
            check_seismic_values(chunk, path, start)
        else:
            check_velocity_values(chunk, path, start, preset)


def scan_values(jobs: list[tuple[np.ndarray, Path, DatasetPreset | None]], threads: int | None = None) -> None:
    """Check every value of every file, several files at a time (NumPy releases the GIL).

    Args:
        jobs: (memory-mapped array, its path, preset) per file; preset None means a seismic file,
            a preset means a velocity file checked against its range.
        threads: worker threads, default ``min(8, os.cpu_count())``.

    Raises:
        ValueError: the first bad file in ``jobs`` order, naming file and sample.
    """
    threads = threads or min(8, os.cpu_count() or 1)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
    try:
        futures = [pool.submit(_scan_file, *job) for job in jobs]
        for future in futures:  # in file order, so the reported file does not depend on timing
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # stop reading the rest once one file failed


def check_file_pairs(pairs, preset: DatasetPreset, open_array=open_npy, scan: bool = True) -> tuple[list, list | None]:
    """Open and check the ``.npy`` files of ``pairs`` as the OpenFWI pipeline does, without TensorFlow.

    Args:
        pairs: ``keras_fwi.data.sources.FilePair``s (``seismic`` path, ``velocity`` path or None).
        preset: the dataset whose shapes and velocity range the files must have.
        open_array: opens one file read-only (default ``open_npy``).
        scan: also check every value (``scan_values``), not only the headers.

    Returns:
        (seismic arrays, velocity arrays or None when the pairs have no velocity files).

    Raises:
        ValueError: the first bad file, named.
    """
    seismic, velocity, jobs = [], [], []
    for pair in pairs:
        data = open_array(pair.seismic)
        check_seismic_header(data, pair.seismic, preset)
        seismic.append(data)
        jobs.append((data, pair.seismic, None))
        if pair.velocity is not None:
            model = open_array(pair.velocity)
            check_velocity_header(model, pair.velocity, preset)
            check_pair_counts(data, model, pair.seismic, pair.velocity)
            velocity.append(model)
            jobs.append((model, pair.velocity, preset))
    if scan:
        scan_values(jobs)
    return seismic, (velocity or None)


def check_openfwi_files(source, *, dataset, labels: bool | None = None) -> dict:
    """Run every check ``openfwi_dataset`` runs (headers and all values) without building a pipeline.

    NumPy only: ``keras_fwi datasets --check`` does not start TensorFlow.

    Args:
        source, dataset, labels: as for ``keras_fwi.data.openfwi_dataset``.

    Returns:
        ``{"files": int, "samples": int, "labelled": bool}``.

    Raises:
        FileNotFoundError, ValueError: the first problem found, as ``openfwi_dataset`` raises it.
    """
    from keras_fwi.data.presets import get_preset
    from keras_fwi.data.sources import resolve_sources

    pairs = resolve_sources(source, labels)
    seismic, velocity = check_file_pairs(pairs, get_preset(dataset))
    return {"files": len(pairs), "samples": int(sum(a.shape[0] for a in seismic)), "labelled": velocity is not None}
