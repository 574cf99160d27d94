"""FCNVMB ``.mat`` files (Yang & Ma 2019) → ``tf.data``: one sample per file, decimated as the reference.

Each seismic file holds one variable (``Rec``) of shape (time, receivers, shots) = (2000, 301, 29);
each velocity file one 201 × 301 map in m/s (``vmodel``, or ``svmodel`` for SEG salt). The reference
decimates time by blocks of 5 keeping the middle sample of each block (index 2: samples 2, 7, 12, ...)
and pads a trailing partial block with zeros (skimage ``block_reduce``); this module does the same
without skimage. It reads with ``scipy.io`` (MATLAB v4-v7.2 files; never pickles). Requires scipy.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from keras_fwi._validation import one_of, positive_int
from keras_fwi.data import checks
from keras_fwi.data.presets import DatasetPreset, get_preset
from keras_fwi.data.transforms import seismic_bounds, velocity_bounds

__all__ = ["check_fcnvmb_files", "decimate_middle", "fcnvmb_dataset", "fcnvmb_pairs", "fcnvmb_seismic_files",
           "read_fcnvmb_sample", "read_fcnvmb_seismic"]


def _scipy_io():
    try:
        import scipy.io
    except ImportError:
        raise ImportError("reading FCNVMB .mat files needs scipy: pip install 'keras_fwi[data]'") from None
    return scipy.io


def decimate_middle(array: np.ndarray, block: int, axis: int) -> np.ndarray:
    """Keep the middle element of each ``block`` along ``axis``, as FCNVMB's ``decimate`` does.

    The kept index in a block is ``round((block + 1) / 2 - 1)`` (NumPy rounding: 2 of 5, 0 of 2,
    2 of 4). A trailing partial block is zero-padded first, like skimage's ``block_reduce``.
    """
    block = positive_int("block", block)
    if block == 1:
        return array
    size = array.shape[axis]
    padded = -(-size // block) * block
    if padded != size:
        widths = [(0, 0)] * array.ndim
        widths[axis] = (0, padded - size)
        array = np.pad(array, widths)
    keep = int(np.round((block + 1) / 2 - 1))
    return np.take(array, np.arange(keep, padded, block), axis=axis)


def _variable_info(path: Path, name: str, role: str, argument: str):
    try:
        variables = {entry[0]: entry for entry in _scipy_io().whosmat(str(path))}
    except NotImplementedError:
        raise ValueError(f"{path} is a MATLAB v7.3 (HDF5) file, which scipy.io cannot read; re-save it in MATLAB "
                         f"with save(..., '-v7')") from None
    except Exception as error:  # scipy raises IndexError, TypeError, ... on garbage; one message for all
        raise ValueError(f"{path} is not a readable MATLAB .mat file ({type(error).__name__}: {error})") from None
    if name not in variables:
        raise ValueError(f"{path} has no variable {name!r} for the {role}; it holds {sorted(variables)}: pass "
                         f"{argument}=<name>")
    _, shape, matlab_class = variables[name]
    if matlab_class not in ("double", "single"):
        raise ValueError(f"{path}: variable {name!r} is MATLAB class {matlab_class!r}; the {role} must be "
                         f"floating point (double or single)")
    return tuple(shape)


def _check_seismic_shape(shape, path: Path, preset: DatasetPreset, variable: str) -> None:
    expected = (preset.raw_time_samples, preset.receivers * preset.receiver_decimation, preset.shots)
    # The reference reshapes whatever it reads to (time, receivers, shots) in C order; accept that
    # only for the 2-D (time, receivers * shots) form it produces, never for a permuted 3-D layout.
    if shape == expected or (len(shape) == 2 and shape[0] == expected[0] and np.prod(shape) == np.prod(expected)):
        return
    hint = "; the axes look permuted" if sorted(shape) == sorted(expected) else ""
    raise ValueError(f"{path}: variable {variable!r} has shape {shape}; dataset {preset.name!r} expects "
                     f"(time, receivers, shots) = {expected}{hint}")


def _check_velocity_shape(shape, path: Path, preset: DatasetPreset, variable: str) -> None:
    if shape != preset.velocity_shape:
        raise ValueError(f"{path}: variable {variable!r} has shape {shape}; dataset {preset.name!r} expects a "
                         f"(depth, width) = {preset.velocity_shape} velocity model")


def read_fcnvmb_sample(seismic_path, velocity_path=None, *, dataset: str | DatasetPreset = "fcnvmb-simulated",
                       seismic_variable: str | None = None, velocity_variable: str | None = None):
    """Read one FCNVMB sample, decimated and in OpenFWI layout.

    Args:
        seismic_path: ``.mat`` file with the shot gathers (time, receivers, shots).
        velocity_path: ``.mat`` file with the velocity model in m/s, or None.
        dataset: FCNVMB preset (``"fcnvmb-simulated"`` or ``"fcnvmb-seg-salt"``) or ``DatasetPreset``.
        seismic_variable, velocity_variable: variable names; default from the preset (``Rec``,
            ``vmodel``/``svmodel``).

    Returns:
        ``seismic`` float32 (shots, time, receivers) = (29, 400, 301) by default, and ``velocity``
        float32 (1, depth, width) in m/s (None without ``velocity_path``). Raw values, not normalised.

    Raises:
        ValueError: unreadable file, missing variable (the message lists those present), wrong shape,
            non-float data, NaN/Inf, or velocities outside the preset's range.
    """
    preset = get_preset(dataset)
    seismic_variable = seismic_variable or preset.seismic_variable
    velocity_variable = velocity_variable or preset.velocity_variable
    seismic_path = Path(seismic_path)
    shape = _variable_info(seismic_path, seismic_variable, "seismic data", "seismic_variable")
    _check_seismic_shape(shape, seismic_path, preset, seismic_variable)
    raw = _scipy_io().loadmat(str(seismic_path), variable_names=[seismic_variable])[seismic_variable]
    raw = np.asarray(raw, np.float32).reshape(preset.raw_time_samples, -1, preset.shots)
    raw = decimate_middle(decimate_middle(raw, preset.time_decimation, 0), preset.receiver_decimation, 1)
    seismic = np.ascontiguousarray(raw.transpose(2, 0, 1))
    checks.check_seismic_values(seismic[None], seismic_path, 0)
    if velocity_path is None:
        return seismic, None
    velocity_path = Path(velocity_path)
    shape = _variable_info(velocity_path, velocity_variable, "velocity model", "velocity_variable")
    _check_velocity_shape(shape, velocity_path, preset, velocity_variable)
    velocity = np.asarray(_scipy_io().loadmat(str(velocity_path), variable_names=[velocity_variable])
                          [velocity_variable], np.float32)[None]
    checks.check_velocity_values(velocity[None], velocity_path, 0, preset)
    return seismic, velocity


# The reference keeps seismic and velocity files in sibling folders: georec_train/ and vmodel_train/
# for both datasets (SEG salt's srec<i>.mat sit in georec_train/, its svmodel<i>.mat in vmodel_train/).
_FOLDER_TOKENS = (("georec", "vmodel"),)


def _velocity_folders(folder: Path, preset: DatasetPreset) -> list[Path]:
    """Sibling folders that may hold ``folder``'s velocity files, most specific first."""
    tokens = ((preset.seismic_file_prefix, preset.velocity_file_prefix), *_FOLDER_TOKENS)
    siblings = [folder.parent / folder.name.replace(seismic, velocity, 1)
                for seismic, velocity in tokens if seismic in folder.name]
    return list(dict.fromkeys(s for s in siblings if s != folder))


