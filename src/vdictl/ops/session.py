"""One run of vdictl: its drivers (one per endpoint) and its shared throttles."""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from vdictl import __version__
from vdictl.config.rooms import Config, Connect, Room, VmSpec
from vdictl.drivers import Driver, get_driver
from vdictl.errors import AuthError, DriverError, Unreachable, VdictlError
from vdictl.executor import Cancelled, Throttle, Throttles, run_each
from vdictl.model import Owner, Vm
from vdictl.records.journal import StartJournal
from vdictl.records.occupancy import Occupancy
from vdictl.vm_lock import VmLocks

from .limits import endpoint_limits, endpoint_workers, run_workers
from .progress import ProgressObserver

audit = logging.getLogger("vdictl.audit")

#: inventory queries in flight at once (one per room and endpoint)
INVENTORY_QUERIES = 4

#: factory(config, uri): a new driver for the endpoint; `config.connect` is the
#: endpoint's connect settings ([general] [[connect]] or a [connect NAME] profile)
DriverFactory = Callable[[Config, Optional[str]], Driver]
#: (connect profile or "", URI/URL): one driver, one login and one per-host throttle each
EndpointKey = Tuple[str, str]


def _default_factory(config: Config, uri: Optional[str]) -> Driver:
    return get_driver(config.connect, uri=uri)


