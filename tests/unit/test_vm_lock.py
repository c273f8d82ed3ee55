"""The locks of issue 26: rooms held briefly by a run that picks desks, and VM locks.

Real flock(2) files in a temporary directory; two lock objects stand for two
runs (flock excludes two open files even in one process). Only the clock of
a wait is the test's.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from vdictl.errors import RoomBusy
from vdictl.executor import Cancelled
from vdictl.lock import BRIEF_WAIT, RoomLocks, held_briefly
from vdictl.vm_lock import VmBusy, VmLocks, vm_lock_file_name


def test_a_picking_run_leaves_a_room_held_for_a_whole_run_without_waiting(tmp_path):
    with RoomLocks(["lab1"], directory=str(tmp_path)):       # the nightly run
        started = time.monotonic()
        picking = RoomLocks(["lab1", "lab2"], directory=str(tmp_path), picking=True).acquire()
        assert time.monotonic() - started < 1
        assert list(picking.busy) == ["lab1"]
        ticks = itertools.count(0, 100)   # the test's clock: 100 s a look
        with pytest.raises(RoomBusy):     # lab2 is the picking run's (briefly: waited for)
            RoomLocks(["lab2"], directory=str(tmp_path), clock=lambda: next(ticks),
                      sleep=lambda _: None).acquire()
        picking.release()


def test_a_whole_room_run_waits_for_a_room_held_briefly_whatever_lock_timeout_says(tmp_path):
    picking = RoomLocks(["lab1"], directory=str(tmp_path), picking=True).acquire()
    assert held_briefly(str(tmp_path / "room-lab1.lock"))
    threading.Timer(0.5, picking.release).start()
    started = time.monotonic()
    with RoomLocks(["lab1"], directory=str(tmp_path), timeout=0):
        assert 0.3 < time.monotonic() - started < BRIEF_WAIT


def test_a_room_held_for_a_whole_run_still_fails_at_once_without_lock_timeout(tmp_path):
    with RoomLocks(["lab1"], directory=str(tmp_path)):
        with pytest.raises(RoomBusy):
            RoomLocks(["lab1"], directory=str(tmp_path), timeout=0).acquire()


def test_a_run_waits_for_one_vm_another_run_works_on_and_only_for_it(tmp_path):
    vacated = VmLocks(str(tmp_path))
    assert vacated.try_hold([("lab1", "vd02")]) == {}
    nightly = VmLocks(str(tmp_path), wait=30)
    with nightly.working_on(("lab1", "vd01")) as waited:   # another VM: no wait
        assert waited == 0.0
    threading.Timer(0.5, vacated.release).start()
    with nightly.working_on(("lab1", "vd02")) as waited:
        assert 0.3 < waited < 30
        assert vacated.try_hold([("lab1", "vd02")]) != {}   # held by the nightly now


def test_a_vm_still_worked_on_after_the_wait_is_busy_with_the_holders_pid(tmp_path):
    VmLocks(str(tmp_path)).try_hold([("lab1", "vd02")])
    with pytest.raises(VmBusy, match=r"pid \d+ works on this VM \(waited 0\.\d+s"):
        with VmLocks(str(tmp_path), wait=0.3).working_on(("lab1", "vd02")):
            pass


def test_a_picked_vm_is_kept_until_its_work_ends_then_free(tmp_path):
    run = VmLocks(str(tmp_path))
    assert run.try_hold([("lab1", "vd02")]) == {}
    with run.working_on(("lab1", "vd02")) as waited:
        assert waited == 0.0
        assert VmLocks(str(tmp_path)).try_hold([("lab1", "vd02")]) != {}
    assert VmLocks(str(tmp_path)).try_hold([("lab1", "vd02")]) == {}


def test_vm_lock_names_never_collide():
    assert vm_lock_file_name("a+b", "c") != vm_lock_file_name("a", "b+c")
    assert vm_lock_file_name("a", "b/c") == "vm-a+b%2Fc.lock"


def test_without_a_directory_nothing_is_locked():
    with VmLocks(None).working_on(("lab1", "vd02")) as waited:
        assert waited == 0.0


def test_an_interrupted_run_stops_waiting_for_a_vm_at_once(tmp_path):
    VmLocks(str(tmp_path)).try_hold([("lab1", "vd02")])
    why = []
    threading.Timer(0.3, lambda: why.append("SIGTERM")).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="SIGTERM"):
        with VmLocks(str(tmp_path), wait=60).working_on(
                ("lab1", "vd02"), interrupted=lambda: why[0] if why else None):
            pass
    assert time.monotonic() - started < 5
