"""Run one function per VM, in parallel, turning every outcome into a VmResult."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import (Callable, ContextManager, Dict, Iterator, List, Optional, Sequence, Tuple,
                    TypeVar, Union)

from vdictl.errors import NotOwned, VdictlError
from vdictl.executor import Cancelled, Throttle, Throttles, mark_under_way, run_each
from vdictl.model import Vm, VmState
from vdictl.result import Outcome, Report, VmResult
from vdictl.vm_lock import VmBusy
from vdictl.config.rooms import VmSpec

from .limits import endpoint_workers, run_workers
from .session import Session

T = TypeVar("T")
#: a throttle, or a host's and the global one held together (Session.power_for ...)
Gate = Union[Throttle, Throttles]

log = logging.getLogger(__name__)

Pair = Tuple[VmSpec, Optional[Vm]]
#: func(spec, vm, steps) does the work for one VM, appending what it did to steps.
VmFunc = Callable[[VmSpec, Optional[Vm], List[str]], None]

RUNNING_STATES = (VmState.RUNNING, VmState.PAUSED, VmState.STARTING, VmState.SUSPENDED)


#: the VM each worker thread is busy with, so step() can report its phase
_current = threading.local()


class Skip(Exception):
    """Nothing to do for this VM, by design; the message says why."""


class InUse(Skip):
    """Left alone because somebody is at the VM (vdictl.ops.in_use); `sessions`
    says who, as the JSON shows them."""

    def __init__(self, message: str, sessions: List[Dict[str, object]]):
        super().__init__(message)
        self.sessions = sessions


def run_vms(session: Session, action: str, pairs: Sequence[Pair], func: VmFunc) -> Report:
    def one(pair: Pair) -> VmResult:
        started = time.monotonic()
        spec, vm = pair
        steps: List[str] = []
        outcome, reason = (Outcome.PLANNED if session.dry_run else Outcome.OK), ""
        in_use: Optional[List[Dict[str, object]]] = None
        _current.spec = spec
        try:
            if session.interrupted:
                raise Cancelled(session.interrupted)
            unavailable = session.unavailable(spec)
            if unavailable is not None:  # its endpoint is down: the others go on
                raise unavailable
            with session.locks.working_on((spec.room, spec.name),
                                          interrupted=lambda: session.interrupted) as waited:
                if waited > 0:  # another run worked on it: as it is now
                    steps.append(f"waited {waited:.1f}s for another run working on it")
                    vm = session.driver_for(spec).find_vms(names=[spec.name]).get(spec.name)
                func(spec, vm, steps)
        except VmBusy as exc:
            outcome, reason = Outcome.SKIPPED, str(exc)
        except InUse as exc:
            outcome, reason, in_use = Outcome.SKIPPED, str(exc), exc.sessions
        except Skip as exc:
            outcome, reason = Outcome.SKIPPED, str(exc)
        except Cancelled:
            outcome, reason = Outcome.NOT_STARTED, "interrupted before this VM got its turn"
        except VdictlError as exc:
            outcome, reason = Outcome.FAILED, session.with_origin(str(exc),
                                                                  session.endpoint_of(spec))
        except Exception as exc:  # noqa: BLE001 - one VM's bug must not stop the others
            log.debug("unexpected error on %s", spec.name, exc_info=True)
            outcome, reason = Outcome.FAILED, f"unexpected error: {exc!r}"
        finally:
            _current.spec = None
            session.end_vm(spec)
        if not session.dry_run:
            session.log_action(spec, action, outcome.value, reason or ", ".join(steps))
        session.progress.done(spec, outcome.value, reason)
        return VmResult(room=spec.room, vm=spec.name, action=action, outcome=outcome,
                        reason=reason, steps=tuple(steps),
                        duration=time.monotonic() - started, in_use=in_use)

    totals, per_endpoint = _counts(session, pairs)
    session.progress.begin(action, totals)
    try:
        # round-robin over the endpoints, each at most what it can keep busy
        results = run_each(one, pairs, max_workers=run_workers(session.config,
                                                               [s for s, _ in pairs]),
                           group=lambda pair: session.endpoint_of(pair[0]),
                           per_group=lambda endpoint: per_endpoint[str(endpoint)])
    finally:
        session.progress.end()
    return Report(action=action, results=[r.value for r in results])


def _counts(session: Session, pairs: Sequence[Pair]) -> Tuple[Dict[str, int], Dict[str, int]]:
    """The VMs per room (for the progress display) and the workers each
    endpoint can keep busy (ops/limits.py)."""
    totals: Dict[str, int] = {}
    per_endpoint: Dict[str, int] = {}
    for spec, _ in pairs:
        totals[spec.room] = totals.get(spec.room, 0) + 1
        endpoint = session.endpoint_of(spec)
        if endpoint not in per_endpoint:
            per_endpoint[endpoint] = endpoint_workers(session.config, spec)
    return totals, per_endpoint


def step(session: Session, steps: List[str], text: str, func: Callable[[], object]) -> object:
    """Do one state-changing step, or only record it under --dry-run."""
    if session.dry_run:
        steps.append(f"would {text}")
        return None
    _begin(session, text)
    value = func()
    steps.append(text)
    return value


def throttled_step(session: Session, steps: List[str], text: str, throttle: Gate,
                   func: Callable[[Callable[[], ContextManager]], T], *,
                   place: Optional["Place"] = None) -> Optional[T]:
    """A step whose driver call holds a slot of `throttle` only around the work
    that loads the backend: func(slot) passes the slot factory on to the driver
    (see Driver.revert_snapshot), so the lookups before and the checks after
    leave the slot to the next VM. The step begins when the slot is held; the
    VM's `place` in the queue before `throttle` (see queued) is given up then."""
    if session.dry_run:
        steps.append(f"would {text}")
        return None

    @contextmanager
    def slot() -> Iterator[None]:
        with throttle.slot():
            if place is not None:
                place.give_up()
            _begin(session, text)
            yield

    value = func(slot)
    steps.append(text)
    return value


