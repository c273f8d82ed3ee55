"""The ovirt driver's connection to one engine: the pooled SDK connections,
the call that maps errors and retries transient ones, the waits, and the
lookups of VMs, snapshots, templates, clusters, networks and users."""

from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import ovirtsdk4 as sdk
import pycurl

from vdictl.errors import DriverError, NotFound, Unreachable
from vdictl.config.rooms import Connect
from vdictl.wait import wait_for

from ..outage import Outage
from .errors import DRIVER, map_error
from .pool import ConnectionPool, Once
from ..status_watch import StatusWatch

log = logging.getLogger(__name__)

_SEARCH_SAFE = re.compile(r"[A-Za-z0-9_.\-]*")

#: before_retry() -> (done, value): ends the retries when an earlier attempt worked
BeforeRetry = Callable[[], Tuple[bool, Any]]


class SeenVm(NamedTuple):
    """What a room poll keeps of a VM (StatusWatch): its status."""

    status: Any


@dataclass
class Tuning:
    """The pauses, limits and retries of one connection (tests shrink them)."""

    #: seconds between polls of the engine
    poll_interval: float = 1.0
    #: pooled SDK connections (concurrent requests)
    max_connections: int = 10
    #: bounded retry of transient engine errors
    retry_attempts: int = 8
    retry_max_time: float = 300.0
    retry_initial: float = 0.5
    retry_maximum: float = 15.0
    #: how long to wait for a hard power-off after the graceful timeout
    stop_timeout: float = 120.0


def name_search(names: Sequence[str]) -> str:
    """One engine search that finds every name of `names` (and maybe more).

    The engine's search language needs no quoting for [A-Za-z0-9_.-], which
    is all an oVirt VM name may hold; the prefix is cut at anything else.
    """
    names = list(names)
    if len(names) == 1 and _SEARCH_SAFE.fullmatch(names[0]) and names[0]:
        return f"name={names[0]}"
    safe = _SEARCH_SAFE.match(os.path.commonprefix(names))  # always matches, maybe empty
    prefix = safe.group(0) if safe else ""
    return f"name={prefix}*"


