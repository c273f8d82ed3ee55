# SPDX-License-Identifier: GPL-3.0-or-later
"""The Proxmox VE simulator (tests/pve_sim) in a process of its own, seeded
with a site, over HTTPS with Proxmox-like task durations.

As for the engine (benchmarks/engine.py): the simulator and the client under
test do not share one interpreter (one GIL, one RSS). The parent talks to
the child in JSON lines on its stdin/stdout: seed, reset_stats, stats, trace, stop.
The child times every request and every task's end itself (wrapping the
simulator's record_request and task runner in this process only), for the
timeline of a run.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from typing import Any, Dict, List

from .sim_process import SimulatorProcess

#: task durations in simulated seconds (before time_scale); benchmarks/notes.md
#: says where they come from
DURATIONS = {"qmstop": 2.0, "qmrollback": 10.0, "qmstart": 3.0}
#: seconds each API request takes on the node before it is answered (pveproxy
#: forwarding to pvedaemon on a LAN), simulated: scaled like the durations
REQUEST_LATENCY = 0.005
VMS_PER_ROOM = 25
NODES = ("pve1", "pve2")
#: the template each node's rooms are linked clones of (local LVM-thin)
TEMPLATES = {"pve1": "tmpl-win10", "pve2": "tmpl-win10-pve2"}
SNAPSHOT = "vdictl_20261201_060000"
SNAPSHOT_DESCRIPTION = "vdictl rollout 2026-12-01 06:00"
OWNER_TEXT = "vdictl:room={room};subsection=pcs;version=0.1.0"


def room_name(i: int) -> str:
    return f"pveroom{i:02d}"


def room_node(i: int) -> str:
    """Odd rooms on pve1, even rooms on pve2."""
    return NODES[(i - 1) % len(NODES)]


def vm_name(room: str, vm_id: int) -> str:
    return f"{room}-pc{vm_id:02d}"


def request_kind(method: str, path: str) -> str:
    """A short label for one API request: login, resources, poll, action, get."""
    if path == "/access/ticket":
        return "login"
    if path.startswith("/cluster/resources"):
        return "resources"
    if "/tasks" in path:
        return "poll"
    if method == "GET":
        return "get"
    return "action"


def _seed(sim, rooms: int) -> int:
    from tests.pve_sim.state.records import Snapshot

    if "tmpl-win10-pve2" not in {vm.name for vm in sim.vms.values()}:
        sim.add_template(TEMPLATES["pve2"], node="pve2", vmid=9100)
    vmid = 1000
    for r in range(1, rooms + 1):
        room = room_name(r)
        for i in range(1, VMS_PER_ROOM + 1):
            vmid += 1
            vm = sim.add_vm(vm_name(room, i), template=TEMPLATES[room_node(r)],
                            running=True, vmid=vmid)
            with sim.lock:
                vm.config["description"] = OWNER_TEXT.format(room=room)
                vm.config["tags"] = "vdictl"
                vm.snapshots[SNAPSHOT] = Snapshot(SNAPSHOT, vm.snapshot_config(),
                                                  SNAPSHOT_DESCRIPTION, int(time.time()))
                vm.parent = SNAPSHOT
    return sum(1 for vm in sim.vms.values() if not vm.template)


class _Recorder:
    """Times of the simulator's requests and task ends (real monotonic seconds)."""

    def __init__(self, sim):
        self.lock = threading.Lock()
        self.requests: List[tuple] = []     # (time, method, path)
        self.task_ends: List[tuple] = []    # (time, type)
        self.connections = 0
        record, work = sim.record_request, sim._work

        def record_request(method, path, kind):
            with self.lock:
                self.requests.append((time.monotonic(), method, path))
            record(method, path, kind)

        def task_work(task, body, cleanup):
            work(task, body, cleanup)
            with self.lock:
                self.task_ends.append((time.monotonic(), task.type))

        sim.record_request, sim._work = record_request, task_work

    def count_connections(self, server) -> None:
        track = server.track

        def counted(conn, add):
            if add:
                with self.lock:
                    self.connections += 1
            track(conn, add)
        server.track = counted

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.task_ends.clear()
            self.connections = 0