class Place:
    """A VM's place in a queue (a Throttle) in front of another throttle."""

    def __init__(self, queue: Optional[Gate]):
        self._queue = queue

    def give_up(self) -> None:
        """Leave the queue (once): the next VM may get ready."""
        queue, self._queue = self._queue, None
        if queue is not None:
            queue.release()


@contextmanager
def queued(session: Session, queue: Gate) -> Iterator[Place]:
    """Wait for a place in `queue`, then begin this VM: a reset powers a VM
    off only once it is among the next batch of the snapshot throttle, so an
    interrupt finds no more than that batch (and the one restoring) under way.
    The place is given up when the VM gets its slot (throttled_step) or leaves
    the block. Raises Cancelled once the run is interrupted."""
    if session.dry_run:
        yield Place(None)
        return
    queue.acquire()
    place = Place(queue)
    try:
        _begin(session)
        yield place
    finally:
        place.give_up()


def _begin(session: Session, text: str = "") -> None:
    spec = getattr(_current, "spec", None)
    if spec is not None:
        session.begin_vm(spec)  # Cancelled if the run was interrupted before this VM began
    mark_under_way()  # from here on an interrupt lets this VM finish
    if spec is not None and text:
        session.progress.phase(spec, text)


def skip_maintenance(session: Session, spec: VmSpec) -> None:
    """Reset and start leave VMs under maintenance alone, unless --include-maintenance."""
    if spec.maintenance and not session.include_maintenance:
        raise Skip("maintenance = True: left alone (--include-maintenance to act on it)")


def require_existing(spec: VmSpec, vm: Optional[Vm]) -> Vm:
    if vm is None:
        raise VdictlError(f"VM {spec.name} does not exist (run virtroom-rollout {spec.room})")
    return vm


def is_ours(session: Session, spec: VmSpec, vm: Vm, *, destructive: bool = False) -> bool:
    """Whether the run may act on `spec`'s VM: vdictl's mark of this room, or
    adopted (--adopt; `adopt_unmarked = True` for an unmarked VM, except for
    destructive operations)."""
    if session.adopt:
        return True
    if vm.owner is None:
        return spec.adopt_unmarked and not destructive
    return vm.owner.room == spec.room


def require_owned(session: Session, spec: VmSpec, vm: Vm, steps: List[str], *,
                  destructive: bool = False) -> None:
    """Refuse VMs vdictl did not create, or that another room owns, unless adopted.

    --adopt adopts for this run. `adopt_unmarked = True` in the config adopts
    VMs without any vdictl mark for every non-destructive operation, so the
    nightly reset of a room rolled out by Amoothei/Virtesk needs no flag.
    """
    if is_ours(session, spec, vm, destructive=destructive):
        if vm.owner is None and not session.adopt:
            steps.append("adopted (no vdictl mark; adopt_unmarked = True)")
        return
    if vm.owner is None:
        hint = "use --adopt" if destructive or spec.adopt_unmarked else \
            "use --adopt, or adopt_unmarked = True in the room"
        raise NotOwned(f"exists but was not created by vdictl; not touched "
                       f"({hint} to act on it)", vm=spec.name)
    raise NotOwned(f"belongs to room {vm.owner.room!r}, not {spec.room!r}; not touched",
                   vm=spec.name)


def is_running(vm: Vm) -> bool:
    return vm.state in RUNNING_STATES
