"""Predict velocity maps for seismic files on disk with a ``Predictor``: the engine of ``keras_fwi predict``.

Inputs are ``.npy`` arrays (one sample ``(shots, time, receivers)`` or many ``(n, shots, time,
receivers)``), OpenFWI split files, directories of OpenFWI files (resolved by
``keras_fwi.data.sources``), or SEG-Y files of shot gathers (one sample each, read and resampled by
``keras_fwi.data.segy`` for the dataset preset's geometry; needs segyio). Files are memory-mapped and predicted in batches, so a 500-sample OpenFWI
file never sits in memory as float64 or twice. Outputs go to one folder as ``<stem>_velocity.npy``
(and ``<stem>_velocity.png`` with ``plot=True``); nothing is written beside the inputs, and no
existing file is replaced without ``overwrite``. TensorFlow-free.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_fwi.io_utils import atomic_output, refuse_to_clobber

__all__ = ["predict_files", "seismic_files"]

_PLOT_SAMPLES = 4  # maps per figure: enough to eyeball a file, small enough to read
SEGY_SUFFIXES = (".sgy", ".segy")


def seismic_files(inputs) -> list[Path]:
    """Seismic ``.npy`` files named by ``inputs`` (files, split files, directories), in order.

    Raises:
        FileNotFoundError: an input does not exist (all missing ones are listed).
        ValueError: no inputs, or a split file/directory the data readers reject.
    """
    from keras_fwi.data.sources import resolve_sources

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [Path(item) for item in inputs]
    if not inputs:
        raise ValueError("give at least one input: a .npy file, an OpenFWI split file or a directory")
    missing = [str(path) for path in inputs if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} input(s) not found: {', '.join(missing)}")
    files = []
    for path in inputs:
        if path.is_file() and path.suffix.lower() in (".npy", *SEGY_SUFFIXES):
            files.append(path)
        else:
            files.extend(pair.seismic for pair in resolve_sources(path, labels=False))
    return files


def output_paths(files: list[Path], out_dir: Path, plot: bool) -> list[tuple[Path, Path | None]]:
    """``(npy, png or None)`` per input; raises ``ValueError`` when two inputs share a file name."""
    stems: dict[str, Path] = {}
    clashes = []
    for path in files:
        if path.stem in stems and stems[path.stem] != path:
            clashes.append(f"{stems[path.stem]} and {path}")
        stems.setdefault(path.stem, path)
    if clashes:
        raise ValueError("inputs with the same file name would write the same output: " + "; ".join(clashes)
                         + "; predict them into different --out folders")
    return [(out_dir / f"{path.stem}_velocity.npy", out_dir / f"{path.stem}_velocity.png" if plot else None)
            for path in files]


def predict_files(predictor, inputs, out_dir: str | os.PathLike, *, plot: bool = False,
                  overwrite: bool = False, progress: bool = True, dataset: str | None = None) -> list[Path]:
    """Predict every seismic file in ``inputs`` and write ``<stem>_velocity.npy`` files to ``out_dir``.

    Args:
        predictor: a ``keras_fwi.export.Predictor``.
        inputs: path or list of paths: ``.npy`` files, OpenFWI split files, directories.
        out_dir: folder for the outputs (created if needed).
        plot: also write a PNG of the first maps of each file (needs matplotlib).
        overwrite: replace existing outputs; otherwise refuse before predicting anything.
        progress: show a progress bar over samples (tqdm, on stderr).
        dataset: preset whose survey geometry and ``dt`` SEG-Y inputs are read for; default: the
            model's (``predictor.preset``).

    Returns:
        Paths of the written files.

    Raises:
        FileNotFoundError: an input does not exist.
        FileExistsError: an output exists and ``overwrite`` is False (all are listed; nothing is written).
        ValueError: a file is not a float array in the model's layout or holds NaN/Inf; the message
            names the file.
        ImportError: ``plot`` without matplotlib.
    """
    from tqdm import tqdm

    from keras_fwi.data.checks import open_npy

    if plot:
        _pyplot()  # fail before minutes of prediction, not after
    files = seismic_files(inputs)
    out_dir = Path(out_dir)
    targets = output_paths(files, out_dir, plot)
    existing = [str(p) for pair in targets for p in pair if p is not None and p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} output(s) already exist: {', '.join(existing)}; pass --overwrite "
                              "(overwrite=True) to replace them")
    arrays = [_read_segy(path, predictor, dataset) if path.suffix.lower() in SEGY_SUFFIXES else open_npy(path)
              for path in files]
    written = []
    with tqdm(total=sum(_samples(a) for a in arrays), unit="sample", disable=not progress) as bar:
        for path, array, (npy_path, png_path) in zip(files, arrays, targets):
            velocity = _predict_array(predictor, array, path, bar)
            with atomic_output(npy_path, overwrite=overwrite) as tmp:
                np.save(tmp, velocity, allow_pickle=False)
            written.append(npy_path)
            if png_path is not None:
                _plot(velocity, predictor.units, path.name, png_path, overwrite)
                written.append(png_path)
    return written


def _read_segy(path: Path, predictor, dataset: str | None) -> np.ndarray:
    """One raw sample (shots, time, receivers) from a SEG-Y file, for the preset's geometry."""
    from keras_fwi.data.segy import read_segy_shots

    dataset = dataset or predictor.preset
    if dataset is None:
        raise ValueError(f"{path}: reading SEG-Y needs the survey's dataset preset (shots, receivers, dt); pass "
                         "--dataset NAME (dataset=...) or export the model with --dataset")
    return read_segy_shots(path, dataset=dataset)


