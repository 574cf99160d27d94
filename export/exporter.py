"""``export_onnx``: a keras_fwi model becomes one verified ONNX file, or nothing is written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_fwi._validation import positive_int
from keras_fwi.export import convert as _convert
from keras_fwi.export import graph_passes as _graph_passes
from keras_fwi.export import metadata as _metadata
from keras_fwi.export import verify as _verify
from keras_fwi.export.normalization import Normalization, add_raw_io
from keras_fwi.io_utils import atomic_output, refuse_to_clobber

__all__ = ["DEFAULT_OPSET", "export_onnx"]

DEFAULT_OPSET = 17
MIN_OPSET = 13  # opsets tf2onnx 1.17 converts Keras 3 convolutions with; it goes up to 18


def export_onnx(model_or_path, out: str | os.PathLike, *, opset: int = DEFAULT_OPSET, fp16: bool = False,
                raw_io: bool = False, dataset: str | None = None,
                normalization: Normalization | None = None, check_seismic: np.ndarray | None = None,
                overwrite: bool = False) -> _metadata.ModelInfo:
    """Convert a keras_fwi model to ONNX, check it against Keras, and write it atomically.

    The file takes ``seismic`` (batch, shots, time, receivers) and returns ``velocity``
    (batch, 1, depth, width), float32, with a symbolic ``batch`` dimension, whatever the Keras model's
    ``data_format``; its ``metadata_props`` are described in ``keras_fwi.export.metadata``.

    Args:
        model_or_path: a ``keras.Model``, a ``.keras`` file, or a ``keras_fwi train`` run directory
            (its ``model.keras``, else ``checkpoints/best.keras``, else its only checkpoint). Files and
            run directories written by keras_fwi supply their dataset preset; a run directory also
            supplies real validation samples for the parity check, unless given.
        out: path of the ``.onnx`` file to write.
        opset: int, ONNX opset, 13–18. Default 17.
        fp16: bool, store weights and compute in float16 (for GPU serving); inputs and outputs stay
            float32. Checked against Keras within ``verify.FLOAT16_BOUND`` instead of ``FLOAT32_BOUND``.
        raw_io: bool, bake OpenFWI's normalisation into the graph: raw amplitudes in, m/s out. Needs
            the dataset's constants (recorded in the model, or ``dataset`` or ``normalization``).
        dataset: str, dataset preset for a model that records none (``keras_fwi.artefacts``), e.g.
            ``"flatvel-a"``; its constants are recorded (and baked in with ``raw_io``). For a model that
            records one it may only repeat it. ``"none"`` records none.
        normalization: explicit constants instead of ``dataset``.
        check_seismic: raw amplitudes (n, shots, time, receivers) from real data to compare on, in
            addition to random inputs; needs the constants to normalise them.
        overwrite: bool, replace an existing ``out``.

    Returns:
        ``ModelInfo`` of the written file (its metadata, including the measured parity).

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is False (checked before converting).
        FileNotFoundError: the model path does not exist.
        ValueError: a bad argument, or ``keras_fwi.export.verify.ParityError`` (a ValueError) when the
            ONNX graph is invalid or differs from Keras; nothing is written then.
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"out must be a .onnx file, got {out}")
    refuse_to_clobber(out, overwrite)  # before minutes of conversion, not after
    opset = positive_int("opset", opset)
    if not MIN_OPSET <= opset <= 18:
        raise ValueError(f"opset must be between {MIN_OPSET} and 18 (what tf2onnx 1.17 writes), got {opset}")
    preset = _preset(model_or_path, dataset, normalization)
    if preset is not None and normalization is None and preset.normalize:
        normalization = Normalization.for_dataset(preset)
        if _is_run_dir(model_or_path) and check_seismic is None:  # real samples for the parity check
            check_seismic = _convert.run_dir_data(Path(model_or_path))[1]
    if raw_io and normalization is None:
        raise ValueError("raw_io (--raw-io) needs the dataset's normalisation constants: pass dataset= "
                         "(--dataset), e.g. 'flatvel-a', or normalization=Normalization(...)")
    if check_seismic is not None and normalization is None:
        raise ValueError("check_seismic (--check-data) holds raw amplitudes, which need dataset= (--dataset) or "
                         "normalization= to be normalised for the comparison")

    model, source = _convert.load_source(model_or_path)
    model = _convert.float32_copy(model)
    in_shape, out_shape = _convert.openfwi_shapes(model)
    if check_seismic is not None:
        check_seismic = _check_samples(check_seismic, in_shape)
    proto = _graph_passes.optimize(_convert.convert(model, opset))
    if fp16:
        proto = _graph_passes.to_float16(proto)
    if raw_io:
        add_raw_io(proto, normalization)
    props = _metadata.build_props(
        architecture=model.name, input_shape=in_shape, output_shape=out_shape, raw_io=raw_io,
        normalization=normalization, preset=preset, precision="float16" if fp16 else "float32", opset=opset,
        source_name=source.name if source else None,
        source_sha256=_metadata.file_sha256(source) if source else None)

    _verify.check_graph(proto)
    bound = _verify.FLOAT16_BOUND if fp16 else _verify.FLOAT32_BOUND
    max_abs, mean_abs = _parity(proto, model, in_shape, bound, normalization, raw_io, check_seismic)
    props.update(parity_max_abs_diff=f"{max_abs:.3g}", parity_mean_abs_diff=f"{mean_abs:.3g}",
                 parity_bound=str(bound))
    _metadata.set_props(proto, props)

    import onnx

    with atomic_output(out, overwrite=overwrite) as tmp:
        onnx.save(proto, tmp)
    return _metadata.parse_props(props, where=str(out))


