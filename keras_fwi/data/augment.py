"""Training-data augmentation for robustness: additive noise at a chosen SNR and random trace dropout.

OpenFWI's robustness experiments test networks on data with Gaussian noise and with missing traces;
training on such data makes a network tolerate them. Both act on raw amplitudes, before the log
transform, and draw from stateless random streams, so a seeded pipeline repeats exactly.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

__all__ = ["Augmentation", "augment_seismic"]


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What to do to each training sample.

    Args:
        noise_snr_db: float or None, add white Gaussian noise at this signal-to-noise ratio in dB,
            per shot gather (noise RMS = gather RMS / 10^(snr / 20)). None: no noise.
        trace_dropout: float in [0, 1), the probability that a trace (one receiver of one shot) is
            zeroed, as a dead or missing channel. 0: none.
    """

    noise_snr_db: float | None = None
    trace_dropout: float = 0.0

    def __post_init__(self):
        if self.noise_snr_db is not None and (isinstance(self.noise_snr_db, bool)
                                              or not isinstance(self.noise_snr_db, (int, float))
                                              or not math.isfinite(self.noise_snr_db)):
            raise ValueError(f"noise_snr_db must be a finite number of dB or None, got {self.noise_snr_db!r}")
        if isinstance(self.trace_dropout, bool) or not isinstance(self.trace_dropout, (int, float)) \
                or not 0.0 <= self.trace_dropout < 1.0:
            raise ValueError(f"trace_dropout must be a probability in [0, 1), got {self.trace_dropout!r}")

    @property
    def active(self) -> bool:
        return self.noise_snr_db is not None or self.trace_dropout > 0


def augment_seismic(seismic: tf.Tensor, seed: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """Noise and dropout applied to raw seismic (batch, shots, time, receivers), float32.

    ``seed`` is a (2,) int tensor for TensorFlow's stateless random ops: the same seed and input give
    the same output.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=2)
    if augmentation.noise_snr_db is not None:
        rms = tf.sqrt(tf.reduce_mean(tf.square(seismic), axis=[2, 3], keepdims=True))
        sigma = rms / (10.0 ** (augmentation.noise_snr_db / 20.0))
        seismic = seismic + sigma * tf.random.stateless_normal(tf.shape(seismic), seeds[0], dtype=seismic.dtype)
    if augmentation.trace_dropout > 0:
        shape = tf.shape(seismic)
        keep = tf.random.stateless_uniform([shape[0], shape[1], 1, shape[3]], seeds[1]) >= augmentation.trace_dropout
        seismic = seismic * tf.cast(keep, seismic.dtype)
    return seismic