def _samples(array: np.ndarray) -> int:
    return array.shape[0] if array.ndim == 4 else 1


def _predict_array(predictor, array: np.ndarray, path: Path, bar) -> np.ndarray:
    """Predict one memory-mapped file batch by batch; errors are prefixed with the file name."""
    single = array.ndim == 3
    batch_size = predictor.batch_size
    chunks = []
    try:
        if single:
            chunks.append(predictor.predict(np.asarray(array))[None])
            bar.update(1)
        else:
            for start in range(0, max(array.shape[0], 1), batch_size):
                chunk = predictor.predict(np.asarray(array[start:start + batch_size]))
                chunks.append(chunk)
                bar.update(len(chunk))
    except ValueError as error:
        at = "" if single or array.ndim != 4 else f" (samples {start}-{min(start + batch_size, len(array)) - 1})"
        raise ValueError(f"{path}{at}: {error}") from None
    velocity = np.concatenate(chunks)
    return velocity[0] if single else velocity


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; no display needed
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise ImportError("--plot (plot=True) needs matplotlib: pip install matplotlib") from None
    return pyplot


def _plot(velocity: np.ndarray, units: str, title: str, png_path: Path, overwrite: bool) -> None:
    """The first maps of a file side by side, one colour scale, colour bar in ``units``."""
    pyplot = _pyplot()
    maps = velocity.reshape(-1, *velocity.shape[-2:])[:_PLOT_SAMPLES]
    refuse_to_clobber(png_path, overwrite)
    figure, axes = pyplot.subplots(1, len(maps), figsize=(3.2 * len(maps) + 1, 3.2), squeeze=False)
    low, high = float(maps.min()), float(maps.max())
    for index, (axis, velocity_map) in enumerate(zip(axes[0], maps)):
        image = axis.imshow(velocity_map, cmap="jet", vmin=low, vmax=high)
        axis.set_title(f"{title} [{index}]", fontsize=8)
        axis.set_xlabel("x (cells)")
    axes[0][0].set_ylabel("depth (cells)")
    figure.colorbar(image, ax=axes[0].tolist(), label=f"velocity ({units})")
    with atomic_output(png_path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, dpi=100)
    pyplot.close(figure)
