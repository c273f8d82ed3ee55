"""TaskWatch: the proxmox driver's shared task polls, timed against a fake
node task list (tasks that end at set times, no simulator)."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("proxmoxer")  # the proxmox package imports it

from vdictl.drivers.proxmox.tasks import NEAR_END, TaskWatch, upid_type  # noqa: E402

INTERVAL = 0.4


def upid(n: int, kind: str = "qmrollback") -> str:
    return f"UPID:pve1:0001A2B{n:X}:00B6F2B0:6741F2A0:{kind}:{1000 + n}:root@pam:"


class Node:
    """A node's task list: each task ends `duration` seconds after it is added."""

    def __init__(self):
        self.ends = {}
        self.polls = []          # when each list request began
        self.lock = threading.Lock()

    def add(self, task: str, duration: float) -> float:
        started = time.monotonic()
        self.ends[task] = started + duration
        return started

    def list_tasks(self, node, since):
        now = time.monotonic()
        with self.lock:
            self.polls.append(now)
        return [{"upid": u, "status": "OK", "endtime": 1} if now >= end else
                {"upid": u, "status": "RUNNING"} for u, end in self.ends.items()]

    def status(self, node, task):
        raise AssertionError("every task is in the list")


def test_upid_type_is_the_worker_type():
    assert upid_type(upid(1)) == "qmrollback"
    assert upid_type(upid(2, "qmstart")) == "qmstart"
    assert upid_type("garbage") == ""


def test_a_task_of_a_kind_seen_before_is_polled_near_its_expected_end_only():
    node = Node()
    watch = TaskWatch(node.list_tasks, node.status, interval=lambda: INTERVAL)
    duration = 2.5 * INTERVAL          # ends between two polls of the grid
    node.add(upid(1), duration)
    watch.wait(upid(1), timeout=10, what="the rollback")
    first = list(node.polls)
    assert len(first) >= 3             # the grid: at once, then every interval
    seen_after = first[-1] - first[0]  # the first one was seen this late

    node.polls.clear()
    since = node.add(upid(2), duration)
    watch.wait(upid(2), timeout=10, what="the rollback")
    # no poll while it surely runs: the first one when the quickest of its kind
    # was seen to end, and that one sees it ended
    assert node.polls and min(node.polls) >= since + seen_after - 0.01
    assert len(node.polls) == 1 < len(first)


def test_a_task_of_a_new_kind_is_polled_on_the_grid():
    node = Node()
    watch = TaskWatch(node.list_tasks, node.status, interval=lambda: INTERVAL)
    node.add(upid(1), 2.5 * INTERVAL)
    watch.wait(upid(1), timeout=10, what="the rollback")
    node.polls.clear()
    since = node.add(upid(2, "qmstart"), 0.1)
    watch.wait(upid(2, "qmstart"), timeout=10, what="the start")
    # the node's next poll on the grid, an interval after the last one at most:
    # what a rollback took (seen after three intervals) says nothing about a
    # start; half an interval of slack for a loaded machine
    assert node.polls and min(node.polls) - since <= INTERVAL * 1.5


def test_a_task_that_runs_late_falls_back_to_the_grid():
    node = Node()
    watch = TaskWatch(node.list_tasks, node.status, interval=lambda: INTERVAL)
    node.add(upid(1), 0.5 * INTERVAL)
    watch.wait(upid(1), timeout=10, what="the rollback")
    node.polls.clear()
    node.add(upid(2), 6 * INTERVAL)    # far longer than the first
    watch.wait(upid(2), timeout=10, what="the rollback")
    gaps = [b - a for a, b in zip(node.polls, node.polls[1:])]
    # a few quick polls near the expected end, then one per interval
    assert sum(1 for g in gaps if g < INTERVAL / 2) <= 1 / NEAR_END + 1
    assert gaps[-1] >= INTERVAL * 0.9
