# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark 1: a full-site reset on the engine simulator.

Each size gets one simulator process, seeded once: a reset leaves every VM
running again, so the clients and the repetitions run one after the other
on the same site. Times are reported in engine seconds (wall / time_scale).
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

from . import baselines
from .engine import LATENCIES, VMS_PER_ROOM, EngineProcess, room_name, vm_name
from .site import site_config


def floor_seconds(vms: int, batch: int, pause: float = 0.0) -> float:
    """What one global throttle allows when VMs overlap their phases: batches of
    restores, each opening when the previous one ends (or `pause` after it
    opened, if longer), between the first stop and the last start."""
    batches = math.ceil(vms / batch)
    restore = LATENCIES["restore"]
    return LATENCIES["stop"] + restore + (batches - 1) * max(restore, pause) + LATENCIES["start"]


def summary(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def runs_row(runs: List[Dict[str, Any]], vms: int, floor: float) -> Dict[str, Any]:
    """What a table row says of vdictl's runs at one size, whatever the simulator:
    wall and ratio to the floor, requests, connections, snapshot peak, memory,
    CPU and the median timeline."""
    walls = [r["wall"] for r in runs]
    return {
        "floor": floor,
        "vdictl": summary(walls),
        "ratio": summary([w / floor for w in walls]),
        "requests_per_vm": statistics.median(r["stats"]["requests"] / vms for r in runs),
        "requests_by_kind": runs[0]["stats"]["by_kind"],
        "connections": max(r["stats"]["connections_opened"] for r in runs),
        "max_snapshot_ops": max(r["stats"]["max_snapshot_ops_in_flight"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
        "cpu_ms_per_vm": statistics.median(r["cpu"] for r in runs) * 1000 / vms,
        "timeline": {k: statistics.median(r["stats"]["timeline"].get(k, 0.0) for r in runs)
                     for k in runs[0]["stats"]["timeline"]},
    }


def run_vdictl(engine: EngineProcess, config: str, workdir: str, batch: int) -> Dict[str, Any]:
    """One `vdictl virtroom-reset --all` in a child process."""
    result = os.path.join(workdir, "result.json")
    cmd = [sys.executable, "-m", "benchmarks.vdictl_run", "--scale", repr(engine.time_scale),
           "--result", result]
    cmd += ["--", "--config", config, "virtroom-reset", "--all", "--output", "json"]
    engine.reset_stats()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=baselines_repo())
    with open(result) as fh:
        res = json.load(fh)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    outcomes = [r["outcome"] for r in report.get("results", [])]
    stats = engine.stats()
    stats["timeline"] = timeline(stats, batch, engine.time_scale)
    del stats["actions"]
    return {"wall": res["wall"] / engine.time_scale, "rc": res["rc"],
            "rss_mb": res["maxrss_mb"], "cpu": res["cpu"], "ok": outcomes.count("ok"),
            "failed": len(outcomes) - outcomes.count("ok"), "stats": stats,
            "stderr": proc.stderr[-2000:] if res["rc"] else ""}


def timeline(stats: Dict[str, Any], batch: int, scale: float) -> Dict[str, float]:
    """Where a reset's wall time went, in engine seconds, from the engine's side.

    lead_in: first request to first stop (login, inventory, snapshot lists);
    to_first_restore: first stop to first restore (ideal: the stop latency);
    restores: first restore sent to last one finished (ideal: batches x restore);
    slot_gap: mean time a freed restore slot stayed unused (detecting the end,
    then the next VM's lookups and its restore request); tail: last restore
    finished to last request (ideal: the start latency, plus one poll).
    """
    acts = stats["actions"]
    stops = sorted(t for t, a in acts if a == "stop")
    posts = sorted(t for t, a in acts if a == "restore")
    if not stops or not posts:
        return {}
    restore = LATENCIES["restore"] * scale
    ends = sorted(t + restore for t in posts)
    gaps = [posts[k] - ends[k - batch] for k in range(batch, len(posts))]
    return {k: v / scale for k, v in {
        "lead_in": stops[0] - stats["first"],
        "to_first_restore": posts[0] - stops[0],
        "restores": ends[-1] - posts[0],
        "slot_gap": statistics.mean(gaps) if gaps else 0.0,
        "tail": stats["last"] - ends[-1],
    }.items()}


def baselines_repo() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _timed(engine: EngineProcess, func, *args) -> Dict[str, Any]:
    engine.reset_stats()
    t0 = time.perf_counter()
    func(engine.url, engine.username, engine.password, *args)
    wall = (time.perf_counter() - t0) / engine.time_scale
    stats = engine.stats()
    del stats["actions"]
    return {"wall": wall, "stats": stats}


def bench_size(rooms: int, batches: List[int], *, scale: float, reps: int,
               sequential_rooms: int = 1, log=print) -> List[Dict[str, Any]]:
    """Every client at one site size; one row per batch size."""
    vms = rooms * VMS_PER_ROOM
    names = [vm_name(room_name(r), i) for r in range(1, rooms + 1)
             for i in range(1, VMS_PER_ROOM + 1)]
    rows = []
    with EngineProcess(scale) as engine, tempfile.TemporaryDirectory() as tmp:
        engine.seed(rooms)
        # Sequential: per-VM cost does not depend on the site, so it runs on
        # the first room(s) and is extrapolated (marked as such).
        sample = names[:sequential_rooms * VMS_PER_ROOM]
        seq = _timed(engine, baselines.sequential_reset, sample, scale)
        seq_per_vm = seq["wall"] / len(sample)
        seq_requests = seq["stats"]["requests"] / len(sample)
        log(f"  sequential: {seq_per_vm:.1f} s/VM, {seq_requests:.1f} requests/VM")
        for batch in batches:
            config = os.path.join(tmp, f"site-{batch}.conf")
            with open(config, "w") as fh:
                fh.write(site_config(rooms=rooms, batch=batch, url=engine.url))
            runs = []
            for rep in range(reps):
                runs.append(run_vdictl(engine, config, tmp, batch))
                r = runs[-1]
                log(f"  vdictl b={batch} run {rep + 1}: {r['wall']:.0f} s, "
                    f"{r['stats']['requests'] / vms:.1f} req/VM, rc={r['rc']}"
                    + (f"\n{r['stderr']}" if r["stderr"] else ""))
            barrier = _timed(engine, baselines.phase_barrier_reset, names, batch, scale)
            log(f"  phase-barrier b={batch}: {barrier['wall']:.0f} s")
            rows.append({
                "rooms": rooms, "vms": vms, "batch": batch, "scale": scale,
                **runs_row(runs, vms, floor_seconds(vms, batch)),
                "sso_logins": max(r["stats"]["sso_logins"] for r in runs),
                "all_ok": all(r["rc"] == 0 and r["ok"] == vms for r in runs),
                "barrier": barrier["wall"],
                "barrier_requests_per_vm": barrier["stats"]["requests"] / vms,
                "barrier_sso_logins": barrier["stats"]["sso_logins"],
                "sequential": seq_per_vm * vms,
                "sequential_per_vm": seq_per_vm,
                "sequential_requests_per_vm": seq_requests,
                "sequential_measured_vms": len(sample),
            })
    return rows


def bench_scales(rooms: int, batch: int, scales: List[float], *, log=print) -> List[Dict[str, Any]]:
    """One vdictl run of the same site at several time scales.

    Engine latencies and vdictl's waits shrink with the scale; its CPU time
    does not, so an excess over the floor that falls as the scale grows is
    CPU (client and simulator on the same cores), not scheduling.
    """
    vms = rooms * VMS_PER_ROOM
    out = []
    for scale in scales:
        with EngineProcess(scale) as engine, tempfile.TemporaryDirectory() as tmp:
            engine.seed(rooms)
            config = os.path.join(tmp, "site.conf")
            with open(config, "w") as fh:
                fh.write(site_config(rooms=rooms, batch=batch, url=engine.url))
            r = run_vdictl(engine, config, tmp, batch)
        floor = floor_seconds(vms, batch)
        out.append({"scale": scale, "rooms": rooms, "batch": batch, "wall": r["wall"],
                    "ratio": r["wall"] / floor, "ok": r["rc"] == 0 and r["ok"] == vms,
                    "timeline": r["stats"]["timeline"],
                    "requests_per_vm": r["stats"]["requests"] / vms})
        log(f"  scale {scale:g}: {r['wall']:.0f} s = {r['wall'] / floor:.2f}x the floor")
    return out
