# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark 4: a site of several endpoints, reset in one run.

Up to 8 endpoints of 25 VMs, each a libvirt test:///FILE hypervisor (each
file opened is a hypervisor of its own, in vdictl's process). The rooms are
rolled out once on test:///default, in this process, and each endpoint's file
gets its room's VMs (owned by vdictl, one snapshot each). Then `vdictl
virtroom-reset --all` runs in a child process at 1, 2, 4 and 8 endpoints, and
once with all 8 rooms (200 VMs) on one endpoint: the same VMs at 8 endpoints
minus that run is what the 7 extra endpoints cost (a driver, a connection,
an inventory query and throttles each). CPU seconds and peak RSS are the
child's own (benchmarks.vdictl_run: config load, connections, inventory and
work; the interpreter's start-up included).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List

VMS_PER_ENDPOINT = 25
TEMPLATE = "tmpl"


def room_name(i: int) -> str:
    return f"site{i:02d}"


def site_text(uris: List[str], *, per_host: int = 4) -> str:
    """Room i on uris[i] (its room-level uri), 25 VMs each."""
    lines = ["[general]", "    [[connect]]", "    driver = libvirt",
             '    uri = "test:///default"', "    [[throttle]]",
             "    snapshot_batch_size = 16", "    snapshot_batch_pause = 0",
             "    parallel = 16", f"    parallel_per_host = {per_host}",
             "    shutdown_timeout = 5", "    operation_timeout = 600"]
    for i, uri in enumerate(uris, 1):
        lines += [f"[room {room_name(i)}]", f'    uri = "{uri}"',
                  f"    template_name = {TEMPLATE}",
                  '    snapshot_description = "vdictl rollout"',
                  '    reset_to_snapshot_regex = "^vdictl rollout"',
                  "    reset_startvm = Always",
                  "    [[pcs]]", f'    ids = "1-{VMS_PER_ENDPOINT}"',
                  '    names = "${roomname}-pc${id}"']
    return "\n".join(lines) + "\n"


def vm_names(i: int) -> List[str]:
    return [f"{room_name(i)}-pc{n:02d}" for n in range(1, VMS_PER_ENDPOINT + 1)]


def make_nodes(directory: str, endpoints: int, log: Callable[[str], None]) -> Dict[str, str]:
    """Roll the rooms out on test:///default and write one node file per endpoint,
    plus "all" (every room's VMs in one file). Returns their test:// URIs."""
    import libvirt

    from tests.libvirt_test_hv import define_test_template, node_document
    from vdictl.cli import cli

    libvirt.registerErrorHandler(lambda *args: None, None)
    conn = libvirt.open("test:///default")   # held: test:///default lives while it is open
    try:
        define_test_template(conn, TEMPLATE, volume=f"{TEMPLATE}.qcow2")
        config = os.path.join(directory, "rollout.conf")
        with open(config, "w") as fh:
            fh.write(site_text(["test:///default"] * endpoints))
        log(f"  rolling out {endpoints * VMS_PER_ENDPOINT} VMs on test:///default")
        try:
            cli.main(args=["-q", "--config", config, "virtroom-rollout", "--all"],
                     prog_name="vdictl", standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise RuntimeError(f"rollout failed ({exc.code})") from None
        uris = {}
        wanted = {str(i): vm_names(i) for i in range(1, endpoints + 1)}
        wanted["all"] = [n for i in range(1, endpoints + 1) for n in vm_names(i)]
        for key, names in wanted.items():
            path = os.path.join(directory, f"node-{key}.xml")
            with open(path, "w") as fh:
                fh.write(node_document(conn, names=set(names)))
            uris[key] = f"test://{path}"
        return uris
    finally:
        conn.close()


def run_reset(directory: str, name: str, uris: List[str]) -> Dict[str, Any]:
    config = os.path.join(directory, f"{name}.conf")
    with open(config, "w") as fh:
        fh.write(site_text(uris))
    result = os.path.join(directory, f"{name}.json")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.vdictl_run", "--result", result, "--",
         "-q", "--config", config, "virtroom-reset", "--all", "-o", "json"],
        capture_output=True, text=True, timeout=1800,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(result) as fh:
        cost = json.load(fh)
    report = json.loads(proc.stdout)
    cost["vms"] = len(report["results"])
    cost["all_ok"] = cost["rc"] == 0 and all(r["outcome"] == "ok" for r in report["results"])
    return cost


def _stats(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def bench_sites(*, sizes=(1, 2, 4, 8), reps: int = 3,
                log: Callable[[str], None] = print) -> Dict[str, Any]:
    top = max(sizes)
    with tempfile.TemporaryDirectory(prefix="vdictl-sites-") as directory:
        uris = make_nodes(directory, top, log)
        plans = [(f"{n} endpoint(s)", n, [uris[str(i)] for i in range(1, n + 1)])
                 for n in sizes]
        plans.append((f"{top} rooms on 1 endpoint", 1, [uris["all"]] * top))
        rows = []
        for label, endpoints, room_uris in plans:
            runs = []
            for rep in range(reps):
                runs.append(run_reset(directory, f"{label.replace(' ', '_')}-{rep}", room_uris))
            vms = runs[0]["vms"]
            row = {"label": label, "endpoints": endpoints, "vms": vms,
                   "all_ok": all(r["all_ok"] for r in runs),
                   "cpu": _stats([r["cpu"] for r in runs]),
                   "wall": _stats([r["wall"] for r in runs]),
                   "maxrss_mb": _stats([r["maxrss_mb"] for r in runs])}
            row["cpu_per_100"] = row["cpu"]["median"] * 100 / vms
            row["rss_per_100"] = row["maxrss_mb"]["median"] * 100 / vms
            rows.append(row)
            log(f"  {label}: {vms} VMs, CPU {row['cpu']['median']:.2f} s, "
                f"RSS {row['maxrss_mb']['median']:.0f} MB, wall {row['wall']['median']:.2f} s")
    many = next(r for r in rows if r["endpoints"] == top and "rooms on" not in r["label"])
    one = rows[-1]
    per_endpoint_ms = (many["cpu"]["median"] - one["cpu"]["median"]) * 1000 / max(1, top - 1)
    return {"rows": rows, "per_endpoint_ms": per_endpoint_ms,
            "per_endpoint_rss_mb": (many["maxrss_mb"]["median"] - one["maxrss_mb"]["median"])
            / max(1, top - 1),
            "vms_per_endpoint": VMS_PER_ENDPOINT, "reps": reps}