def fcnvmb_pairs(folder, dataset: str | DatasetPreset = "fcnvmb-simulated") -> list[tuple[Path, Path | None]]:
    """Pair ``<seismic prefix><i>.mat`` in ``folder`` with ``<velocity prefix><i>.mat``.

    Velocity files are looked for in ``folder`` and in its siblings named with the velocity prefix
    or ``vmodel`` for ``georec`` (the reference's ``georec_train`` → ``vmodel_train``, for SEG salt's
    ``srec<i>.mat``/``svmodel<i>.mat`` too). Files are returned in numeric order.

    Raises:
        FileNotFoundError: no seismic files in ``folder``.
        ValueError: some seismic files have velocity files and some do not (all are listed).
    """
    preset = get_preset(dataset)
    folder = Path(folder)
    pattern = re.compile(rf"^{re.escape(preset.seismic_file_prefix)}(\d+)\.mat$")
    numbered = sorted((int(m.group(1)), p) for p in folder.glob("*.mat") if (m := pattern.match(p.name)))
    if not numbered:
        raise FileNotFoundError(f"no {preset.seismic_file_prefix}<i>.mat files in {folder}")
    candidates = [folder] + _velocity_folders(folder, preset)
    def velocity_for(number: int) -> Path | None:
        name = f"{preset.velocity_file_prefix}{number}.mat"
        return next((c / name for c in candidates if (c / name).is_file()), None)

    pairs = [(path, velocity_for(number)) for number, path in numbered]
    orphans = [str(s) for s, v in pairs if v is None]
    if orphans and len(orphans) != len(pairs):
        raise ValueError(f"{len(orphans)} seismic file(s) have no {preset.velocity_file_prefix}<i>.mat velocity file "
                         f"(looked in {', '.join(map(str, candidates))}): " + ", ".join(orphans))
    return pairs


