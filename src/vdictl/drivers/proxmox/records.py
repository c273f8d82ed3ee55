"""Proxmox VE's VM entries as vdictl's Vm and Snapshot."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from vdictl.model import Snapshot, Vm, VmState

from .owner_mark import parse_owner, parse_phase

#: cluster resources / status current `status` -> VmState
STATE_MAP: Dict[str, VmState] = {
    "running": VmState.RUNNING,
    "stopped": VmState.STOPPED,
    "paused": VmState.PAUSED,
    "suspended": VmState.SUSPENDED,
    "prelaunch": VmState.STARTING,
}
#: config locks that mean a task works on the VM's disks or snapshots
LOCKED = {"snapshot", "snapshot-delete", "rollback", "clone", "create", "backup", "migrate"}

_MAC = re.compile(r"(?:^|,)(?:[a-z0-9]+=)?([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})(?:,|$)")


def mac_of(net: Optional[str]) -> Optional[str]:
    """The MAC address of a netN value ("virtio=BC:24:11:..,bridge=vmbr0")."""
    match = _MAC.search(net or "")
    return match.group(1).upper() if match else None


def state_of(entry: Dict[str, Any]) -> VmState:
    """The VM's power state; a lock shows only on a VM that does not run. A
    running VM with a lock (a live snapshot, or a lock a killed task left)
    still runs: shutdown and delete must power it off, and it is the driver's
    lock check that then waits for the task or names the stale lock."""
    state = STATE_MAP.get(str(entry.get("status")), VmState.UNKNOWN)
    if entry.get("lock") in LOCKED and state == VmState.STOPPED:
        return VmState.LOCKED
    return state


def to_vm(entry: Dict[str, Any], config: Optional[Dict[str, Any]], url: str) -> Vm:
    """The Vm of a cluster resources entry and its config (None: not read;
    then it has no mark either)."""
    text = (config or {}).get("description")
    macs = [m for m in (mac_of((config or {}).get(f"net{i}")) for i in range(8)) if m]
    return Vm(name=str(entry.get("name")), id=str(entry.get("vmid")), state=state_of(entry),
              owner=parse_owner(text), mac=macs[0] if macs else None, phase=parse_phase(text),
              location=f"{entry.get('node')}/{entry.get('vmid')}",
              extra={"status": entry.get("status"), "lock": entry.get("lock"),
                     "node": entry.get("node"), "vmid": entry.get("vmid"), "macs": macs,
                     "url": url})


def to_snapshot(s: Dict[str, Any]) -> Snapshot:
    return Snapshot(id=str(s["name"]), description=str(s.get("description") or "").strip(),
                    created=float(s["snaptime"]) if s.get("snaptime") is not None else None,
                    extra={"parent": s.get("parent")})


def user_snapshots(snaps: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The snapshots (not Proxmox VE's "current" entry), oldest first."""
    made = [s for s in snaps if s.get("name") != "current"]
    return sorted(made, key=lambda s: (s.get("snaptime") or 0, str(s.get("name"))))
