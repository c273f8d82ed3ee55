# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the benchmarks and write docs/performance.md and docs/performance.png.

    python -m benchmarks [--quick] [--only reset,scales,libvirt,startup,sites,pve,records,scale,day]
                         [--reps N] [--scale S] [--rooms 1,4,10,40] [--out DIR]

Use `benchmarks/run`, which installs the `bench` extra first.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from . import report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small sizes (1 and 4 rooms), one run each: a few minutes")
    p.add_argument("--only", default="reset,scales,libvirt,startup,sites,pve,records,scale,day",
                   help="comma-separated: reset, scales, libvirt, startup, sites, pve, "
                        "records, scale, day (default: all)")
    p.add_argument("--reps", type=int, help="runs per measurement (default 3; quick: 1)")
    p.add_argument("--large-reps", type=int, default=1,
                   help="runs per measurement at 40 rooms and more (default 1: each "
                        "takes minutes)")
    p.add_argument("--scale", type=float, default=0.05,
                   help="engine time scale of the site-reset benchmark (default 0.05)")
    p.add_argument("--scales", default="0.02,0.05,0.1",
                   help="time scales of the sensitivity run (10 rooms, batch 10, one run "
                        "each; quick: 1 room)")
    p.add_argument("--rooms", help="site sizes in rooms (default 1,4,10,40; quick: 1,4)")
    p.add_argument("--batches", default="5,10", help="snapshot_batch_size values (5,10)")
    p.add_argument("--pve-rooms", type=int,
                   help="rooms of the Proxmox VE site reset (default 10; quick: 2, and "
                        "the sequential loop on 10 VMs instead of a room)")
    p.add_argument("--pve-scale", type=float, default=0.2,
                   help="time scale of the Proxmox VE site reset (default 0.2)")
    p.add_argument("--engines", default="1,3,10",
                   help="engines of the scale benchmark, 1,000 VMs each (default 1,3,10; "
                        "quick: 1,2)")
    p.add_argument("--scale-time", type=float, default=0.2,
                   help="time scale of the scale benchmark (default 0.2: the 10-engine "
                        "run takes about 7 minutes)")
    p.add_argument("--out", default=os.path.join(REPO, "docs"),
                   help="where performance.md/.png go (default docs/)")
    p.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results.json"),
                   help="raw results (default benchmarks/results.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    opts = parse_args(argv)
    only = {w.strip() for w in opts.only.split(",") if w.strip()}
    reps = opts.reps or (1 if opts.quick else 3)
    rooms = [int(r) for r in (opts.rooms or ("1,4" if opts.quick else "1,4,10,40")).split(",")]
    batches = [int(b) for b in opts.batches.split(",")]
    previous = {}
    if os.path.exists(opts.json):
        with open(opts.json) as fh:
            previous = json.load(fh)
    results = {
        "args": " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "loadavg": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "scale": previous.get("scale", opts.scale),
    }
    if "startup" in only:
        from .startup import bench_startup
        log("start-up:")
        results["startup"] = bench_startup(runs=5 if opts.quick else 15, log=log)
    if "reset" in only:
        from .site_reset import bench_size
        results["scale"] = opts.scale
        rows = []
        for n in rooms:
            log(f"site reset, {n} room(s):")
            rows += bench_size(n, batches, scale=opts.scale,
                               reps=min(reps, opts.large_reps) if n >= 40 else reps, log=log)
        results["site_reset"] = rows
    scales = [float(x) for x in opts.scales.split(",") if x.strip()]
    if "scales" in only and scales:
        from .site_reset import bench_scales
        n = 1 if opts.quick else 10
        log(f"time-scale sensitivity, {n} room(s), batch 10:")
        results["scales"] = bench_scales(n, 10, scales, log=log)
    if "libvirt" in only:
        from .libvirt_bench import bench_libvirt
        log("libvirt:")
        results["libvirt"] = bench_libvirt(reps=reps, log=log)
    if "sites" in only:
        from .sites import bench_sites
        log("sites of several endpoints:")
        results["sites"] = bench_sites(sizes=(1, 2) if opts.quick else (1, 2, 4, 8),
                                       reps=reps, log=log)
    if "pve" in only:
        from .pve_reset import bench_pve
        n = opts.pve_rooms or (2 if opts.quick else 10)
        log(f"Proxmox VE site reset, {n} room(s):")
        results["pve"] = bench_pve(n, batches, scale=opts.pve_scale, reps=reps, log=log,
                                   sequential_vms=10 if opts.quick else 25)
    if "records" in only:
        from .records import bench as bench_records
        log("run records:")
        results["records"] = bench_records(log=log, quick=opts.quick)
    if "scale" in only:
        from .scale import bench_scale
        counts = [int(x) for x in (opts.engines if not opts.quick else "1,2").split(",")]
        log(f"a site of several engines, {counts} engine(s):")
        results["scale_site"] = bench_scale(counts, scale=opts.scale_time, log=log)
    if "day" in only:
        from .vacated import bench as bench_day
        log("between lessons and the evening check (250 desks):")
        results["day"] = bench_day(log=log, quick=opts.quick)
    for section in ("startup", "site_reset", "scales", "libvirt", "sites", "pve", "records",
                    "scale_site", "day"):
        if section not in results and section in previous:   # not re-run: keep the last
            results[section] = previous[section]
            results.setdefault("kept", []).append(
                f"{section} from {measured_on(previous, section)}")
    os.makedirs(opts.out, exist_ok=True)
    with open(opts.json, "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    report.write(results, os.path.join(opts.out, "performance.md"),
                 os.path.join(opts.out, "performance.png"))
    log(f"wrote {os.path.join(opts.out, 'performance.md')}")
    return 0


def measured_on(previous: dict, section: str) -> str:
    """When `section` of the previous results was measured: the date of that
    run, or, when that run had kept it too, the date it said then."""
    for entry in previous.get("kept", []):
        name, _, date = entry.partition(" from ")
        if name == section:
            return date.split(" (")[0]
    return previous["date"]


if __name__ == "__main__":
    sys.exit(main())
