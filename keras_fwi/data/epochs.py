"""Sample orders for whole training runs: epoch ``e``'s shuffle and flips are a function of ``(seed, e)`` only.

One pipeline can then serve every epoch of a run (files opened once, one reader, flat memory), and a
run resumed at epoch ``e`` sees exactly the order an uninterrupted run sees there. Building a fresh
``tf.data`` pipeline per epoch instead kept every old pipeline's reader and memory maps alive
(TensorFlow's ``numpy_function`` registry holds them): RSS grew by about the training set's size per
epoch (benchmarks/RESULTS.md, "Flat memory").
"""

from __future__ import annotations

import numpy as np

__all__ = ["epoch_order", "epoch_seed", "run_batches"]


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's shuffle and flips: a function of ``(seed, epoch)`` only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def epoch_order(count: int, seed: int, epoch: int, shuffle: bool = True,
                flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ``epoch``'s sample order and flip flags.

    Returns:
        ``(order, flips)``: int64 ``(count,)``, a permutation of ``range(count)`` (identity without
        ``shuffle``), and bool ``(count,)``, True where the sample is mirrored (all False without ``flip``).
    """
    rng = np.random.default_rng(epoch_seed(seed, epoch))
    order = rng.permutation(count).astype(np.int64) if shuffle else np.arange(count, dtype=np.int64)
    flips = rng.random(count) < 0.5 if flip else np.zeros(count, bool)
    return order, flips


def run_batches(count: int, seed: int, epochs: tuple[int, int], batch_size: int, shuffle: bool = True,
                flip: bool = False, drop_remainder: bool = False):
    """Batches of ``(positions, flips)`` for epochs ``epochs[0] … epochs[1] - 1``, one epoch after another.

    Batches never straddle two epochs. ``positions`` (int64 ``(batch,)``) index the ``count`` samples.

    Returns:
        A ``tf.data.Dataset`` of ``(positions, flips)``.
    """
    import tensorflow as tf

    def one_epoch(epoch):
        order, flips = tf.numpy_function(lambda e: epoch_order(count, seed, int(e), shuffle, flip), [epoch],
                                         [tf.int64, tf.bool], stateful=False)
        order.set_shape([count])
        flips.set_shape([count])
        return tf.data.Dataset.from_tensor_slices((order, flips)).batch(batch_size, drop_remainder=drop_remainder)

    first, stop = epochs
    return tf.data.Dataset.range(first, stop).flat_map(one_epoch)
