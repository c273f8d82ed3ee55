# SPDX-License-Identifier: GPL-3.0-or-later
"""Between lessons (issue 26): what a `virtroom-reset --all --vacated` run costs
that finds nothing to do, on a 250-desk site (10 rooms of 25 running VMs).

    python -m benchmarks.vacated            # both simulators, 5 runs each
    python -m benchmarks.vacated --runs 3 --only ovirt

This is what cron runs every five minutes all day: its wall time (config
load, login, inventory, the sessions probe, the occupancy record, nothing
reset; not the interpreter's start-up), CPU seconds, and the requests it
sends, by kind: on oVirt one sessions search per room, on Proxmox VE QEMU's
monitor and the guest agent per running VM. Each run is a child process, on
a simulator in a process of its own (time scale 1: nothing waits on it).
The first run has no occupancy record yet; the others read and rewrite it.
Printed as JSON; docs/performance.md ("Between lessons") has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

from .site import pve_site_config, site_config

ROOMS = 10


def run_once(config: str, workdir: str, driver: str) -> Dict[str, Any]:
    result = os.path.join(workdir, "result.json")
    cmd = [sys.executable, "-m", "benchmarks.vdictl_run", "--driver", driver, "--result", result,
           "--", "--config", config, "virtroom-reset", "--all", "--vacated", "-o", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(result) as fh:
        res = json.load(fh)
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return {"wall": res["wall"], "cpu": res["cpu"], "rc": res["rc"],
            "reset": len(report.get("results", [])), "left_alone": report.get("left_alone"),
            "stderr": proc.stderr[-500:] if res["rc"] else ""}


def measure(sim, config: str, workdir: str, driver: str, runs: int) -> Dict[str, Any]:
    samples: List[Dict[str, Any]] = []
    for _ in range(runs):
        sim.reset_stats()
        sample = run_once(config, workdir, driver)
        stats = sim.stats()
        sample["requests"] = stats["requests"]
        sample["by_kind"] = stats["by_kind"]
        samples.append(sample)
    later = samples[1:] or samples
    return {"desks": ROOMS * 25, "runs": samples,
            "median_wall": statistics.median(s["wall"] for s in later),
            "median_cpu": statistics.median(s["cpu"] for s in later),
            "requests": later[-1]["requests"], "by_kind": later[-1]["by_kind"]}


def ovirt(runs: int) -> Dict[str, Any]:
    from .engine import EngineProcess

    engine = EngineProcess(1.0)
    try:
        engine.seed(ROOMS, "up")
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "site.conf")
            with open(config, "w") as fh:
                fh.write(site_config(rooms=ROOMS, batch=10, url=engine.url))
            os.environ["VDICTL_STATE_DIR"] = os.path.join(tmp, "state")
            os.environ["VDICTL_LOCK_DIR"] = os.path.join(tmp, "locks")
            return measure(engine, config, tmp, "ovirt", runs)
    finally:
        engine.stop()


def proxmox(runs: int) -> Dict[str, Any]:
    from .pve import PveProcess

    sim = PveProcess(1.0)
    try:
        sim.seed(ROOMS)
        with tempfile.TemporaryDirectory() as tmp:
            password_file = os.path.join(tmp, "password")
            with open(password_file, "w") as fh:
                fh.write(sim.password)
            os.chmod(password_file, 0o600)
            config = os.path.join(tmp, "site.conf")
            with open(config, "w") as fh:
                fh.write(pve_site_config(rooms=ROOMS, batch=10, url=sim.url,
                                         ca_file=sim.ca_file, password_file=password_file))
            os.environ["VDICTL_STATE_DIR"] = os.path.join(tmp, "state")
            os.environ["VDICTL_LOCK_DIR"] = os.path.join(tmp, "locks")
            return measure(sim, config, tmp, "proxmox", runs)
    finally:
        sim.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("ovirt", "proxmox"))
    opts = parser.parse_args(argv)
    found = {}
    if opts.only in (None, "ovirt"):
        found["ovirt"] = ovirt(opts.runs)
    if opts.only in (None, "proxmox"):
        found["proxmox"] = proxmox(opts.runs)
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
