"""Who is at the VMs (Driver.sessions), and the guard that leaves VMs in use alone.

The backends are asked once per room and endpoint, as Session.inventory asks
for the VMs, and only about VMs that run: nobody sits at a VM that is off.
Only VMs the run may act on (runner.is_ours: vdictl's mark of the room, or
adopted) are asked about: a VM of another team whose name matches a desk
gets no question to its QEMU monitor or guest agent, and shows "?".
A VM whose backend cannot tell (None) is never taken as free, and never as
in use either: --skip-in-use and skip_in_use = True skip only the VMs the
backend reports someone at, so a backend without the means changes nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.errors import VdictlError
from vdictl.executor import run_each
from vdictl.model import Sessions, UserSession, Vm

from .runner import InUse, Pair, is_ours, is_running
from .session import INVENTORY_QUERIES, EndpointKey, Session

log = logging.getLogger(__name__)

#: (room, VM name)
VmKey = Tuple[str, str]


def ask(session: Session, pairs: Iterable[Pair]) -> Dict[VmKey, Sessions]:
    """Each VM's sessions: [] for a VM that does not exist or does not run,
    None where the backend cannot tell (or its question failed) and for a VM
    that is not ours (never asked)."""
    pairs = list(pairs)
    answers: Dict[VmKey, Sessions] = {}
    groups: Dict[Tuple[str, EndpointKey], List[VmSpec]] = {}
    for spec, vm in pairs:
        key = (spec.room, spec.name)
        if session.unavailable(spec) is not None:
            answers[key] = None
        elif vm is None or not is_running(vm):
            answers[key] = []
        elif not is_ours(session, spec, vm):
            answers[key] = None
        else:
            groups.setdefault((spec.room, session.endpoint_key(spec)), []).append(spec)

    def query(specs: List[VmSpec]) -> Dict[str, Sessions]:
        return session.driver_for(specs[0]).sessions(names=[s.name for s in specs])

    for result in run_each(query, list(groups.values()), max_workers=INVENTORY_QUERIES):
        specs = result.item
        found: Dict[str, Sessions] = {}
        if result.succeeded:
            found = result.value
        elif isinstance(result.error, VdictlError):  # cannot tell, as if never asked
            log.info("sessions of room %s at %s: %s", specs[0].room,
                     session.endpoint_of(specs[0]), result.error)
        else:
            raise result.error or AssertionError("a failed query")
        answers.update(((s.room, s.name), found.get(s.name)) for s in specs)
    record_probe(session, pairs, answers)
    return answers


def record_probe(session: Session, pairs: Iterable[Pair],
                 answers: Dict[VmKey, Sessions]) -> None:
    """Write what the probe saw into the occupancy record (vdictl.records.occupancy),
    per endpoint: the VMs of ours that exist. One that cannot be written is a
    warning: the run goes on without its memory."""
    probes: Dict[str, list] = {}
    for spec, vm in pairs:
        if vm is None or session.unavailable(spec) is not None or not is_ours(session, spec, vm):
            continue
        sessions = answers.get((spec.room, spec.name))
        probes.setdefault(session.endpoint_of(spec), []).append((
            (spec.room, spec.name), is_running(vm),
            None if sessions is None else [session_dict(s) for s in sessions]))
    for endpoint, seen in probes.items():
        try:
            session.occupancy.observe(endpoint, seen)
        except OSError as exc:
            session.occupancy.cannot_write(exc)


def clock(since: float) -> str:
    """09:12 today, else 2026-12-02 09:12 (local time)."""
    when = time.localtime(since)
    same_day = time.strftime("%Y-%m-%d", when) == time.strftime("%Y-%m-%d")
    return time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", when)


def describe_one(user_session: UserSession) -> str:
    """console 192.0.2.7 since 09:12, guest anna."""
    parts = [user_session.kind, user_session.user or "", user_session.client or ""]
    if user_session.since is not None:
        parts.append(f"since {clock(user_session.since)}")
    return " ".join(part for part in parts if part)


def describe(sessions: Sessions) -> str:
    """The sessions of one VM for a table or a note: "?" when the backend
    cannot tell, "" when nobody is there."""
    if sessions is None:
        return "?"
    return ", ".join(describe_one(s) for s in sessions)


def session_dict(user_session: UserSession) -> Dict[str, object]:
    return {"kind": user_session.kind, "user": user_session.user,
            "client": user_session.client, "since": user_session.since,
            "source": user_session.source}


def guard(session: Session, pairs: Sequence[Pair],
          skip_in_use: bool) -> Callable[[VmSpec], None]:
    """check(spec): raises InUse when `spec`'s VM is to be left alone (--skip-in-use,
    or skip_in_use = True in its room) and somebody is at it. The backends are
    asked only when some VM is to be guarded, so the nightly run asks nothing."""
    guarded = [(spec, vm) for spec, vm in pairs if skip_in_use or spec.skip_in_use]
    answers = ask(session, guarded) if guarded else {}

    def check(spec: VmSpec) -> None:
        sessions = answers.get((spec.room, spec.name))
        if sessions:
            why = "--skip-in-use" if skip_in_use else "skip_in_use = True"
            raise InUse(f"in use: {describe(sessions)} (left alone: {why})",
                        [session_dict(s) for s in sessions])

    return check


def in_use(session: Session, pairs: Sequence[Tuple[VmSpec, Optional[Vm]]],
           ) -> List[Tuple[VmSpec, List[UserSession]]]:
    """The VMs of `pairs` somebody is at, in order, with their sessions: for the
    question a terminal is asked before a daytime run."""
    answers = ask(session, pairs)
    return [(spec, list(answers[(spec.room, spec.name)] or [])) for spec, _ in pairs
            if answers.get((spec.room, spec.name))]
