# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark 3: start-up cost and config-load scaling.

`vdictl --help` and `vdictl rooms` (200 rooms) against `python -c 'import
click'`, each a fresh process, as a ratio of medians; beside them the floor
(the --help of a click group of one command) and `rooms --resettable`,
which checks every room's VMs. Whether an SDK was imported is checked in a
process that runs the same commands. Config load (a full build: every VM of
every room) is timed in-process for 10, 100 and 1,000 rooms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from .site import site_config

PY = sys.executable
VDICTL = os.path.join(os.path.dirname(PY), "vdictl")

_SDK_CHECK = """
import sys
from vdictl.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="vdictl", standalone_mode=False)
except SystemExit:
    pass
loaded = [m for m in ("ovirtsdk4", "libvirt", "pycurl", "jinja2") if m in sys.modules]
print("LOADED=" + ",".join(loaded), file=sys.stderr)
"""


#: The floor of a click program's --help: a group of one command, nothing else.
_CLICK_GROUP = """
import click

@click.group()
@click.version_option("1.0", prog_name="floor")
def cli():
    \"\"\"A click group of one command.\"\"\"

@cli.command()
@click.argument("rooms", nargs=-1)
def rooms(rooms):
    \"\"\"List rooms.\"\"\"

cli(prog_name="floor")
"""

# Installed packages have their .pyc files (pip compiles them, click's too);
# an editable vdictl under PYTHONDONTWRITEBYTECODE would recompile its sources
# in every run, which no operator pays. The warm-up run writes them.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(cmd: List[str], runs: int) -> List[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env=_ENV)
        times.append(time.perf_counter() - t0)
    return times


def _summary(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def _modules_loaded(args: List[str]) -> List[str]:
    proc = subprocess.run([PY, "-c", _SDK_CHECK, *args], capture_output=True, text=True,
                          env=_ENV)
    for line in proc.stderr.splitlines():
        if line.startswith("LOADED="):
            return [m for m in line[len("LOADED="):].split(",") if m]
    raise RuntimeError(f"SDK check failed: {proc.stderr[-500:]}")


def load_seconds(path: str, runs: int) -> List[float]:
    from vdictl.config.load import load_config

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        config = load_config(path)
        vms = sum(len(room.vms) for room in config.rooms.values())  # every VM built
        times.append(time.perf_counter() - t0)
        assert vms == 25 * len(config.rooms)
    return times


def bench_startup(*, runs: int = 10, sizes=(10, 100, 1000), log=print) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        configs = {}
        for rooms in sorted(set(sizes) | {200}):
            configs[rooms] = os.path.join(tmp, f"site-{rooms}.conf")
            with open(configs[rooms], "w") as fh:
                fh.write(site_config(rooms=rooms, batch=10,
                                     url="https://engine.example/ovirt-engine/api"))
        # warm the page cache and the .pyc files first; then interleave the
        # commands, so a burst of load from elsewhere hits all three alike
        commands = {"import_click": [PY, "-c", "import click"],
                    "click_group_help": [PY, "-c", _CLICK_GROUP, "--help"],
                    "help": [VDICTL, "--help"],
                    "rooms200": [VDICTL, "--config", configs[200], "rooms"],
                    "rooms200_checked": [VDICTL, "--config", configs[200], "rooms",
                                         "--resettable"]}
        for cmd in commands.values():
            _time(cmd, 1)
        times: Dict[str, List[float]] = {k: [] for k in commands}
        for _ in range(runs):
            for key, cmd in commands.items():
                times[key] += _time(cmd, 1)
        base, help_, rooms = times["import_click"], times["help"], times["rooms200"]
        log("  " + ", ".join(f"{key} {statistics.median(t) * 1000:.0f} ms"
                             for key, t in times.items()))
        loaded_help = _modules_loaded(["--help"])
        loaded_rooms = _modules_loaded(["--config", configs[200], "rooms"])
        load = {}
        for n in sizes:
            t = load_seconds(configs[n], max(3, runs // (1 + n // 200)))
            load[n] = _summary(t)
            log(f"  load {n} rooms: {load[n]['median'] * 1000:.0f} ms")
    b = statistics.median(base)
    return {
        "import_click": _summary(base), "help": _summary(help_), "rooms200": _summary(rooms),
        "help_ratio": statistics.median(help_) / b, "rooms_ratio": statistics.median(rooms) / b,
        "click_group_help": _summary(times["click_group_help"]),
        "click_group_ratio": statistics.median(times["click_group_help"]) / b,
        "rooms200_checked": _summary(times["rooms200_checked"]),
        "rooms_checked_ratio": statistics.median(times["rooms200_checked"]) / b,
        "modules_help": loaded_help, "modules_rooms": loaded_rooms,
        "load": load,
    }
