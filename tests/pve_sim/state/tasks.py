# SPDX-License-Identifier: GPL-3.0-or-later
"""Workers: every async action forks a task (a thread here) that runs in
simulated time (seconds x ``time_scale``) and ends with exit status ``OK`` or
its error text, as PVE::RESTEnvironment::fork_worker does."""

from __future__ import annotations

import itertools
import re
import threading
import time

from tests.pve_sim.state.errors import TaskFailed, WorkerKilled
from tests.pve_sim.state.records import Task
from tests.pve_sim.wire.upid import encode_upid

#: seconds each worker type takes before its time scale; "qmclone-start": the
#: forked clone worker's start, between the answer (the UPID) and its lock
#: files, while /cluster/nextid still offers its VMID (tests make it long: a
#: worker that writes its config late)
DEFAULT_DURATIONS = {
    "qmclone": 2.0, "qmclone-start": 0.05, "qmsnapshot": 1.0, "qmrollback": 1.0,
    "qmdelsnapshot": 0.5,
    "qmstart": 0.4, "qmstop": 0.2, "qmshutdown": 0.0, "qmtemplate": 0.5,
    "qmdestroy": 0.5, "imgcopy": 0.2, "qmconfig": 0.1, "imgdel": 0.1,
}
SNAPSHOT_TYPES = ("qmsnapshot", "qmrollback", "qmdelsnapshot")
#: the exit status PVE::UPID::read_status gives a task whose log has no end line
KILLED_STATUS = "unexpected status"


def succeeded(status):
    """PVE::UPID::status_is_error's negation: "OK" or "WARNINGS: n"."""
    return status == "OK" or re.fullmatch(r"WARNINGS: \d+", status) is not None


class TaskRunner:
    """Mixin of the cluster: ``lock``/``cond`` and ``time_scale`` come from it."""

    def _init_tasks(self, durations):
        self.durations = dict(DEFAULT_DURATIONS, **(durations or {}))
        self.tasks = []                  # every Task, oldest first
        self.snapshot_ops_in_flight = 0
        self.peak_snapshot_ops = 0
        self.tasks_in_flight = {}        # worker type -> tasks running now
        self.peak_tasks = {}             # worker type -> most tasks running at once
        self._task_failures = []         # [type, vmid, message]
        self._clone_kills = []           # [source vmid, where] (state/clone.py)
        self._pids = itertools.count(0x1A2B0)
        self._threads = []
        self._current = threading.local()    # the task a worker thread runs

    # -- knobs ---------------------------------------------------------------

    def fail_task(self, type_, vmid, message):
        """The next ``type_`` task on ``vmid`` ends in error ``message`` (after
        its usual duration, changing nothing)."""
        with self.lock:
            self._task_failures.append((type_, str(vmid), message))

    def kill_clone(self, source_vmid, at="copy"):
        """The next clone of ``source_vmid`` has its worker killed outright
        ``at`` "copy" (the config is still the temporary ``lock: clone``
        file, without a name) or "config" (name, description and disks
        written, ``lock: clone`` not yet removed). Nothing is cleaned up."""
        with self.lock:
            self._clone_kills.append([int(source_vmid), at])

    def take_clone_kill(self, source_vmid):
        for item in self._clone_kills:
            if item[0] == source_vmid:
                self._clone_kills.remove(item)
                return item[1]
        return None

    def _take_failure(self, type_, vmid):
        for item in self._task_failures:
            if item[0] == type_ and item[1] == vmid:
                self._task_failures.remove(item)
                return item[2]
        return None

    # -- running -------------------------------------------------------------

    def scaled(self, seconds):
        return seconds * self.time_scale

    def settle(self):
        """The running worker is about to wait: its request may answer now
        (so what it did before, e.g. setting a config lock, is visible once
        the UPID is)."""
        task = getattr(self._current, "task", None)
        if task is not None and not task.settled:
            task.settled = True
            self.cond.notify_all()

    def answered(self):
        """The running worker waits until its request has answered with the
        UPID (fork_worker returns in the parent at once; the worker's own
        work comes after)."""
        task = getattr(self._current, "task", None)
        if task is not None:
            self.settle()
            self.cond.wait_for(lambda: task.answered, timeout=5)

    def warn(self, message):
        """A worker's ``warn``: logged; the task then ends "WARNINGS: n"
        (which PVE::UPID counts as success) instead of "OK"."""
        task = getattr(self._current, "task", None)
        if task is not None:
            task.log.append(message)
            task.warnings += 1

    def pause(self, seconds):
        """Sleep ``seconds`` of simulated time with the cluster lock released
        (the caller holds it)."""
        self.wait_until(lambda: False, seconds)

    def wait_until(self, predicate, seconds):
        """Wait at most ``seconds`` of simulated time for ``predicate()``
        (the caller holds the lock, released while waiting)."""
        self.settle()
        return self.cond.wait_for(predicate, timeout=max(self.scaled(seconds), 0))

    def spawn(self, node, type_, id_, user, body, cleanup=None):
        """Fork a worker running ``body()`` (called with the lock held; a
        failed one then runs ``cleanup()``); returns its UPID.  The caller
        holds the lock."""
        now = int(time.time())
        pid = next(self._pids)
        id_ = "" if id_ is None else str(id_)
        upid = encode_upid(node, pid, pid * 7, now, type_, id_, user)
        task = Task(upid, node, type_, id_, user, now, pid, pid * 7)
        self.tasks.append(task)
        failure = self._take_failure(type_, id_)
        if failure is not None:
            body = self._failing(type_, failure)
        running = self.tasks_in_flight[type_] = self.tasks_in_flight.get(type_, 0) + 1
        self.peak_tasks[type_] = max(self.peak_tasks.get(type_, 0), running)
        if type_ in SNAPSHOT_TYPES:
            self.snapshot_ops_in_flight += 1
            self.peak_snapshot_ops = max(self.peak_snapshot_ops, self.snapshot_ops_in_flight)
        thread = threading.Thread(target=self._work, args=(task, body, cleanup), daemon=True,
                                  name="pve-task-%s" % type_)
        self._threads.append(thread)
        thread.start()
        self.cond.wait_for(lambda: task.settled, timeout=5)
        task.answered = True
        self.cond.notify_all()
        return upid

    def _failing(self, type_, message):
        def body():
            self.pause(self.durations.get(type_, 0.1))
            raise TaskFailed(message)
        return body

    def _work(self, task, body, cleanup):
        self._current.task = task
        with self.lock:
            try:
                body()
                status = "WARNINGS: %d" % task.warnings if task.warnings else "OK"
            except TaskFailed as failed:
                status = failed.message
            except WorkerKilled:
                status = KILLED_STATUS
                cleanup = None          # a killed worker cleans nothing up
            except Exception as error:  # noqa: BLE001 - a simulator bug ends the task visibly
                status = "simulator error: %r" % (error,)
            if status != "OK" and cleanup is not None:
                cleanup()
            task.endtime = int(time.time())
            task.exitstatus = status
            if status != KILLED_STATUS:
                task.log.append("TASK %s" % (status if succeeded(status)
                                             else "ERROR: " + status))
            task.settled = True
            self.tasks_in_flight[task.type] -= 1
            if task.type in SNAPSHOT_TYPES:
                self.snapshot_ops_in_flight -= 1
            self.cond.notify_all()

    def task(self, upid):
        for task in self.tasks:
            if task.upid == upid:
                return task
        return None

    def wait_tasks(self, timeout=30.0):
        """Wait until no task runs (tests and shutdown)."""
        with self.lock:
            return self.cond.wait_for(lambda: all(not t.running for t in self.tasks), timeout)
