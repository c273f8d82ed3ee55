"""What vdictl preflight reports (Problem) and what its checks share (Preflight)."""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

from vdictl.config.file import vdictl_command
from vdictl.config.rooms import Room, VmSpec

from ..runner import Pair
from ..session import Session

#: the run would fail there (a VM, a room, or everything at the endpoint)
ERROR = "error"
#: the run goes on, but someone should look (a certificate ending within 30 days,
#: a VM in use that skip_in_use will leave alone, a preview the reset undoes)
WARNING = "warning"
#: the endpoint cannot be used: not reached, login refused, certificate refused (exit 3)
UNREACHABLE = "unreachable"
SEVERITIES = (UNREACHABLE, ERROR, WARNING)


@dataclass(frozen=True)
class Problem:
    """One thing the preflight found, and what to do about it. `room` and
    `vm` are empty for what concerns a whole endpoint (or a whole room)."""

    endpoint: str
    room: str
    vm: str
    what: str
    what_to_do: str
    severity: str = ERROR

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class Preflight:
    """What the checks share: the session, the rooms, the purpose, and what
    the first checks learnt (which endpoints are down, the inventory)."""

    session: Session
    rooms: List[Room]
    purpose: str
    #: endpoints (URI or URL) that could not be used: no room or VM check there
    down: Set[str] = field(default_factory=set)
    #: facts that are not problems ("reached over ssh: no TLS certificate")
    notes: List[str] = field(default_factory=list)
    _pairs: Optional[List[Pair]] = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def endpoint(self, spec: VmSpec) -> str:
        return self.session.endpoint_of(spec)

    def command(self, args: str) -> str:
        """The vdictl command line of an advice, on this preflight's config
        file (and its --uri, if it was given one)."""
        config = self.session.config
        uri = config.connect.uri if self.session.connect_origin == "--uri" else None
        return vdictl_command(config.path, args, uri)

    def specs(self) -> List[VmSpec]:
        return [spec for room in self.rooms for spec in room.vms]

    def reachable(self) -> List[VmSpec]:
        """The VMs whose endpoint could be used."""
        return [spec for spec in self.specs() if self.endpoint(spec) not in self.down]

    def reachable_rooms(self) -> List[Room]:
        """The rooms cut down to the VMs whose endpoint could be used (a room
        with none left out): what a check that asks the backends is given."""
        wanted = {(spec.room, spec.name) for spec in self.reachable()}
        rooms = [dataclasses.replace(room, vms=tuple(s for s in room.vms
                                                     if (s.room, s.name) in wanted))
                 for room in self.rooms]
        return [room for room in rooms if room.vms]

    def pairs(self) -> List[Pair]:
        """Each VM of a reachable endpoint with the backend's view of it, asked
        once (Session.inventory: one query per room and endpoint)."""
        with self._lock:
            if self._pairs is None:
                rooms = self.reachable_rooms()
                self._pairs = self.session.inventory(rooms) if rooms else []
            return self._pairs

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)


#: one check: what it finds, as Problems (ops/preflight/__init__.py: CHECKS)
Check = Callable[[Preflight], Iterable[Problem]]
