# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark 2: one room of 20 VMs on real QEMU (the private libvirt sandbox).

- Reset: vdictl, a sequential `virsh destroy / snapshot-revert / start`
  loop and the same loop through `xargs -P4`, interleaved in one run on the
  same 20 running VMs.
- Rollout (linked clones plus one snapshot each): vdictl against a loop of
  `qemu-img create -b` + `virsh define` + `virsh snapshot-create-as`.

vdictl runs with `parallel = 4` and `snapshot_batch_size = 4`, pause 0: the
same parallelism as `xargs -P4`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from .site import site_config

VMS = 20
ROOM = "lvroom"
TEMPLATE = "bench-tmpl"
PARALLEL = 4

_RESET_ONE = ('virsh -q -c "$0" destroy "$1" >/dev/null && '
              'virsh -q -c "$0" snapshot-revert "$1" --current && '
              'virsh -q -c "$0" start "$1" >/dev/null')


def _names(prefix: str) -> List[str]:
    return [f"{prefix}-pc{i:02d}" for i in range(1, VMS + 1)]


def _vdictl(config: str, *args: str) -> float:
    """Wall seconds of one vdictl command (in-process timing, see vdictl_run)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as res:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.vdictl_run", "--result", res.name, "--",
             "--config", config, *args, "--output", "json"], capture_output=True, text=True)
        out = json.load(open(res.name))
    if out["rc"] != 0:
        raise RuntimeError(f"vdictl {' '.join(args)} failed ({out['rc']}): "
                           f"{proc.stderr[-1500:]}\n{proc.stdout[-1500:]}")
    return out["wall"]


def _timed(cmd: List[str], stdin: str = "") -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, input=stdin, text=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _sequential_reset(uri: str, names: List[str]) -> float:
    t0 = time.perf_counter()
    for name in names:
        subprocess.run(["sh", "-c", _RESET_ONE, uri, name], check=True)
    return time.perf_counter() - t0


def _xargs_reset(uri: str, names: List[str]) -> float:
    return _timed(["xargs", f"-P{PARALLEL}", "-n1", "sh", "-c", _RESET_ONE, uri],
                  stdin="\n".join(names) + "\n")


def _loop_rollout(uri: str, template_path: str, images: str, names: List[str]) -> float:
    from tests.sandbox import domain_xml

    t0 = time.perf_counter()
    for name in names:
        disk = os.path.join(images, f"{name}.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        template_path, disk], check=True)
        with tempfile.NamedTemporaryFile("w", suffix=".xml") as xml:
            xml.write(domain_xml(name, disk, memory_mib=32))
            xml.flush()
            subprocess.run(["virsh", "-q", "-c", uri, "define", xml.name], check=True,
                           stdout=subprocess.DEVNULL)
        subprocess.run(["virsh", "-q", "-c", uri, "snapshot-create-as", name, "golden"],
                       check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _summary(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def bench_libvirt(*, reps: int = 3, log=print) -> Dict[str, Any]:
    from tests.sandbox import missing_requirements, start_sandbox, stop_sandbox

    missing = missing_requirements()
    if missing:
        return {"skipped": "missing: " + ", ".join(missing)}
    directory = tempfile.mkdtemp(prefix="vdictl-bench-")
    sandbox = start_sandbox(directory)
    try:
        uri = sandbox.uri
        sandbox.make_template(TEMPLATE, memory_mib=32)
        template_path = os.path.join(sandbox.images_dir, f"{TEMPLATE}.qcow2")
        config = os.path.join(directory, "room.conf")
        with open(config, "w") as fh:
            fh.write(site_config(rooms=1, batch=PARALLEL, parallel=PARALLEL,
                                 libvirt_uri=uri, template=TEMPLATE, vms_per_room=VMS,
                                 memory="32MiB").replace("room01", ROOM))
        rollout: Dict[str, List[float]] = {"vdictl": [], "loop": []}
        for rep in range(reps):
            rollout["vdictl"].append(_vdictl(config, "virtroom-rollout", ROOM))
            if rep < reps - 1:
                _vdictl(config, "virtroom-delete", ROOM, "--yes")
            names = _names(f"bl{rep}")
            rollout["loop"].append(_loop_rollout(uri, template_path, sandbox.images_dir,
                                                 names))
            for name in names:
                sandbox.remove_domain(name, delete_volumes=False)
                os.remove(os.path.join(sandbox.images_dir, f"{name}.qcow2"))
            log(f"  rollout {rep + 1}: vdictl {rollout['vdictl'][-1]:.1f} s, "
                f"loop {rollout['loop'][-1]:.1f} s")
        _vdictl(config, "virtroom-start", ROOM)
        names = _names(ROOM)
        reset: Dict[str, List[float]] = {"vdictl": [], "sequential": [], "xargs": []}
        for rep in range(reps):
            reset["vdictl"].append(_vdictl(config, "virtroom-reset", ROOM))
            reset["sequential"].append(_sequential_reset(uri, names))
            reset["xargs"].append(_xargs_reset(uri, names))
            log(f"  reset {rep + 1}: vdictl {reset['vdictl'][-1]:.1f} s, sequential "
                f"{reset['sequential'][-1]:.1f} s, -P{PARALLEL} {reset['xargs'][-1]:.1f} s")
        _vdictl(config, "virtroom-shutdown", ROOM)
    finally:
        stop_sandbox(directory, purge=True)
    med = {k: statistics.median(v) for k, v in reset.items()}
    return {
        "vms": VMS, "parallel": PARALLEL, "cpus": os.cpu_count(),
        "reset": {k: _summary(v) for k, v in reset.items()},
        "rollout": {k: _summary(v) for k, v in rollout.items()},
        "reset_vs_xargs": med["vdictl"] / med["xargs"],
        "reset_speedup_vs_sequential": med["sequential"] / med["vdictl"],
        "rollout_vs_loop": (statistics.median(rollout["vdictl"])
                            / statistics.median(rollout["loop"])),
    }