def _stats(sim, rec: _Recorder) -> Dict[str, Any]:
    with rec.lock:
        requests, ends = list(rec.requests), list(rec.task_ends)
        connections = rec.connections
    with sim.lock:
        statuses = Counter(vm.status for vm in sim.vms.values() if not vm.template)
        locked = sum(1 for vm in sim.vms.values() if vm.lock)
        # the VMs rolled back since reset_stats (its ended tasks were dropped)
        rolled_back = len({t.id for t in sim.tasks
                           if t.type == "qmrollback" and t.exitstatus == "OK"})
        peak, running = sim.peak_snapshot_ops, sum(1 for t in sim.tasks if t.running)
        failed = [t.exitstatus for t in sim.tasks if t.exitstatus not in (None, "OK")]
        logins = sim.auth.logins
    return {
        "requests": len(requests),
        "by_kind": dict(Counter(request_kind(m, p) for _, m, p in requests)),
        "logins": logins,
        "connections_opened": connections,
        "max_snapshot_ops_in_flight": peak,
        "statuses": dict(statuses),
        "locked": locked,
        "rolled_back": rolled_back,
        "tasks_running": running,
        "tasks_failed": failed[:5],
        "first": min((t for t, _, _ in requests), default=0.0),
        "last": max((t for t, _, _ in requests), default=0.0),
        # (time, what) of each power or snapshot action and of each task's end
        "actions": [(t, p.rsplit("/", 1)[-1]) for t, m, p in requests if m == "POST"
                    and p.rsplit("/", 1)[-1] in ("stop", "start", "rollback")],
        "ends": ends,
    }


def _serve(time_scale: float) -> None:
    """Answer JSON-line commands on stdin until "stop" or end of input."""
    from tests.pve_sim.fixtures import make_pve

    sim = make_pve(time_scale=time_scale, durations=DURATIONS,
                   request_latency=REQUEST_LATENCY * time_scale)
    rec = _Recorder(sim)
    rec.count_connections(sim._server)
    out = sys.stdout

    def send(value: Any) -> None:
        out.write(json.dumps(value) + "\n")
        out.flush()

    send({"url": sim.url, "ca_file": sim.ca_file, "password": sim.password})
    try:
        for line in sys.stdin:
            cmd, arg = json.loads(line)
            if cmd == "seed":
                send(_seed(sim, arg))
            elif cmd == "reset_stats":
                with sim.lock:
                    # every run starts from the same cluster: drop the ended
                    # tasks (a node rotates its task index too)
                    sim.tasks[:] = [t for t in sim.tasks if t.running]
                    sim.requests.clear()
                    sim.auth.logins = 0
                    sim.peak_snapshot_ops = sim.snapshot_ops_in_flight
                rec.clear()
                send(True)
            elif cmd == "stats":
                send(_stats(sim, rec))
            elif cmd == "trace":     # for looking into one run by hand
                with rec.lock:
                    send({"requests": rec.requests, "ends": rec.task_ends})
            elif cmd == "stop":
                break
    finally:
        sim.stop()


class PveProcess(SimulatorProcess):
    """The Proxmox VE simulator in a child process; `url`, `ca_file`, `password`."""

    label = "Proxmox VE simulator"
    username = "root@pam"

    def __init__(self, time_scale: float):
        super().__init__("benchmarks.pve", time_scale)
        self.url: str = self.hello["url"]
        self.ca_file: str = self.hello["ca_file"]
        self.password: str = self.hello["password"]

    def seed(self, rooms: int) -> int:
        """Rooms of 25 running VMs, odd rooms on pve1 and even on pve2, each a
        linked clone marked as vdictl's, with its rollout snapshot."""
        return self._ask("seed", rooms)

    def trace(self) -> Dict[str, Any]:
        """Every request (time, method, path) and task end (time, type) since
        reset_stats, in real monotonic seconds."""
        return self._ask("trace")


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
