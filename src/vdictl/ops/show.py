"""virtroom-show: what the config says and what the backend has, VM by VM."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vdictl.errors import VdictlError
from vdictl.model import Sessions, UserSession
from vdictl.config.rooms import Room, VmSpec

from .in_use import ask, clock, describe, session_dict
from .personalise import phase_reached
from .rollout import has_rollout_snapshot
from .runner import is_ours
from .session import Session


#: the state shown for a VM whose endpoint could not be asked
UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class VmRow:
    room: str
    subsection: str
    vm: str
    ip: Optional[str]
    mac: Optional[str]
    state: str
    owned: Optional[bool]          # None: the VM does not exist
    reset_snapshot: Optional[str]  # the description the regex would restore
    note: str = ""
    phase: str = ""                # the rollout phase reached (vdictl.ops.personalise)
    template: str = ""             # template_name, as the config says
    memory: Optional[int] = None   # bytes, as the config says; None: the template's
    endpoint: str = ""             # the URI or engine URL the VM lives at
    location: Optional[str] = None  # Proxmox VE: "node/VMID" (Vm.location)
    #: who is at the VM (UserSession fields; [] nobody), None: cannot tell
    in_use: Optional[Tuple[Dict[str, Any], ...]] = None
    #: False: a VM the run may not act on (another team's): its sessions are
    #: never asked (ops/in_use.py), and the table leaves IN USE blank
    ours: bool = True
    #: the last probe that saw somebody at it (seconds since the epoch), from
    #: the occupancy record (vdictl.records.occupancy); None: never seen in use
    last_used: Optional[float] = None

    @property
    def last_used_text(self) -> str:
        """"now" when in use, else when somebody was last seen at it (09:12, or the date)."""
        if self.in_use:
            return "now"
        return "" if self.last_used is None else clock(self.last_used)

    @property
    def in_use_text(self) -> str:
        """"console 192.0.2.7 since 09:12, guest anna"; "?": cannot tell."""
        if self.in_use is None:
            return "" if self.state == UNREACHABLE or not self.ours else "?"
        return describe([UserSession(**s) for s in self.in_use])

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        del data["ours"]  # the JSON says it in owned and note
        data["in_use"] = None if self.in_use is None else [dict(s) for s in self.in_use]
        return data


def unknown_row(session: Session, spec: VmSpec, why: str) -> VmRow:
    """A VM whose backend could not be asked: what the config says, and why."""
    return VmRow(room=spec.room, subsection=spec.subsection, vm=spec.name, ip=spec.ip,
                 mac=None, state=UNREACHABLE, owned=None, reset_snapshot=None, note=why,
                 template=spec.template_name, memory=spec.memory,
                 endpoint=session.endpoint_of(spec))


def show(session: Session, rooms: Sequence[Room]) -> List[VmRow]:
    rows: List[VmRow] = []
    pairs = session.inventory(rooms)
    users = ask(session, pairs)
    last_used = last_used_of(session, pairs)
    for spec, vm in pairs:
        unavailable = session.unavailable(spec)
        if unavailable is not None:  # its endpoint is down: say so, show the others
            rows.append(unknown_row(session, spec, str(unavailable)))
            continue
        snapshot, note, snapshots = None, "", []
        if vm is not None and spec.takes_snapshot:
            try:
                snapshots = session.driver_for(spec).list_snapshots(name=spec.name)
            except VdictlError as exc:
                note = str(exc)
        if vm is None:
            note = "does not exist"
        elif spec.stateless:
            note = "stateless"
        elif not spec.resettable:
            note = "no snapshot configured"
        elif not note:
            try:
                snapshot = spec.reset_snapshot(snapshots).description
            except VdictlError as exc:
                note = str(exc)
        phase = phase_reached(spec, vm, has_rollout_snapshot(spec, snapshots))
        if vm is not None and vm.owner is None:
            origin = "not created by vdictl" + (
                " (adopted: adopt_unmarked = True)" if spec.adopt_unmarked else "")
            note = "; ".join(filter(None, [origin, note]))
        if spec.maintenance:
            note = "; ".join(filter(None, ["maintenance", note]))
        rows.append(VmRow(room=spec.room, subsection=spec.subsection, vm=spec.name, ip=spec.ip,
                          mac=None if vm is None else vm.mac,
                          state="absent" if vm is None else vm.state.value,
                          owned=None if vm is None else vm.owned,
                          reset_snapshot=snapshot, note=note, phase=phase,
                          template=spec.template_name, memory=spec.memory,
                          endpoint=session.endpoint_of(spec),
                          location=None if vm is None else vm.location,
                          in_use=sessions_of(users[(spec.room, spec.name)]),
                          ours=vm is None or is_ours(session, spec, vm),
                          last_used=last_used.get((spec.room, spec.name))))
    return rows


def last_used_of(session: Session, pairs: Sequence[Tuple[VmSpec, Any]],
                 ) -> Dict[Tuple[str, str], float]:
    """Each desk's last use as the occupancy record has it, one read per endpoint."""
    found: Dict[Tuple[str, str], float] = {}
    for endpoint in {session.endpoint_of(spec) for spec, _ in pairs}:
        found.update((key, desk.last_used) for key, desk in
                     session.occupancy.desks(endpoint).items() if desk.last_used is not None)
    return found


def sessions_of(sessions: Sessions) -> Optional[Tuple[Dict[str, Any], ...]]:
    return None if sessions is None else tuple(session_dict(s) for s in sessions)
