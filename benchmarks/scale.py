# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark 6: a site of several engines, 1,000 VMs each, reset in one run.

Each engine is a simulator in a process of its own (benchmarks/engine.py),
seeded with 40 rooms of 25 VMs (its own room numbers); one config has a
`[connect engNN]` profile per engine with its own [[throttle]] (parallel 10,
snapshot_batch_size 10), the global limits 10 × the engines; one `vdictl
virtroom-reset --all` resets them all. The engines should work side by side,
so the floor is one engine's: stop + 100 restores of 20 s + start.

While vdictl runs, its process is sampled from /proc: threads, open
descriptors, and TCP sockets by the engine they go to. Then, at the largest
size, `virtroom-show --all`, `status --all` and `report --html` are timed as
an operator runs them (fresh processes, the run's records on disk).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

from .engine import LATENCIES, SNAPSHOT, VMS_PER_ROOM, EngineProcess, room_name
from .site_reset import floor_seconds

ROOMS_PER_ENGINE = 40
#: each engine's own limits ([connect NAME] [[throttle]])
PER_ENGINE = 10
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scale_config(engines: List[EngineProcess], rooms: int = ROOMS_PER_ENGINE) -> str:
    """One [connect engNN] profile per engine, its `rooms` rooms on it."""
    n = len(engines)
    first = engines[0]
    lines = ["[general]", "    [[connect]]", "    driver = ovirt", f'    url = "{first.url}"',
             f'    username = "{first.username}"', f'    password = "{first.password}"',
             "    insecure = True", "    [[throttle]]",
             f"    snapshot_batch_size = {PER_ENGINE * n}", "    snapshot_batch_pause = 0",
             f"    parallel = {PER_ENGINE * n}", "    operation_timeout = 3600"]
    for e, engine in enumerate(engines, 1):
        lines += [f"[connect eng{e:02d}]", "    driver = ovirt", f'    url = "{engine.url}"',
                  f'    username = "{engine.username}"',
                  f'    password = "{engine.password}"', "    insecure = True",
                  "    [[throttle]]", f"    parallel = {PER_ENGINE}",
                  f"    snapshot_batch_size = {PER_ENGINE}"]
    # engine by engine, as a site's config usually lists its rooms
    for e in range(1, n + 1):
        for r in range((e - 1) * rooms + 1, e * rooms + 1):
            lines += [f"[room {room_name(r)}]", f"    connect = eng{e:02d}",
                      '    template_name = "tmpl-win10"',
                      f'    snapshot_description = "{SNAPSHOT}"',
                      f'    reset_to_snapshot_regex = "^{SNAPSHOT}$"',
                      "    reset_startvm = Always", "    [[pcs]]",
                      f'    ids = "1-{VMS_PER_ROOM}"', '    names = "${roomname}-pc${id}"']
    return "\n".join(lines) + "\n"


def _ports(engines: List[EngineProcess]) -> Dict[int, int]:
    from urllib.parse import urlsplit

    return {urlsplit(e.url).port: i for i, e in enumerate(engines)}


def _sockets_by_engine(pid: int, ports: Dict[int, int]) -> Optional[Dict[int, int]]:
    """Open TCP sockets of `pid`, by engine index (from /proc: its descriptors'
    socket inodes, matched in its net/tcp tables to the remote port)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        counts: Dict[int, int] = {}
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}") as fh:
                next(fh)
                for line in fh:
                    f = line.split()
                    port = int(f[2].rsplit(":", 1)[1], 16)
                    if f[9] in inodes and port in ports:
                        counts[ports[port]] = counts.get(ports[port], 0) + 1
        return counts
    except OSError:
        return None


class Sampler(threading.Thread):
    """Peaks of a process's threads, descriptors and sockets per engine."""

    def __init__(self, pid: int, ports: Dict[int, int], interval: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.ports, self.interval = pid, ports, interval
        self.threads = self.fds = 0
        self.sockets: Dict[int, int] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with open(f"/proc/{self.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("Threads:"):
                            self.threads = max(self.threads, int(line.split()[1]))
                self.fds = max(self.fds, len(os.listdir(f"/proc/{self.pid}/fd")))
            except OSError:
                continue
            for engine, n in (_sockets_by_engine(self.pid, self.ports) or {}).items():
                self.sockets[engine] = max(self.sockets.get(engine, 0), n)


def _env(tmp: str) -> Dict[str, str]:
    return dict(os.environ, VDICTL_STATE_DIR=os.path.join(tmp, "state"),
                VDICTL_LOCK_DIR=os.path.join(tmp, "locks"), PYTHONHASHSEED="0")


def run_reset(engines: List[EngineProcess], config: str, tmp: str,
              scale: float) -> Dict[str, Any]:
    result = os.path.join(tmp, "result.json")
    cmd = [sys.executable, "-m", "benchmarks.vdictl_run", "--scale", repr(scale),
           "--result", result, "--", "--config", config, "virtroom-reset", "--all",
           "--output", "json"]
    for e in engines:
        e.reset_stats()
    with open(os.path.join(tmp, "out.json"), "w+") as out, \
            open(os.path.join(tmp, "err.txt"), "w+") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err, env=_env(tmp))
        sampler = Sampler(proc.pid, _ports(engines))
        sampler.start()
        proc.wait()
        sampler.stopped.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        text, stderr = out.read(), err.read()
    with open(result) as fh:
        res = json.load(fh)
    report = json.loads(text) if text.strip() else {}
    outcomes = [r["outcome"] for r in report.get("results", [])]
    stats = [e.stats() for e in engines]
    t0 = min(s["first"] for s in stats)
    first_restores = [min((t for t, a in s["actions"] if a == "restore"), default=t0) - t0
                      for s in stats]
    return {
        "wall": res["wall"] / scale, "rc": res["rc"], "cpu": res["cpu"],
        "rss_mb": res["maxrss_mb"], "ok": outcomes.count("ok"), "vms": len(outcomes),
        "first_progress": res.get("first_progress", 0) / scale,
        "first_done": res.get("first_done", 0) / scale,
        "threads": sampler.threads, "fds": sampler.fds,
        "sockets_max": max(sampler.sockets.values(), default=0),
        "requests": sum(s["requests"] for s in stats),
        "logins": [s["sso_logins"] for s in stats],
        "snapshot_peaks": [s["max_snapshot_ops_in_flight"] for s in stats],
        "first_restores": [t / scale for t in first_restores],
        "stderr": stderr[-1500:] if res["rc"] else "",
    }


def time_views(config: str, tmp: str) -> Dict[str, float]:
    """Fresh processes, as an operator runs them after the night's run (real seconds)."""
    views = {"virtroom-show --all": ["virtroom-show", "--all"],
             "status --all": ["status", "--all"],
             "report --html": ["report", "--html", os.path.join(tmp, "status.html")]}
    out = {}
    for label, args in views.items():
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", "from vdictl.cli import main; main()",
                               "--config", config, *args],
                              cwd=REPO, env=_env(tmp), capture_output=True, text=True)
        out[label] = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            out[label + " error"] = (proc.stderr or proc.stdout)[-300:]
    return out


