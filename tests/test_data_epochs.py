"""One pipeline for a whole run: epoch e's order and flips depend only on (seed, e), so resuming is exact."""

import numpy as np
import pytest

from keras_fwi.data import openfwi_dataset
from keras_fwi.data.epochs import epoch_order
from openfwi_files import write_openfwi_files


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    folder = tmp_path_factory.mktemp("epochs")
    lines = write_openfwi_files(folder, files=2, per_file=5)
    (folder / "train.txt").write_text("\n".join(lines) + "\n")
    return folder / "train.txt"


def _labels(dataset):
    """Per batch: each sample's velocity at the bottom-left cell (unique per sample) and whether it is mirrored."""
    return [(v[:, 0, -1, 0], v[:, 0, -1, 0] != v[:, 0, -1, -1]) for _, v in (b for b in dataset.as_numpy_iterator())]


def test_a_run_pipeline_equals_its_resumed_pieces(split):
    kwargs = dict(dataset="flatvel-a", batch_size=4, seed=7, check_values="stream")
    whole = openfwi_dataset(split, epochs=(0, 3), **kwargs)
    assert int(whole.cardinality()) == 3 * 3  # 10 samples in batches of 4, three epochs
    pieces = [b for first in (0, 1, 2) for b in _labels(openfwi_dataset(split, epochs=(first, first + 1), **kwargs))]
    got = _labels(whole)
    assert len(got) == len(pieces) == 9
    for (a, _), (b, _) in zip(got, pieces):
        np.testing.assert_array_equal(a, b)
    in_order = np.concatenate([v for v, _ in _labels(openfwi_dataset(split, shuffle=False, **kwargs))])
    epochs = [np.concatenate([v for v, _ in got[i * 3:(i + 1) * 3]]) for i in range(3)]
    for epoch in epochs:  # every sample once per epoch, batches never straddle two epochs
        np.testing.assert_array_equal(np.sort(epoch), np.sort(in_order))
    assert not np.array_equal(epochs[0], epochs[1])


def test_flips_follow_the_epoch_order(split):
    kwargs = dict(dataset="flatvel-a", batch_size=10, seed=3, check_values="stream")
    plain = next(openfwi_dataset(split, shuffle=False, **kwargs).as_numpy_iterator())[0]
    seismic = next(openfwi_dataset(split, epochs=(4, 5), horizontal_flip=True, **kwargs).as_numpy_iterator())[0]
    order, flips = epoch_order(10, 3, 4, flip=True)
    assert flips.any() and not flips.all()
    for row, (sample, flipped) in enumerate(zip(order, flips)):
        # A mirrored sample has its receivers and its shot order reversed.
        expected = plain[sample][::-1, :, ::-1] if flipped else plain[sample]
        np.testing.assert_array_equal(seismic[row], expected)


def test_epochs_need_a_seed(split):
    with pytest.raises(ValueError, match=r"epochs=\(0, 2\) needs an int seed and cache=False"):
        openfwi_dataset(split, dataset="flatvel-a", epochs=(0, 2))
