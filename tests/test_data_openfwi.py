"""openfwi_dataset: exact values, layouts, order, sharding, flips, cache and the three source kinds."""

import os

import numpy as np
import pytest
import tensorflow as tf

from data_files import SMALL, tag, write_dataset, write_pair
from keras_fwi.data import get_preset, openfwi_dataset


def _openfwi_seismic(raw, preset):
    """OpenFWI's formula in float64, written out independently of keras_fwi."""
    def log(v):
        return np.log1p(np.abs(np.asarray(v, np.float64))) * np.sign(v)
    low, high = log(preset.data_min), log(preset.data_max)
    return ((log(raw) - low) / (high - low) - 0.5) * 2


def _collect(ds):
    parts = list(ds.as_numpy_iterator())
    return tuple(np.concatenate(column) for column in zip(*parts))


@pytest.fixture
def pairs(tmp_path):
    return write_dataset(tmp_path / "set", files=3, samples=5)


def test_values_equal_openfwi_formulas_in_the_model_layout(tmp_path):
    preset = get_preset("curvevel-a")
    path_pair = write_pair(tmp_path, 1, samples=3, preset=preset)
    ds = openfwi_dataset([path_pair], dataset="curvevel-a", batch_size=2, shuffle=False)
    assert ds.element_spec[0].shape.as_list() == [None, 5, 1000, 70]
    assert ds.element_spec[1].shape.as_list() == [None, 1, 70, 70]
    seismic, velocity = _collect(ds)
    raw_seismic, raw_velocity = np.load(path_pair[0]), np.load(path_pair[1])
    np.testing.assert_allclose(seismic, _openfwi_seismic(raw_seismic, preset), atol=1e-5, rtol=0)
    np.testing.assert_allclose(velocity, (raw_velocity.astype(np.float64) - 1500) / 3000 * 2 - 1, atol=1e-6)
    assert seismic.dtype == velocity.dtype == np.float32


def test_channels_last_is_a_transpose(pairs):
    first = _collect(openfwi_dataset(pairs, dataset=SMALL, batch_size=4, shuffle=False))
    last = _collect(openfwi_dataset(pairs, dataset=SMALL, batch_size=4, shuffle=False, data_format="channels_last"))
    np.testing.assert_array_equal(last[0], first[0].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(last[1], first[1].transpose(0, 2, 3, 1))


def test_unshuffled_order_and_cardinality(pairs):
    ds = openfwi_dataset(pairs, dataset=SMALL, batch_size=4, shuffle=False, normalize=False)
    assert int(ds.cardinality()) == 4  # 15 samples
    assert tag(_collect(ds)[1]) == [(f, s) for f in (1, 2, 3) for s in range(5)]
    dropped = openfwi_dataset(pairs, dataset=SMALL, batch_size=4, shuffle=False, drop_remainder=True)
    assert int(dropped.cardinality()) == 3 and sum(1 for _ in dropped) == 3


def test_shuffle_is_deterministic_under_a_seed_and_mixes_files(pairs):
    def epochs(seed, count=2):
        ds = openfwi_dataset(pairs, dataset=SMALL, batch_size=4, seed=seed, normalize=False)
        return [tag(_collect(ds)[1]) for _ in range(count)]

    first, again, other = epochs(7), epochs(7), epochs(8)
    everything = sorted((f, s) for f in (1, 2, 3) for s in range(5))
    assert sorted(first[0]) == sorted(first[1]) == everything  # every sample once per epoch
    assert first == again  # same seed, same order, epoch after epoch
    assert first[0] != first[1]  # reshuffled each epoch
    assert first[0] != other[0]
    files_in_first_batch = {f for f, _ in first[0][:5]}
    assert len(files_in_first_batch) > 1 or first[0][:5] != sorted(first[0][:5])


def test_file_level_sharding(pairs):
    shards = [tag(_collect(openfwi_dataset(pairs, dataset=SMALL, num_shards=2, shard_index=i, shuffle=False,
                                           normalize=False))[1]) for i in range(2)]
    assert {f for f, _ in shards[0]} == {1, 3} and {f for f, _ in shards[1]} == {2}
    context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1)
    ds = openfwi_dataset(pairs, dataset=SMALL, input_context=context, shuffle=False, normalize=False)
    assert {f for f, _ in tag(_collect(ds)[1])} == {2}
    assert ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF


