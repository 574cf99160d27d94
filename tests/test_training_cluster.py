"""--strategy multi-worker: which cluster description is read, and the errors when none describes >1 worker."""

import json

import pytest

from keras_fwi.training import cluster

TWO_WORKERS = {"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 1}}
SLURM_STEP = {"SLURM_JOB_ID": "7", "SLURM_NTASKS": "3", "SLURM_PROCID": "2", "SLURM_STEP_NUM_TASKS": "3",
              "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_STEP_TASKS_PER_NODE": "2,1"}


def test_tf_config_wins_over_slurm_and_slurm_needs_more_than_one_task():
    assert cluster.cluster_source({"TF_CONFIG": json.dumps(TWO_WORKERS)}) == "tf_config"
    assert cluster.cluster_source({**SLURM_STEP, "TF_CONFIG": json.dumps(TWO_WORKERS)}) == "tf_config"
    assert cluster.cluster_source(SLURM_STEP) == "slurm"
    with pytest.raises(ValueError, match=r"found none: set TF_CONFIG .*SLURM_NTASKS > 1, got 1\)"):
        cluster.cluster_source({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"})
    with pytest.raises(ValueError, match="got no SLURM_JOB_ID.*use --strategy mirrored"):
        cluster.cluster_source({})


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}),
     "TF_CONFIG describes 1 worker.*at least 2"),
    (json.dumps({**TWO_WORKERS, "task": {"type": "worker", "index": 2}}), r"TF_CONFIG task must be .*'index': 2"),
    (json.dumps({**TWO_WORKERS, "task": {"type": "ps", "index": 0}}), "TF_CONFIG task must be"),
])
def test_a_bad_tf_config_is_named(tf_config, message):
    with pytest.raises(ValueError, match=message):
        cluster.cluster_source({"TF_CONFIG": tf_config})


def test_resolvers_list_every_worker_and_this_one(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))
    resolver = cluster.cluster_resolver()
    assert resolver.cluster_spec().as_dict() == TWO_WORKERS["cluster"]
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    monkeypatch.delenv("TF_CONFIG")
    for key, value in SLURM_STEP.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", "/nonexistent")  # a CPU node: no nvidia-smi
    resolver = cluster.cluster_resolver()
    # Two tasks on node1, one on node2, ports from 8888 (TensorFlow's SLURM convention); this is rank 2.
    assert resolver.cluster_spec().as_dict() == {"worker": ["node1:8888", "node1:8889", "node2:8888"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 2)


def test_train_without_a_cluster_says_how_to_describe_one_and_writes_nothing(tmp_path, monkeypatch):
    from keras_fwi.config import ExperimentConfig
    from keras_fwi.training.trainer import train

    for key in ("TF_CONFIG", "SLURM_JOB_ID"):
        monkeypatch.delenv(key, raising=False)
    config = ExperimentConfig.from_dict({"training": {"strategy": "multi-worker", "epochs": 1}})
    with pytest.raises(ValueError, match="multi-worker needs a cluster of more than one worker"):
        train(config, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_short_reason_keeps_the_line_that_says_what_happened():
    message = ("Graph execution error:\n\nDetected at node CollectiveReduceV2\nCollective ops is aborted by: "
               "Error reported from /job:worker/task:1: The following tasks are unhealthy (stopped sending "
               "heartbeats):\n/job:worker/replica:0/task:1\n")
    assert cluster.short_reason(RuntimeError(message)).startswith("Collective ops is aborted by")


def test_the_last_vote_says_whether_the_chief_finished():
    """Workers leave ``finish_together`` only with the chief; a chief whose finish failed votes False, so the
    others raise instead of reporting success (the multi-worker exit order itself: test_training_multiworker)."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    assert cluster.finish_together(strategy) is True
    assert cluster.finish_together(strategy, ok=False) is False
    assert cluster.agree_to_start(strategy, True, 7) == 7
