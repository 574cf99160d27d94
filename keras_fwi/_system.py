"""The machine keras_fwi runs on: usable CPU cores on any OS, and a quiet TensorFlow start for the CLI.

TensorFlow-free at import; ``start_tensorflow`` imports it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["cpu_count", "device_summary", "quiet_stderr", "start_tensorflow"]


def cpu_count() -> int:
    """CPU cores this process may use, at least 1, on Linux, macOS and Windows.

    ``os.sched_getaffinity`` (Linux) honours CPU affinity (taskset, cgroup cpusets, SLURM) but does not
    exist on macOS or Windows; Python 3.13's ``os.process_cpu_count`` does the same everywhere;
    otherwise ``os.cpu_count()`` (all cores of the machine) is the best there is.
    """
    if hasattr(os, "process_cpu_count"):
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)


@contextlib.contextmanager
def quiet_stderr(enabled: bool = True):
    """Send file descriptor 2 to a temporary file for the duration of the block.

    TensorFlow's C++ start-up lines (absl, cudart stubs, cuInit, CPU features, oneDNN) are written
    straight to the descriptor, before any Python or absl logging setting applies, so only
    redirecting the descriptor hides them. If the block raises, what was captured is replayed on
    stderr, so a failure keeps its explanation.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", errors="replace"))
            raise
        _restore(saved)


def _restore(saved: int) -> None:
    if saved < 0:
        return
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)


def start_tensorflow(verbose: bool = False) -> str:
    """Import TensorFlow and initialise its devices, quietly unless ``verbose``; return ``device_summary()``.

    Later C++ messages below errors are hidden too (``TF_CPP_MIN_LOG_LEVEL=2``, set only if the user
    has not set it), and absl's and TensorFlow's Python logging show errors only (e.g. no retracing
    warnings when ``refine`` traces a graph per stage).
    """
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr(not verbose):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # initialises CUDA now: where "failed call to cuInit" is printed
        import keras  # noqa: F401  (its own start-up, e.g. the backend banner, under the same redirection)
    if not verbose:
        tf.get_logger().setLevel("ERROR")
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # absl comes with TensorFlow; nothing to quieten without it
            pass
    return device_summary()


def device_summary() -> str:
    """Where TensorFlow computes, e.g. ``"GPU 0 (NVIDIA H100 80GB HBM3)"`` or ``"CPU (16 cores)"``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return f"CPU ({cpu_count()} cores)"
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    first = f"GPU 0 ({names[0]})"
    return first if len(gpus) == 1 else f"{first} and {len(gpus) - 1} more GPU(s)"
