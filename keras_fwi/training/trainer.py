"""``train(config, run_dir)``: one experiment from data to checkpoints, metrics and figures.

``train`` runs five named steps: ``open_run`` (new, reused or resumed run directory), ``prepare_data``
(one pipeline for every remaining epoch), ``prepare_model`` (build, initialise, freeze, compile,
restore), ``fit_epochs`` (the loop and its callbacks) and ``finish`` (BatchNorm statistics, model,
metrics, figure). What a run directory holds is described in ``keras_fwi.run_directory``.
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

from keras_fwi import artefacts, models
from keras_fwi.config import ExperimentConfig, absolute_data_paths
from keras_fwi.data import get_preset
from keras_fwi.io_utils import atomic_output
from keras_fwi.run_directory import RunDirectory, resume_config
from keras_fwi.training import callbacks as fwi_callbacks
from keras_fwi.training import cluster
from keras_fwi.training import loop
from keras_fwi.training.datasets import experiment_datasets
from keras_fwi.training.run_data import RunData, distribute, prepare_data
from keras_fwi.training.evaluation import evaluate_model, mean_map_baseline, preset_metrics
from keras_fwi.training.figures import plot_velocity_comparison
from keras_fwi.training.losses import L1L2Loss
from keras_fwi.training.precision import resolve_precision
from keras_fwi.training.schedules import WarmupMultiStep

__all__ = ["PRECISIONS", "STRATEGIES", "TrainingDiverged", "TrainResult", "build_model", "train"]

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
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
    """The ``tf.distribute`` strategy; ``multi-worker`` must be made before any other TensorFlow op."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return cluster.multi_worker_strategy()
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
        donor = artefacts.load_model(path)  # names the file if it is not a valid .keras archive
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


def _optimizer(config: ExperimentConfig, steps_per_epoch: int, replicas: int,
               resumed: tuple[int, int] = (0, 0)) -> keras.optimizers.Optimizer:
    """The configured optimizer; its schedule's epoch boundaries become iterations as
    ``iterations_done + (epoch - epochs_done) · steps_per_epoch`` with ``resumed = (epochs_done,
    iterations_done)``, so a resume with another batch size keeps milestones at their epochs."""
    opt = config.optimizer
    rate = opt.learning_rate * (replicas if opt.scale_by_replicas else 1)
    done, iterations = resumed

    def at(epoch):
        return max(0, iterations + (epoch - done) * steps_per_epoch)

    schedule = WarmupMultiStep(rate, [at(m) for m in opt.milestones], opt.gamma,
                               at(opt.warmup_epochs) if opt.warmup_epochs else 0)
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


def open_run(run: RunDirectory, config: ExperimentConfig | None, resume: bool, init_from, freeze):
    """Step 1: ``(config, start)`` of a new, reused or resumed run; writes nothing.

    Data paths come back absolute (``config.absolute_data_paths``): the run records them so.

    A resume continues the saved configuration; ``config``, when given, may differ from it only in
    ``run_directory.RESUME_OVERRIDES``. ``init_from``/``freeze`` default to those recorded and may
    not differ from them. A directory whose earlier start completed no epoch is reused by the same
    configuration (a failed start blocks nothing).
    """
    if run.path.exists() and not run.path.is_dir():
        raise NotADirectoryError(f"run directory {run.path} is a file; give a folder (--run-dir)")
    config = None if config is None else absolute_data_paths(config)
    start = {"init_from": str(Path(init_from).resolve()) if init_from else None, "freeze": list(freeze)}
    if resume:
        if not run.holds_run():
            raise FileNotFoundError(f"--resume: {run.path} holds no run (no config.yaml); start it without --resume")
        recorded = run.start()
        for key in ("init_from", "freeze"):
            if start[key] and start[key] != recorded[key]:
                raise ValueError(f"--resume continues the saved run, and --{key.replace('_', '-')} differs from "
                                 f"it: saved {recorded[key]!r}, given {start[key]!r}; drop it or start a new run")
        return resume_config(absolute_data_paths(run.config()), config), recorded
    if not run.is_empty():
        reusable = (run.holds_run() and run.epochs_done() == 0 and run.config() == config
                    and run.start() == start)
        if not reusable:
            raise FileExistsError(f"run directory {run.path} already exists and is not empty; pass --resume to "
                                  "continue it, or choose another --run-dir")
    return config, start


def prepare_model(config: ExperimentConfig, strategy, start: dict, run: RunDirectory, steps_per_epoch: int,
                  progress) -> tuple[keras.Model, int]:
    """Step 3: build, initialise (``start["init_from"]``), freeze, compile, restore the last backup;
    returns ``(model, epochs done)``."""
    training, backup = config.training, fwi_callbacks.ResumableBackup
    with strategy.scope():
        model = build_model(config)
        if start["init_from"]:
            _initialise_from(model, start["init_from"], config.model.arch)
        frozen = _freeze(model, start["freeze"], config.model.arch)
        if training.sync_batch_norm:
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True  # read at call time: replicas share batch statistics
        resumed = backup.epochs_done(run.backup), backup.iterations_done(run.backup)
        model.compile(optimizer=_optimizer(config, steps_per_epoch, strategy.num_replicas_in_sync, resumed),
                      loss=L1L2Loss(config.loss.l1, config.loss.l2),
                      metrics=preset_metrics(get_preset(config.data.dataset)),
                      jit_compile=_jit_compile(training.jit_compile, strategy, progress))
        done = backup.restore(model, run.backup)  # in the scope: it builds the optimizer's variables
    if frozen:
        progress(f"frozen {len(frozen)} layers: {frozen[0]} … {frozen[-1]}")
    return model, done


