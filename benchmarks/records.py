# SPDX-License-Identifier: GPL-3.0-or-later
"""Run records at the size of a large site (issue 24 item 5): a state dir of
`runs` nightly records of rooms x VMs, written through the real
vdictl.records.history, then `vdictl status --all` over it.

    build_state(directory, rooms=400, vms_per_room=25, runs=60)

The last night has one room whose VMs all failed (an engine down), so
`status` has a last run that failed and a last success to look back for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILED_ROOM = 0  # index of the room whose VMs fail in the last run
VDICTL = os.path.join(os.path.dirname(sys.executable), "vdictl")


def room_names(rooms: int) -> List[str]:
    return [f"lab{i + 1:03d}" for i in range(rooms)]


def vm_results(rooms: int, vms_per_room: int, failed_room: Optional[int] = None,
               ) -> List[Dict[str, Any]]:
    """The per-VM dicts of one run (as vdictl.result.VmResult.to_dict gives them)."""
    out = []
    for r, room in enumerate(room_names(rooms)):
        for i in range(vms_per_room):
            failed = r == failed_room
            out.append({
                "room": room, "vm": f"{room}-pc{i + 1:02d}", "action": "reset",
                "outcome": "failed" if failed else "ok",
                "reason": ("ovirt: engine2 unreachable, given up for this run after 30s "
                           "without an answer: Connection refused" if failed else ""),
                "steps": [] if failed else ["power off", "restore snapshot 'vdictl rollout "
                                            "at 2026-11-30 14:02'", "start"],
                "duration": 41.3, "in_use": None})
    return out


def write_run(directory: str, rooms: int, vms_per_room: int, keep: int,
              failed_room: Optional[int] = None) -> Dict[str, float]:
    """One run's record written and pruned as a run does; seconds of each step."""
    from vdictl.records import history

    vms = vm_results(rooms, vms_per_room, failed_room)
    began = time.perf_counter()
    record = history.RunRecord(directory, "reset", room_names(rooms))
    record.start()
    started = time.perf_counter()
    record.finish(exit_status=1 if failed_room is not None else 0,
                  status="partial" if failed_room is not None else "success", vms=vms)
    finished = time.perf_counter()
    history.prune(directory, "reset", keep)
    return {"start": started - began, "finish": finished - started,
            "prune": time.perf_counter() - finished}


def build_state(directory: str, rooms: int = 400, vms_per_room: int = 25, runs: int = 60,
                keep: int = 60) -> List[Dict[str, float]]:
    """`runs` nightly records of the whole site; the last has FAILED_ROOM failed."""
    return [write_run(directory, rooms, vms_per_room, keep,
                      FAILED_ROOM if n == runs - 1 else None) for n in range(runs)]


def site_config(path: str, rooms: int, vms_per_room: int) -> None:
    """A config of the rooms (never contacted: status reads records only)."""
    lines = ["[general]", "  [[connect]]", "  driver = ovirt", "  url = https://engine/api",
             "  username = admin@internal", "  password = x", ""]
    for room in room_names(rooms):
        lines += [f"[room {room}]", "  template_name = tmpl",
                  '  snapshot_description = "vdictl rollout"',
                  '  reset_to_snapshot_regex = "^vdictl rollout"',
                  "  [[pcs]]", f'  ids = "1-{vms_per_room}"', '  names = "${roomname}-pc${id}"']
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def timed(func: Callable[[], Any], reps: int = 3) -> float:
    """The best of `reps` runs, in seconds."""
    best = float("inf")
    for _ in range(reps):
        began = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - began)
    return best


def status_cli(config: str, state: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VDICTL_STATE_DIR=state)
    return subprocess.run([VDICTL, "--config", config, "status",
                           "--all", "-o", "json"], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=600)