def test_distribute_datasets_from_function(pairs):
    strategy = tf.distribute.get_strategy()
    dist = strategy.distribute_datasets_from_function(
        lambda ctx: openfwi_dataset(pairs, dataset=SMALL, input_context=ctx, shuffle=False,
                                    batch_size=ctx.get_per_replica_batch_size(5)))
    assert sum(int(seismic.shape[0]) for seismic, _ in dist) == 15


def test_sharding_refuses_more_shards_than_files(pairs):
    with pytest.raises(ValueError, match="cannot shard 3 file\\(s\\) 4 ways"):
        openfwi_dataset(pairs, dataset=SMALL, num_shards=4)
    with pytest.raises(ValueError, match=r"shard_index must be in \[0, 2\), got 2"):
        openfwi_dataset(pairs, dataset=SMALL, num_shards=2, shard_index=2)


@pytest.mark.parametrize("cache", [False, True])
def test_horizontal_flip_mirrors_receivers_shots_and_map(pairs, cache):
    plain = openfwi_dataset(pairs, dataset=SMALL, shuffle=False, normalize=False)
    reference_seismic, reference_velocity = _collect(plain)
    by_tag = {t: i for i, t in enumerate(tag(reference_velocity))}
    flipped = openfwi_dataset(pairs, dataset=SMALL, seed=3, normalize=False, horizontal_flip=True, cache=cache)
    seismic, velocity = _collect(flipped)
    flips = 0
    for row in range(len(velocity)):
        mirrored_tag = tag(velocity[row:row + 1, :, :, ::-1])[0]
        if mirrored_tag in by_tag and not np.array_equal(velocity[row], reference_velocity[by_tag[mirrored_tag]]):
            source = by_tag[mirrored_tag]
            np.testing.assert_array_equal(velocity[row], reference_velocity[source][:, :, ::-1])
            np.testing.assert_array_equal(seismic[row], reference_seismic[source][::-1, :, ::-1])
            flips += 1
        else:
            source = by_tag[tag(velocity[row:row + 1])[0]]
            np.testing.assert_array_equal(seismic[row], reference_seismic[source])
    assert 0 < flips < len(velocity)


def test_flip_refuses_asymmetric_sources(pairs):
    lopsided = SMALL.replace(source_cells=(0, 2, 8))
    with pytest.raises(ValueError, match="source at cell 2 to cell 6, but the mirrored shot is at cell 2"):
        openfwi_dataset(pairs, dataset=lopsided, horizontal_flip=True)
    with pytest.raises(ValueError, match="horizontal_flip needs source positions"):
        openfwi_dataset(pairs, dataset=SMALL.replace(source_cells=None), horizontal_flip=True)


def test_openfwi_middle_source_is_accepted_one_cell_off():
    from keras_fwi.data.openfwi import _check_flip_geometry
    _check_flip_geometry(get_preset("flatvel-a"))  # 34 mirrors to 35: documented, allowed


