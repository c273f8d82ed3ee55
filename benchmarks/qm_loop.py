# SPDX-License-Identifier: GPL-3.0-or-later
"""What Proxmox VE sites do today, re-created: a sequential `qm`-style loop.

For each VM, one after the other: stop, wait for the task, roll back to the
snapshot, wait, start, wait -- `qm stop 1001 && qm rollback 1001 NAME && qm
start 1001` in a shell loop, here through proxmoxer (the API the `qm`
commands use), with one ticket login. Each wait polls the task's status once
per second (simulated; scaled like the simulator), from right after the
request until the task has ended; the loop knows its VMIDs and the snapshot
name from one cluster resources request at its start.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Sequence

#: seconds between task status polls (simulated, before scaling)
POLL = 1.0


class TaskFailed(RuntimeError):
    pass


def wait_task(api: Any, node: str, upid: str, interval: float, timeout: float = 3600.0) -> None:
    """Poll the task's status until it has stopped; TaskFailed unless it ended OK."""
    deadline = time.monotonic() + timeout
    while True:
        status = api.nodes(node).tasks(upid).status.get()
        if status.get("status") == "stopped":
            if status.get("exitstatus") != "OK":
                raise TaskFailed(f"{upid}: {status.get('exitstatus')}")
            return
        if time.monotonic() > deadline:
            raise TaskFailed(f"{upid}: still running after {timeout:g} s")
        time.sleep(interval)


def sequential_reset(url: str, username: str, password: str, ca_file: str,
                     names: Sequence[str], snapshot: str, scale: float) -> None:
    from urllib.parse import urlsplit

    from proxmoxer import ProxmoxAPI

    parts = urlsplit(url)
    api = ProxmoxAPI(parts.hostname, port=parts.port, user=username, password=password,
                     verify_ssl=ca_file)
    where: Dict[str, Any] = {e["name"]: (e["node"], e["vmid"])
                             for e in api.cluster.resources.get(type="vm")}
    interval = POLL * scale
    for name in names:
        node, vmid = where[name]
        vm = api.nodes(node).qemu(vmid)
        wait_task(api, node, vm.status.stop.post(), interval)
        wait_task(api, node, vm.snapshot(snapshot).rollback.post(), interval)
        wait_task(api, node, vm.status.start.post(), interval)