def fit_epochs(model: keras.Model, data: RunData, run: RunDirectory, config: ExperimentConfig, done: int,
               verbose, out: RunDirectory | None = None) -> None:
    """Step 4: train the remaining epochs with ``training.loop`` (every strategy: Keras' ``fit`` fails under
    multi-worker, and one loop keeps the strategies from drifting apart), backing up after each finite epoch.

    ``out``: where the callbacks write (default ``run``; a temporary folder on workers other than the chief).

    Raises:
        TrainingDiverged: the loss or the state became non-finite (the last finite epoch stays the backup).
        cluster.WorkerLost: another worker died or became unreachable (multi-worker).
    """
    training = config.training
    if data.run_batches is None:
        if config.optimizer.use_ema:
            model.optimizer.finalize_variable_values(model.trainable_weights)  # a finished run, restored raw
        return
    out = out or run
    backup, guard = fwi_callbacks.ResumableBackup(out.backup), fwi_callbacks.NaNGuard()
    monitor = "val_loss" if data.validation is not None else "loss"
    checkpoint = fwi_callbacks.AtomicModelCheckpoint(out.checkpoints, monitor=monitor,
                                                     dataset=get_preset(config.data.dataset))
    callbacks = [backup, guard, checkpoint,
                 keras.callbacks.CSVLogger(str(out.path / "history.csv"), append=True),
                 keras.callbacks.TensorBoard(str(out.path / "logs")), fwi_callbacks.RunProgressBar(training.epochs)]
    strategy = model.distribute_strategy
    validation, validation_steps = None, 0
    if data.validation is not None:
        validation, validation_steps = data.validation.repeat(), int(data.validation.cardinality())
    # Under multi-worker every worker evaluates all the held-out data (the metrics are means over
    # workers, so the result is one process's), whatever the training shard.
    epoch_data = loop.EpochData(distribute(strategy, data.run_batches, data.per_worker), data.steps_per_epoch,
                                distribute(strategy, validation, data.workers > 1), validation_steps)
    try:
        loop.run_epochs(model, strategy, epoch_data, initial_epoch=done, epochs=training.epochs,
                        callbacks=callbacks, verbose=1 if verbose == "auto" else verbose,
                        jit_compile=model.jit_compile, element_spec=data.run_batches.element_spec)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError) as error:
        if data.workers == 1:
            raise
        raise cluster.WorkerLost(f"lost another worker ({cluster.short_reason(error)}); the backup holds epoch "
                                 f"{run.epochs_done()}: start every worker again with the same command plus "
                                 "--resume") from None
    _raise_if_diverged(guard, backup, run)


def _raise_if_diverged(guard, backup, run: RunDirectory) -> None:
    if guard.message or backup.refused:
        last = run.epochs_done()
        raise TrainingDiverged(f"{guard.message or backup.refused}. The backup holds epoch {last} (all finite): "
                               f"continue with keras_fwi train --run-dir {run.path} --resume --set "
                               f"optimizer.learning_rate=<lower>")


def _single_worker(model: keras.Model, config: ExperimentConfig, verbose) -> tuple[keras.Model, RunData]:
    """A copy of the trained model outside the multi-worker strategy, with all the data unsharded."""
    copy = build_model(config)
    copy.compile(loss=L1L2Loss(config.loss.l1, config.loss.l2),
                 metrics=preset_metrics(get_preset(config.data.dataset)))
    copy.set_weights(model.get_weights())
    train_pipeline, validation, sources = experiment_datasets(config.data, config.training.batch_size,
                                                              config.training.seed, progress=verbose != 0)
    return copy, RunData(train_pipeline, None, validation, 0, sources)


def finish(model: keras.Model, data: RunData, run: RunDirectory, config: ExperimentConfig, progress) -> dict:
    """Step 5: re-estimate BatchNorm statistics, save the model, evaluate, plot; return the metrics.

    Without validation data the metrics are on the training data, and ``metrics["evaluated_on"]`` says so.
    """
    training = config.training
    data.run_batches = None  # release the run pipeline before reading the data once more in order
    in_order = data.train_pipeline(None)
    if training.recompute_batch_norm:
        batches = fwi_callbacks.recompute_batch_norm(model, in_order)
        progress(f"re-estimated BatchNorm statistics over {batches} training batches")
    artefacts.save_model(model, run.model_path, get_preset(config.data.dataset), overwrite=True)  # preset inside
    held_out = data.validation if data.validation is not None else in_order
    results, truth, prediction = evaluate_model(model, held_out, config.data.dataset, training.flip_tta)
    results["evaluated_on"] = "validation" if data.validation is not None else "training (no data.val)"
    results["baseline_mean_map_mae_m_s"] = mean_map_baseline(in_order, held_out, config.data.dataset)
    shown = min(training.figure_samples, len(truth))
    if shown:
        plot_velocity_comparison(truth[:shown], prediction[:shown], run.path / "predictions.png",
                                 dx=get_preset(config.data.dataset).dx)
    return results


