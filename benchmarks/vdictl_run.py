# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one vdictl command in this process, time-scaled, and write what it cost.

    python -m benchmarks.vdictl_run --scale 0.02 --result out.json -- \
        --config site.conf virtroom-reset --all

The driver's waits (poll interval, retry backoff; the oVirt driver's, or
with `--driver proxmox` the Proxmox VE driver's) are multiplied by `--scale`,
as the simulator multiplies its latencies: every duration of the run shrinks
by the same factor. Only that driver is imported for it. The result file holds the wall time
of the command (config load, login, inventory and the work; not the
interpreter's start-up, which benchmarks/startup.py measures), its exit
status, the CPU seconds and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def scale_ovirt_driver(scale: float) -> None:
    from vdictl.drivers.ovirt import OvirtDriver

    OvirtDriver.poll_interval *= scale
    OvirtDriver.retry_initial *= scale
    OvirtDriver.retry_maximum *= scale


def scale_proxmox_driver(scale: float) -> None:
    from vdictl.drivers.proxmox import ProxmoxDriver

    ProxmoxDriver.poll_interval *= scale
    ProxmoxDriver.retry_initial *= scale
    ProxmoxDriver.retry_maximum *= scale


def watch_progress(t0: float) -> dict:
    """Seconds from t0 to the first progress report (the bars a terminal would
    show: config loaded, rooms locked, logged in, inventory done) and to the
    first VM done, filled in as the run goes (off a terminal the observer is
    the base class, which draws nothing)."""
    from vdictl.ops.progress import ProgressObserver

    seen: dict = {}
    begin, done = ProgressObserver.begin, ProgressObserver.done

    def on_begin(self, action, totals):
        seen.setdefault("first_progress", time.perf_counter() - t0)
        return begin(self, action, totals)

    def on_done(self, spec, outcome, reason=""):
        seen.setdefault("first_done", time.perf_counter() - t0)
        return done(self, spec, outcome, reason)

    ProgressObserver.begin, ProgressObserver.done = on_begin, on_done
    return seen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--driver", choices=("ovirt", "proxmox"), default="ovirt")
    parser.add_argument("--result", required=True)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    if opts.driver == "proxmox":
        scale_proxmox_driver(opts.scale)
    else:
        scale_ovirt_driver(opts.scale)
    from vdictl.cli import cli

    t0 = time.perf_counter()
    seen = watch_progress(t0)
    try:
        cli.main(args=args, prog_name="vdictl", standalone_mode=False)
        rc = 0
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001 - reported, the harness decides
        print(f"vdictl_run: {exc!r}", file=sys.stderr)
        rc = getattr(exc, "exit_code", 1)
    wall = time.perf_counter() - t0
    with open(opts.result, "w") as fh:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        json.dump({"wall": wall, "rc": rc, "cpu": usage.ru_utime + usage.ru_stime,
                   "maxrss_mb": usage.ru_maxrss / 1024, **seen}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
