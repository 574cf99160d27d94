"""each_model: models refined side by side come back in order, share the cores and the time, and a
failure in one stops the others."""

import threading
import time

import pytest

from keras_fwi.physics.concurrency import each_model


def test_results_come_back_in_index_order_with_an_even_share_of_cores():
    seen, running, peak, lock = [], [0], [0], threading.Lock()

    def run(index, budget, share, cancel):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            seen.append((index, share))
        time.sleep(0.05 * (3 - index % 3))  # later indices finish first
        with lock:
            running[0] -= 1
        return index * 10

    assert each_model(run, 5, cores=2, time_limit=None) == [0, 10, 20, 30, 40]
    assert peak[0] == 3  # one more than the cores at a time, so an odd one out does not leave a core idle
    assert sorted(seen) == [(i, 1) for i in range(5)]
    # One model on four cores: run where it is called, with all four.
    assert each_model(lambda i, b, share, c: share, 1, cores=4, time_limit=None) == [4]
    assert each_model(lambda i, b, share, c: share, 2, cores=5, time_limit=None) == [2, 2]
    assert each_model(lambda i, b, share, c: share, 3, cores=2, time_limit=None) == [1, 1, 1]
    # One core (or a GPU): one model at a time.
    peak[0] = running[0] = 0
    assert each_model(run, 3, cores=1, time_limit=None) == [0, 10, 20] and peak[0] == 1


def test_each_model_starting_gets_its_rounds_share_of_the_time_left():
    budgets = {}

    def run(index, budget, share, cancel):
        budgets[index] = budget
        time.sleep(0.2)

    each_model(run, 5, cores=2, time_limit=10.0)
    # Models 0-2 start at once (3 at a time on 2 cores): 0 and 1 with two rounds ahead (10 s / 2), 2
    # with one (no model is left for its slot); 3 and 4 start about 0.2 s later, in the last round.
    assert [budgets[i] for i in range(3)] == pytest.approx([5.0, 5.0, 10.0], abs=0.05)
    assert budgets[3] == pytest.approx(9.8, abs=0.1) and budgets[4] == pytest.approx(9.8, abs=0.1)


def test_a_failing_model_cancels_the_one_beside_it_and_raises():
    stopped, started = [], threading.Event()

    def run(index, budget, share, cancel):
        if index == 0:
            started.wait(5.0)
            raise ValueError("model 0 is broken")
        started.set()
        while not cancel.wait(0.01):  # a long refinement that checks for cancellation
            pass
        stopped.append(index)

    begin = time.perf_counter()
    with pytest.raises(ValueError, match="model 0 is broken"):
        each_model(run, 6, cores=2, time_limit=None)
    assert 1 in stopped and set(stopped) <= {1, 2}  # the models beside it stopped; no later one started
    assert time.perf_counter() - begin < 5.0
