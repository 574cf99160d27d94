"""``openfwi_dataset``: stream OpenFWI ``.npy`` files into a ``tf.data.Dataset`` a Keras model can fit.

The pipeline works on sample *indices* until the last moment: it lists (file, sample) pairs, shards
them by file, shuffles them (across and within files at once: a full permutation, as OpenFWI's
RandomSampler draws), batches them, and only then reads each batch from memory-mapped files in
parallel ``numpy_function`` calls. Nothing is loaded up front and the order is a pure function of
``seed``. Normalisation and flips run as TensorFlow ops on the batches.
"""

from __future__ import annotations

import functools
import os
import weakref

import numpy as np
import tensorflow as tf

from keras_fwi._validation import one_of, positive_int
from keras_fwi.data import checks, tf_transforms
from keras_fwi.data.augment import Augmentation, augment_seismic
from keras_fwi.data.epochs import run_batches
from keras_fwi.data.presets import DatasetPreset, get_preset
from keras_fwi.data.sources import FilePair, resolve_sources
from keras_fwi.data.normalization import Normalization, apply_steps

__all__ = ["check_openfwi_files", "openfwi_dataset"]

_CACHE_READ_CHUNK = 16  # samples per read while filling the in-memory cache


class _BatchReader:
    """Reads (file, sample) index batches from memory-mapped files; safe to call from several threads."""

    def __init__(self, pairs: list[FilePair], seismic: list, velocity: list | None, preset: DatasetPreset,
                 sample_temporal: int, check_values: bool):
        self._pairs, self._seismic, self._velocity = pairs, seismic, velocity
        self._preset, self._step, self._check = preset, sample_temporal, check_values

    def __call__(self, files: np.ndarray, samples: np.ndarray):
        count = files.shape[0]
        shots, time_samples, receivers = self._preset.seismic_shape
        seismic = np.empty((count, shots, -(-time_samples // self._step), receivers), np.float32)
        velocity = np.empty((count, *self._preset.velocity_sample_shape), np.float32) if self._velocity else None
        for row, (file_id, sample) in enumerate(zip(files.tolist(), samples.tolist())):
            seismic[row] = self._seismic[file_id][sample, :, ::self._step, :]
            if velocity is not None:
                velocity[row] = self._velocity[file_id][sample]
            if self._check:  # a bad value stops iteration with the message the up-front scan gives
                checks.check_seismic_values(seismic[row:row + 1], self._pairs[file_id].seismic, sample)
                if velocity is not None:
                    checks.check_velocity_values(velocity[row:row + 1], self._pairs[file_id].velocity, sample,
                                                 self._preset)
        return (seismic, velocity) if velocity is not None else (seismic,)


# Read-only memory maps shared by every pipeline over the same unchanged file (a run's shuffled and
# in-order pipelines): each map's resident pages count once in RSS, not once per pipeline.
_MAPS = weakref.WeakValueDictionary()


def _open_npy_shared(path) -> np.ndarray:
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    array = _MAPS.get(key)
    if array is None:
        array = _MAPS[key] = checks.open_npy(path)
    return array


def _open_and_check(pairs: list[FilePair], preset: DatasetPreset, check_values: str):
    return checks.check_file_pairs(pairs, preset, _open_npy_shared, scan=check_values == "scan")


def _check_flip_geometry(preset: DatasetPreset) -> None:
    """Refuse horizontal flips when mirrored sources miss their partners by more than one cell."""
    if preset.source_cells is None:
        raise ValueError(f"horizontal_flip needs source positions, and dataset {preset.name!r} has none; set "
                         f"preset.replace(source_cells=(...)) in receiver cells")
    sources = preset.source_cells
    for position, partner in zip(sources, reversed(sources)):
        mirrored = preset.receivers - 1 - position
        if abs(mirrored - partner) > 1:
            raise ValueError(f"horizontal_flip would move the source at cell {position} to cell {mirrored}, but the "
                             f"mirrored shot is at cell {partner}; flipping is only valid for sources symmetric "
                             f"about the centre to within one cell (dataset {preset.name!r}, sources {sources})")


def _shard(pairs: list[FilePair], num_shards: int, shard_index: int) -> list[FilePair]:
    if num_shards > len(pairs):
        raise ValueError(f"cannot shard {len(pairs)} file(s) {num_shards} ways (file-level sharding gives every "
                         f"shard whole files); use at most {len(pairs)} shards")
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index must be in [0, {num_shards}), got {shard_index}")
    return pairs[shard_index::num_shards]


@functools.lru_cache(maxsize=32)
def _seismic_normalizer(steps):
    """OpenFWI's seismic normalisation as one XLA-compiled function, shared by every pipeline with these bounds.

    XLA fuses the log transform and the min-max scaling into one pass over the batch: about twice
    the plain graph's rate on CPU. Compiled once per bounds and batch shape, not per dataset.
    """
    def normalize(seismic):
        return apply_steps(steps, seismic, tf_transforms.TF_OPS)

    return tf.function(normalize, jit_compile=True, autograph=False)


def _index_arrays(arrays: list) -> tuple[np.ndarray, np.ndarray]:
    files = np.concatenate([np.full(a.shape[0], i, np.int32) for i, a in enumerate(arrays)])
    samples = np.concatenate([np.arange(a.shape[0], dtype=np.int64) for a in arrays])
    return files, samples


def _flip(tensors: tuple, flags) -> tuple:
    """Mirror the flagged samples left-right: receivers and shot order together, and the velocity map."""
    mask = flags[:, None, None, None]
    seismic = tf.where(mask, tf.reverse(tensors[0], axis=[1, 3]), tensors[0])
    return (seismic, *(tf.where(mask, tf.reverse(v, axis=[3]), v) for v in tensors[1:]))


def _augment_seeds(seed, epochs, total: int, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
    """One stateless seed pair per batch: (seed, the batch's number in the run), so a resumed run
    draws what an uninterrupted one would have; random (not repeatable) without a seed."""
    if seed is None:
        return tf.data.Dataset.random(rerandomize_each_iteration=True).batch(2)
    per_epoch = total // batch_size if drop_remainder else -(-total // batch_size)
    first = epochs[0] * per_epoch if epochs is not None else 0
    return tf.data.Dataset.counter(start=first).map(lambda number: tf.stack([tf.constant(seed, tf.int64), number]))


def openfwi_dataset(source, *, dataset: str | DatasetPreset, batch_size: int = 32, shuffle: bool = True,
                    seed: int | None = None, labels: bool | None = None, sample_temporal: int = 1,
                    horizontal_flip: bool = False, cache: bool = False, drop_remainder: bool = False,
                    normalize: bool | None = None, num_shards: int = 1, shard_index: int = 0,
                    input_context: tf.distribute.InputContext | None = None, check_values: str = "scan",
                    data_format: str = "channels_first", num_parallel_calls: int = tf.data.AUTOTUNE,
                    prefetch: int = tf.data.AUTOTUNE, epochs: tuple[int, int] | None = None,
                    augment: Augmentation | None = None) -> tf.data.Dataset:
    """Stream OpenFWI-format ``.npy`` files as batches of normalised ``(seismic, velocity)``.

    Args:
        source: an OpenFWI split file (``data.npy<TAB>model.npy`` per line, or ``data.npy`` alone for
            unlabelled data; relative paths resolve against the split file's folder, then the working
            directory), a directory of ``data<i>.npy``/``model<i>.npy`` files, or a list of data paths or
            ``(data path, model path)`` pairs. Files hold ``(samples, shots, time, receivers)`` seismic
            and ``(samples, 1, depth, width)`` velocities in m/s, float32.
        dataset: preset name (``"flatvel-a"`` ...) or ``DatasetPreset``: shapes, ranges, survey.
        batch_size: int, samples per batch. Default 32.
        shuffle: bool, draw samples in a fresh random order each epoch (across and within files).
        seed: int or None; with a seed, the order and the flips are the same on every run.
        labels: True to require velocity files, False to yield seismic only (prediction), None to
            follow the source.
        sample_temporal: int, keep every k-th time sample (OpenFWI's ``--sample-temporal``); the model
            must then take ``ceil(time / k)`` samples.
        horizontal_flip: bool, mirror each sample left-right with probability 0.5: receivers reversed,
            shot order reversed and the velocity map mirrored. OpenFWI's sources (cells 0, 17, 34, 52,
            69) mirror onto each other except the middle one, which lands on cell 35 instead of 34:
            flipped samples carry that one-cell shift of the middle shot. Layouts whose mirrored
            sources miss by more than one cell are refused.
        cache: bool, keep the normalised samples in memory after the first epoch (needs RAM for the
            whole shard; shuffling and flips still change every epoch).
        drop_remainder: bool, drop the last incomplete batch.
        normalize: bool, apply OpenFWI's normalisation; None follows the preset (True for OpenFWI).
        num_shards, shard_index: explicit file-level sharding: this pipeline reads files
            ``shard_index, shard_index + num_shards, ...`` of the source.
        input_context: a ``tf.distribute.InputContext`` (from ``distribute_datasets_from_function``);
            shards by file per input pipeline, overriding ``num_shards``/``shard_index``. Pass
            ``batch_size=input_context.get_per_replica_batch_size(global_batch)`` with it. (TF's
            automatic FILE sharding needs TF's own file readers, so sharding here is explicit; a
            sharded dataset turns auto-sharding off so tf.distribute does not shard it again.)
        check_values: ``"scan"`` (default) reads every file once before returning and raises
            ``ValueError`` for NaN/Inf or out-of-range velocities; ``"stream"`` checks each batch as it
            is read instead, so a bad value stops iteration with ``tf.errors.InvalidArgumentError``
            carrying the same message.
        data_format: ``"channels_first"`` (OpenFWI layout, default) or ``"channels_last"``, matching
            the model's ``data_format``.
        num_parallel_calls: parallel batch reads. Default ``tf.data.AUTOTUNE``.
        prefetch: batches to prefetch. Default ``tf.data.AUTOTUNE``.
        epochs: ``(first, stop)``: one pipeline for epochs ``first … stop - 1`` of a training run, one
            after another, epoch ``e`` shuffled and flipped by a NumPy generator seeded by ``(seed, e)``
            (``keras_fwi.data.epochs``), so a resumed run sees the same order. Needs an int ``seed``;
            not with ``cache``. Default None: one epoch, re-shuffled on each iteration.

    Returns:
        A ``tf.data.Dataset`` of ``(seismic, velocity)`` float32 batches, seismic
        ``(batch, shots, time, receivers)`` and velocity ``(batch, 1, depth, width)`` (channels_last:
        ``(batch, time, receivers, shots)`` and ``(batch, depth, width, 1)``); seismic batches alone
        for unlabelled data.

    Raises:
        FileNotFoundError: the source or any listed file is missing (all are listed).
        ValueError: unknown dataset, bad arguments, or a bad file (pickled, wrong dtype or shape,
            sample counts that differ, NaN/Inf, velocities outside the preset's range), naming the
            file and, for values, the sample index.

    Example:
        >>> ds = openfwi_dataset("flatvel_a_train.txt", dataset="flatvel-a", batch_size=64, seed=0)
        >>> model.fit(ds, epochs=120)
        >>> strategy = tf.distribute.MirroredStrategy()       # one pipeline per worker, whole files each
        >>> dist = strategy.distribute_datasets_from_function(lambda ctx: openfwi_dataset(
        ...     "flatvel_a_train.txt", dataset="flatvel-a", input_context=ctx, seed=0,
        ...     batch_size=ctx.get_per_replica_batch_size(256)))
    """
    preset = get_preset(dataset)
    batch_size = positive_int("batch_size", batch_size)
    sample_temporal = positive_int("sample_temporal", sample_temporal)
    one_of("check_values", check_values, ("scan", "stream"))
    one_of("data_format", data_format, ("channels_first", "channels_last"))
    normalize = preset.normalize if normalize is None else bool(normalize)
    augment = augment if augment is not None and augment.active else None
    if augment is not None and cache:
        raise ValueError("augment acts on raw amplitudes, which cache=True does not keep; use one or the other")
    if horizontal_flip:
        _check_flip_geometry(preset)
    if epochs is not None and (cache or isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"epochs={epochs!r} needs an int seed and cache=False (got seed={seed!r}, cache={cache})")
    if input_context is not None:
        num_shards, shard_index = input_context.num_input_pipelines, input_context.input_pipeline_id
    num_shards = positive_int("num_shards", num_shards)

    pairs = _shard(resolve_sources(source, labels), num_shards, shard_index)
    seismic_maps, velocity_maps = _open_and_check(pairs, preset, check_values)
    labelled = velocity_maps is not None
    reader = _BatchReader(pairs, seismic_maps, velocity_maps, preset, sample_temporal, check_values == "stream")
    files, samples = _index_arrays(seismic_maps)
    time_samples = -(-preset.time_samples // sample_temporal)
    seismic_shape = (None, preset.shots, time_samples, preset.receivers)

    normalize_seismic = _seismic_normalizer(Normalization.from_preset(preset).seismic_forward()) if normalize else None

    def read(file_ids, sample_ids, augment_seed=None):
        out_types = [tf.float32, tf.float32] if labelled else [tf.float32]
        tensors = tf.numpy_function(reader, [file_ids, sample_ids], out_types, stateful=False)
        tensors[0].set_shape(seismic_shape)
        seismic = tensors[0] if augment_seed is None else augment_seismic(tensors[0], augment_seed, augment)
        seismic = normalize_seismic(seismic) if normalize else seismic
        if not labelled:
            return (seismic,)
        tensors[1].set_shape((None, *preset.velocity_sample_shape))
        velocity = tf_transforms.normalize_velocity(tensors[1], preset) if normalize else tensors[1]
        return seismic, velocity

    flips = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(lambda r: r % 2 == 1)
    total = int(files.shape[0])
    indices = tf.data.Dataset.from_tensor_slices((files, samples))

    if cache:
        elements = (indices.batch(_CACHE_READ_CHUNK)
                    .map(read, num_parallel_calls=num_parallel_calls, deterministic=True)
                    .unbatch().cache())
        if shuffle:
            elements = elements.shuffle(total, seed=seed, reshuffle_each_iteration=True)
        if horizontal_flip:
            batches = (tf.data.Dataset.zip((elements, flips)).batch(batch_size, drop_remainder=drop_remainder)
                       .map(_flip))
        else:
            batches = elements.batch(batch_size, drop_remainder=drop_remainder)
    else:
        if epochs is not None:
            batches = run_batches(total, seed, epochs, batch_size, shuffle, horizontal_flip, drop_remainder).map(
                lambda at, flags: (tf.gather(files, at), tf.gather(samples, at),
                                   *((flags,) if horizontal_flip else ())))
        else:
            if shuffle:
                indices = indices.shuffle(total, seed=seed, reshuffle_each_iteration=True)
            if horizontal_flip:
                indices = tf.data.Dataset.zip((indices, flips)).map(lambda fs, flag: (*fs, flag))
            batches = indices.batch(batch_size, drop_remainder=drop_remainder)
        if augment is not None:
            batches = tf.data.Dataset.zip((batches, _augment_seeds(seed, epochs, total, batch_size, drop_remainder)))
            batches = batches.map(lambda batch, pair: (*batch, pair))

        def read_batch(file_ids, sample_ids, *rest):
            flags = rest[0] if horizontal_flip else None
            tensors = read(file_ids, sample_ids, rest[-1] if augment is not None else None)
            return tensors if flags is None else _flip(tensors, flags)

        batches = batches.map(read_batch, num_parallel_calls=num_parallel_calls, deterministic=True)

    if data_format == "channels_last":
        batches = batches.map(lambda *t: (tf.transpose(t[0], (0, 2, 3, 1)),
                                          *(tf.transpose(v, (0, 2, 3, 1)) for v in t[1:])))
    if not labelled:
        batches = batches.map(lambda seismic: seismic)
    n_batches = total // batch_size if drop_remainder else -(-total // batch_size)
    if epochs is not None:
        n_batches *= max(0, epochs[1] - epochs[0])
    batches = batches.apply(tf.data.experimental.assert_cardinality(n_batches))

    options = tf.data.Options()
    options.deterministic = True
    if num_shards > 1:  # already sharded by file; tf.distribute must not shard again
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return batches.with_options(options).prefetch(prefetch)
