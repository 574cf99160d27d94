"""``train(config, run_dir)``: one experiment from data to checkpoints, metrics and figures.

A run directory holds everything a run writes::

    config.yaml            the experiment, as run (``--resume`` reads it back)
    freeze.json            the parts kept fixed, if any (``--resume`` freezes them again)
    data.json              the training and validation files read (generated ones included)
    backup/                full training state after each epoch (exact resume)
    checkpoints/           last.keras, best.keras (by validation loss), best.json
    model.keras            the final model (BatchNorm statistics re-estimated)
    history.csv, logs/     per-epoch history, TensorBoard
    metrics.json           held-out metrics (normalised and m/s) and the mean-map baseline
    predictions.png        ground truth, prediction and difference for a few held-out samples
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import time
from pathlib import Path

import keras
import tensorflow as tf
import yaml

from keras_fwi import models
from keras_fwi.config import ExperimentConfig
from keras_fwi.data import get_preset
from keras_fwi.io_utils import atomic_output
from keras_fwi.training import callbacks as fwi_callbacks
from keras_fwi.training.datasets import experiment_datasets
from keras_fwi.training.evaluation import evaluate_model, mean_map_baseline, preset_metrics
from keras_fwi.training.figures import plot_velocity_comparison
from keras_fwi.training.losses import L1L2Loss
from keras_fwi.training.schedules import WarmupMultiStep

__all__ = ["PRECISIONS", "STRATEGIES", "TrainingDiverged", "TrainResult", "build_model", "train"]

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi-worker")
# Layer-name patterns of each architecture's named parts, for --freeze.
PARTS = {
    "inversionnet": {"encoder": r"convblock\d", "decoder": r"deconv\d"},
    "fcnvmb": {"encoder": r"(down\d|center)_", "decoder": r"(up\d_|final$)"},
}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the message says what to try."""


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    resumed_from_epoch: int
    epochs: int
    metrics: dict
    model: keras.Model


def _strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        # Keras 3's fit fails under MultiWorkerMirroredStrategy ("Attempt to convert a value (PerReplica
        # ...)"), still open upstream; refuse it clearly rather than after the workers have started.
        raise ValueError("training.strategy 'multi-worker' is not supported: Keras 3.15's model.fit fails under "
                         "tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585). Use 'mirrored' to "
                         "train on all devices of one machine")
    if name != "default":
        raise ValueError(f"training.strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    return tf.distribute.get_strategy()


def build_model(config: ExperimentConfig) -> keras.Model:
    """The experiment's architecture with its options; unknown options are named with the valid ones."""
    arch = config.model.arch
    if arch not in models.ARCHITECTURES:
        raise ValueError(f"model.arch must be one of {sorted(models.ARCHITECTURES)}, got {arch!r}")
    valid = set(inspect.signature(models.ARCHITECTURES[arch]).parameters)
    unknown = sorted(set(config.model.options) - valid)
    if unknown:
        raise ValueError(f"unknown model.options key {unknown[0]!r} for {arch}; valid keys: {', '.join(sorted(valid))}")
    options = {key: tuple(value) if isinstance(value, list) else value for key, value in config.model.options.items()}
    return models.build(arch, **options)


def _initialise_from(model: keras.Model, source: str, arch: str) -> None:
    """Copy weights from a ``.keras`` model or a reference PyTorch checkpoint (transfer learning)."""
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"--init-from {path} does not exist")
    if path.suffix == ".keras":
        donor = keras.saving.load_model(path, safe_mode=True, compile=False)
        try:
            model.set_weights(donor.get_weights())
        except ValueError as error:
            raise ValueError(f"--init-from {path}: its architecture differs from model {arch!r} ({error})") from None
        return
    from keras_fwi.models.torch_import import assign_torch_weights, read_torch_state_dict

    assign_torch_weights(model, read_torch_state_dict(path), arch)


