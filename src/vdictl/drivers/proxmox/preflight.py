"""What vdictl preflight asks Proxmox VE: the API account's effective
privileges (GET /access/permissions, which any user or token may ask about
itself: pve-access-control's PVE/API2/AccessControl.pm 'permissions') and
the locks a killed task left on a VM."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Set, Union

from vdictl.config.rooms import VmSpec
from vdictl.errors import VdictlError
from vdictl.model import Snapshot, Vm

from ..base import Finding
from ..tls_endpoint import TlsEndpoint, endpoint_of_url
from .api import DEFAULT_PORT, split_urls
from .connection import PveConnection, StaleLock, VmRef

#: what each purpose needs on the VMs; "A|B" is either (the sim's routes and
#: qemu-server's API check the same: VM.Snapshot.Rollback or VM.Snapshot)
RESET = ("VM.Audit", "VM.PowerMgmt", "VM.Snapshot.Rollback|VM.Snapshot")
CREATE = RESET + ("VM.Clone", "VM.Allocate", "VM.Config.Disk", "VM.Snapshot")
NEEDS = {"reset": RESET, "rollout": CREATE, "rebuild": CREATE}
#: Driver.sessions asks QEMU's monitor and the guest agent
IN_USE = ("VM.Monitor",)


def tls_endpoint(conn: PveConnection) -> Union[TlsEndpoint, str]:
    settings = conn.settings
    urls = split_urls(conn.url)
    found = endpoint_of_url(urls[0], default_port=DEFAULT_PORT, ca_file=settings.ca_file,
                            insecure=settings.insecure) if urls else None
    return found or f"{conn.url} is not an https URL"


def held(answer: Dict[str, Dict[str, Any]], pools: Set[str]) -> Set[str]:
    """The privileges held on the rooms' VMs: on /vms, on their pools, or
    propagated from / (a privilege on / without propagate stops there)."""
    privileges = {p for p, propagate in (answer.get("/") or {}).items() if propagate}
    for path in ["/vms"] + [f"/pool/{pool}" for pool in sorted(pools)]:
        privileges.update(answer.get(path) or {})
    return privileges


def permission_problems(conn: PveConnection, specs: Sequence[VmSpec], purpose: str) -> List[str]:
    answer = conn.call(lambda a: a.access.permissions.get(), what="its own permissions")
    privileges = held(answer or {}, {s.pool for s in specs if s.pool})
    needs = NEEDS.get(purpose, RESET) + (IN_USE if any(s.skip_in_use for s in specs) else ())
    who = conn.settings.token_id or conn.settings.username or "the account"
    missing = [need for need in needs if not set(need.split("|")) & privileges]
    return [f"{who} lacks {need.replace('|', ' or ')} on /vms (a {purpose} needs it)"
            for need in missing]


def node_problems(conn: PveConnection) -> List[Finding]:
    """A node of several in `url` that does not answer: the runs go on
    through the others, one node fewer to fall back on."""
    return [(f"node {url} does not answer ({why}); the runs go on through the other nodes "
             "of url",
             "bring the node back (pveproxy, the host, the network), or take it out of url")
            for url, why in conn.nodes.silent_others(split_urls(conn.url))]


def vm_problems(conn: PveConnection, vm: Vm, snapshots: Sequence[Snapshot]) -> List[Finding]:
    """A config lock: a task holds it now, or a killed one left it (then the
    driver's own StaleLock line, which says how to clear it)."""
    lock = vm.extra.get("lock")
    if not lock:
        return []
    ref = VmRef(vm.name, str(vm.extra.get("node")), int(vm.extra.get("vmid") or 0), {})
    try:
        conn.check_stale_lock(ref)
    except StaleLock as exc:
        return [(exc.message,
                 f"qm unlock {ref.vmid} on node {ref.node} once no task works on it")]
    except VdictlError as exc:
        return [(f"locked ({lock}); could not tell whether a task holds it: {exc}",
                 "look at the node's task list")]
    return [(f"locked ({lock}) by a task that runs now",
             "wait for the task; a reset waits for it up to operation_timeout")]
