"""A --vacated run and the nightly reset on the same room at once (issue 26):
real processes, real flocks, on the engine simulator whose operations take
real time (time_scale). Both finish with exit 0, and no VM is worked on by
both: the engine sees one stop, one restore and one start per VM.

- The nightly run holds the room for its whole run: a --vacated run started
  meanwhile leaves the room to it with a note (exit 0, nothing done).
- A --vacated run holds the room only while it picks its desks, then the
  desk's VM lock alone: a nightly run started while it resets that desk takes
  the room at once, resets the other VMs, waits for that desk alone and
  leaves it (reset by the other run after the nightly began: clean).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

from vdictl.lock import default_lock_dir, lock_file_name, read_holder
from vdictl.vm_lock import vm_lock_file_name

from tests.waiting import wait_until

VMS = [f"lab-pc{i:02d}" for i in range(1, 5)]


def vacated_desk(site, vm="lab-pc02"):
    """The room running, `vm` used, then seen free (its grace starts)."""
    assert site.report("virtroom-start", "lab")[0] == 0
    site.sim.settle()
    site.sim.add_console_session(vm, "192.0.2.7")
    assert site.report("virtroom-reset", "lab", "--vacated")[0] == 0
    site.sim.disconnect_console(vm)
    code, data = site.report("virtroom-reset", "lab", "--vacated", "--grace", "1h")
    assert (code, data["left_alone"]["vacated within the grace"]) == (0, 1)


def worked_on(site, since):
    """(VM, stop/restore/start) of each state-changing request to the engine since `since`."""
    ids = {site.sim.vm(vm).id: vm for vm in VMS}
    found = Counter()
    for r in site.sim.requests[since:]:
        parts = r["path"].split("/")
        if r["method"] == "POST" and parts[-1] in ("stop", "restore", "start"):
            vm_id = parts[parts.index("vms") + 1]
            found[(ids.get(vm_id, vm_id), parts[-1])] += 1
    return found


def holder(path):
    return read_holder(path) if os.path.exists(path) else None


def test_a_vacated_run_leaves_a_room_the_nightly_run_works_on(site_factory):
    site = site_factory({"lab": 4}, sim_knobs={"time_scale": 0.05})
    vacated_desk(site)
    since = len(site.sim.requests)
    nightly = site.popen("virtroom-reset", "lab", "-o", "json")
    room_lock = os.path.join(default_lock_dir(), lock_file_name("lab"))
    wait_until(lambda: holder(room_lock) == nightly.pid, interval=0.02,
               what="the nightly run to hold the room")
    code, data = site.report("virtroom-reset", "lab", "--vacated", "--grace", "0s")
    assert code == 0, data
    assert data["results"] == []
    assert f"room 'lab' left alone: pid {nightly.pid} works on the whole room" in data["notes"]
    out, err = nightly.communicate(timeout=120)
    assert nightly.returncode == 0, err
    assert {r["vm"]: r["outcome"] for r in json.loads(out)["results"]} == \
        {vm: "ok" for vm in VMS}
    assert worked_on(site, since) == Counter({(vm, op): 1 for vm in VMS
                                              for op in ("stop", "restore", "start")})


def test_a_nightly_run_started_while_a_vacated_run_resets_a_desk_waits_for_it_alone(
        site_factory):
    site = site_factory({"lab": 4}, sim_knobs={"time_scale": 0.2})   # a reset: about 6 s
    vacated_desk(site)
    since = len(site.sim.requests)
    vacated = site.popen("virtroom-reset", "lab", "--vacated", "--grace", "0s", "-o", "json")
    desk_lock = os.path.join(default_lock_dir(), vm_lock_file_name("lab", "lab-pc02"))
    room_lock = os.path.join(default_lock_dir(), lock_file_name("lab"))
    wait_until(lambda: holder(desk_lock) == vacated.pid, interval=0.02,
               what="the --vacated run to hold lab-pc02")
    started = time.monotonic()
    nightly = site.popen("virtroom-reset", "lab", "-o", "json")
    wait_until(lambda: holder(room_lock) == nightly.pid, interval=0.02,
               what="the nightly run to hold the room")
    assert vacated.poll() is None        # the room is the nightly's while pc02 is reset
    took_room = time.monotonic() - started

    out, err = vacated.communicate(timeout=120)
    assert vacated.returncode == 0, err
    assert [(r["vm"], r["outcome"]) for r in json.loads(out)["results"]] == [("lab-pc02", "ok")]
    out, err = nightly.communicate(timeout=120)
    assert nightly.returncode == 0, err
    results = {r["vm"]: r for r in json.loads(out)["results"]}
    assert {vm: r["outcome"] for vm, r in results.items()} == {
        vm: "skipped" if vm == "lab-pc02" else "ok" for vm in VMS}
    assert results["lab-pc02"]["reason"].startswith("reset by another run at ")
    assert results["lab-pc02"]["reason"].endswith(", after this run began: clean")
    assert results["lab-pc02"]["steps"][0].startswith("waited ")
    assert worked_on(site, since) == Counter({(vm, op): 1 for vm in VMS
                                              for op in ("stop", "restore", "start")})
    assert took_room < 10, took_room