def train(config: ExperimentConfig | None, run_dir, *, resume: bool = False, init_from: str | None = None,
          freeze=(), verbose: int | str = "auto", progress=print) -> TrainResult:
    """Train, checkpoint, evaluate and plot one experiment into ``run_dir``.

    Args:
        config: the experiment. With ``resume``: None continues the saved one; otherwise it may differ
            from it only in the learning rate, epochs and batch size (``run_directory.RESUME_OVERRIDES``).
        run_dir: run directory; must not hold another run unless ``resume`` (a directory whose
            earlier start with the same configuration completed no epoch is reused).
        resume: continue the run in ``run_dir`` exactly where its last complete epoch ended.
        init_from: ``.keras`` model or PyTorch checkpoint whose weights start training (recorded:
            a resume before the first backup starts from it again).
        freeze: part names (``"encoder"``, ``"decoder"``) or layer-name patterns to keep fixed.
        verbose: progress verbosity, as Keras ``fit``'s (``"auto"``, 0, 1 or 2).
        progress: callable for one-line status messages.

    Returns:
        ``TrainResult`` with the held-out metrics and the final model (multi-worker: only the chief
        evaluates and writes; the other workers return empty metrics).

    Raises:
        FileExistsError: ``run_dir`` holds a run and ``resume`` is False.
        TrainingDiverged: the loss or weights became NaN/Inf.
        ValueError: invalid configuration, or a resume whose options differ from the saved run's.
    """
    run, given = RunDirectory(run_dir), config
    config, start = open_run(run, given, resume, init_from, freeze)
    if config.training.precision not in PRECISIONS:
        raise ValueError(f"training.precision must be one of {', '.join(PRECISIONS)}, got "
                         f"{config.training.precision!r}")
    strategy = _strategy(config.training.strategy)  # multi-worker: before any other TensorFlow operation
    if not cluster.is_chief(strategy):
        return _run(run, config, start, strategy, resume, verbose, progress)
    with run.lock():  # the chief is the run directory's one writer, until it returns or fails
        # Again under the lock: another process may have started or finished a run here meanwhile.
        config, start = open_run(run, given, resume, init_from, freeze)
        return _run(run, config, start, strategy, resume, verbose, progress)


def _run(run: RunDirectory, config: ExperimentConfig, start: dict, strategy, resume: bool, verbose,
         progress) -> TrainResult:
    """``train`` once the run is opened and its strategy made (the chief holding the run's lock)."""
    saved, training = config, config.training
    precision, jit_compile, reason = resolve_precision(training.precision, training.jit_compile)
    if training.precision == "auto":
        progress(reason)
    # What runs: "auto" resolved for this machine; config.yaml keeps "auto" (a resume elsewhere re-resolves).
    config = dataclasses.replace(config, training=dataclasses.replace(training, precision=precision,
                                                                      jit_compile=jit_compile))
    keras.utils.set_random_seed(training.seed)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    chief, workers = cluster.is_chief(strategy), cluster.worker_index(strategy)[1]
    try:
        done = run.epochs_done()
        data = prepare_data(config, strategy, done, verbose, progress)
        model, done = prepare_model(config, strategy, start, run, data.steps_per_epoch, progress)
        if chief:  # only now, with data and model ready, is the run directory written: a failed start leaves none
            run.write_start(saved, start["init_from"], start["freeze"])
            run.write_sources(data.sources)
            artefacts.write_run_preset(run.path, get_preset(config.data.dataset))  # the data's constants and units
        if resume:
            progress(f"resuming {run.path} after epoch {done} of {training.epochs}")
        if data.validation is None:
            progress("no data.val: no validation during training, best.keras follows the training loss, and "
                     "the final metrics are on the training data (not held out)")
        started = time.perf_counter()
        with cluster.worker_output(run, chief) as out:  # the chief's run directory, or a removed temporary one
            fit_epochs(model, data, run, config, done, verbose, out)
        if not chief:
            if not cluster.finish_together(strategy):
                raise cluster.WorkerLost("the chief (worker 0) failed to evaluate or save the model: see its output")
            return TrainResult(run.path, done, training.epochs, {}, model)
        finished = False
        try:
            if workers > 1:  # evaluate and save on the chief alone, outside the cluster's strategy
                model, data = _single_worker(model, config, verbose)
            results = finish(model, data, run, config, progress)
            results["train_seconds"] = time.perf_counter() - started
            results["resumed_from_epoch"] = done
            with atomic_output(run.path / "metrics.json", overwrite=True) as tmp:
                tmp.write_text(json.dumps(results, indent=2))
            finished = True
        finally:
            if workers > 1:  # release the other workers, which wait to keep the cluster alive
                cluster.finish_together(strategy, finished)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return TrainResult(run.path, done, training.epochs, results, model)