def _is_run_dir(model_or_path) -> bool:
    return isinstance(model_or_path, (str, os.PathLike)) and Path(model_or_path).is_dir()


def _preset(model_or_path, dataset, normalization):
    """The dataset preset to record: the artefact's own, else ``dataset``; None for ``"none"``.

    Raises:
        ValueError: ``dataset`` names another dataset than the artefact records, or both ``dataset``
            and ``normalization`` are given, or ``normalization`` is not a ``Normalization``.
    """
    if dataset is not None and normalization is not None:
        raise ValueError("pass dataset= or normalization=, not both")
    if normalization is not None and not isinstance(normalization, Normalization):
        raise ValueError(f"normalization must be a keras_fwi.export.Normalization, got "
                         f"{type(normalization).__name__}")
    if dataset == "none" or normalization is not None:
        return None
    from keras_fwi.artefacts import read_preset, resolve_preset

    path = Path(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) else None
    readable = path is not None and path.exists() and (path.is_dir() or path.suffix == ".keras")
    recorded = read_preset(path) if readable else None  # other sources: load_source says what is wrong
    return resolve_preset(recorded, dataset, f"model {path}")


def _parity(proto, model, in_shape, bound, normalization, raw_io, check_seismic) -> tuple[float, float]:
    """Max and mean abs difference on normalised outputs over random samples and any real raw ones."""
    _, out_shape = _convert.openfwi_shapes(model)
    channels_first = _convert.is_channels_first(model)

    def keras_predict(seismic):
        if not channels_first:
            seismic = np.transpose(seismic, (0, 2, 3, 1))
        # (n, depth, width, 1) of a channels-last model has the memory order of (n, 1, depth, width).
        return model.predict(seismic, verbose=0, batch_size=8).reshape(len(seismic), *out_shape)

    raw_batches = []
    if raw_io:
        rng = np.random.default_rng(0)
        raw_batches.append(rng.uniform(normalization.data_min, normalization.data_max, (2, *in_shape)))
    if check_seismic is not None:
        raw_batches.append(check_seismic)
    diffs = [] if raw_io else [_verify.check_parity(proto, keras_predict, _verify.random_seismic(in_shape), bound)]
    for raw in raw_batches:
        raw = np.asarray(raw, dtype=np.float32)
        diffs.append(_verify.check_parity(proto, keras_predict, normalization.normalize_seismic(raw), bound,
                                          normalization if raw_io else None, raw if raw_io else None))
    return max(diff[0] for diff in diffs), max(diff[1] for diff in diffs)


def _check_samples(check_seismic, in_shape, limit: int = 8) -> np.ndarray:
    """Up to ``limit`` samples of ``check_seismic`` as float32, after checking their shape."""
    check_seismic = np.asarray(check_seismic)
    if check_seismic.ndim == len(in_shape):
        check_seismic = check_seismic[None]
    if check_seismic.shape[1:] != tuple(in_shape):
        raise ValueError(f"check_seismic must have shape (n, {', '.join(map(str, in_shape))}) like the "
                         f"model input (batch, shots, time, receivers), got {check_seismic.shape}")
    samples = np.asarray(check_seismic[:limit], dtype=np.float32)
    if not np.all(np.isfinite(samples)):
        raise ValueError("check_seismic contains NaN or infinite values")
    return samples
