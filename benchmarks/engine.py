# SPDX-License-Identifier: GPL-3.0-or-later
"""The oVirt engine simulator in a process of its own, seeded with a site.

The simulator and the client under test must not share one interpreter: they
would share one GIL, and the client's peak RSS would include the engine's.
The parent talks to the child in JSON lines on its stdin/stdout: seed,
reset_stats, stats, stop.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any, Dict

from .sim_process import SimulatorProcess

#: engine latencies in seconds (before time_scale), as measured on sites
LATENCIES = {"stop": 3.0, "restore": 20.0, "start": 10.0, "snapshot": 15.0}
VMS_PER_ROOM = 25
SNAPSHOT = "golden image"
OWNER_COMMENT = "vdictl:room={room};subsection=pcs;version=0.1.0"


def room_name(i: int) -> str:
    return f"room{i:02d}"


def vm_name(room: str, vm_id: int) -> str:
    return f"{room}-pc{vm_id:02d}"


def request_kind(method: str, path: str, query: Dict[str, str]) -> str:
    """A short label for one API request: sso, search, poll, action, other."""
    if "/sso/" in path or "/services/" in path:
        return "sso"
    tail = path.rstrip("/").rsplit("/", 1)[-1]
    if method == "GET" and tail == "vms":
        return "search"
    if method == "GET":
        return "get"
    if method == "POST":
        return "action"
    return "other"


def _serve(time_scale: float) -> None:
    """Answer JSON-line commands on stdin until "stop" or end of input."""
    from tests.ovirt_sim.fixtures import make_engine

    sim = make_engine(time_scale=time_scale, latencies=LATENCIES)
    out = sys.stdout

    def send(value: Any) -> None:
        out.write(json.dumps(value) + "\n")
        out.flush()

    send(sim.url)
    try:
        for line in sys.stdin:
            cmd, arg = json.loads(line)
            if cmd == "seed":
                rooms, status, *rest = arg
                first = rest[0] if rest else 1   # the first room's number
                for r in range(first, first + rooms):
                    room = room_name(r)
                    for i in range(1, VMS_PER_ROOM + 1):
                        name = vm_name(room, i)
                        sim.add_vm(name, template="tmpl-win10",
                                   comment=OWNER_COMMENT.format(room=room))
                        sim.add_snapshot(name, SNAPSHOT)
                        sim.set_vm_status(name, status)
                send(len(sim.vm_names()))
            elif cmd == "reset_stats":
                with sim.lock:
                    # Every run starts from the same engine: the simulator keeps
                    # every job and scans them all for a job search, where an
                    # engine auto-clears finished ones; kept, they slowed each
                    # run more than the one before.
                    sim.inventory.jobs.clear()
                    sim.requests.clear()
                    sim.request_log.clear()
                    sim.sso_logins = sim.sso_logouts = 0
                    sim.ops_in_flight_peak = sim.ops_in_flight
                    sim.connections_opened = 0
                send(True)
            elif cmd == "stats":
                with sim.lock:
                    kinds = Counter(request_kind(r["method"], r["path"], r["query"])
                                    for r in sim.requests)
                    send({
                        "requests": len(sim.requests),
                        "by_kind": dict(kinds),
                        "sso_logins": sim.sso_logins,
                        "max_snapshot_ops_in_flight": sim.ops_in_flight_peak,
                        "connections_opened": sim.connections_opened,
                        "statuses": dict(Counter(v.status for v in sim.inventory.vms.values())),
                        "pending": len(sim.clock.timers),
                        "first": min((r["time"] for r in sim.requests), default=0.0),
                        "last": max((r["time"] for r in sim.requests), default=0.0),
                        "actions": [(r["time"], r["path"].rsplit("/", 1)[-1])
                                    for r in sim.requests if r["method"] == "POST"],
                    })
            elif cmd == "stop":
                break
    finally:
        sim.stop()


class EngineProcess(SimulatorProcess):
    """The engine simulator in a child process; `url` is its API address."""

    label = "engine simulator"
    username = "admin@internal"
    password = "engine-secret"

    def __init__(self, time_scale: float):
        super().__init__("benchmarks.engine", time_scale)
        self.url: str = self.hello

    def seed(self, rooms: int, status: str = "up", first: int = 1) -> int:
        """Rooms room01.. (from room `first`) of 25 VMs each, marked as vdictl's,
        with one snapshot."""
        return self._ask("seed", (rooms, status, first))


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
