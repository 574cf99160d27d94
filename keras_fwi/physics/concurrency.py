"""Refining models side by side: one optimiser per model, one more at once than there are CPU cores.

XLA runs one program on one core. A model's simulation split over the cores by shots (``simulate``'s
``parallel``) gives each program fewer shots for the same per-step overhead and leaves a core idle
when the shots do not divide evenly; two models refined at once, each simulating all its shots in
one program, keep both cores busy (benchmarks/RESULTS.md). Each model's simulations get an even
share of the cores, fixed at the start: changing it would compile other programs, which costs more
than a core left idle. One model more than there are cores runs at once (cores share it), so when the
models do not divide evenly over the cores the last ones still keep every core busy: 3 models on 2
cores took 39.1 instead of 43.3 s each (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = ["each_model"]


def each_model(run, count: int, cores: int, time_limit: float | None) -> list:
    """``[run(index, budget, share, cancel) for index in range(count)]``, ``cores + 1`` models at a time
    (one on a single core).

    Args:
        run: called once per model index with ``budget`` (seconds it may take, or None), ``share``
            (how many cores its simulations may use: ``simulate``'s ``parallel``) and ``cancel`` (a
            ``threading.Event`` set when another model failed: stop soon).
        count: number of models. cores: int >= 1, the cores the models share.
        time_limit: seconds for all models together, or None; each model starting gets an even
            share of the time left among the rounds of models still to start.

    Returns the results in index order; an exception in any model is raised here once the models
    running beside it have stopped.
    """
    workers = max(1, min(count, cores + 1 if cores > 1 else 1))
    begin, lock, cancel = time.perf_counter(), threading.Lock(), threading.Event()
    state, share = {"next": 0}, max(1, cores // min(count, cores))
    results = [None] * count

    def budget(index: int) -> float | None:
        if time_limit is None:
            return None
        rounds = math.ceil((count - index) / workers)  # this model's round and those after it
        return max(0.0, time_limit - (time.perf_counter() - begin)) / rounds

    def worker() -> None:
        try:
            while not cancel.is_set():
                with lock:
                    index = state["next"]
                    if index >= count:
                        return
                    state["next"] += 1
                results[index] = run(index, budget(index), share, cancel)
        except BaseException:
            cancel.set()
            raise

    if workers == 1:
        worker()
        return results
    with ThreadPoolExecutor(workers, thread_name_prefix="invert") as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        try:
            for future in futures:
                future.result()
        except BaseException:
            cancel.set()
            raise
    return results
