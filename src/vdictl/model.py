"""Plain records shared by every driver and operation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


class VmState(str, enum.Enum):
    """Power state of a VM, the same for every backend."""

    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    STARTING = "starting"
    STOPPING = "stopping"
    LOCKED = "locked"        # disks or snapshots busy (oVirt image_locked, ...)
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"

    def __str__(self) -> str:  # click and f-strings show the plain value
        return self.value


#: Vm.phase of a VM whose creation a run began and did not finish: it carries
#: the owner mark but not yet what creating it sets after the copy (Proxmox VE:
#: the mark is written with the clone, the config change follows); the next
#: rollout finishes it (Driver.finish_create)
CREATING = "creating"


@dataclass(frozen=True)
class Owner:
    """The ownership mark vdictl writes on every VM it creates."""

    room: str
    subsection: str
    tool_version: str


@dataclass(frozen=True)
class Vm:
    """A VM as a backend reports it."""

    name: str
    id: str
    state: VmState
    owner: Optional[Owner] = None
    mac: Optional[str] = None
    #: the rollout phase vdictl recorded on the VM (Driver.set_phase), or None
    phase: Optional[str] = None
    #: where the backend keeps the VM, in its own words, when the endpoint does
    #: not say it (Proxmox VE: "pve1/101", its node and VMID); None otherwise
    location: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def owned(self) -> bool:
        return self.owner is not None


@dataclass(frozen=True)
class Snapshot:
    """A snapshot of a VM."""

    id: str
    description: str
    created: Optional[float] = None  # seconds since the epoch, when known
    extra: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class UserSession:
    """Somebody at a VM: a console client connected, or a user logged in."""

    #: "console" (a VNC/SPICE/RDP client connected) or "guest" (a user logged
    #: in, as the guest agent says)
    kind: str
    #: who: the console user or the guest's login name, when known
    user: Optional[str] = None
    #: where from: the client's address ("192.0.2.7" or "192.0.2.7:51234"), when known
    client: Optional[str] = None
    #: since when, seconds since the epoch, when known
    since: Optional[float] = None
    #: what answered ("qemu vnc", "qemu spice", "guest agent", "engine console";
    #: Proxmox VE: "qemu vnc (through pve1's vncproxy)" for its proxied consoles)
    source: str = ""


#: Driver.sessions answer per VM: the sessions (empty: nobody is there), or
#: None when the backend cannot tell (never taken as "free")
Sessions = Optional[List[UserSession]]


@dataclass(frozen=True)
class StorageSpace:
    """One storage as its backend reports it: an oVirt storage domain, a
    Proxmox VE storage on a node, a libvirt storage pool."""

    name: str
    free: int    # bytes
    total: int   # bytes
    #: oVirt: the domain's critical_space_action_blocker in bytes, below which
    #: the engine itself refuses new disks and snapshots; None elsewhere
    blocker: Optional[int] = None


@dataclass(frozen=True)
class SpaceNeed:
    """What one new VM of a template takes on one storage (an estimate, see
    Driver.space_needed)."""

    storage: str
    #: bytes its disks take once created (a full copy: the template's disk
    #: sizes; a linked clone: what the template's disks hold now)
    clone: int
    #: bytes its rollout snapshot takes when it is made
    snapshot: int = 0