def bench_scale(engine_counts: List[int], *, scale: float, log=print,
                rooms: int = ROOMS_PER_ENGINE) -> Dict[str, Any]:
    """One reset per site size (`rooms` rooms of 25 VMs per engine), the views
    at the largest."""
    rows = []
    views: Dict[str, float] = {}
    floor = floor_seconds(rooms * VMS_PER_ROOM, PER_ENGINE)
    for n in engine_counts:
        engines: List[EngineProcess] = []
        try:
            for e in range(n):
                engines.append(EngineProcess(scale))
                engines[-1].seed(rooms, first=e * rooms + 1)
            with tempfile.TemporaryDirectory() as tmp:
                config = os.path.join(tmp, "site.conf")
                with open(config, "w") as fh:
                    fh.write(scale_config(engines, rooms))
                log(f"  {n} engine(s), {n * rooms * VMS_PER_ROOM} VMs ...")
                load = os.getloadavg()[0]
                r = run_reset(engines, config, tmp, scale)
                vms = n * rooms * VMS_PER_ROOM
                row = {"engines": n, "vms": vms, "floor": floor, "ratio": r["wall"] / floor,
                       "load": load, "cpu_ms_per_vm": r["cpu"] * 1000 / vms,
                       "requests_per_vm": r["requests"] / vms,
                       "all_ok": r["rc"] == 0 and r["ok"] == vms, **r}
                rows.append(row)
                log(f"    {r['wall']:.0f} s = {row['ratio']:.2f}x the floor, "
                    f"{r['rss_mb']:.0f} MB, {row['cpu_ms_per_vm']:.1f} ms CPU/VM, "
                    f"{r['threads']} threads, ok {r['ok']}/{vms}, rc {r['rc']}"
                    + (f"\n{r['stderr']}" if r["stderr"] else ""))
                if n == max(engine_counts):
                    views = time_views(config, tmp)
                    log("    views: " + ", ".join(f"{k} {v:.1f} s" for k, v in views.items()
                                                 if isinstance(v, float)))
        finally:
            for engine in engines:
                engine.stop()
    return {"scale": scale, "rows": rows, "views": views, "per_engine": PER_ENGINE,
            "latencies": LATENCIES, "rooms_per_engine": rooms}
