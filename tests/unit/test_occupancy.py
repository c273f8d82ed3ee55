"""The occupancy record (vdictl.records.occupancy): what a probe changes, the
desk states the views count, the bound, and two writers at once."""

from __future__ import annotations

import json
import multiprocessing

from vdictl.records import occupancy
from vdictl.records.occupancy import (IDLE, IN_USE, VACATED, Desk, Occupancy, all_desks,
                                      room_counts, seen, was_reset)

ANNA = [{"kind": "console", "user": None, "client": "192.0.2.7", "since": 50.0,
         "source": "qemu vnc"}]


def test_a_desk_is_free_since_the_first_probe_that_found_it_free():
    desk = seen(Desk(), running=True, sessions=ANNA, now=100.0)
    assert (desk.state, desk.in_use_since, desk.last_used) == (IN_USE, 50.0, 100.0)
    desk = seen(desk, running=True, sessions=[], now=200.0)
    assert (desk.state, desk.free_since, desk.last_used) == (VACATED, 200.0, 100.0)
    desk = seen(desk, running=True, sessions=[], now=300.0)
    assert desk.free_since == 200.0                    # still free: unchanged


def test_a_probe_that_cannot_tell_starts_the_free_time_again():
    desk = seen(seen(Desk(), running=True, sessions=ANNA, now=100.0),
                running=True, sessions=[], now=200.0)
    desk = seen(desk, running=True, sessions=None, now=300.0)
    assert (desk.state, desk.free_since) == ("", None)
    assert seen(desk, running=True, sessions=[], now=400.0).free_since == 400.0


def test_a_reset_makes_a_used_desk_idle_and_its_use_old():
    desk = seen(seen(Desk(), running=True, sessions=ANNA, now=100.0),
                running=True, sessions=[], now=200.0)
    desk = was_reset(desk, running=True, now=300.0)
    assert (desk.state, desk.used_since_reset, desk.idle_since()) == (IDLE, False, 300.0)
    assert seen(desk, running=True, sessions=ANNA, now=400.0).used_since_reset


def test_idle_counts_from_the_start_of_a_desk_not_from_an_older_free_time():
    desk = seen(Desk(), running=False, sessions=[], now=100.0)
    desk = seen(desk, running=True, sessions=[], now=5000.0)
    assert desk.idle_since() == 5000.0


def test_the_record_is_one_file_per_endpoint_replaced_whole(tmp_path):
    record = Occupancy(str(tmp_path), clock=lambda: 100.0)
    record.observe("qemu:///system", [(("lab1", "vd01"), True, ANNA)])
    record.observe("https://engine/ovirt-engine/api", [(("lab1", "vd02"), True, [])])
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "https%3A%2F%2Fengine%2Fovirt-engine%2Fapi.json", "qemu%3A%2F%2F%2Fsystem.json"]
    assert not list(tmp_path.glob(".*.tmp"))
    data = json.loads((tmp_path / "qemu%3A%2F%2F%2Fsystem.json").read_text())
    assert data["rooms"]["lab1"]["vd01"]["last_used"] == 100.0
    assert room_counts(all_desks(str(tmp_path)), "lab1") == {IN_USE: 1, VACATED: 0, IDLE: 1}


def test_the_record_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(occupancy, "MAX_DESKS", 3)
    clock = iter(range(10))
    record = Occupancy(str(tmp_path), clock=lambda: float(next(clock)))
    for n in range(5):
        record.observe("e", [(("lab1", f"vd{n}"), True, ANNA * 20)])
    desks = record.desks("e")
    assert sorted(vm for _, vm in desks) == ["vd2", "vd3", "vd4"]   # probed last
    assert len(desks[("lab1", "vd4")].users) == occupancy.MAX_USERS


def _observe_many(directory: str, room: str) -> None:
    record = Occupancy(directory)
    for n in range(40):
        record.observe("e", [((room, f"vd{n}"), True, [])])


def test_two_runs_writing_at_once_lose_nothing(tmp_path):
    runs = [multiprocessing.Process(target=_observe_many, args=(str(tmp_path), room))
            for room in ("lab1", "lab2")]
    for process in runs:
        process.start()
    for process in runs:
        process.join(60)
    assert len(Occupancy(str(tmp_path)).desks("e")) == 80


def test_a_run_that_holds_its_rooms_writes_the_desks_in_one_batch(tmp_path):
    """write_behind: 100 resets cost no rewrite of the endpoint's file each
    (23 ms of CPU apiece at 1,000 desks made the 10-engine night 1.31x its
    floor); flush() (Session.close) writes them all, each change in turn."""
    from vdictl.records.occupancy import Occupancy

    record = Occupancy(str(tmp_path))
    record.write_behind = True
    endpoint = "https://engine.example.org/ovirt-engine/api"
    for i in range(100):
        record.reset_done(endpoint, ("lab", f"pc{i:03d}"), running=False)
        record.started(endpoint, ("lab", f"pc{i:03d}"))
    assert record.desks(endpoint) == {}            # nothing written yet
    record.flush()
    desks = record.desks(endpoint)
    assert len(desks) == 100
    assert all(d.last_reset is not None and d.running for d in desks.values())


def test_a_run_parses_the_file_again_only_when_another_run_replaced_it(tmp_path):
    """A reset asks for its desk once per VM (ops.reset, reset_by_another_run):
    the endpoint's file (10 ms of CPU to parse at 1,000 desks) is parsed once,
    and again as soon as another run has written it."""
    ours, other = Occupancy(str(tmp_path), clock=lambda: 1.0), Occupancy(str(tmp_path))
    other.observe("e", [(("lab1", f"vd{n}"), True, []) for n in range(3)])
    first = ours.desk("e", "lab1", "vd1")
    assert ours.desk("e", "lab1", "vd1") is first          # not parsed again
    assert ours.desks("e")[("lab1", "vd1")] is first
    assert first.last_reset is None
    other.reset_done("e", ("lab1", "vd1"), running=True)   # another run resets the desk
    assert ours.desk("e", "lab1", "vd1").last_reset is not None
    ours.desks("e").clear()                                # a copy: the next reader's intact
    assert len(ours.desks("e")) == 3