class Session:
    """Holds what every VM of a run shares; close() disconnects every driver."""

    def __init__(self, config: Config, *, adopt: bool = False, dry_run: bool = False,
                 include_maintenance: bool = False,
                 progress: Optional[ProgressObserver] = None,
                 driver_factory: DriverFactory = _default_factory,
                 journal: Optional[StartJournal] = None,
                 connect_origin: Optional[str] = None,
                 occupancy: Optional[Occupancy] = None, locks: Optional[VmLocks] = None):
        self.config = config
        #: who sat at which desk (vdictl.records.occupancy), and this run's VM locks
        self.occupancy = occupancy or Occupancy()
        self.locks = locks or VmLocks()
        #: where the [general] endpoint was given, if not in the config ("--uri")
        self.connect_origin = connect_origin
        self.progress = progress or ProgressObserver()
        #: VMs an unfinished reset powered off and has to start again
        self.journal = journal or StartJournal()
        self.adopt = adopt
        self.include_maintenance = include_maintenance
        self.dry_run = dry_run
        self._factory = driver_factory
        self._drivers: Dict[EndpointKey, Driver] = {}
        self._lock = threading.Lock()
        #: one lock per endpoint, held while its driver opens (a hung endpoint
        #: must not hold up the others)
        self._opening: Dict[EndpointKey, threading.Lock] = {}
        #: endpoints given up at their first contact, and why (said once per VM;
        #: not tried again in this run)
        self._down: Dict[EndpointKey, DriverError] = {}
        #: VMs (room, name) whose inventory query failed, and why
        self._unknown: Dict[Tuple[str, str], VdictlError] = {}
        #: endpoint -> where the config gives it (endpoint_origin, once per endpoint)
        self._origins: Dict[str, str] = {}
        t = config.throttle
        self.snapshots = Throttle(t.snapshot_batch_size, t.snapshot_batch_pause, name="snapshot")
        #: VMs made ready for the snapshot throttle (a reset's power-off) wait
        #: here first, so no more than one batch is ready ahead of its turn
        self.snapshot_queue = Throttle(t.snapshot_batch_size, 0.0, name="snapshot queue")
        self.power = Throttle(t.parallel, 0.0, name="power")
        self.snapshots.on_pause = lambda until: self.progress.pause("snapshot", until)
        #: per endpoint (URI or URL, whatever the login): (power, snapshot, snapshot
        #: queue) throttles of parallel_per_host
        self.host_throttles: Dict[str, Tuple[Throttle, Throttle, Throttle]] = {}
        #: why the run is stopping early ("SIGTERM" ...), or None
        self.interrupted: Optional[str] = None
        # VMs (room, name) that began changing things and are not finished.
        # An RLock: interrupt() runs in a signal handler.
        self._under_way: Set[Tuple[str, str]] = set()
        self._under_way_lock = threading.RLock()

    def interrupt(self, reason: str) -> int:
        """Start no new VM; VMs already under way finish (see executor.mark_under_way).
        Returns how many are under way."""
        with self._under_way_lock:  # so the count is exact, and the log in order
            self.interrupted = reason
            under_way = len(self._under_way)
            # INFO: the audit trail keeps it; stderr has the signal handler's own line
            audit.info("run interrupted (%s): no new VM is started; %d VM(s) under way "
                          "finish", reason, under_way)
            self.progress.interrupting(under_way)
        with self._lock:
            per_host = [t for three in self.host_throttles.values() for t in three]
        for throttle in [self.snapshot_queue, self.snapshots, self.power] + per_host:
            throttle.close()
        return under_way

    def begin_vm(self, spec: VmSpec) -> None:
        """`spec`'s VM begins to change: from now on an interrupt lets it finish.
        Raises Cancelled if the run was interrupted before it began."""
        key = (spec.room, spec.name)
        with self._under_way_lock:
            if key in self._under_way:
                return
            if self.interrupted:
                raise Cancelled(self.interrupted)
            self._under_way.add(key)

    def end_vm(self, spec: VmSpec) -> None:
        """`spec`'s VM is finished (whatever the outcome)."""
        key = (spec.room, spec.name)
        with self._under_way_lock:
            if key not in self._under_way:
                return
            self._under_way.discard(key)
            if self.interrupted:
                self.progress.interrupting(len(self._under_way))

    # -- drivers ------------------------------------------------------------
    def endpoint(self, uri: Optional[str] = None) -> str:
        """`uri` (a subsection's override), else the [general] connect settings'."""
        return uri or self.config.connect.endpoint

    def endpoint_of(self, spec: VmSpec) -> str:
        return self.config.endpoint_of(spec)

    def endpoint_key(self, spec: VmSpec) -> EndpointKey:
        """What `spec`'s VM shares its driver, login and per-host throttles with."""
        return (spec.connect or "", self.endpoint_of(spec))

    def driver_for(self, spec: VmSpec) -> Driver:
        """The driver of `spec`'s endpoint: its connect profile's login, at its URI."""
        return self._driver(self.config.connect_of(spec), self.endpoint_key(spec), spec.uri)

    def driver_at(self, uri: Optional[str] = None) -> Driver:
        """The driver of `uri`, or of the [general] connect settings."""
        return self._driver(self.config.connect, ("", self.endpoint(uri)), uri)

    def unopened_driver(self, spec: VmSpec) -> Driver:
        """A new driver of `spec`'s endpoint, neither opened nor kept: for what
        it can say without a login (vdictl preflight: where its TLS certificate is)."""
        return self._factory(dataclasses.replace(self.config,
                                                 connect=self.config.connect_of(spec)), spec.uri)

    def _driver(self, connect: Connect, key: EndpointKey, uri: Optional[str]) -> Driver:
        """The opened driver of `key`. The first contact is tried again with
        backoff for up to endpoint_timeout (Driver.open_within_bound); an
        endpoint given up then is not tried again in this run: its error is
        raised again at once. One lock per endpoint is held while its driver
        opens, so a slow endpoint does not hold up the others."""
        with self._lock:
            driver = self._drivers.get(key)
            opening = self._opening.setdefault(key, threading.Lock())
        if driver is not None:
            return driver
        with opening:
            with self._lock:
                driver, down = self._drivers.get(key), self._down.get(key)
            if driver is not None:
                return driver
            if down is not None:
                raise type(down)(down.message, driver=down.driver) from None
            driver = self._factory(dataclasses.replace(self.config, connect=connect), uri)
            driver.concurrency = self.workers_at(key)
            try:
                driver.open_within_bound()
            except (Unreachable, AuthError) as exc:
                named = self.naming_origin(exc, key[1])
                with self._lock:
                    self._down[key] = named
                raise named from None
            with self._lock:
                self._drivers[key] = driver
            return driver

    # -- throttles: global, and per endpoint with parallel_per_host -----------
    def power_for(self, spec: VmSpec) -> Throttles:
        """Create, start, power off, shut down: a slot of the VM's host, then a global one."""
        return Throttles(self._host(spec)[0], self.power)

    def snapshots_for(self, spec: VmSpec) -> Throttles:
        """Snapshot create and restore: the host's slot, then the global batch's."""
        return Throttles(self._host(spec)[1], self.snapshots)

    def snapshot_queue_for(self, spec: VmSpec) -> Throttles:
        """The place in front of snapshots_for: per host too, or the VMs of one host
        could fill the global queue while they wait for their host's slots."""
        return Throttles(self._host(spec)[2], self.snapshot_queue)

    def _host(self, spec: VmSpec) -> Tuple[Optional[Throttle], ...]:
        """The per-host throttles of `spec`'s endpoint: its profile's own [[throttle]]
        limits, else parallel_per_host (ops.limits.endpoint_limits); Nones without
        either. Keyed by the URI alone: two logins to one host share its cap (the
        first profile's limits). Always taken before the global ones, so no host
        holds more global slots than its own cap while it waits."""
        own = endpoint_limits(self.config, spec)
        if not own.any:
            return (None, None, None)
        t = self.config.throttle
        key = self.endpoint_of(spec)
        with self._lock:
            three = self.host_throttles.get(key)
            if three is None:
                power = Throttle(own.power or t.parallel, 0.0, name=f"power at {key}")
                snapshot = Throttle(own.snapshots or t.snapshot_batch_size,
                                    own.snapshot_pause, name=f"snapshot at {key}")
                snapshot.on_pause = lambda until: self.progress.pause("snapshot", until)
                queue = Throttle(snapshot.limit, 0.0, name=f"snapshot queue at {key}")
                three = self.host_throttles[key] = (power, snapshot, queue)
                if self.interrupted:
                    for throttle in three:
                        throttle.close()
            return three

    def naming_origin(self, exc: Union[Unreachable, AuthError], endpoint: str) -> DriverError:
        """`exc` with the place of `endpoint` in the config after it, where its
        message names it: "cannot connect to URI (FILE [general/connect] uri): ..."."""
        message = self.with_origin(exc.message, endpoint)
        if message == exc.message:
            return exc
        return type(exc)(message, driver=exc.driver, vm=exc.vm)

    def with_origin(self, text: str, endpoint: str) -> str:
        """`text` with the place of `endpoint` in the config after its first mention."""
        origin = self.endpoint_origin(endpoint) if endpoint and endpoint in text else ""
        if not origin or f"{endpoint} ({origin})" in text:
            return text
        return text.replace(endpoint, f"{endpoint} ({origin})", 1)

    def unavailable(self, spec: VmSpec) -> Optional[VdictlError]:
        """Why `spec`'s VM cannot be worked on in this run (its endpoint could
        not be reached, or its inventory query failed), or None."""
        with self._lock:
            return self._unknown.get((spec.room, spec.name))

    def endpoint_origin(self, endpoint: str) -> str:
        """Where the config (or --uri) gives `endpoint`: "FILE [general/connect] uri,
        or [room lab1/students] uri, or [connect eng2] url". Worked out once per
        endpoint: each failed VM's line names it (an engine down: 1,000 lines)."""
        with self._lock:
            known = self._origins.get(endpoint)
        if known is None:
            known = self._find_origin(endpoint)
            with self._lock:
                self._origins[endpoint] = known
        return known

    def _find_origin(self, endpoint: str) -> str:
        places = []
        if endpoint == self.endpoint():
            key = "uri" if self.config.connect.driver == "libvirt" else "url"
            places.append(self.connect_origin or f"[general/connect] {key}")
        for room in self.config.rooms.values():
            for spec in room.vms:
                place = spec.endpoint_from
                if place and place not in places and self.endpoint_of(spec) == endpoint:
                    places.append(place)
        in_file = [i for i, place in enumerate(places) if place.startswith("[")]
        if in_file:  # the file once, before its first section
            places[in_file[0]] = f"{self.config.path} {places[in_file[0]]}"
        return ", or ".join(places)

    def close(self) -> None:
        self.occupancy.flush()   # before the room locks go (write_behind)
        with self._lock:
            drivers, self._drivers = list(self._drivers.values()), {}
        for driver in drivers:
            try:
                driver.close()
            except Exception:  # noqa: BLE001 - closing must not mask the run's result
                logging.getLogger(__name__).debug("closing %s failed", driver.endpoint,
                                                  exc_info=True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers shared by the operations -----------------------------------
    @property
    def max_workers(self) -> int:
        """Worker threads of a run over every room (ops.limits.run_workers)."""
        return run_workers(self.config, all_vms(list(self.config.rooms.values())))

    def workers_at(self, key: EndpointKey) -> int:
        """Threads that may work on one endpoint at once (its driver's pool size)."""
        for room in self.config.rooms.values():
            for spec in room.vms:
                if self.endpoint_key(spec) == key:
                    return endpoint_workers(self.config, spec)
        t = self.config.throttle
        return t.parallel + t.snapshot_batch_size + 2

    def owner_for(self, spec: VmSpec) -> Owner:
        return Owner(room=spec.room, subsection=spec.subsection, tool_version=__version__)

    def inventory(self, rooms: Iterable[Room]) -> List[Tuple[VmSpec, Optional[Vm]]]:
        """Each configured VM with the backend's view of it (None: it does not exist).

        One query per room and endpoint, never one per VM; a few at a time, so
        a site of many rooms is not looked up one room after the other. A
        failed query makes its VMs unavailable() (the run goes on with the
        other endpoints); only when every query failed is the first one (in
        room order) raised.
        """
        rooms = list(rooms)
        queries: List[Tuple[Room, List[VmSpec]]] = []
        for room in rooms:
            groups: Dict[EndpointKey, List[VmSpec]] = {}
            for spec in room.vms:
                groups.setdefault(self.endpoint_key(spec), []).append(spec)
            queries.extend((room, specs) for specs in groups.values())
        self.open_endpoints([specs[0] for _, specs in queries])

        def query(item: Tuple[Room, List[VmSpec]]) -> Dict[str, Vm]:
            specs = item[1]
            return self.driver_for(specs[0]).find_vms(names=[s.name for s in specs])

        found: Dict[Tuple[str, str], Vm] = {}
        results = run_each(query, queries, max_workers=INVENTORY_QUERIES)
        if results and not any(r.succeeded for r in results):
            results[0].value_or_raise()
        for result in results:
            room, specs = result.item
            if result.succeeded:
                found.update(((room.name, name), vm) for name, vm in result.value.items())
            else:
                self._not_looked_up(specs, result.error)
        return [(spec, found.get((room.name, spec.name))) for room in rooms for spec in room.vms]

    def open_endpoints(self, specs: Sequence[VmSpec]) -> None:
        """Open the endpoints of `specs` side by side, one thread each: an
        endpoint retried for up to endpoint_timeout at its first contact then
        holds up none of the others' logins, nor takes the inventory's query
        threads while it is retried. What fails is remembered (or raised again)
        when the endpoint's queries ask for its driver."""
        firsts: Dict[EndpointKey, VmSpec] = {}
        for spec in specs:
            firsts.setdefault(self.endpoint_key(spec), spec)
        if len(firsts) > 1:
            run_each(self.driver_for, list(firsts.values()), max_workers=len(firsts))

    def _not_looked_up(self, specs: Sequence[VmSpec], error: Optional[BaseException]) -> None:
        """The inventory query of `specs` (one room on one endpoint) failed with `error`."""
        if not isinstance(error, VdictlError):
            raise error if error is not None else AssertionError("a failed query")
        if isinstance(error, (Unreachable, AuthError)):
            error = self.naming_origin(error, self.endpoint_of(specs[0]))
        audit.info("inventory of %s failed: %s", self.endpoint_of(specs[0]), error)
        with self._lock:
            self._unknown.update(((s.room, s.name), error) for s in specs)

    # -- the start journal (vdictl.records.journal) ----------------------------------
    def start_owed(self, spec: VmSpec) -> bool:
        """An unfinished reset powered this VM off and did not start it again."""
        return self.journal.pending(spec.room, spec.name)

    def owe_start(self, spec: VmSpec) -> None:
        if not self.dry_run:
            self.journal.add(spec.room, spec.name)

    def settle_start(self, spec: VmSpec) -> None:
        """The VM is where this run wanted it: nothing owed any more."""
        if not self.dry_run:
            self.journal.discard(spec.room, spec.name)

    def log_action(self, spec: VmSpec, action: str, outcome: str, detail: str = "") -> None:
        audit.info("room=%s vm=%s action=%s outcome=%s%s", spec.room, spec.name, action,
                   outcome, f" detail={detail}" if detail else "")


def all_vms(rooms: Sequence[Room]) -> List[VmSpec]:
    return [vm for room in rooms for vm in room.vms]
