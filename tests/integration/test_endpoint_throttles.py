"""Each endpoint's own limits, beside the global ones, on engine simulators.

A [connect NAME] profile's [[throttle]] binds its engine alone; the global
[[throttle]] still bounds the whole site; and the VMs of engines listed one
after the other in the config work side by side, not in config order.
"""

from __future__ import annotations

import json
import threading

import pytest

pytest.importorskip("ovirtsdk4")

from tests.ovirt_cli import connect_ini  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

SNAPSHOT = "vdictl rollout"
ROOM = """
[room {room}]
    {connect}
    template_name = tmpl-win10
    snapshot_description = "{snapshot}"
    reset_to_snapshot_regex = "^{snapshot}$"
    reset_startvm = Always
    [[vms]]
    ids = "1-{count}"
    names = "{room}-${{id}}"
"""


def general(sim, *, batch, parallel, extra=""):
    return connect_ini(sim) + f"""    [[throttle]]
    snapshot_batch_size = {batch}
    snapshot_batch_pause = 0
    parallel = {parallel}
    operation_timeout = 60
    {extra}
"""


def profile(name, sim, throttle=""):
    text = connect_ini(sim, section=f"[connect {name}]")
    return text + (f"    [[throttle]]\n{throttle}" if throttle else "")


def room(name, count, connect=None):
    return ROOM.format(room=name, count=count, snapshot=SNAPSHOT,
                       connect=f"connect = {connect}" if connect else "")


def seed(sim, room_name, count):
    """Running VMs of `room_name` that vdictl owns, each with its snapshot."""
    for i in range(1, count + 1):
        name = f"{room_name}-{i:02d}"
        sim.add_vm(name, template="tmpl-win10",
                   comment=f"vdictl:room={room_name};subsection=vms;version=0.1.0")
        sim.add_snapshot(name, SNAPSHOT)
        sim.set_vm_status(name, "up")


@pytest.fixture
def engines(fast_polls):
    # restores of 0.2 s: long enough for the slots to fill
    sims = [make_engine(time_scale=0.01) for _ in range(3)]
    try:
        yield sims
    finally:
        for sim in sims:
            sim.stop()


class InFlight(threading.Thread):
    """The most snapshot operations in flight over all engines at once, sampled."""

    def __init__(self, sims):
        super().__init__(daemon=True)
        self.sims, self.peak, self.stop = sims, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.002):
            self.peak = max(self.peak, sum(s.snapshot_ops_in_flight for s in self.sims))


def reset_all(config, sims):
    sampler = InFlight(sims)
    sampler.start()
    try:
        result = vdictl(config, "virtroom-reset", "--all", "-o", "json")
    finally:
        sampler.stop.set()
        sampler.join()
    assert result.exit_code == 0, result.output
    assert {r["outcome"] for r in json.loads(result.stdout)["results"]} == {"ok"}
    return sampler.peak


def test_each_engine_at_its_own_limit_and_the_global_one_holding(engines, tmp_path):
    a, b, c = engines
    for sim, name in ((a, "ra"), (b, "rb"), (c, "rc")):
        seed(sim, name, 9)

    def site(batch):
        text = (general(a, batch=batch, parallel=8, extra="parallel_per_host = 2")
                + profile("b", b, "    snapshot_batch_size = 1\n")
                + profile("c", c, "    snapshot_batch_size = 3\n    parallel = 2\n")
                + room("ra", 9) + room("rb", 9, "b") + room("rc", 9, "c"))
        for sim in engines:
            sim.ops_in_flight_peak = 0
        return reset_all(write_config(tmp_path, text, mode=0o600), engines)

    # global limits wide: each engine at its own limit (a at parallel_per_host)
    site(batch=10)
    assert [s.max_snapshot_ops_in_flight for s in engines] == [2, 1, 3]
    # the global limit below their sum: it holds over all engines, and each
    # engine still stays within its own
    site_peak = site(batch=3)
    assert site_peak <= 3
    assert [s.max_snapshot_ops_in_flight <= own for s, own in zip(engines, (2, 1, 3))] == \
        [True] * 3


def restore_times(sim):
    return sorted(r["time"] for r in sim.requests
                  if r["method"] == "POST" and r["path"].endswith("/restore"))


@pytest.mark.parametrize("limits", [
    "parallel_per_host = 2",                                      # the per-host cap
    "",                                                            # the profiles' own
])
def test_engines_listed_one_after_the_other_work_side_by_side(engines, tmp_path, limits):
    a, b, _ = engines
    seed(a, "first", 14)
    seed(b, "second", 14)
    own = "" if limits else "    snapshot_batch_size = 2\n    parallel = 2\n"
    text = (general(a, batch=4, parallel=4, extra=limits)
            + profile("one", a, own) + profile("two", b, own)
            + room("first", 14, "one") + room("second", 14, "two"))
    config = write_config(tmp_path, text, mode=0o600)
    reset_all(config, [a, b])
    first, second = restore_times(a), restore_times(b)
    assert len(first) == len(second) == 14
    # the second engine's first restore comes with the first engine's first
    # batch, not once the first engine's backlog has drained
    assert second[0] < first[2], (first[:4], second[:4])
    assert a.max_snapshot_ops_in_flight == b.max_snapshot_ops_in_flight == 2
