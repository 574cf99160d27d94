"""Typed experiment configuration: YAML in, one frozen object out, every key checked.

An experiment is a YAML file with the sections of ``ExperimentConfig``. Unknown or mistyped keys
fail with the key's dotted name and the valid keys; ``overrides`` ("training.epochs=3") change any
key from the command line, their values parsed as YAML. Presets ship with the package
(``configs/experiments``, installed as ``keras_fwi.configs``) and are loaded by name.

>>> config = load_config("quickstart", overrides=["training.epochs=2"])
>>> config.training.epochs
2
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from importlib import resources
from pathlib import Path

import yaml

__all__ = ["DataConfig", "ExperimentConfig", "GenerateConfig", "LossConfig", "ModelConfig", "OptimizerConfig",
           "TrainingConfig", "absolute_data_paths", "experiment_names", "load_config"]

SHARD_MODES = ("samples", "files")  # training.shard: how multi-worker training divides the data


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """arch: a key of ``keras_fwi.models.ARCHITECTURES``; options: that builder's keyword arguments."""
    arch: str = "inversionnet"
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
    """Data made with the package's simulator when no files are given (see ``keras_fwi generate``)."""
    family: str = "flatvel-a"
    samples: int = 704
    per_file: int = 64
    test_fraction: float = 0.1  # share of files held out (the last ones)
    survey: str = "openfwi"
    # "cpml" or "damping"; None keeps the survey preset's (a CPML); a list: files cycle through the layers
    absorbing: str | tuple[str, ...] | None = None
    boundary: int | None = None  # absorbing cells; None: the absorbing layer's default (CPML 12, damping 120)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """dataset: preset name (normalisation constants, geometry); train/val: split file or folder."""
    dataset: str = "flatvel-a"
    train: str | None = None
    val: str | None = None
    generate: GenerateConfig | None = None
    sample_temporal: int = 1
    flip: bool = False  # horizontal-flip augmentation (receivers and shot order reversed together)
    noise_snr_db: float | None = None  # training data only: white noise at this SNR (dB) per shot gather
    trace_dropout: float = 0.0  # training data only: probability that a trace is zeroed


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule; epochs in warm-up and milestones, stepped per iteration."""
    name: str = "adamw"  # "adamw" or "adam"
    learning_rate: float = 1e-4
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8  # PyTorch's default (Keras' is 1e-7)
    weight_decay: float = 1e-4
    scale_by_replicas: bool = True  # OpenFWI multiplies the learning rate by the number of replicas
    warmup_epochs: int = 0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    use_ema: bool = False
    ema_momentum: float = 0.99


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """l1 · MAE + l2 · MSE on the maps the model outputs (OpenFWI's λ1 and λ2)."""
    l1: float = 1.0
    l2: float = 0.0


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 120
    batch_size: int = 256
    precision: str = "auto"  # auto (training.precision.resolve_precision) | float32 | mixed_float16 | mixed_bfloat16
    strategy: str = "default"  # default | mirrored | multi-worker
    shard: str = "samples"  # multi-worker: samples (each global batch split, as one process) | files (whole files)
    seed: int = 0
    jit_compile: bool = True
    sync_batch_norm: bool = False  # BatchNorm statistics over all replicas (OpenFWI's --sync-bn)
    recompute_batch_norm: bool = True  # re-estimate BatchNorm statistics after training
    flip_tta: bool = False  # average with the prediction on mirrored input when evaluating
    figure_samples: int = 4

    def __post_init__(self):
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, int) and value <= 0:
                raise ValueError(f"config key training.{key} must be a positive int, got {value}")
        if self.shard not in SHARD_MODES:
            raise ValueError(f"config key training.shard must be one of {', '.join(SHARD_MODES)}, got {self.shard!r}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    def to_dict(self) -> dict:
        """Plain-YAML-able dict (tuples as lists), the inverse of ``from_dict``."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, mapping: dict) -> "ExperimentConfig":
        return _build(cls, mapping, "")


def absolute_data_paths(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with ``data.train`` and ``data.val`` made absolute against the working directory.

    A run directory records its data this way, so ``--resume`` and ``evaluate --run-dir`` work from any
    working directory (data and run directory may move only together with an edited ``config.yaml``).
    """
    data = config.data
    absolute = {key: os.path.abspath(os.path.expanduser(value))
                for key, value in (("train", data.train), ("val", data.val)) if value is not None}
    return dataclasses.replace(config, data=dataclasses.replace(data, **absolute)) if absolute else config


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _build(cls, mapping, where: str):
    if not isinstance(mapping, dict):
        raise ValueError(f"config section {where or '<root>'} must be a mapping, got {mapping!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key {where}{unknown[0]!r}; valid keys of "
                         f"{where.rstrip('.') or 'the config'}: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {name: _convert(hints[name], value, f"{where}{name}") for name, value in mapping.items()}
    return cls(**values)


def _convert(hint, value, key: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        for option in options[:-1]:  # e.g. str | tuple[str, ...]: the first type the value fits
            try:
                return _convert(option, value, key)
            except ValueError:
                pass
        return _convert(options[-1], value, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, {} if value is None else value, f"{key}.")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {key} must be a list, got {value!r}")
        return tuple(_convert(args[0], item, key) for item in value)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config key {key} must be a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ValueError(f"config key {key} must be {hint.__name__}, got {value!r} ({type(value).__name__})")
    return value


def experiment_names() -> tuple[str, ...]:
    """Names of the experiment presets shipped with keras_fwi."""
    folder = resources.files("keras_fwi.configs") / "experiments"
    return tuple(sorted(item.name[:-5] for item in folder.iterdir() if item.name.endswith(".yaml")))


def _read_yaml(source: str | Path) -> dict:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist; presets are: {', '.join(experiment_names())}")
        text = path.read_text(encoding="utf-8")
    elif str(source) in experiment_names():
        text = (resources.files("keras_fwi.configs") / "experiments" / f"{source}.yaml").read_text(encoding="utf-8")
    else:
        raise ValueError(f"unknown experiment {str(source)!r}: give a YAML file or one of {', '.join(experiment_names())}")
    try:
        mapping = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"config {source} is not valid YAML: {error}") from None
    return mapping


def _apply_override(mapping: dict, override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {override!r} must look like section.key=value, e.g. training.epochs=3")
    *parents, leaf = key.strip().split(".")
    node = mapping
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {override!r}: {part} is not a section")
    try:
        node[leaf] = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"override {override!r}: the value is not valid YAML ({problem}); quote it, e.g. "
                         f"--set '{key.strip()}=\"{raw}\"'") from None


def load_config(source: str | Path = "quickstart", overrides: typing.Sequence[str] = ()) -> ExperimentConfig:
    """Read an experiment (preset name or YAML path) and apply ``key=value`` overrides.

    Raises:
        FileNotFoundError: a YAML path that does not exist.
        ValueError: unknown preset, invalid YAML, unknown or mistyped key.
    """
    mapping = _read_yaml(source)
    for override in overrides:
        _apply_override(mapping, override)
    return ExperimentConfig.from_dict(mapping)
