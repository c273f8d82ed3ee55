"""The preflight of each room (what creating its VMs needs exists) and of
each VM (it exists and is vdictl's, exactly one snapshot to reset to,
nothing locked, in preview or half-made, nobody at it where the room leaves
VMs in use alone)."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.errors import VdictlError
from vdictl.executor import run_each
from vdictl.model import CREATING, Snapshot, Vm

from .. import in_use
from ..personalise import render_payloads
from ..rollout import check_rooms
from ..runner import Pair, is_ours
from .problems import ERROR, WARNING, Preflight, Problem


def rooms_can_be_made(pf: Preflight) -> Iterator[Problem]:
    """For a rollout or rebuild, the rollout's own pre-flight (ops/rollout.py:
    check_rooms) for every VM as if it were created anew: template, cluster
    or node, network or vNIC profile, pool, storage and the thin-client
    user exist, and the first-boot payloads render. A reset needs none of
    them, so its preflight does not ask (and asks no more than virtroom-show:
    the lookups are four requests per room and endpoint on oVirt)."""
    specs = pf.reachable()
    if not specs or pf.purpose == "reset":
        return
    fresh: List[Pair] = [(spec, None) for spec in specs]
    unfit = check_rooms(pf.session, fresh, render_payloads(fresh))
    firsts = {spec.room: spec for spec in reversed(specs)}
    for room, why in unfit.items():
        yield Problem(pf.endpoint(firsts[room]), room, "", why,
                      f"fix the names in [room {room}] (vdictl config check shows them) or "
                      f"create what is missing; the {pf.purpose} of {room} fails without it")


def vms_ready(pf: Preflight) -> Iterator[Problem]:
    """Every VM of a reachable endpoint, side by side: the snapshots of the
    VMs a reset would restore (one query per room and endpoint where the
    backend has one, else one per VM, as virtroom-show asks), nothing else
    per VM."""
    pairs = pf.pairs()
    guarded = [(spec, vm) for spec, vm in pairs if spec.skip_in_use and pf.purpose != "rollout"]
    users = in_use.ask(pf.session, guarded) if guarded else {}
    workers = max(1, min(pf.session.max_workers, 16))
    read = read_snapshots(pf, pairs, workers)
    results = run_each(lambda pair: list(check_vm(pf, *pair, read=read)), pairs,
                       max_workers=workers)
    for result in results:
        yield from result.value_or_raise()
    for spec, _ in guarded:
        sessions = users.get((spec.room, spec.name))
        if sessions:
            yield Problem(pf.endpoint(spec), spec.room, spec.name,
                          f"in use: {in_use.describe(sessions)}",
                          f"skip_in_use = True: the {pf.purpose} will leave it alone; ask "
                          "them to log off if it should be done", WARNING)


def read_snapshots(pf: Preflight, pairs: List[Pair],
                   workers: int) -> Dict[Tuple[str, str], List[Snapshot]]:
    """(room, VM name) -> the VM's snapshots, for the VMs of a reset whose
    backend reads a room's in one query (Driver.room_snapshots). A query
    that fails leaves its VMs to be asked one by one."""
    groups: Dict[Tuple[str, str], List[VmSpec]] = {}
    for spec, vm in pairs:
        if (pf.purpose == "reset" and vm is not None and acts_on(pf, spec)
                and pf.session.unavailable(spec) is None and is_ours(pf.session, spec, vm)):
            groups.setdefault((spec.room, pf.endpoint(spec)), []).append(spec)

    def read(specs: List[VmSpec]) -> Optional[Dict[str, List[Snapshot]]]:
        return pf.session.driver_for(specs[0]).room_snapshots(names=[s.name for s in specs])

    found: Dict[Tuple[str, str], List[Snapshot]] = {}
    for result in run_each(read, list(groups.values()), max_workers=workers):
        if result.succeeded and result.value is not None:
            found.update(((spec.room, spec.name), result.value[spec.name])
                         for spec in result.item if spec.name in result.value)
    return found


def acts_on(pf: Preflight, spec: VmSpec) -> bool:
    """Whether the run of pf.purpose would act on `spec`'s VM at all."""
    if pf.purpose != "reset":
        return True
    return spec.resettable and not spec.maintenance


def check_vm(pf: Preflight, spec: VmSpec, vm: Optional[Vm],
             read: Dict[Tuple[str, str], List[Snapshot]]) -> Iterator[Problem]:
    url = pf.endpoint(spec)

    def problem(what: str, todo: str, severity: str = ERROR) -> Problem:
        return Problem(url, spec.room, spec.name, what, todo, severity)

    unavailable = pf.session.unavailable(spec)
    if unavailable is not None:
        yield problem(f"not looked up: {unavailable}", "see the endpoint's problem")
        return
    if not acts_on(pf, spec):
        return
    if vm is None:
        if pf.purpose == "reset":
            yield problem("does not exist",
                          pf.command(f"virtroom-rollout {spec.room} --vm {spec.name}"))
        return
    if not is_ours(pf.session, spec, vm, destructive=pf.purpose == "rebuild"):
        yield problem(foreign(spec, vm),
                      "rename or remove that VM, or adopt it (--adopt; adopt_unmarked = True "
                      "in the room for a VM without vdictl's mark)")
        return
    snapshots: List[Snapshot] = []
    if pf.purpose == "reset":
        try:
            key = (spec.room, spec.name)
            snapshots = read[key] if key in read else \
                pf.session.driver_for(spec).list_snapshots(name=spec.name)
        except VdictlError as exc:
            yield problem(f"cannot list its snapshots: {exc}", "see the message")
            return
        if vm.phase == CREATING and not spec.matching_snapshots(snapshots):
            yield problem("left half-made: its rollout stopped during its creation",
                          pf.command(f"virtroom-rollout {spec.room} --vm {spec.name}"))
            return
        yield from snapshot_problems(pf, spec, snapshots)
    for what, todo in pf.session.driver_for(spec).vm_problems(vm=vm, snapshots=snapshots):
        severity = WARNING if "preview" in what else ERROR
        yield problem(what, todo, severity)


def foreign(spec: VmSpec, vm: Vm) -> str:
    if vm.owner is None:
        return "exists but was not created by vdictl (no mark): the run leaves it alone"
    return f"belongs to room {vm.owner.room!r}, not {spec.room!r}: the run leaves it alone"


def snapshot_problems(pf: Preflight, spec: VmSpec,
                      snapshots: List[Snapshot]) -> Iterator[Problem]:
    """Exactly one snapshot must match reset_to_snapshot_regex (VmSpec.reset_snapshot)."""
    matches = spec.matching_snapshots(snapshots)
    url, regex = pf.endpoint(spec), spec.reset_to_snapshot_regex
    if not matches:
        yield Problem(url, spec.room, spec.name,
                      f"no snapshot matches reset_to_snapshot_regex {regex!r} "
                      f"({len(snapshots)} snapshot(s)): deleted?",
                      "shut it down and run "
                      + pf.command(f"virtroom-rollout {spec.room} --vm {spec.name}")
                      + " (its current disk becomes what resets return to), or "
                      + pf.command(f"virtroom-rebuild --force --vm {spec.name}")
                      + " for a fresh copy")
    elif len(matches) > 1:
        listed = "; ".join(repr(s.description) for s in matches)
        yield Problem(url, spec.room, spec.name,
                      f"{len(matches)} snapshots match reset_to_snapshot_regex {regex!r}: "
                      f"{listed}",
                      "delete all but the one to reset to, or narrow reset_to_snapshot_regex")
