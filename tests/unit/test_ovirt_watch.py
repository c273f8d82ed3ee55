"""StatusWatch: room-wide polls shared by every waiting VM (a fake search, no engine)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

pytest.importorskip("ovirtsdk4")  # the ovirt package imports it

from vdictl.drivers.status_watch import StatusWatch  # noqa: E402
from vdictl.errors import OperationTimeout  # noqa: E402


class Engine:
    """A fake search: VM statuses that flip to "up" after `polls_until_up` searches."""

    def __init__(self, names, polls_until_up=3, fail_on=()):
        self.names = names
        self.polls_until_up = polls_until_up
        self.fail_on = set(fail_on)
        self.calls = []          # (search text, time the search began)
        self.lock = threading.Lock()

    def search(self, text):
        with self.lock:
            self.calls.append((text, time.monotonic()))
            n = len(self.calls)
        if n in self.fail_on:
            raise RuntimeError("engine hiccup")
        status = "up" if n >= self.polls_until_up else "down"
        return {name: SimpleNamespace(status=status) for name in self.names}


def is_up(vm):
    return vm is not None and vm.status == "up"


def test_waiters_of_one_room_share_each_search():
    names = [f"room01-pc{i:02d}" for i in range(1, 21)]
    engine = Engine(names, polls_until_up=3)
    watch = StatusWatch(engine.search, interval=lambda: 0.01)
    since = time.monotonic()
    results = {}

    def wait(name):
        results[name] = watch.wait("name=room01-pc*", name, is_up, since=since, timeout=30,
                                   what="the VM to run")

    threads = [threading.Thread(target=wait, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(is_up(vm) for vm in results.values()) and len(results) == 20
    assert len(engine.calls) == 3   # not 20 per poll round
    assert {text for text, _ in engine.calls} == {"name=room01-pc*"}


def test_answers_older_than_since_are_not_used():
    engine = Engine(["pc1"], polls_until_up=1)
    watch = StatusWatch(engine.search, interval=lambda: 0.01)
    watch.wait("g", "pc1", is_up, since=time.monotonic(), timeout=5, what="x")
    engine.polls_until_up = 10 ** 9   # from now on the engine says "down"
    with pytest.raises(OperationTimeout, match="waiting for the VM to run.*down"):
        watch.wait("g", "pc1", is_up, since=time.monotonic(), timeout=0.2,
                   what="the VM to run")
    assert len(engine.calls) >= 2


def test_a_failed_search_fails_only_the_waiter_that_made_it():
    engine = Engine(["pc1", "pc2"], polls_until_up=3, fail_on={1})
    watch = StatusWatch(engine.search, interval=lambda: 0.01)
    since = time.monotonic()
    with pytest.raises(RuntimeError, match="hiccup"):
        watch.wait("g", "pc1", is_up, since=since, timeout=5, what="x")
    assert is_up(watch.wait("g", "pc2", is_up, since=since, timeout=5, what="x"))


def test_a_missing_vm_is_none_until_it_appears():
    engine = Engine([], polls_until_up=1)
    watch = StatusWatch(engine.search, interval=lambda: 0.01)
    seen = []
    with pytest.raises(OperationTimeout):
        watch.wait("g", "ghost", lambda vm: seen.append(vm) or False, since=time.monotonic(),
                   timeout=0.1, what="x")
    assert seen and all(vm is None for vm in seen)


def test_polls_start_near_the_shortest_time_this_kind_of_wait_took():
    engine = Engine(["pc1"], polls_until_up=1)
    # the engine the watch searches: first one up after 0.3 s, then one always up
    search = [lambda text: engine.search(text) if time.monotonic() >= ready[0]
              else {"pc1": SimpleNamespace(status="down")}]
    watch = StatusWatch(lambda text: search[0](text), interval=lambda: 0.01)
    since = time.monotonic()
    ready = [since + 0.3]
    watch.wait("g", "pc1", is_up, since=since, timeout=10, what="restore")
    engine.calls.clear()
    calls = []
    search[0] = lambda text: calls.append(time.monotonic()) or {
        "pc1": SimpleNamespace(status="up")}
    since = time.monotonic()
    watch.wait("g", "pc1", is_up, since=since, timeout=10, what="restore")
    # load only delays polls; none may come before 95% of the 0.3 s learned
    assert calls and min(calls) >= since + 0.95 * 0.3
    calls.clear()
    since = time.monotonic()
    watch.wait("g", "pc1", is_up, since=since, timeout=10, what="start")  # another kind
    assert calls and min(calls) - since < 0.25
