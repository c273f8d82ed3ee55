# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark 5: a site reset on the Proxmox VE simulator.

One simulator process (benchmarks/pve.py), seeded once with R rooms of 25
running VMs on two nodes: a reset leaves every VM running again, so the
sequential loop and the vdictl runs go one after the other on the same site.
Times are reported in simulated seconds (wall / time_scale).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from . import qm_loop
from .pve import DURATIONS, SNAPSHOT, VMS_PER_ROOM, PveProcess, room_name, vm_name
from .site import pve_site_config
from .site_reset import runs_row

STOP, ROLLBACK, START = DURATIONS["qmstop"], DURATIONS["qmrollback"], DURATIONS["qmstart"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def floor_seconds(vms: int, batch: int) -> float:
    """One global throttle of `batch` rollbacks, each slot reused the moment it
    frees: the first stop, ceil(VMs / batch) rollbacks one after the other,
    the last start."""
    return STOP + math.ceil(vms / batch) * ROLLBACK + START




def timeline(stats: Dict[str, Any], batch: int, scale: float) -> Dict[str, float]:
    """Where a reset's wall time went, in simulated seconds, seen from the simulator.

    lead_in: first request to first stop (login, inventory, snapshot lists);
    to_first_rollback: first stop sent to first rollback sent (ideal: the stop);
    rollbacks: first rollback sent to last one ended (ideal: batches x rollback);
    slot_gap: mean time from a rollback's end to the next rollback request on a
    batch slot (seeing the end, then the next VM's request); tail: last
    rollback ended to last request (ideal: the start).
    """
    acts = stats["actions"]
    stops = sorted(t for t, a in acts if a == "stop")
    posts = sorted(t for t, a in acts if a == "rollback")
    ends = sorted(t for t, kind in stats["ends"] if kind == "qmrollback")
    if not stops or not posts or len(ends) < len(posts):
        return {}
    gaps = [posts[k] - ends[k - batch] for k in range(batch, len(posts))]
    return {k: v / scale for k, v in {
        "lead_in": stops[0] - stats["first"],
        "to_first_rollback": posts[0] - stops[0],
        "rollbacks": ends[-1] - posts[0],
        "slot_gap": statistics.mean(gaps) if gaps else 0.0,
        "tail": stats["last"] - ends[-1],
    }.items()}


def run_vdictl(sim: PveProcess, config: str, workdir: str, batch: int) -> Dict[str, Any]:
    """One `vdictl virtroom-reset --all` in a child process."""
    result = os.path.join(workdir, "result.json")
    cmd = [sys.executable, "-m", "benchmarks.vdictl_run", "--driver", "proxmox",
           "--scale", repr(sim.time_scale), "--result", result,
           "--", "--config", config, "virtroom-reset", "--all", "--output", "json"]
    sim.reset_stats()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    with open(result) as fh:
        res = json.load(fh)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    outcomes = [r["outcome"] for r in report.get("results", [])]
    stats = sim.stats()
    stats["timeline"] = timeline(stats, batch, sim.time_scale)
    del stats["actions"], stats["ends"]
    return {"wall": res["wall"] / sim.time_scale, "rc": res["rc"],
            "rss_mb": res["maxrss_mb"], "cpu": res["cpu"], "ok": outcomes.count("ok"),
            "failed": len(outcomes) - outcomes.count("ok"), "stats": stats,
            "stderr": proc.stderr[-2000:] if res["rc"] else ""}


def run_sequential(sim: PveProcess, names: List[str]) -> Dict[str, Any]:
    sim.reset_stats()
    t0 = time.perf_counter()
    qm_loop.sequential_reset(sim.url, sim.username, sim.password, sim.ca_file, names,
                             SNAPSHOT, sim.time_scale)
    wall = (time.perf_counter() - t0) / sim.time_scale
    stats = sim.stats()
    del stats["actions"], stats["ends"]
    return {"wall": wall, "stats": stats}


def all_reset(stats: Dict[str, Any], vms: int) -> bool:
    """Every VM rolled back and running again, nothing locked, no task failed."""
    return (stats["statuses"] == {"running": vms} and stats["rolled_back"] == vms
            and not stats["locked"] and not stats["tasks_failed"])


def bench_pve(rooms: int, batches: List[int], *, scale: float, reps: int,
              sequential_vms: int = VMS_PER_ROOM, log=print) -> List[Dict[str, Any]]:
    """The sequential loop (measured on the first `sequential_vms` VMs, one
    room, and extrapolated: its cost per VM does not depend on the site) and
    vdictl at each batch size; one row per batch size."""
    vms = rooms * VMS_PER_ROOM
    names = [vm_name(room_name(r), i) for r in range(1, rooms + 1)
             for i in range(1, VMS_PER_ROOM + 1)]
    rows = []
    with PveProcess(scale) as sim, tempfile.TemporaryDirectory() as tmp:
        seeded = sim.seed(rooms)
        if seeded != vms:
            raise RuntimeError(f"the simulator holds {seeded} VMs, not {vms}")
        password_file = os.path.join(tmp, "password")
        with open(password_file, "w") as fh:
            fh.write(sim.password + "\n")
        os.chmod(password_file, 0o600)
        sample = names[:sequential_vms]
        seq = run_sequential(sim, sample)
        seq_per_vm = seq["wall"] / len(sample)
        seq_requests = seq["stats"]["requests"] / len(sample)
        log(f"  sequential qm loop: {seq_per_vm:.1f} s/VM, {seq_requests:.1f} requests/VM")
        for batch in batches:
            config = os.path.join(tmp, f"site-{batch}.conf")
            with open(config, "w") as fh:
                fh.write(pve_site_config(rooms=rooms, batch=batch, url=sim.url,
                                         ca_file=sim.ca_file, password_file=password_file))
            runs = []
            for rep in range(reps):
                runs.append(run_vdictl(sim, config, tmp, batch))
                r = runs[-1]
                log(f"  vdictl b={batch} run {rep + 1}: {r['wall']:.0f} s "
                    f"({r['wall'] / floor_seconds(vms, batch):.2f}x the floor), "
                    f"{r['stats']['requests'] / vms:.1f} req/VM, rc={r['rc']}"
                    + (f"\n{r['stderr']}" if r["stderr"] else ""))
            rows.append({
                "rooms": rooms, "vms": vms, "batch": batch, "scale": scale,
                "nodes": 2 if rooms > 1 else 1,
                **runs_row(runs, vms, floor_seconds(vms, batch)),
                "logins": max(r["stats"]["logins"] for r in runs),
                "all_ok": all(r["rc"] == 0 and r["ok"] == vms and all_reset(r["stats"], vms)
                              for r in runs),
                "sequential": seq_per_vm * vms,
                "sequential_per_vm": seq_per_vm,
                "sequential_requests_per_vm": seq_requests,
                "sequential_logins": seq["stats"]["logins"],
                "sequential_measured_vms": len(sample),
            })
    return rows