def test_cache_gives_the_same_samples_and_reshuffles(pairs):
    plain_seismic, plain_velocity = _collect(openfwi_dataset(pairs, dataset=SMALL, shuffle=False, normalize=False))
    row_of = {t: i for i, t in enumerate(tag(plain_velocity))}
    cached = openfwi_dataset(pairs, dataset=SMALL, cache=True, seed=5, batch_size=4, normalize=False)
    epochs = [_collect(cached) for _ in range(2)]
    for seismic, velocity in epochs:
        rows = [row_of[t] for t in tag(velocity)]
        assert sorted(rows) == list(range(15))
        np.testing.assert_array_equal(seismic, plain_seismic[rows])
        np.testing.assert_array_equal(velocity, plain_velocity[rows])
    assert tag(epochs[0][1]) != tag(epochs[1][1])
    again = openfwi_dataset(pairs, dataset=SMALL, cache=True, seed=5, batch_size=4, normalize=False)
    assert tag(_collect(again)[1]) == tag(epochs[0][1])


def test_sample_temporal_keeps_every_kth_time_sample(pairs):
    ds = openfwi_dataset(pairs[:1], dataset=SMALL, shuffle=False, sample_temporal=3, normalize=False)
    seismic, _ = _collect(ds)
    assert seismic.shape == (5, 3, 14, 9)
    np.testing.assert_array_equal(seismic, np.load(pairs[0][0])[:, :, ::3, :])


def test_split_file_with_relative_paths_and_unlabelled_lines(tmp_path, monkeypatch):
    pairs = write_dataset(tmp_path / "set", files=2, samples=3)
    split = tmp_path / "set" / "train.txt"
    split.write_text("".join(f"{d.name}\t{m.name}\n" for d, m in pairs))
    assert tag(_collect(openfwi_dataset(split, dataset=SMALL, shuffle=False, normalize=False))[1])[3] == (2, 0)
    # OpenFWI's own scripts resolve against the working directory; that works as a fallback.
    elsewhere = tmp_path / "lists"
    elsewhere.mkdir()
    (elsewhere / "val.txt").write_text(f"set/{pairs[1][0].name}\tset/{pairs[1][1].name}\n")
    monkeypatch.chdir(tmp_path)
    assert int(openfwi_dataset(elsewhere / "val.txt", dataset=SMALL, batch_size=1).cardinality()) == 3
    unlabelled = tmp_path / "set" / "predict.txt"
    unlabelled.write_text(f"{pairs[0][0].name}\n{pairs[1][0].name}\n")
    ds = openfwi_dataset(unlabelled, dataset=SMALL, shuffle=False, batch_size=4)
    assert isinstance(ds.element_spec, tf.TensorSpec) and ds.element_spec.shape.as_list() == [None, 3, 40, 9]
    assert sum(int(x.shape[0]) for x in ds) == 6


def test_labels_false_yields_seismic_only(pairs):
    ds = openfwi_dataset(pairs, dataset=SMALL, labels=False, shuffle=False)
    assert isinstance(ds.element_spec, tf.TensorSpec)


def test_directory_layouts(tmp_path):
    folder = tmp_path / "FlatVel_A"
    (folder / "data").mkdir(parents=True)
    (folder / "model").mkdir()
    for index in (1, 2, 10):  # natural order: 10 after 2
        d, m = write_pair(tmp_path, index, 2)
        d.rename(folder / "data" / d.name)
        m.rename(folder / "model" / m.name)
    order = tag(_collect(openfwi_dataset(folder, dataset=SMALL, shuffle=False, normalize=False))[1])
    assert [f for f, _ in order] == [1, 1, 2, 2, 10, 10]
    fault = tmp_path / "FlatFault_A"
    fault.mkdir()
    write_pair(fault, 3, 2, stem=("seis2_1_", "vel2_1_"))
    write_pair(fault, 4, 2, stem=("seis2_1_", "vel2_1_"))
    assert int(openfwi_dataset(fault, dataset=SMALL, batch_size=1).cardinality()) == 4


def test_nothing_is_written_into_the_data_folder(pairs, tmp_path):
    folder = pairs[0][0].parent
    before = sorted(os.listdir(folder))
    for cache in (False, True):
        for _ in openfwi_dataset(folder, dataset=SMALL, cache=cache, horizontal_flip=True, seed=0):
            pass
    assert sorted(os.listdir(folder)) == before
