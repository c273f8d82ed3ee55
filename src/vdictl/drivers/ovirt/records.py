"""The engine's VM and snapshot records as vdictl's Vm and Snapshot."""

from __future__ import annotations

from typing import Any, Dict, List

import ovirtsdk4.types as types

from vdictl.model import Snapshot, Vm, VmState

from .owner_mark import parse_owner, parse_phase

VS = types.VmStatus
STATE_MAP: Dict[Any, VmState] = {
    VS.UP: VmState.RUNNING,
    VS.MIGRATING: VmState.RUNNING,
    VS.DOWN: VmState.STOPPED,
    VS.PAUSED: VmState.PAUSED,
    VS.WAIT_FOR_LAUNCH: VmState.STARTING,
    VS.POWERING_UP: VmState.STARTING,
    VS.REBOOT_IN_PROGRESS: VmState.STARTING,
    VS.RESTORING_STATE: VmState.STARTING,
    VS.POWERING_DOWN: VmState.STOPPING,
    VS.SAVING_STATE: VmState.STOPPING,
    VS.IMAGE_LOCKED: VmState.LOCKED,
    VS.SUSPENDED: VmState.SUSPENDED,
}


def to_vm(v: Any, url: str) -> Vm:
    """The Vm of an engine VM record (fetched with its NICs) of the engine at `url`."""
    macs = [n.mac.address for n in (v.nics or []) if n.mac is not None and n.mac.address]
    return Vm(name=v.name, id=v.id, state=STATE_MAP.get(v.status, VmState.UNKNOWN),
              owner=parse_owner(v.comment), mac=macs[0] if macs else None,
              phase=parse_phase(v.comment),
              extra={"status": str(v.status.value if v.status else None), "macs": macs,
                     "url": url,
                     "template_id": v.template.id if v.template is not None else None})


def to_snapshot(s: Any) -> Snapshot:
    return Snapshot(id=s.id, description=s.description or "",
                    created=s.date.timestamp() if s.date else None,
                    extra={"status": s.snapshot_status.value if s.snapshot_status else None,
                           "type": s.snapshot_type.value if s.snapshot_type else None})


def user_snapshots(snaps: List[Any]) -> List[Any]:
    """The snapshots an operator made (not the engine's "Active VM"), oldest first."""
    user = [s for s in snaps if s.snapshot_type != types.SnapshotType.ACTIVE]
    return sorted(user, key=lambda s: s.date.timestamp() if s.date else 0.0)
