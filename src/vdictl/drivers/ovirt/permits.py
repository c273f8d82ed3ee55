"""What vdictl preflight asks an oVirt engine about its own account: the
permits its roles give it, against what a reset, rollout or rebuild needs.

The account is the API's `authenticated_user` (the entry point names it;
the login's check reads it, drivers/ovirt/pool.py);
its permissions, with those of its groups, come from
GET /users/{id}/permissions?follow=role.permits in one request (the engine's
GetPermissionsOnBehalfByAdElementId). A permit is the role's action group,
named in lower case (ovirt-engine ActionGroup: manipulate_vm_snapshots,
run_vm...).

Where a permission is given matters as the engine checks it: on the
system, a data center or a cluster it covers the VMs below (this module
does not tell one cluster from another); on a VM, that VM only. A VM its
account created without the right to manage permissions makes the account
its UserVmManager (AddVmCommand.addVmPermission), so a rollout needs only
create_vm, and the nightly reset of its VMs is then covered VM by VM.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set

from vdictl.config.rooms import VmSpec

from ..base import VmsLacking
from .connection import OvirtConnection

#: what a reset does to each VM: shut it down (stop if it ignores that),
#: restore the snapshot; start it unless reset_startvm = Never
RESET = ("shut_down_vm", "stop_vm", "manipulate_vm_snapshots")
START = "run_vm"
#: what a rollout or rebuild needs before any VM exists (the new VMs' own
#: permits come with them: see the module's note); a rebuild removes the old
CREATE = "create_vm"
REMOVE = "delete_vm"
#: a permission given on one of these is not one for the rooms' VMs
_ELSEWHERE = ("template", "disk", "storage_domain", "host", "vm_pool")


def permission_problems(conn: OvirtConnection, specs: Sequence[VmSpec],
                        purpose: str) -> Optional[List[str]]:
    """One line per permit the account lacks ([] if none); None when the
    engine does not name the account (an engine before 4.1)."""
    user_id = conn.account_id()   # read by the login, no request of its own
    if user_id is None:
        return None
    permissions = conn.call(
        lambda s: s.users_service().user_service(user_id).permissions_service().list(
            follow="role.permits"), what="its own permissions")
    broad: Set[str] = set()
    on_vm: Dict[str, Set[str]] = {}
    for permission in permissions:
        held = {p.name for p in (permission.role.permits or [])} if permission.role else set()
        if permission.vm is not None:
            on_vm.setdefault(permission.vm.id, set()).update(held)
        elif not any(getattr(permission, kind, None) is not None for kind in _ELSEWHERE):
            broad |= held
    who = conn.settings.username or "the account"
    problems = []
    if purpose in ("rollout", "rebuild") and CREATE not in broad:
        problems.append(f"{who} lacks the permit {CREATE} (a {purpose} creates VMs; "
                        "VmCreator, PowerUserRole and UserVmManager hold it)")
    needs = {"reset": list(RESET), "rebuild": [REMOVE]}.get(purpose, [])
    if purpose == "reset" and any(s.reset_startvm != "Never" for s in specs):
        needs.append(START)
    missing = [need for need in needs if need not in broad]
    if missing:
        problems.extend(_lacking_on_vms(conn, specs, purpose, who, missing, on_vm))
    return problems


def _lacking_on_vms(conn: OvirtConnection, specs: Sequence[VmSpec], purpose: str, who: str,
                    missing: List[str], on_vm: Dict[str, Set[str]]) -> List[str]:
    """The permits not held broadly may be held VM by VM: each existing VM
    of the rooms must hold them then. The VMs' ids come from the run's
    inventory where it found them; a room with a VM it did not costs one
    search (the preflight asks this before its inventory)."""
    rooms: Dict[str, List[str]] = {}
    for spec in specs:
        rooms.setdefault(spec.room, []).append(spec.name)
    ids: Dict[str, str] = {}
    if on_vm:
        for names in rooms.values():
            known = {name: conn.known_id(name) for name in names}
            if None in known.values():
                known.update((name, vm.id) for name, vm in conn.search_vms(names).items())
            ids.update((name, vm_id) for name, vm_id in known.items() if vm_id is not None)
    problems: List[str] = []
    for need in missing:
        without = [name for names in rooms.values() for name in names
                   if name in ids and need not in on_vm.get(ids[name], set())]
        if not on_vm or len(without) == len(ids):
            problems.append(f"{who} lacks the permit {need} (a {purpose} needs it on every "
                            "VM; UserVmManager holds it)")
        elif without:
            listed = ", ".join(without[:5]) + (", ..." if len(without) > 5 else "")
            problems.append(VmsLacking(
                f"{who} lacks the permit {need} on {len(without)} VM(s) ({listed}): it holds "
                f"it only VM by VM (a {purpose} needs it on every VM; UserVmManager on the "
                "cluster holds it)", without))
    return problems
