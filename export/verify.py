"""Check an ONNX graph and compare it with the Keras model it came from, before anything is written.

Differences are measured in the Keras model's own output units (normalised [-1, 1] for InversionNet,
m/s for FCNVMB trained as its reference) relative to the output's scale (``output_scale``); a
``--raw-io`` graph's m/s are mapped back to the network's normalised range first.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["FLOAT16_BOUND", "FLOAT32_BOUND", "Bound", "ParityError", "check_parity", "output_scale"]


@dataclasses.dataclass(frozen=True)
class Bound:
    """Largest allowed max abs and mean abs difference, as fractions of the output's scale.

    ``limits(scale)`` gives the absolute limits for outputs of magnitude ``scale`` (see ``output_scale``).
    """

    max_rel: float
    mean_rel: float

    def limits(self, scale: float) -> tuple[float, float]:
        """Absolute ``(max abs, mean abs)`` limits for outputs of scale ``scale``."""
        return self.max_rel * scale, self.mean_rel * scale

    def __str__(self) -> str:
        return f"max abs {self.max_rel:g}, mean abs {self.mean_rel:g} of the output scale"


# Why these numbers. ONNX Runtime and TensorFlow compute the same float32 network in different
# summation orders, with different FMA use (AMD and Intel AVX-512 kernels differ as well). A dot
# product of n terms then differs by up to gamma_n = n * eps relative to the sum of its absolute
# terms (Higham, Accuracy and Stability of Numerical Algorithms, sec. 3.1), eps = 2**-24 = 6e-8, and
# typically by sqrt(n) * eps as rounding errors cancel. Fan-ins reach 36,864 (InversionNet's 8x9x512
# code layer): ~1e-5 typical per layer, compounding over ~20 layers. Measured on calibrated
# InversionNets: max 2-4e-5, mean 2e-6 of the scale; the worst seen, on an Intel Xeon and on tiny
# nets whose small BatchNorm variances amplify uniform random probes, 1-3e-4 max. Hence max abs 1e-3
# of the scale (3x the worst seen, half of one layer's worst case n * eps = 2e-3) and mean abs 1e-4
# (50x the typical mean). A wrong conversion is far above: 1 % on every weight of a small
# InversionNet moves its outputs by 0.25 on average, 1.7 at most (the injected-mismatch test).
FLOAT32_BOUND = Bound(max_rel=1e-3, mean_rel=1e-4)
# float16 keeps 11 significant bits. On calibrated small and full InversionNets it differs from Keras
# by mean abs 1.7-5.6e-3 and max abs 2.6-6.9e-2 (a few pixels on tanh's steep middle); rounding only
# the weights to float16 and computing in float32 gives the same mean error, so this is the
# network's sensitivity, not the runtime. A wrong graph differs by O(0.1-1) on average.
FLOAT16_BOUND = Bound(max_rel=0.15, mean_rel=1e-2)


def output_scale(keras_out: np.ndarray) -> float:
    """The scale parity is measured against: ``max(1, max |output|)`` in the model's output units.

    1 is the full scale of a normalised (tanh, [-1, 1]) output; a model that returns m/s (FCNVMB,
    ~1500-4500) gets its own magnitude, since float32 rounding is relative to magnitude: one float32
    step at 3000 m/s is 2.4e-4.
    """
    return max(1.0, float(np.max(np.abs(keras_out)))) if np.size(keras_out) else 1.0


class ParityError(ValueError):
    """The ONNX graph does not compute what the Keras model computes; nothing was written."""


def check_graph(proto) -> None:
    """``onnx.checker`` with shape inference; raises ``ParityError`` with the checker's message."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise ParityError(f"the converted ONNX graph is invalid: {error}") from None


def random_seismic(shape: tuple[int, ...], batch: int = 2, seed: int = 0) -> np.ndarray:
    """Normalised seismic samples in [-1, 1] (the network's input range), float32, seeded."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (batch, *shape)).astype(np.float32)


def check_parity(proto, keras_predict, seismic: np.ndarray, bound: Bound, normalization=None,
                 raw_seismic: np.ndarray | None = None) -> tuple[float, float]:
    """Run ``proto`` with onnxruntime (CPU) and compare with ``keras_predict`` on the same samples.

    Args:
        proto: ``onnx.ModelProto`` to check.
        keras_predict: callable, network input (batch, shots, time, receivers) → network output
            (batch, 1, depth, width).
        seismic: input samples for Keras, in the network's input units.
        bound: largest allowed differences relative to the output scale.
        normalization: ``Normalization`` if the graph is raw-io (m/s out), else None.
        raw_seismic: the raw amplitudes ``seismic`` was normalised from, fed to a raw-io graph.

    Returns:
        ``(max_abs, mean_abs)`` differences as fractions of the output scale (``output_scale``).

    Raises:
        ParityError: a difference exceeds ``bound`` or is not finite; the message gives both.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = raw_seismic if normalization is not None else seismic
    (onnx_out,) = session.run(["velocity"], {"seismic": feed.astype(np.float32)})
    if normalization is not None:
        onnx_out = normalization.normalize_velocity(onnx_out)
    keras_out = np.asarray(keras_predict(seismic))
    if onnx_out.shape != keras_out.shape:
        raise ParityError(f"ONNX output shape {onnx_out.shape} differs from Keras output shape {keras_out.shape}")
    diff = np.abs(onnx_out.astype(np.float64) - keras_out.astype(np.float64))
    max_abs, mean_abs = float(np.max(diff)), float(np.mean(diff))
    scale = output_scale(keras_out)
    max_limit, mean_limit = bound.limits(scale)
    if not (max_abs <= max_limit and mean_abs <= mean_limit):  # also catches NaN
        raise ParityError(f"ONNX output differs from Keras by max abs {max_abs:.3g}, mean abs {mean_abs:.3g} "
                          f"over {len(seismic)} samples, output scale {scale:.4g} (allowed: max abs {max_limit:.3g}, "
                          f"mean abs {mean_limit:.3g}, i.e. {bound})")
    return max_abs / scale, mean_abs / scale
