"""The proxmox driver's task waits (drivers/proxmox/tasks.py) on a node whose
task list is a plain function: several waiters share each poll, a task the
list leaves out is asked for by its UPID, and "WARNINGS: n" is a success."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("proxmoxer")

from vdictl.drivers.proxmox.tasks import (TaskWatch, ended, succeeded,  # noqa: E402
                                          upid_node, upid_start)
from vdictl.errors import OperationTimeout  # noqa: E402


def upid(n, node="pve1", start=0x6741F2A0):
    return f"UPID:{node}:0000{n:04X}:0001E240:{start:08X}:qmstart:{100 + n}:root@pam:"


class Node:
    """A node's task list: tasks end when the test says so."""

    def __init__(self):
        self.running = set()
        self.ended = {}
        self.lists, self.statuses = [], []
        self.lock = threading.Lock()

    def list_tasks(self, node, since):
        with self.lock:
            self.lists.append((node, since))
            listed = [{"upid": u} for u in self.running if u not in self.ended]
            return listed + [{"upid": u, "status": s, "endtime": 1}
                             for u, s in self.ended.items() if not u.endswith("hidden:")]

    def task_status(self, node, u):
        self.statuses.append(u)
        if u not in self.ended:
            return {"upid": u, "status": "running"}
        return {"upid": u, "status": "stopped", "exitstatus": self.ended[u]}


@pytest.mark.parametrize("entry, done", [
    ({"upid": "u", "status": "RUNNING"}, False),          # the node's list, running
    ({"upid": "u"}, False),
    ({"upid": "u", "status": "OK", "endtime": 5}, True),
    ({"upid": "u", "status": "WARNINGS: 1"}, True),        # the active list, not archived yet
    ({"upid": "u", "status": "running"}, False),          # /tasks/{upid}/status
    ({"upid": "u", "status": "stopped", "exitstatus": "OK"}, True),
])
def test_which_entries_are_of_ended_tasks(entry, done):
    assert ended(entry) is done


def test_upid_fields():
    assert upid_node(upid(1)) == "pve1"
    assert upid_start(upid(1)) == 0x6741F2A0


@pytest.mark.parametrize("status, ok", [("OK", True), ("WARNINGS: 2", True),
                                        ("VM 101 already running", False)])
def test_warnings_are_a_success(status, ok):
    assert succeeded({"status": status, "endtime": 1}) is ok


def test_waiters_share_the_node_polls():
    node = Node()
    watch = TaskWatch(node.list_tasks, node.task_status, interval=lambda: 0.05)
    ids = [upid(i, start=0x100 + i) for i in range(8)]
    node.running.update(ids)
    done = []

    def wait(u):
        done.append(watch.wait(u, timeout=5, what="the start")["status"])

    threads = [threading.Thread(target=wait, args=(u,)) for u in ids]
    for t in threads:
        t.start()
    for u in ids:
        node.ended[u] = "OK"
    for t in threads:
        t.join()
    assert done == ["OK"] * 8
    assert len(node.lists) < 8          # fewer polls than waiting tasks
    assert all(since >= 0x100 for _, since in node.lists)
    assert node.statuses == []


def test_a_task_the_list_leaves_out_is_asked_for_by_its_upid():
    node = Node()
    hidden = upid(1).replace("root@pam:", "hidden:")
    node.ended[hidden] = "WARNINGS: 1"
    watch = TaskWatch(node.list_tasks, node.task_status, interval=lambda: 0.01)
    assert watch.wait(hidden, timeout=5, what="x")["exitstatus"] == "WARNINGS: 1"
    assert node.statuses == [hidden]


def test_a_task_that_does_not_end_times_out():
    node = Node()
    watch = TaskWatch(node.list_tasks, node.task_status, interval=lambda: 0.01)
    with pytest.raises(OperationTimeout, match="waiting for the clone"):
        watch.wait(upid(3), timeout=0.1, what="the clone")
