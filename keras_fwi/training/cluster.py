"""``--strategy multi-worker``: the cluster (TF_CONFIG or SLURM), the strategy, and who writes.

Every worker runs the same ``keras_fwi train`` command. The cluster comes from ``TF_CONFIG`` when it
is set, else from a SLURM job step of more than one task (``srun``). Only the chief (worker 0)
writes the run directory; the others write their checkpoints and backups to a temporary folder
that is removed. ``--resume`` needs the run directory on a filesystem every worker reads (all
workers restore the chief's backup).

Failures: a worker that dies mid-run stops sending heartbeats to the coordination service, and
the collectives of the others fail within about ``HEARTBEAT_SECONDS`` (``WorkerLost``); a worker
whose start fails (bad data, bad options) says so in a start vote that every worker takes before
the first training step, so the others stop with a message instead of waiting. A worker that never
joins (wrong host, crash on import) is not detected: TensorFlow logs a registration time-out after
``REGISTER_SECONDS`` but keeps waiting (measured with TensorFlow 2.21), so the job must be stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

__all__ = ["HEARTBEAT_SECONDS", "REGISTER_SECONDS", "WorkerLost", "agree_to_start", "cluster_resolver",
           "cluster_source", "finish_together", "is_chief", "multi_worker_strategy", "short_reason", "worker_index",
           "worker_output"]

HEARTBEAT_SECONDS = 10  # a worker silent this long is declared dead and every collective fails
REGISTER_SECONDS = 600  # how long the workers wait for all of them to join at start


class WorkerLost(RuntimeError):
    """Another worker died or became unreachable; the message says how to continue."""


def cluster_source(environ=None) -> str:
    """``"tf_config"`` or ``"slurm"``: where the cluster of more than one worker is described.

    Raises:
        ValueError: neither TF_CONFIG nor a SLURM job step of more than one task describes more
            than one worker, or TF_CONFIG is malformed (the message says what to set).
    """
    env = os.environ if environ is None else environ
    if env.get("TF_CONFIG"):
        _check_tf_config(env["TF_CONFIG"])
        return "tf_config"
    tasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or "1"
    if env.get("SLURM_JOB_ID") and tasks.isdigit() and int(tasks) > 1:
        return "slurm"
    raise ValueError(
        "--strategy multi-worker needs a cluster of more than one worker and found none: set TF_CONFIG on "
        "each machine ('{\"cluster\": {\"worker\": [\"host1:port\", \"host2:port\"]}, \"task\": {\"type\": "
        "\"worker\", \"index\": I}}') or start one task per worker with srun in a SLURM job (SLURM_NTASKS > 1, "
        f"got {tasks if env.get('SLURM_JOB_ID') else 'no SLURM_JOB_ID'}). On one machine use --strategy mirrored")


def _check_tf_config(text: str) -> None:
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from None
    cluster, task = spec.get("cluster", {}), spec.get("task", {})
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    if workers < 2:
        raise ValueError(f"--strategy multi-worker: TF_CONFIG describes {workers} worker(s) in cluster.chief and "
                         "cluster.worker; it needs at least 2 (one host:port each). On one machine use "
                         "--strategy mirrored")
    kind, index = task.get("type"), task.get("index")
    if kind not in ("chief", "worker") or not isinstance(index, int) or not 0 <= index < len(cluster.get(kind, [])):
        raise ValueError(f"TF_CONFIG task must be {{\"type\": \"worker\" (or \"chief\"), \"index\": i}} with i "
                         f"indexing that list of cluster hosts, got {task!r}")


def cluster_resolver(environ=None):
    """The ``tf.distribute.cluster_resolver`` for ``cluster_source(environ)``."""
    import tensorflow as tf

    if cluster_source(environ) == "tf_config":
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if shutil.which("nvidia-smi"):  # TensorFlow counts the GPUs and gives each task its share
        return tf.distribute.cluster_resolver.SlurmClusterResolver()
    # CPU nodes: TensorFlow's resolver needs nvidia-smi and lists one task per GPU; give each task a
    # nominal "GPU" (never set in CUDA_VISIBLE_DEVICES) so that every task of the step is listed.
    env = os.environ if environ is None else environ
    tasks = int(env.get("SLURM_STEP_NUM_TASKS") or env["SLURM_NTASKS"])
    return tf.distribute.cluster_resolver.SlurmClusterResolver(gpus_per_node=tasks, gpus_per_task=1,
                                                               auto_set_gpu=False)


def _coordinated_jobs(cluster_spec):
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2

    return [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=cluster_spec.num_tasks(job))
            for job in ("chief", "worker") if job in cluster_spec.jobs]


def multi_worker_strategy(resolver=None):
    """``MultiWorkerMirroredStrategy`` over ``resolver``'s cluster, with bounded failure detection.

    Must be made before any other TensorFlow operation of the process (TensorFlow's rule). The
    coordination service is configured as the strategy would, but with a heartbeat timeout of
    ``HEARTBEAT_SECONDS`` and a start-up wait of ``REGISTER_SECONDS`` (TensorFlow: an hour).
    """
    import tensorflow as tf
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    resolver = resolver or cluster_resolver()
    spec = resolver.cluster_spec()
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        coordinated_jobs=_coordinated_jobs(spec), heartbeat_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
        cluster_register_timeout_in_ms=REGISTER_SECONDS * 1000)
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def _workers(strategy) -> list[tuple[str, int]]:
    """``(task type, index)`` of every worker in input-pipeline order: the chief first, then the workers."""
    spec = strategy.cluster_resolver.cluster_spec()
    return [(job, index) for job in ("chief", "worker") if job in spec.jobs for index in range(spec.num_tasks(job))]


def worker_index(strategy) -> tuple[int, int]:
    """``(index, count)`` of this worker among all (1 worker, index 0, outside multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().jobs:
        return 0, 1
    workers = _workers(strategy)
    return workers.index((resolver.task_type, int(resolver.task_id))), len(workers)


def is_chief(strategy) -> bool:
    """Whether this worker writes the run directory (the only worker, or worker 0 of a cluster)."""
    return worker_index(strategy)[0] == 0


def agree_to_start(strategy, ready: bool, steps: int) -> int:
    """Every worker's start vote and step count, one collective: the common number of steps per epoch.

    Args:
        ready: False on a worker whose start failed (it votes, then raises its own error).
        steps: this worker's steps per epoch (its shard of the training files).

    Returns:
        The minimum of the workers' steps (every worker must run the same number of steps).

    Raises:
        WorkerLost: another worker's start failed.
    """
    index, count = worker_index(strategy)
    votes = _gather(strategy, [float(ready), float(steps)])
    if not votes[:, 0].all():
        failed = sorted({int(i) // max(1, len(votes) // count) for i in (votes[:, 0] == 0).nonzero()[0]} - {index})
        if failed:
            raise WorkerLost(f"worker(s) {', '.join(map(str, failed))} failed to start (see their output); "
                               "this worker stops too")
    return int(votes[:, 1].min())


def finish_together(strategy, ok: bool = True) -> bool:
    """Every worker waits here until the chief has evaluated and saved the model (it calls this last):
    a worker that exits earlier stops its heartbeats, and the coordination service then aborts the
    chief. Returns whether every worker arrived with ``ok``."""
    return bool(_gather(strategy, [float(ok)])[:, 0].all())


def _gather(strategy, values: list[float]):
    """Every replica's ``values`` (one collective over all workers): array (replicas, len(values))."""
    import tensorflow as tf

    vote = tf.constant([values])

    @tf.function
    def gather():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_gather(vote, axis=0))

    return strategy.experimental_local_results(gather())[0].numpy()


def short_reason(error) -> str:
    """The first line of a TensorFlow error's message that says what happened (for a one-line report)."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines() if line.strip()]
    for line in lines:
        if "unhealthy" in line or "heartbeat" in line or "aborted" in line.lower() or "unavailable" in line.lower():
            return line[:200]
    return lines[0][:200] if lines else type(error).__name__


@contextlib.contextmanager
def worker_output(run, chief: bool):
    """Where this worker's callbacks write: the run directory on the chief, else a temporary
    ``RunDirectory`` removed afterwards (every worker saves, as Keras' multi-worker saving expects)."""
    if chief:
        yield run
        return
    from keras_fwi.run_directory import RunDirectory

    with tempfile.TemporaryDirectory(prefix="keras_fwi-worker-") as folder:
        yield RunDirectory(folder)
