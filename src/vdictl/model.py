"""Plain records shared by every driver and operation."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, Optional


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