def _freeze(model: keras.Model, parts, arch: str) -> list[str]:
    """Freeze named parts (``encoder``/``decoder``) or layer-name regexes; return the frozen layer names."""
    frozen = []
    for part in parts:
        pattern = PARTS[arch].get(part, part)
        matched = [layer for layer in model.layers if re.match(pattern, layer.name)]
        if not matched:
            raise ValueError(f"--freeze {part!r} matches no layer of {arch}; use one of "
                             f"{', '.join(PARTS[arch])} or a layer-name pattern")
        for layer in matched:
            layer.trainable = False  # Keras runs frozen BatchNorm in inference mode
            frozen.append(layer.name)
    return frozen


def _optimizer(config: ExperimentConfig, steps_per_epoch: int, replicas: int) -> keras.optimizers.Optimizer:
    opt = config.optimizer
    rate = opt.learning_rate * (replicas if opt.scale_by_replicas else 1)
    schedule = WarmupMultiStep(rate, [m * steps_per_epoch for m in opt.milestones], opt.gamma,
                               opt.warmup_epochs * steps_per_epoch)
    common = {"learning_rate": schedule, "beta_1": opt.beta_1, "beta_2": opt.beta_2, "epsilon": opt.epsilon,
              "use_ema": opt.use_ema, "ema_momentum": opt.ema_momentum}
    if opt.name == "adamw":
        return keras.optimizers.AdamW(weight_decay=opt.weight_decay, **common)
    if opt.name == "adam":
        return keras.optimizers.Adam(**common)
    raise ValueError(f"optimizer.name must be 'adamw' or 'adam', got {opt.name!r}")


def _jit_compile(requested: bool, strategy: tf.distribute.Strategy, progress) -> bool:
    """XLA where it works: TF cannot compile replicated variables across logical CPU devices."""
    if requested and strategy.num_replicas_in_sync > 1 and not tf.config.list_physical_devices("GPU"):
        progress("XLA is off: it cannot compile replicated CPU variables (tf.distribute on CPU devices)")
        return False
    return requested


def _prepare_run_dir(run_dir: Path, config: ExperimentConfig, resume: bool) -> ExperimentConfig:
    saved = run_dir / "config.yaml"
    if resume:
        if not saved.is_file():
            raise FileNotFoundError(f"--resume: {run_dir} holds no run (no config.yaml); start it without --resume")
        return ExperimentConfig.from_dict(yaml.safe_load(saved.read_text()))
    if run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"run directory {run_dir} already exists and is not empty; pass --resume to "
                              "continue it, or choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(saved) as tmp:
        tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return config


