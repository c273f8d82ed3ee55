"""Snapshots: list, take (a generated valid name, the rendered description
in the snapshot's description), and roll back on a stopped VM without
rollback's start flag (vdictl starts the VM itself)."""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Set

from vdictl.errors import AlreadyExists, DriverError, NotFound, WrongState
from vdictl.model import Snapshot

from .connection import PveConnection, VmRef
from .records import to_snapshot, user_snapshots

#: Proxmox VE's pve-configid: a letter, then letters, digits, _ and -; 40 at most
VALID_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,39}$")
NAME_PREFIX = "vdictl_"


def snapshot_name(taken: Set[str], now: Optional[float] = None) -> str:
    """vdictl_YYYYmmdd_HHMMSS (UTC), with _2, _3 ... when that is taken."""
    base = NAME_PREFIX + time.strftime("%Y%m%d_%H%M%S", time.gmtime(now))
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    assert VALID_NAME.match(name), name
    return name


def _snaps(conn: PveConnection, ref: VmRef) -> List[Dict[str, Any]]:
    return list(conn.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).snapshot.get(),
                          vm=ref.name, what=f"VM {ref.name!r}") or [])


def list_snapshots(conn: PveConnection, *, name: str) -> List[Snapshot]:
    # a read: revert_snapshot looks the VM up again before it acts
    return [to_snapshot(s) for s in user_snapshots(_snaps(conn, conn.located(name)))]


def create_snapshot(conn: PveConnection, *, name: str, description: str, timeout: float,
                    slot: Callable[[], ContextManager] = nullcontext) -> Snapshot:
    ref = conn.ref(name)
    conn.ensure_unlocked(ref, timeout)
    taken = {str(s.get("name")) for s in _snaps(conn, ref)}
    snapname = snapshot_name(taken)

    def mine() -> Optional[Dict[str, Any]]:
        return next((s for s in _snaps(conn, ref) if s.get("name") == snapname), None)

    def made() -> Any:
        # an earlier attempt's answer was lost, but its snapshot is there
        return (mine() is not None, None)

    with slot():
        try:
            conn.run_task(ref, lambda a: a.nodes(ref.node).qemu(ref.vmid).snapshot.post(
                snapname=snapname, description=description, vmstate=0), timeout=timeout,
                what=f"snapshot {snapname}", kind="qmsnapshot", before_retry=made)
        except AlreadyExists:
            pass  # a lost answer's retry found its own snapshot: checked below
        done = mine()
    if done is None or str(done.get("description") or "").strip() != description.strip():
        raise DriverError(f"snapshot {snapname} ({description!r}) is missing after its task",
                          driver=conn.driver, vm=name)
    return to_snapshot(done)


def revert_snapshot(conn: PveConnection, *, name: str, snapshot: Snapshot, timeout: float,
                    slot: Callable[[], ContextManager] = nullcontext) -> List[str]:
    ref = conn.ref(name)
    if ref.entry.get("status") != "stopped":
        raise WrongState(f"VM is {ref.entry.get('status')}; stop it before reverting",
                         driver=conn.driver, vm=name)
    conn.ensure_unlocked(ref, timeout)
    with slot():
        # No `start`: the reset decides whether the VM runs afterwards, and
        # rollback's default is not to start it (the parameter exists only since
        # Proxmox VE 7.2; older nodes refuse it). A snapshot gone since it was
        # listed fails the task ("snapshot 'x' does not exist")
        try:
            conn.run_task(ref, lambda a: a.nodes(ref.node).qemu(ref.vmid)
                          .snapshot(snapshot.id).rollback.post(), timeout=timeout,
                          what=f"the rollback to snapshot {snapshot.id}", kind="qmrollback")
        except NotFound as err:
            if f"snapshot '{snapshot.id}'" not in err.message:
                raise
            raise NotFound(f"snapshot {snapshot.description!r} ({snapshot.id}) not found",
                           driver=conn.driver, vm=name) from None
    return []
