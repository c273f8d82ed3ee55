"""records/last_resets.py: the status page's one pass over the reset records
gives each room and VM the answer history.last_runs and
history.last_vm_results give them one room at a time."""

from __future__ import annotations

import os

from vdictl.records import history
from vdictl.records.last_resets import last_resets


def vm(room, name, outcome="ok", reason=""):
    return {"room": room, "vm": name, "action": "reset", "outcome": outcome, "reason": reason}


def write(directory, rooms, vms, *, only_vms=(), finish=True, error=""):
    record = history.RunRecord(directory, "reset", rooms, only_vms=only_vms)
    record.start()
    if finish:
        failed = any(v["outcome"] == "failed" for v in vms)
        record.finish(exit_status=1 if failed else 0, status="partial" if failed else "success",
                      vms=vms, error=error)


def test_one_pass_gives_what_the_per_room_readers_give(tmp_path):
    directory = str(tmp_path)
    lab1 = [f"lab1-d{i}" for i in range(1, 4)]
    lab2 = [f"lab2-d{i}" for i in range(1, 3)]
    write(directory, ["lab1", "lab2", "kiosk"],
          [vm("lab1", n) for n in lab1] + [vm("lab2", n) for n in lab2]
          + [vm("kiosk", "kiosk-1", "skipped", "stateless")])
    write(directory, ["lab1"], [vm("lab1", "lab1-d2", "failed", "VM lab1-d2: boom")],
          only_vms=["lab1-d2"])
    write(directory, ["lab2"], [], error="engine2 unreachable")
    write(directory, ["lab1"], [], finish=False)  # running: this process is alive
    rooms = {"lab1": lab1, "lab2": lab2, "kiosk": ["kiosk-1"], "new": ["new-1"]}
    runs, results = last_resets(directory, rooms)
    for room in rooms:
        expected = history.last_runs(directory, room).get("reset")
        assert runs.get(room) == expected, room
    assert results == history.last_vm_results(directory, "reset",
                                              [n for names in rooms.values() for n in names])
    # what those answers are
    assert (runs["lab1"].result, runs["lab2"].result, runs["lab2"].error) == (
        "running", "failed", "engine2 unreachable")
    assert runs["kiosk"].counts == {"skipped": 1} and "new" not in runs
    assert results["lab1-d2"][1:] == ("failed", "VM lab1-d2: boom")
    assert results["lab1-d1"][1] == "ok" and "new-1" not in results
    assert os.getpid() == int(runs["lab1"].run.rsplit("-", 1)[1])


def test_a_vacated_runs_skip_does_not_hide_its_earlier_reset_of_the_desk(tmp_path):
    """The status page: a --vacated run reset lab1-d1 after the night; a later one
    found it in use again (skipped): the desk's last reset is still the first's."""
    from vdictl.cli.between_lessons import newer_vacated_resets

    directory = str(tmp_path)
    write(directory, ["lab1"], [vm("lab1", "lab1-d1"), vm("lab1", "lab1-d2")])
    night = last_resets(directory, {"lab1": ["lab1-d1", "lab1-d2"]})[1]
    ended = []
    for outcome, reason in (("ok", ""), ("skipped", "in use again")):
        record = history.RunRecord(directory, "reset-vacated", ["lab1"])
        record.start()
        record.finish(exit_status=0, status="success",
                      vms=[vm("lab1", "lab1-d1", outcome, reason)])
        ended.append(history.parse_time(record.data["ended"]))
    assert history.last_vm_results(directory, "reset-vacated", ["lab1-d1"]) == {
        "lab1-d1": (ended[1], "skipped", "in use again")}   # the newest vacated run's word
    results = dict(night)
    newer_vacated_resets(directory, {"lab1": ["lab1-d1", "lab1-d2"]}, results)
    assert results == {"lab1-d1": (ended[0], "ok", ""), "lab1-d2": night["lab1-d2"]}
