import threading
import time

import pytest

from vdictl.executor import Cancelled, Throttle, run_each


class Recorder:
    """Counts operations in flight while real threads run through a Throttle."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.spans = []  # (start, end)

    def work(self, throttle, seconds):
        with throttle.slot():
            with self.lock:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            start = time.monotonic()
            time.sleep(seconds)
            end = time.monotonic()
            with self.lock:
                self.in_flight -= 1
                self.spans.append((start, end))


def test_sliding_window_never_exceeds_limit_and_uses_it():
    throttle, rec = Throttle(3), Recorder()
    results = run_each(lambda i: rec.work(throttle, 0.02), range(20), max_workers=10)
    assert all(r.succeeded for r in results)
    assert rec.peak == 3
    assert throttle.peak_in_flight == 3
    assert throttle.started == 20


def test_batches_open_at_least_the_pause_apart():
    throttle, rec = Throttle(2, pause=0.1), Recorder()
    run_each(lambda i: rec.work(throttle, 0.03), range(6), max_workers=6)
    starts = sorted(start for start, _ in rec.spans)
    assert rec.peak == 2
    assert throttle.batches == 3
    for k in (2, 4):
        # batch k/2 opens no sooner than the pause after the previous one opened
        assert starts[k] >= starts[k - 2] + 0.1 - 0.005
        assert starts[k + 1] >= starts[k - 2] + 0.1 - 0.005


def test_a_slow_operation_does_not_hold_back_the_next_batch():
    throttle, rec = Throttle(2, pause=0.05), Recorder()
    run_each(lambda i: rec.work(throttle, 1.0 if i == 0 else 0.01), range(5), max_workers=5)
    slow_end = max(end for _, end in rec.spans)
    later = sorted(start for start, _ in rec.spans)[2:]
    assert rec.peak == 2
    # no barrier: the freed slot is reused while the slow one still runs
    assert min(later) < slow_end - 0.3
    assert throttle.batches >= 2


def test_run_each_keeps_going_after_failures_and_keeps_order():
    def func(i):
        if i % 3 == 0:
            raise RuntimeError(f"boom {i}")
        return i * 10

    results = run_each(func, range(7), max_workers=3)
    assert [r.item for r in results] == list(range(7))
    assert [r.succeeded for r in results] == [False, True, True, False, True, True, False]
    assert [r.value for r in results if r.succeeded] == [10, 20, 40, 50]
    assert str(results[3].error) == "boom 3"


def test_closed_throttle_cancels_waiters():
    throttle = Throttle(1)
    throttle.acquire()
    errors = []

    def waiter():
        try:
            throttle.acquire()
        except Cancelled as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    throttle.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(errors) == 1


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        Throttle(0)


def test_run_each_of_nothing():
    assert run_each(lambda i: i, [], max_workers=4) == []


def test_grouped_items_are_handed_out_round_robin_at_most_the_limit_per_group():
    # every item of group "a" first, as a config lists its rooms engine by engine
    items = [("a", i) for i in range(8)] + [("b", i) for i in range(8)]
    lock = threading.Lock()
    running = {"a": 0, "b": 0}
    peaks = {"a": 0, "b": 0}
    order = []

    def work(item):
        group = item[0]
        with lock:
            order.append(group)
            running[group] += 1
            peaks[group] = max(peaks[group], running[group])
        time.sleep(0.02)
        with lock:
            running[group] -= 1
        return item

    results = run_each(work, items, max_workers=10, group=lambda item: item[0],
                       per_group=lambda key: 2)
    assert [r.value for r in results] == items            # results in the items' order
    assert peaks == {"a": 2, "b": 2}                      # each group at its limit
    assert sorted(order[:4]) == ["a", "a", "b", "b"]      # "b" did not wait for "a"


def test_grouped_items_use_no_more_threads_than_the_groups_can_keep_busy():
    seen = set()

    def work(item):
        seen.add(threading.current_thread().name)
        time.sleep(0.01)

    run_each(work, range(30), max_workers=50, group=lambda i: i % 3, per_group=lambda k: 2)
    assert len(seen) <= 6
