# SPDX-License-Identifier: GPL-3.0-or-later
"""Between lessons (issue 26) and the evening check (issue 25), on a 250-desk
site (10 rooms of 25 running VMs): what a `virtroom-reset --all --vacated` run
costs that finds nothing to do, and the requests of `vdictl preflight --all`
against one `virtroom-show --all` on the engine simulator.

    benchmarks/run --only day               # section 7 of docs/performance.md
    python -m benchmarks.vacated            # both simulators, 5 runs each, as JSON
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
from typing import Any, Callable, Dict, List, Optional, Sequence

from .site import pve_site_config, site_config

ROOMS = 10


VACATED = ("virtroom-reset", "--all", "--vacated", "-o", "json")


def run_once(config: str, workdir: str, driver: str,
             command: Sequence[str] = VACATED) -> Dict[str, Any]:
    result = os.path.join(workdir, "result.json")
    cmd = [sys.executable, "-m", "benchmarks.vdictl_run", "--driver", driver, "--result", result,
           "--", "--config", config, *command]
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
            found = measure(engine, config, tmp, "ovirt", runs)
            found["preflight"] = requests_of(engine, config, tmp, ("preflight", "--all", "-o", "json"))
            found["show"] = requests_of(engine, config, tmp, ("virtroom-show", "--all", "-o", "json"))
            return found
    finally:
        engine.stop()


def requests_of(sim: Any, config: str, workdir: str, command: Sequence[str]) -> int:
    """The requests one run of `command` sends (issue 25: a preflight costs at
    most one virtroom-show, one request per storage and the template lookups)."""
    sim.reset_stats()
    run_once(config, workdir, "ovirt", command)
    return int(sim.stats()["requests"])


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


def bench(log: Callable[[str], None], quick: bool = False) -> Dict[str, Any]:
    """Section 7 of docs/performance.md: both simulators."""
    runs = 2 if quick else 4
    log("  --vacated with nothing to do, and preflight, on the engine simulator")
    found = {"runs": runs, "ovirt": ovirt(runs)}
    log("  --vacated with nothing to do on the Proxmox VE simulator")
    found["proxmox"] = proxmox(runs)
    return found


def day_section(res: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 7. Between lessons and the evening check", ""]
    if not res:
        return out + ["Not run.", ""]
    out += [f"A site of {ROOMS} rooms × 25 running VMs on each simulator (time scale 1), "
            "vdictl in a child process; medians of runs 2–"
            f"{res['runs']} (the first writes the occupancy record anew).", "",
            "| backend | desks | `--vacated`, nothing to do: wall s | CPU s | requests |",
            "|---|---:|---:|---:|---:|"]
    for key, name in (("ovirt", "oVirt (engine simulator)"), ("proxmox", "Proxmox VE")):
        r = res[key]
        out.append(f"| {name} | {r['desks']} | {r['median_wall']:.2f} | "
                   f"{r['median_cpu']:.2f} | {r['requests']} |")
    o = res["ovirt"]
    out += ["", f"`vdictl preflight --all` of the same 250 VMs on the engine simulator: "
            f"{o['preflight']} requests; `virtroom-show --all`: {o['show']}.", ""]
    return out


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