class OvirtConnection:
    """One engine: one SSO login, pooled SDK connections, per-run lookups."""

    driver = DRIVER

    def __init__(self, settings: Connect, url: str, tuning: Optional[Tuning] = None):
        self.settings = settings
        self.url = url
        self.tuning = tuning or Tuning()
        self._pool: Optional[ConnectionPool] = None
        #: templates, clusters, networks, vNIC profiles and users by name, per run
        self._lookups: Dict[Tuple[str, str], Any] = {}
        #: VM name -> the search that finds its room (recorded by find_room), for polls
        self._room_search: Dict[str, str] = {}
        #: VM name -> id from the last search (an id never changes; a 404 drops it)
        self._ids: Dict[str, str] = {}
        self._watch = StatusWatch(self._statuses, interval=lambda: self.tuning.poll_interval,
                                  driver=DRIVER)
        #: why this run does not read the engine's jobs (None: it does). The
        #: user API lists jobs to nobody: filtered, /jobs is the engine's
        #: GetAllJobs, a query for admins only.
        self.jobs_unreadable: Optional[str] = (
            "the user API (filter = True) lists no jobs" if settings.filter else None)
        self._jobs_warning = Once()

        #: how long the engine has not answered; given up after endpoint_timeout
        self.outage = Outage(url, settings.endpoint_timeout, driver=DRIVER)

    # -- open, close, call ------------------------------------------------------
    def open(self) -> None:
        if self._pool is not None:
            return
        if not self.url:
            raise DriverError("no engine url configured", driver=DRIVER)
        t = self.tuning
        bound = self.settings.endpoint_timeout
        # every request (the login too) gets an answer within the bound, or fails
        pool = ConnectionPool(self.settings, self.url, size=t.max_connections,
                              timeout=max(1, math.ceil(bound)))
        pool.open()
        self._pool = pool

    def account_id(self) -> Optional[str]:
        """The engine's id of the account logged in, if the engine names it."""
        self.open()
        assert self._pool is not None, "open() sets the pool or raises"
        return self._pool.account_id

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(logout=self.outage.remaining() > 0)

    def call(self, fn: Callable[[Any], Any], *, vm: Optional[str] = None,
             what: Optional[str] = None, before_retry: Optional[BeforeRetry] = None) -> Any:
        """fn(system_service) on a leased connection, errors mapped, transient
        ones retried. `before_retry` -> (done, value) may end the retries when
        an earlier attempt turns out to have worked."""
        outage = self.outage
        outage.check(vm)
        if self._pool is None:
            self.open()
        pool = self._pool
        assert pool is not None, "open() sets the pool or raises"
        attempt = [0]

        def once() -> Any:
            attempt[0] += 1
            if attempt[0] > 1 and before_retry is not None:
                done, value = before_retry()
                if done:
                    return value
            with pool.lease() as conn:
                try:
                    value = fn(conn.system_service())
                except (sdk.Error, pycurl.error) as exc:
                    err = map_error(exc, vm=vm, what=what, secrets=pool.secrets)
                    raise self._noted(err) from exc
            outage.answered()
            return value

        t = self.tuning
        return outage.retrying(once, attempts=t.retry_attempts, max_time=t.retry_max_time,
                               initial=t.retry_initial, maximum=t.retry_maximum, vm=vm)

    def _noted(self, err: DriverError) -> DriverError:
        """`err`, told to the outage: an Unreachable names the URL; a request
        that timed out means the engine was silent for the whole bound."""
        if not isinstance(err, Unreachable):
            self.outage.answered()  # a refusal is an answer
            return err
        self.outage.failed(silent_for=self.outage.bound if "timed out" in err.message.lower()
                           else 0.0)
        said = re.sub(r"<pycurl\.Curl object at 0x[0-9a-f]+>, ", "", err.message)
        return Unreachable(f"lost the connection to {self.url}: {said}",
                           driver=err.driver, vm=err.vm)

    def wait(self, fetch: Callable[[], Any], cond: Callable[[Any], bool], *, timeout: float,
             what: str, vm: str, fail: Optional[Callable[[Any], bool]] = None) -> Any:
        """fetch() until cond(value), polling every poll_interval."""
        return wait_for(fetch, cond, timeout=timeout, interval=self.tuning.poll_interval,
                        what=what, driver=DRIVER, vm=vm, fail_condition=fail)

    def jobs_refused(self, err: DriverError) -> None:
        """The engine would not list its jobs to this account: the rest of the run
        checks restores by the VMs' and snapshots' states. Warned once per run,
        in one line; a refusal is remembered, a lost connection is not."""
        if not err.transient:
            self.jobs_unreadable = err.message
        if self._jobs_warning.first():
            log.warning("%s does not let %s read its jobs, so restores are checked by the "
                        "VMs' and snapshots' states instead (docs/guide.md, \"Least privilege "
                        "on oVirt\"): %s", self.url, self.settings.username, err.message)

    # -- VMs ------------------------------------------------------------------
    @staticmethod
    def vm_service(s: Any, vm_id: str) -> Any:
        """The service of VM `vm_id` under the system service `s`."""
        return s.vms_service().vm_service(vm_id)

    def search_vms(self, names: Sequence[str]) -> Dict[str, Any]:
        """The engine's records (with NICs) of the VMs among `names`, in one search."""
        search = name_search(names)
        wanted = set(names)
        found = self.call(lambda s: s.vms_service().list(search=search, follow="nics"))
        vms = {v.name: v for v in found if v.name in wanted}
        self._ids.update((n, v.id) for n, v in vms.items())
        return vms

    def find_room(self, names: Sequence[str]) -> Dict[str, Any]:
        """search_vms(names), and the search kept for the waits of these VMs."""
        search = name_search(names)
        self._room_search.update((n, search) for n in names)
        return self.search_vms(names)

    def sdk_vm(self, name: str) -> Any:
        """The engine's record of VM `name`; NotFound without one."""
        vm_id = self._ids.get(name)
        if vm_id is not None:  # a GET by id: far cheaper for the engine than a search
            try:
                vm = self.call(lambda s: self.vm_service(s, vm_id).get(follow="nics"),
                               vm=name, what=f"VM {name!r}")
                if vm.name == name:
                    return vm
            except NotFound:
                pass
            self.forget_id(name)  # removed or renamed since: search by name
        vm = self.search_vms([name]).get(name)
        if vm is None:
            raise NotFound(f"VM {name!r} not found", driver=DRIVER, vm=name)
        return vm

    def known_id(self, name: str) -> Optional[str]:
        """The id the last search found for VM `name`, if any."""
        return self._ids.get(name)

    def forget_id(self, name: str) -> None:
        """Drop the id of VM `name` (it answered 404: removed since)."""
        self._ids.pop(name, None)

    def vm_status(self, vm_id: str, name: str) -> Any:
        return self.call(lambda s: self.vm_service(s, vm_id).get().status,
                         vm=name, what=f"VM {name!r}")

    def _statuses(self, search: str) -> Dict[str, "SeenVm"]:
        """The status of each VM a room poll finds. Only the status is kept: the
        watch holds each room's last answer, and the SDK's whole records of a
        site's 10,000 VMs took well over 100 MB."""
        found = self.call(lambda s: s.vms_service().list(search=search))
        return {v.name: SeenVm(v.status) for v in found}

    def wait_status(self, name: str, status: Any, timeout: float, what: str) -> None:
        """Until the VM has `status`, seen by a poll of its whole room begun after now."""
        self.wait_room(name, lambda st: st == status, timeout, what)

    def wait_room(self, name: str, done: Callable[[Any], bool], timeout: float,
                  what: str) -> None:
        """Until done(the VM's status; None while it is missing), seen by a poll of
        its whole room begun after now: one search per room and poll, never a
        request per waiting VM."""
        search = self._room_search.get(name) or name_search([name])
        self._watch.wait(search, name, lambda v: done(v.status if v is not None else None),
                         since=time.monotonic(), timeout=timeout, what=what)

    def snapshots(self, vm_id: str, name: str) -> List[Any]:
        """The engine's snapshot records of VM `vm_id` (the "Active VM" one too)."""
        return list(self.call(lambda s: self.vm_service(s, vm_id).snapshots_service().list(),
                              vm=name, what=f"VM {name!r}"))

    # -- templates, clusters, networks, users -----------------------------------
    def cached(self, key: Tuple[str, str], compute: Callable[[], Any]) -> Any:
        """compute() once per run and `key`: a template, cluster, network or user
        is looked up once, not once per VM."""
        try:
            return self._lookups[key]
        except KeyError:
            value = self._lookups[key] = compute()
            return value

    def forget(self, key: Tuple[str, str]) -> None:
        """Drop what cached() remembers for `key` (a template made or deleted)."""
        self._lookups.pop(key, None)

    def find_named(self, kind: str, name: str, vm: str) -> list:
        """The entities of `kind` ("templates", "clusters", "networks") named
        exactly `name`, looked up once per run; NotFound without one."""
        def search() -> list:
            listed = self.call(
                lambda s: getattr(s, f"{kind}_service")().list(search=f"name={name}"), vm=vm)
            return [item for item in listed if (item.name or "") == name]

        found = self.cached((kind, name), search)
        if not found:
            raise NotFound(f"{kind[:-1]} {name!r} not found", driver=DRIVER, vm=vm)
        return found