def fcnvmb_dataset(source, *, dataset: str | DatasetPreset = "fcnvmb-simulated", batch_size: int = 10,
                   shuffle: bool = True, seed: int | None = None, labels: bool | None = None,
                   normalize: bool | None = None, seismic_variable: str | None = None,
                   velocity_variable: str | None = None, cache: bool = False, drop_remainder: bool = False,
                   data_format: str = "channels_first"):
    """Stream FCNVMB ``.mat`` samples as ``(seismic, velocity)`` batches for ``keras_fwi.models.fcnvmb``.

    Args:
        source: a folder (see ``fcnvmb_pairs``), a seismic ``.mat`` file, a split file, or a list of
            seismic paths or (seismic, velocity) pairs.
        dataset: FCNVMB preset or ``DatasetPreset``. Default ``"fcnvmb-simulated"``.
        batch_size: samples per batch (the reference uses 10).
        shuffle, seed: random order each epoch; reproducible under a seed.
        labels: True to require velocity files, False for seismic only, None to follow the source.
        normalize: None follows the preset: raw amplitudes and m/s, as the reference trains. True
            applies OpenFWI's normalisation, which needs data and label ranges in the preset.
        seismic_variable, velocity_variable: ``.mat`` variable names; default from the preset.
        cache: keep decoded samples in memory after the first epoch.
        drop_remainder: drop the last incomplete batch.
        data_format: ``"channels_first"`` (batch, shots, time, receivers) or ``"channels_last"``.

    Returns:
        ``tf.data.Dataset`` of float32 ``(seismic, velocity)`` batches, (batch, 29, 400, 301) and
        (batch, 1, 201, 301) by default; seismic alone when unlabelled.

    Raises:
        FileNotFoundError: missing files (all listed). ValueError: bad variables or shapes (checked for
        every file before returning, from the .mat headers); bad values stop iteration with
        ``tf.errors.InvalidArgumentError`` naming the file, since checking them needs a full read.
    """
    import tensorflow as tf

    from keras_fwi.data import tf_transforms

    preset = get_preset(dataset)
    batch_size = positive_int("batch_size", batch_size)
    one_of("data_format", data_format, ("channels_first", "channels_last"))
    normalize = preset.normalize if normalize is None else bool(normalize)
    if normalize:  # fail now, not inside the pipeline
        seismic_bounds(preset), velocity_bounds(preset)
    pairs = _source_pairs(source, preset, labels)
    labelled = pairs[0].velocity is not None
    svar, vvar = seismic_variable or preset.seismic_variable, velocity_variable or preset.velocity_variable
    for pair in pairs:  # headers only: cheap, and catches wrong files before training starts
        _check_seismic_shape(_variable_info(pair.seismic, svar, "seismic data", "seismic_variable"),
                             pair.seismic, preset, svar)
        if labelled:
            _check_velocity_shape(_variable_info(pair.velocity, vvar, "velocity model", "velocity_variable"),
                                  pair.velocity, preset, vvar)

    def read(index):
        pair = pairs[int(index)]
        seismic, velocity = read_fcnvmb_sample(pair.seismic, pair.velocity, dataset=preset,
                                               seismic_variable=svar, velocity_variable=vvar)
        return (seismic, velocity) if labelled else (seismic,)

    def load(index):
        tensors = tf.numpy_function(read, [index], [tf.float32] * (1 + labelled), stateful=False)
        tensors[0].set_shape(preset.seismic_shape)
        out = [tf_transforms.normalize_seismic(tensors[0], preset) if normalize else tensors[0]]
        if labelled:
            tensors[1].set_shape(preset.velocity_sample_shape)
            out.append(tf_transforms.normalize_velocity(tensors[1], preset) if normalize else tensors[1])
        if data_format == "channels_last":
            out = [tf.transpose(t, (1, 2, 0)) for t in out]
        return tuple(out) if labelled else out[0]

    ds = tf.data.Dataset.range(len(pairs))
    if cache:
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if not cache:
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def fcnvmb_seismic_files(source, dataset: str | DatasetPreset = "fcnvmb-simulated") -> list[Path]:
    """Seismic ``.mat`` files of ``source``: a ``.mat`` file, a folder (``fcnvmb_pairs``), a split file or a list.

    Raises:
        FileNotFoundError: a file or folder does not exist, or a folder holds no seismic files.
    """
    return [pair.seismic for pair in _source_pairs(source, get_preset(dataset), labels=False)]


def read_fcnvmb_seismic(paths, dataset: str | DatasetPreset = "fcnvmb-simulated") -> np.ndarray:
    """Raw decimated samples of seismic ``.mat`` files stacked: float32 (n, shots, time, receivers)."""
    return np.stack([read_fcnvmb_sample(path, dataset=dataset)[0] for path in paths])


def _source_pairs(source, preset: DatasetPreset, labels: bool | None = None):
    """``FilePair``s of a folder (``fcnvmb_pairs``), a ``.mat`` file, a split file or a list."""
    from keras_fwi.data.sources import resolve_sources

    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return resolve_sources(fcnvmb_pairs(source, preset), labels)
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".mat":
        return resolve_sources([source], labels=False)
    return resolve_sources(source, labels)


def check_fcnvmb_files(source, dataset: str | DatasetPreset = "fcnvmb-simulated") -> dict:
    """Read every sample of ``source`` as training does (headers, shapes, decimation, values).

    Returns:
        ``{"files": seismic files (one sample each), "samples": n, "labelled": bool}``.

    Raises:
        FileNotFoundError, ValueError: the first bad file, named (see ``read_fcnvmb_sample``).
    """
    preset = get_preset(dataset)
    pairs = _source_pairs(source, preset)
    for pair in pairs:
        read_fcnvmb_sample(pair.seismic, pair.velocity, dataset=preset)
    labelled = pairs[0].velocity is not None
    return {"files": len(pairs), "samples": len(pairs), "labelled": labelled}
