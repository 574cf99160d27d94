"""Step 2 of ``train``: a run's training and validation pipelines, one worker's share under multi-worker."""

from __future__ import annotations

import contextlib
import dataclasses

import tensorflow as tf

from keras_fwi.config import ExperimentConfig
from keras_fwi.training import cluster
from keras_fwi.training.datasets import experiment_datasets

__all__ = ["RunData", "distribute", "prepare_data"]


@dataclasses.dataclass
class RunData:
    """The pipelines of a run (``prepare_data``)."""

    train_pipeline: object  # (first, stop) or None → tf.data pipeline (training.datasets)
    run_batches: object  # every remaining epoch's batches, None when none remain
    validation: object  # None without validation data
    steps_per_epoch: int
    sources: dict
    per_worker: bool = False  # run_batches are this worker's own per-replica batches (training.shard files)
    workers: int = 1  # processes training together (multi-worker)


def prepare_data(config: ExperimentConfig, strategy, done: int, verbose, progress=print) -> RunData:
    """Step 2: the pipelines. One pipeline serves every remaining epoch (built first, it checks every
    file once): a pipeline per epoch kept each old reader and its memory maps alive.

    With several workers, ``training.shard`` decides who reads what: ``samples`` (every worker builds
    one process's pipeline of global batches and keeps its share of each, as OpenFWI's
    ``DistributedSampler`` does: the same batches as one process) or ``files`` (``_worker_files``).
    A failed start on one worker is said in the start vote (``cluster.agree_to_start``), so the
    others stop instead of waiting."""
    training = config.training
    index, workers = cluster.worker_index(strategy)
    if workers > 1 and training.shard == "files":
        return _worker_files(config, strategy, index, workers, done, verbose, progress)
    global_batch = training.batch_size * strategy.num_replicas_in_sync  # per replica, as OpenFWI's DDP script
    with _start_vote(strategy, workers):
        train_pipeline, validation, sources = experiment_datasets(config.data, global_batch, training.seed,
                                                                  progress=verbose != 0 and index == 0)
        run_batches = train_pipeline((done, training.epochs)) if done < training.epochs else None
        if run_batches is not None:
            steps = int(run_batches.cardinality()) // (training.epochs - done)
        else:
            steps = int(train_pipeline(None).cardinality())
    if workers > 1:
        cluster.agree_to_start(strategy, True, steps)
    return RunData(train_pipeline, run_batches, validation, steps, sources, workers=workers)


@contextlib.contextmanager
def _start_vote(strategy, workers: int):
    """Vote no in the start vote if the block fails on this worker (multi-worker), then re-raise."""
    try:
        yield
    except Exception:
        if workers > 1:
            with contextlib.suppress(cluster.WorkerLost):
                cluster.agree_to_start(strategy, False, 0)
        raise


def _worker_files(config, strategy, index: int, workers: int, done: int, verbose, progress) -> RunData:
    """This worker's shard (whole files: ``index, index + workers, …``) in batches of one replica; every
    worker runs the fewest steps any worker has (collectives need the same count), agreed in the start
    vote."""
    training = config.training
    local = strategy.num_replicas_in_sync // workers  # replicas on this worker, each takes its own batches
    context = tf.distribute.InputContext(workers, index, strategy.num_replicas_in_sync)
    with _start_vote(strategy, workers):
        train_pipeline, validation, sources = experiment_datasets(config.data, training.batch_size, training.seed,
                                                                  input_context=context,
                                                                  progress=verbose != 0 and index == 0)
        per_epoch = int(train_pipeline(None).cardinality())
    steps = cluster.agree_to_start(strategy, True, per_epoch // local)
    if steps == 0:
        raise ValueError(f"a worker's shard has fewer than {local} batches of training.batch_size "
                         f"{training.batch_size}: use a smaller batch size or more files per worker")
    if steps * local < per_epoch:
        progress(f"worker {index}: its files give {per_epoch} batches per epoch; every worker runs {steps} steps "
                 f"(the fewest of any worker), so {per_epoch - steps * local} batches are skipped each epoch")
    run_batches = None
    if done < training.epochs:
        run_batches = _first_of_each_epoch(train_pipeline((done, training.epochs)), per_epoch, steps * local,
                                           training.epochs - done)
    return RunData(train_pipeline, run_batches, validation, steps, sources, per_worker=True, workers=workers)


def _first_of_each_epoch(batches, per_epoch: int, keep: int, epochs: int):
    """The first ``keep`` of each epoch's ``per_epoch`` batches (``epochs`` epochs one after another)."""
    if keep == per_epoch:
        return batches
    kept = batches.enumerate().filter(lambda number, _: number % per_epoch < keep).map(lambda _, batch: batch)
    return kept.apply(tf.data.experimental.assert_cardinality(keep * epochs))


def distribute(strategy, dataset, per_worker: bool):
    """The dataset as the strategy's replicas take it: split from global batches (under multi-worker,
    each worker keeps its replicas' share of every global batch), or (``per_worker``) this worker's
    own per-replica batches."""
    if dataset is None:
        return None
    if per_worker:
        return strategy.distribute_datasets_from_function(lambda _: dataset)
    options = tf.data.Options()
    # Split every global batch by element: worker i keeps its slice of each, whatever the files.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))