def train(config: ExperimentConfig, run_dir, *, resume: bool = False, init_from: str | None = None,
          freeze=(), verbose: int | str = "auto", progress=print) -> TrainResult:
    """Train, checkpoint, evaluate and plot one experiment into ``run_dir``.

    Args:
        config: the experiment (ignored when resuming: the run's own ``config.yaml`` is used).
        run_dir: run directory; must not hold another run unless ``resume``.
        resume: continue the run in ``run_dir`` exactly where its last complete epoch ended.
        init_from: ``.keras`` model or PyTorch checkpoint whose weights start training.
        freeze: part names (``"encoder"``, ``"decoder"``) or layer-name patterns to keep fixed.
        verbose: Keras ``fit`` verbosity.
        progress: callable for one-line status messages.

    Returns:
        ``TrainResult`` with the held-out metrics and the final model.

    Raises:
        FileExistsError: ``run_dir`` holds a run and ``resume`` is False.
        TrainingDiverged: the loss became NaN/Inf.
        ValueError: invalid configuration.
    """
    run_dir = Path(run_dir)
    if resume:
        config = _prepare_run_dir(run_dir, config, resume)
    training = config.training
    if training.precision not in PRECISIONS:
        raise ValueError(f"training.precision must be one of {', '.join(PRECISIONS)}, got {training.precision!r}")
    strategy = _strategy(training.strategy)  # before anything is written: a refused strategy leaves no run
    if not resume:
        config = _prepare_run_dir(run_dir, config, resume)
    keras.utils.set_random_seed(training.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(training.precision)
    frozen_parts = run_dir / "freeze.json"  # a resumed run must freeze what the original run froze
    if resume:
        freeze = json.loads(frozen_parts.read_text()) if frozen_parts.is_file() else []
    elif freeze:
        with atomic_output(frozen_parts) as tmp:
            tmp.write_text(json.dumps(list(freeze)))
    try:
        return _train(config, strategy, run_dir, resume, init_from, tuple(freeze), verbose, progress)
    finally:
        keras.config.set_dtype_policy(previous_policy)


def _train(config, strategy, run_dir, resume, init_from, freeze, verbose, progress) -> TrainResult:
    training = config.training
    preset = get_preset(config.data.dataset)
    replicas = strategy.num_replicas_in_sync
    global_batch = training.batch_size * replicas  # batch_size is per replica, as in OpenFWI's DDP script
    train_pipeline, val_ds, sources = experiment_datasets(config.data, global_batch, training.seed,
                                                          progress=verbose != 0)
    with atomic_output(run_dir / "data.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(sources, indent=2))
    done = fwi_callbacks.ResumableBackup.epochs_done(run_dir / "backup")
    # One pipeline for every remaining epoch (built first, it checks every file once, up front): a
    # pipeline per epoch kept each old one's reader and memory maps alive, RSS grew every epoch.
    run_batches = train_pipeline((done, training.epochs)) if done < training.epochs else None
    if run_batches is not None:
        steps_per_epoch = int(run_batches.cardinality()) // (training.epochs - done)
    else:
        steps_per_epoch = int(train_pipeline(None).cardinality())

    with strategy.scope():
        model = build_model(config)
        if init_from:
            _initialise_from(model, init_from, config.model.arch)
        frozen = _freeze(model, freeze, config.model.arch)
        if training.sync_batch_norm:
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True  # read at call time: replicas share batch statistics
        model.compile(optimizer=_optimizer(config, steps_per_epoch, replicas),
                      loss=L1L2Loss(config.loss.l1, config.loss.l2), metrics=preset_metrics(preset),
                      jit_compile=_jit_compile(training.jit_compile, strategy, progress))
    if frozen:
        progress(f"frozen {len(frozen)} layers: {frozen[0]} … {frozen[-1]}")

    done = fwi_callbacks.ResumableBackup.restore(model, run_dir / "backup")
    if resume:
        progress(f"resuming {run_dir} after epoch {done} of {training.epochs}")
    guard = fwi_callbacks.NaNGuard()
    callbacks = [fwi_callbacks.ResumableBackup(run_dir / "backup"), guard,
                 fwi_callbacks.AtomicModelCheckpoint(run_dir / "checkpoints"),
                 keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
                 keras.callbacks.TensorBoard(str(run_dir / "logs"))]
    started = time.perf_counter()
    if run_batches is not None:
        # One fit over one pipeline: Keras keeps the iterator across epochs when steps_per_epoch is given.
        model.fit(run_batches, validation_data=val_ds, initial_epoch=done, epochs=training.epochs,
                  steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose, shuffle=False)
    elif config.optimizer.use_ema:
        model.optimizer.finalize_variable_values(model.trainable_weights)  # a finished run, restored raw
    del run_batches
    if guard.message:
        raise TrainingDiverged(guard.message)

    in_order = train_pipeline(None)
    if training.recompute_batch_norm:
        batches = fwi_callbacks.recompute_batch_norm(model, in_order)
        progress(f"re-estimated BatchNorm statistics over {batches} training batches")
    with atomic_output(run_dir / "model.keras", overwrite=True) as tmp:
        model.save(tmp)

    results, truth, prediction = evaluate_model(model, val_ds, config.data.dataset, training.flip_tta)
    results["baseline_mean_map_mae_m_s"] = mean_map_baseline(in_order, val_ds, config.data.dataset)
    results["train_seconds"] = time.perf_counter() - started
    results["resumed_from_epoch"] = done
    with atomic_output(run_dir / "metrics.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    shown = min(training.figure_samples, len(truth))
    if shown:
        plot_velocity_comparison(truth[:shown], prediction[:shown], run_dir / "predictions.png",
                                 dx=preset.dx)
    return TrainResult(run_dir, done, training.epochs, results, model)

