import pytest

from vdictl.errors import (AlreadyExists, Busy, Conflict, DriverError, NotFound, OperationTimeout,
                           WrongState)
from vdictl.wait import retry_transient, wait_for


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_for_returns_first_value_meeting_condition():
    clock, values = FakeClock(), iter(["locked", "locked", "ok"])
    result = wait_for(lambda: next(values), lambda v: v == "ok", timeout=10, interval=2,
                      clock=clock, sleep=clock.sleep)
    assert result == "ok"
    assert clock.sleeps == [2, 2]


def test_wait_for_times_out_naming_what_and_last_value():
    clock = FakeClock()
    with pytest.raises(OperationTimeout) as info:
        wait_for(lambda: "locked", lambda v: v == "ok", timeout=5, interval=2, what="snapshot",
                 driver="ovirt", vm="room1-vd01", clock=clock, sleep=clock.sleep)
    assert str(info.value) == ("ovirt: room1-vd01: timed out after 5s waiting for snapshot "
                               "(last seen: locked)")
    assert clock.sleeps == [2, 2, 1]


def test_wait_for_fail_condition_stops_at_once():
    clock = FakeClock()
    with pytest.raises(DriverError, match="failed state"):
        wait_for(lambda: "error", lambda v: v == "ok", fail_condition=lambda v: v == "error",
                 timeout=5, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_retry_transient_retries_conflicts_then_succeeds():
    calls, sleeps = [], []

    def func():
        calls.append(1)
        if len(calls) < 3:
            raise Busy("VM is locked")
        return "done"

    assert retry_transient(func, attempts=5, sleep=sleeps.append) == "done"
    assert len(calls) == 3
    assert len(sleeps) == 2


def test_retry_transient_gives_up_after_attempts():
    calls = []

    def func():
        calls.append(1)
        raise Busy("still locked")

    with pytest.raises(Busy):
        retry_transient(func, attempts=4, sleep=lambda s: None)
    assert len(calls) == 4


@pytest.mark.parametrize("error", [
    AlreadyExists("domain already exists"), AlreadyExists("Permission already exists"),
    WrongState("domain is running; stop it before reverting")])
def test_refusals_that_a_retry_cannot_change_are_not_retried(error):
    calls = []

    def func():
        calls.append(1)
        raise error

    with pytest.raises(Conflict):
        retry_transient(func, attempts=4, sleep=lambda s: None)
    assert len(calls) == 1


def test_permanent_errors_are_not_retried():
    calls = []

    def func():
        calls.append(1)
        raise NotFound("no such VM")

    with pytest.raises(NotFound):
        retry_transient(func, attempts=5, sleep=lambda s: None)
    assert len(calls) == 1