def bench_records(directory: str, *, rooms: int = 400, vms_per_room: int = 25,
                  runs: int = 60, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Build the state dir and measure the writes, the reads and `status --all`."""
    from vdictl.records import history, store

    state = os.path.join(directory, "state")
    log(f"  {runs} records of {rooms} rooms x {vms_per_room} VMs ...")
    writes = build_state(state, rooms, vms_per_room, runs)
    config = os.path.join(directory, "site.conf")
    site_config(config, rooms, vms_per_room)
    names = room_names(rooms)

    def status_rooms() -> None:
        for room in names:
            history.last_runs(state, room)
            history.last_success(state, room, "reset")

    cli = []
    for _ in range(3):
        began = time.perf_counter()
        result = status_cli(config, state)
        cli.append(time.perf_counter() - began)
        assert result.returncode == 1, result.stderr   # the failed room
    last = writes[-1]
    return {
        "rooms": rooms, "vms": rooms * vms_per_room, "runs": runs,
        "db_bytes": os.path.getsize(store.db_path(state)),
        "write_start": min(w["start"] for w in writes),
        "write_finish": sorted(w["finish"] for w in writes)[len(writes) // 2],
        "prune": last["prune"],
        "read_whole": timed(lambda: next(history.records(state, "reset"))),
        "status_records": timed(status_rooms),
        "status_cli": min(cli),
        "help_cli": timed(lambda: subprocess.run([VDICTL, "--config",
                                                  config, "rooms"], capture_output=True,
                                                 cwd=REPO, timeout=600), reps=2),
    }


def write_legacy(directory: str, rooms: int, vms_per_room: int, runs: int) -> None:
    """`runs` records as vdictl wrote them before the database: one JSON file per
    run in runs/reset/ (indent 1, as records/history.py wrote them)."""
    import json

    folder = os.path.join(directory, "runs", "reset")
    os.makedirs(folder, exist_ok=True)
    vms = vm_results(rooms, vms_per_room)
    for n in range(runs):
        run = f"20261001T010000.{n:06d}Z-{1000 + n}"
        with open(os.path.join(folder, f"{run}.json"), "w") as fh:
            json.dump({"format": 1, "run": run, "command": "reset", "rooms": room_names(rooms),
                       "only_vms": [], "pid": 1000 + n, "started": "2026-10-01T01:00:00+00:00",
                       "ended": "2026-10-01T01:40:00+00:00", "duration": 2400.0,
                       "status": "success", "exit_status": 0, "error": "", "notes": [],
                       "vms": vms, "run_by": None}, fh, indent=1)


def bench_migration(directory: str, rooms: int, vms_per_room: int, runs: int,
                    log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Seconds to move `runs` JSON records of an earlier version into the database
    (the first open of the state dir by the new version)."""
    from vdictl.records import store

    state = os.path.join(directory, "legacy")
    log(f"  migration of {runs} JSON records of {rooms * vms_per_room} VMs ...")
    write_legacy(state, rooms, vms_per_room, runs)
    size = sum(os.path.getsize(os.path.join(state, "runs", "reset", n))
               for n in os.listdir(os.path.join(state, "runs", "reset")))
    began = time.perf_counter()
    store.reader(state)
    return {"migrate": time.perf_counter() - began, "json_bytes": size, "runs": runs}


def records_section(res: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## Run records at the size of a site", ""]
    if not res:
        return out + ["Not run.", ""]
    mb = res["db_bytes"] / 1e6
    out += [
        f"{res['runs']} nightly records of {res['rooms']} rooms × "
        f"{res['vms'] // res['rooms']} VMs ({res['vms']:,} VMs a run), written through "
        "`records/history.py` into `runs/records.sqlite3` "
        f"({mb:.0f} MB), then read (`benchmarks/records.py`); best of 3 unless said.", "",
        "| what | seconds | target |", "|---|---:|---|",
        f"| write a run's \"running\" record (start) | {res['write_start']:.3f} | |",
        f"| write a {res['vms']:,}-VM record at the run's end (median of {res['runs']}) | "
        f"{res['write_finish']:.3f} | well under 1 s {_ok(res['write_finish'] < 0.5)} |",
        f"| prune to `keep_runs` = 60 (the {res['runs']}th run) | {res['prune']:.3f} | cheap |",
        f"| read that record back whole | {res['read_whole']:.3f} | well under 1 s "
        f"{_ok(res['read_whole'] < 0.5)} |",
        f"| what `status --all` reads: last run and last success of {res['rooms']} rooms | "
        f"{res['status_records']:.3f} | |",
        f"| `vdictl status --all -o json`, the whole command | {res['status_cli']:.2f} | "
        f"under 1 s {_ok(res['status_cli'] < 1.0)} |",
        f"| `vdictl rooms` on the same config (start-up and reading the file) | "
        f"{res['help_cli']:.2f} | |",
    ]
    if "migrate" in res:
        out.append(f"| move {res['migrate_runs']} JSON records of an earlier version "
                   f"({res['json_bytes'] / 1e6:.0f} MB) into the database, once | "
                   f"{res['migrate']:.1f} | |")
    return out + [""]


def _ok(good: bool) -> str:
    return "✓" if good else "✗"


def bench(log: Callable[[str], None], quick: bool = False) -> Dict[str, Any]:
    import tempfile

    rooms, runs = (40, 6) if quick else (400, 60)
    with tempfile.TemporaryDirectory(prefix="vdictl-records-") as directory:
        res = bench_records(directory, rooms=rooms, runs=runs, log=log)
        migration = bench_migration(directory, rooms, 25, runs, log=log)
    res.update(migrate=migration["migrate"], json_bytes=migration["json_bytes"],
               migrate_runs=migration["runs"])
    return res
