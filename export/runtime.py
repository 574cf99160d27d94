"""``Predictor``: run an exported keras_fwi model with onnxruntime alone (no TensorFlow).

On a GPU machine the CUDA execution provider is chosen when onnxruntime can really load it (a
listed CUDA provider silently falls back to CPU when CUDA/cuDNN libraries are missing, so the
choice is read back from ``session.get_providers()``); TensorRT is opt-in.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from keras_fwi._validation import positive_int
from keras_fwi.data.normalization import Normalization
from keras_fwi.export.metadata import ModelInfo, parse_props

__all__ = ["Predictor"]

CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
_SHORT_NAMES = {"cpu": CPU, "cuda": CUDA, "tensorrt": TENSORRT}
# cuDNN's default EXHAUSTIVE search benchmarks every convolution algorithm on the first call (seconds
# per new shape); HEURISTIC picks from cuDNN's own table at once and is within a few % for these convs.
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "cudnn_conv_use_max_workspace": "1",
                "do_copy_in_default_stream": "1"}
TENSORRT_OPTIONS = {"trt_fp16_enable": "False", "trt_engine_cache_enable": "True"}


class Predictor:
    """Velocity maps from seismic data with a keras_fwi ONNX model.

    Args:
        path: str or PathLike, ``.onnx`` file written by ``keras_fwi export``.
        providers: None (CUDA if onnxruntime can load it, else CPU), or a list of provider names
            (``"cuda"``, ``"tensorrt"``, ``"cpu"`` or onnxruntime's full names) or
            ``(name, options)`` pairs, in order of preference.
        batch_size: int, samples per onnxruntime call; larger inputs are split. Default 16.
        threads: int or None, CPU threads for one call (onnxruntime's intra-op threads); None lets
            onnxruntime use one per physical core.
        dataset: preset name for a file that records none (then its constants normalise the input);
            for a file that records one it may only repeat it.

    Attributes:
        providers: the execution providers the session really uses, best first.
        device: ``"cuda"`` or ``"cpu"`` (where the network runs).
        info: ``ModelInfo`` from the file's metadata.
        preset: the training data's ``DatasetPreset`` (from the metadata, else ``dataset``), or None.
        normalization: the constants ``predict`` normalises with around a normalised-io model, or None.
        input_units: ``"raw"`` if ``predict`` takes raw amplitudes, else ``"normalised"``.
        units: ``"m/s"`` if ``predict`` returns velocities in m/s (raw-io model, or constants in the
            metadata or from ``dataset``), else ``"normalised"``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a keras_fwi ONNX model, an unknown provider is requested, or
            ``dataset`` conflicts with the dataset the file records (both are named).
    """

    def __init__(self, path, providers=None, *, batch_size: int = 16, threads: int | None = None,
                 dataset=None):
        import onnxruntime

        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX model {path} does not exist")
        _warn_if_both_runtimes_installed()
        self.batch_size = positive_int("batch_size", batch_size)
        requested = _requested_providers(providers, onnxruntime.get_available_providers())
        self._session = onnxruntime.InferenceSession(os.fspath(path), _session_options(threads),
                                                     providers=requested)
        self.providers = self._session.get_providers()
        self.device = "cuda" if self.providers[0] in (CUDA, TENSORRT) else "cpu"
        wanted = _name(requested[0])
        if wanted != self.providers[0]:
            warnings.warn(f"{wanted} was requested but onnxruntime could not start it (missing CUDA/cuDNN/"
                          f"TensorRT libraries?); running on {self.providers[0]}", RuntimeWarning, stacklevel=2)
        self.info: ModelInfo = parse_props(self._session.get_modelmeta().custom_metadata_map, where=str(path))
        self._input_dtype = np.float16 if self._session.get_inputs()[0].type == "tensor(float16)" else np.float32
        self.preset, self.normalization = _preset_and_normalization(self.info, dataset, f"ONNX model {path}")
        raw_model = self.info.raw_io or (self.preset is not None and not self.preset.normalize)
        self.input_units = "raw" if raw_model or self.normalization is not None else "normalised"
        self.units = "m/s" if raw_model or self.normalization is not None else "normalised"

    def __repr__(self) -> str:
        return (f"Predictor({self.info.props.get('architecture', '?')}, input {self.info.input_shape}, "
                f"{self.device} via {self.providers[0]}, output in {self.units})")

    def predict(self, seismic) -> np.ndarray:
        """Velocity maps for one sample or a batch.

        Args:
            seismic: array, ``(shots, time, receivers)`` or ``(batch, shots, time, receivers)``, real
                floating point, finite. Raw amplitudes when ``units == "m/s"`` (the model or its
                metadata normalises them as OpenFWI does), else normalised values.

        Returns:
            float32 ``(1, depth, width)`` or ``(batch, 1, depth, width)``, in ``units``.

        Raises:
            ValueError: wrong shape or layout, non-float dtype, or NaN/Inf values; the message says
                which and how to fix it.
        """
        seismic, single = self._validated(seismic)
        outputs = [self._run(seismic[start:start + self.batch_size])
                   for start in range(0, len(seismic), self.batch_size)]
        velocity = np.concatenate(outputs) if outputs else np.empty((0, *self.info.output_shape), np.float32)
        return velocity[0] if single else velocity

    def _validated(self, seismic) -> tuple[np.ndarray, bool]:
        seismic = np.asarray(seismic)
        expected = tuple(self.info.input_shape)
        if not np.issubdtype(seismic.dtype, np.floating):
            raise ValueError(f"seismic must be a float array, got dtype {seismic.dtype}; convert it with "
                             ".astype('float32')")
        single = seismic.ndim == len(expected)
        batch = seismic[None] if single else seismic
        if batch.ndim != len(expected) + 1 or batch.shape[1:] != expected:
            raise ValueError(_shape_message(seismic.shape, expected))
        finite = np.isfinite(batch).reshape(len(batch), -1).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(f"seismic contains NaN or infinite values in sample(s) {bad[:10].tolist()}"
                             f"{' ...' if len(bad) > 10 else ''}; clean or drop them before predicting")
        return batch, single

    def _run(self, batch: np.ndarray) -> np.ndarray:
        info = self.info
        if not info.raw_io and self.normalization is not None:
            batch = self.normalization.normalize_seismic(batch)
        batch = np.ascontiguousarray(batch, dtype=self._input_dtype)
        if self.device == "cuda":
            velocity = self._run_bound(batch, "cuda")
        else:
            (velocity,) = self._session.run(["velocity"], {"seismic": batch})
        velocity = np.asarray(velocity, dtype=np.float32)
        if not info.raw_io and self.normalization is not None:
            velocity = self.normalization.denormalize_velocity(velocity)
        return velocity

    def _run_bound(self, batch: np.ndarray, device: str) -> np.ndarray:
        """One call with IO binding: the input is copied to ``device`` once and the output is allocated
        there, instead of onnxruntime staging both through extra host buffers on every call."""
        import onnxruntime

        binding = self._session.io_binding()
        binding.bind_ortvalue_input("seismic", onnxruntime.OrtValue.ortvalue_from_numpy(batch, device, 0))
        binding.bind_output("velocity", device)
        self._session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]


def _preset_and_normalization(info: ModelInfo, dataset, where: str):
    """The model's preset (its metadata's, else ``dataset``) and the normalisation ``predict`` applies.

    A model that takes normalised input and records no constants gets them from ``dataset``; one that
    records a dataset refuses another.
    """
    from keras_fwi.artefacts import resolve_preset
    from keras_fwi.data.presets import get_preset

    recorded = info.preset
    if recorded is None and info.normalization is not None and info.normalization.dataset is not None:
        recorded = get_preset(info.normalization.dataset)  # files exported before presets were recorded
    preset = resolve_preset(recorded, dataset, where)
    normalization = info.normalization
    if normalization is None and not info.raw_io and preset is not None and preset.normalize:
        normalization = Normalization.for_dataset(preset)
    return preset, normalization


def _warn_if_both_runtimes_installed() -> None:
    """onnxruntime and onnxruntime-gpu install the same package; side by side, one silently wins."""
    from importlib import metadata

    installed = []
    for distribution in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.distribution(distribution)
            installed.append(distribution)
        except metadata.PackageNotFoundError:
            pass
    if len(installed) == 2:
        warnings.warn("both onnxruntime and onnxruntime-gpu are installed; they overwrite each other's files. "
                      "Keep one: pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu "
                      "(or onnxruntime on machines without CUDA)", RuntimeWarning, stacklevel=3)


def _name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else provider


def _requested_providers(providers, available: list[str]) -> list:
    """Providers for ``InferenceSession``, CPU last as the fallback; CUDA gets ``CUDA_OPTIONS``."""
    if providers is None:
        return [(CUDA, dict(CUDA_OPTIONS)), CPU] if CUDA in available else [CPU]
    if isinstance(providers, (str, tuple)):
        providers = [providers]
    resolved = []
    for provider in providers:
        name, options = provider if isinstance(provider, tuple) else (provider, None)
        if not isinstance(name, str):
            raise ValueError(f"providers must be names or (name, options) pairs, got {provider!r}")
        full = _SHORT_NAMES.get(name.lower(), name)
        if full not in available:
            raise ValueError(f"execution provider {name!r} is not available in this onnxruntime; "
                             f"available: {', '.join(available)}")
        if options is None:
            options = {CUDA: CUDA_OPTIONS, TENSORRT: TENSORRT_OPTIONS}.get(full)
        resolved.append((full, dict(options)) if options else full)
    if CPU not in [_name(p) for p in resolved]:
        resolved.append(CPU)
    return resolved


def _session_options(threads: int | None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL  # a chain of convs: nothing to overlap
    if threads is not None:
        options.intra_op_num_threads = positive_int("threads", threads)
    options.inter_op_num_threads = 1
    return options


def _shape_message(shape: tuple[int, ...], expected: tuple[int, ...]) -> str:
    wanted = f"(batch, shots, time, receivers) = (batch, {', '.join(map(str, expected))})"
    if len(shape) in (len(expected), len(expected) + 1):
        sample = shape[-len(expected):]
        if sorted(sample) == sorted(expected):
            order = tuple(sample.index(size) if sample.count(size) == 1 else None for size in expected)
            if None not in order:
                axes = ((0,) + tuple(axis + 1 for axis in order)) if len(shape) > len(expected) else order
                return (f"seismic has shape {shape}, which looks like another layout; the model takes {wanted} "
                        f"(OpenFWI layout): use np.transpose(seismic, {axes})")
    return f"seismic must have shape {wanted} or one sample ({', '.join(map(str, expected))}), got {shape}"
