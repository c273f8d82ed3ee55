"""The proxmox driver's connection to one endpoint: the shared ProxmoxAPI,
the call that maps errors and retries transient ones, task waits, lock
checks, and the lookups of VMs by name."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from vdictl.config.rooms import Connect
from vdictl.errors import Busy, DriverError, NotFound, Unreachable, WrongState
from vdictl.wait import wait_for

from ..outage import Outage
from ..status_watch import StatusWatch
from .api import DEFAULT_POOL, Endpoint, open_api, parse_url, split_urls
from .errors import DRIVER, NodeSilent, by_text, map_error
from .nodes import Nodes
from .tasks import TaskWatch, exit_text, succeeded
from .vmids import Vmids

log = logging.getLogger(__name__)

#: before_retry() -> (done, value): ends the retries when an earlier attempt worked
BeforeRetry = Callable[[], Tuple[bool, Any]]


@dataclass
class Tuning:
    """The pauses, limits and retries of one connection (tests shrink them)."""

    #: seconds between task and state polls
    poll_interval: float = 1.0
    #: bounded retry of transient errors (locks held by a task, lost answers)
    retry_attempts: int = 8
    retry_max_time: float = 300.0
    retry_initial: float = 0.5
    retry_maximum: float = 15.0
    #: how long to wait for a hard stop after the graceful timeout
    stop_timeout: float = 120.0
    #: task entries one poll of a node's task list asks for
    task_list_limit: int = 500


@dataclass(frozen=True)
class VmRef:
    """Where a VM is: its name, node and VMID, and its cluster resources entry."""

    name: str
    node: str
    vmid: int
    entry: Dict[str, Any]

    @property
    def lock(self) -> Optional[str]:
        return self.entry.get("lock") or None


class StaleLock(WrongState):
    """A config lock that no running task holds: a killed run left it."""


class PveConnection:
    """One endpoint: one login, shared polls, per-run lookups."""

    driver = DRIVER

    def __init__(self, settings: Connect, url: str, tuning: Optional[Tuning] = None):
        self.settings = settings
        #: the cluster's nodes as `url` lists them; any one answers for all
        endpoints = [parse_url(u) for u in split_urls(url)] or [Endpoint("", None, "")]
        self.nodes = Nodes(endpoints)
        self.url = ", ".join(e.url for e in endpoints)
        self.tuning = tuning or Tuning()
        self._api: Any = None
        self._secrets: List[Optional[str]] = []
        self._open_lock = threading.Lock()
        #: HTTPS connections kept open: the run's threads and the shared polls
        self.pool_size = DEFAULT_POOL
        #: the VMIDs of this run's clones, each its own (vmids.py)
        self.vmids = Vmids(self.nextid, lambda: [int(e["vmid"]) for e in self.listing()
                                                  if "vmid" in e])
        self.outage = Outage(self.url, settings.endpoint_timeout, driver=DRIVER)
        self.tasks = TaskWatch(self._list_tasks, self._task_status,
                               interval=lambda: self.tuning.poll_interval, driver=DRIVER)
        #: name -> (node, VMID) where this run's cluster listings last saw each VM:
        #: an action then looks the VM up by its own status (a small request), not
        #: by listing every guest of the cluster again
        self._where: Dict[str, Tuple[str, int]] = {}
        self._where_lock = threading.Lock()
        #: the last cluster listing of this run, kept current with the run's own
        #: clones and removals: creating a VM reads it instead of listing again
        #: (another vdictl run on the same room is kept out by the room lock)
        self._listing: Optional[List[Dict[str, Any]]] = None
        #: template name -> (where it is, its config), read once per run (create.py)
        self.templates: Dict[str, Tuple[VmRef, Dict[str, Any]]] = {}
        self.template_lock = threading.Lock()
        # one group, the cluster: a VM is waited for by its VMID in one listing
        self.states = StatusWatch(
            lambda _cluster: {int(e["vmid"]): e for e in self.resources() if "vmid" in e},
            interval=lambda: self.tuning.poll_interval, driver=DRIVER,
            status_of=lambda entry: (entry or {}).get("status"), learns=False)

    # -- open, close, call ------------------------------------------------------
    def open(self) -> None:
        """One login, at the first node of `url` that answers (a ticket or a
        token is valid on every node of the cluster); a refusal or a
        certificate not trusted is not a silence: raised at once."""
        with self._open_lock:
            if self._api is not None:
                return
            if not self.url:
                raise DriverError("no Proxmox VE url configured", driver=DRIVER)
            silences: List[str] = []
            for index in self.nodes.order():
                try:
                    api, self._secrets = open_api(self.settings, self.nodes.endpoints[index],
                                                  pool_size=self.pool_size)
                except NodeSilent as silent:
                    silences.append(silent.message)
                    if len(self.nodes) == 1:
                        raise
                    continue
                self.nodes.logged_in(index, api, silences, self._secrets)
                self._api = api
                return
            raise NodeSilent(f"cannot connect to {self.url}: no node answers: "
                             + "; ".join(m.replace("cannot connect to ", "", 1)
                                         for m in silences), driver=DRIVER)

    def close(self) -> None:
        # a ticket or token needs no logout; the next open logs in again
        with self._open_lock:
            self._api = None
            self.nodes.forget()

    def call(self, fn: Callable[[Any], Any], *, vm: Optional[str] = None,
             what: Optional[str] = None, before_retry: Optional[BeforeRetry] = None,
             ref: Optional["VmRef"] = None) -> Any:
        """fn(api), errors mapped, transient ones retried. `before_retry` ->
        (done, value) may end the retries when an earlier attempt worked. With
        `ref`, a lock refusal is retried only while a task holds the lock."""
        outage = self.outage
        outage.check(vm)
        if self._api is None:
            self.open()
        attempt = [0]

        def once() -> Any:
            attempt[0] += 1
            if attempt[0] > 1 and before_retry is not None:
                done, value = before_retry()
                if done:
                    return value
            node, api = self.nodes.current(self._api)
            try:
                value = fn(api)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error
                err = map_error(exc, vm=vm, what=what, secrets=self._secrets)
                doors = isinstance(err, NodeSilent) and self.nodes.silent(node, err)
                err = self._noted(err, other_nodes=doors)
                if ref is not None and isinstance(err, Busy):
                    self.check_stale_lock(ref)
                raise err from exc
            outage.answered()
            self.nodes.answered()
            return value

        return self.retrying(once, vm)

    def retrying(self, once: Callable[[], Any], vm: Optional[str]) -> Any:
        """once() with the transient errors retried within the tuning's limits
        and the endpoint's outage bound."""
        t = self.tuning
        return self.outage.retrying(once, attempts=t.retry_attempts,
                                    max_time=t.retry_max_time, initial=t.retry_initial,
                                    maximum=t.retry_maximum, vm=vm)

    def _noted(self, err: DriverError, other_nodes: bool = False) -> DriverError:
        """The outage told of the call's failure: a refusal is an answer; a
        silence counts only when no other node of `url` is left to try."""
        if not isinstance(err, Unreachable):
            self.outage.answered()  # a refusal is an answer
            self.nodes.answered()
            return err
        if not other_nodes:
            timed_out = "timed out" in err.message.lower() or "timeout" in err.message.lower()
            self.outage.failed(silent_for=self.outage.bound if timed_out else 0.0)
        return type(err)(f"lost the connection to {self.url}: {err.message}",
                         driver=err.driver, vm=err.vm)

    def wait(self, fetch: Callable[[], Any], cond: Callable[[Any], bool], *, timeout: float,
             what: str, vm: str, fail: Optional[Callable[[Any], bool]] = None) -> Any:
        """fetch() until cond(value), polling every poll_interval."""
        return wait_for(fetch, cond, timeout=timeout, interval=self.tuning.poll_interval,
                        what=what, driver=DRIVER, vm=vm, fail_condition=fail)

    # -- tasks ------------------------------------------------------------------
    def _list_tasks(self, node: str, since: int) -> List[Dict[str, Any]]:
        return list(self.call(lambda a: a.nodes(node).tasks.get(
            source="all", since=since, limit=self.tuning.task_list_limit)) or [])

    def _task_status(self, node: str, upid: str) -> Dict[str, Any]:
        return dict(self.call(lambda a: a.nodes(node).tasks(upid).status.get()) or {})

    def wait_task(self, upid: Optional[str], *, timeout: float, what: str,
                  vm: Optional[str] = None) -> None:
        """Until the task ends; its failure raised as the error its text means
        (a lock: Busy, "already running": WrongState ...). None: nothing to wait for
        (a call that answers at once)."""
        if not upid:
            return
        entry = self.tasks.wait(str(upid), timeout=timeout, what=what, vm=vm)
        if not succeeded(entry):
            raise by_text(f"{what} failed: {exit_text(entry)}", {"driver": DRIVER, "vm": vm})
        if exit_text(entry) != "OK":
            log.info("%s: %s ended with %s", vm or self.url, what, exit_text(entry))

    def run_task(self, ref: VmRef, post: Callable[[Any], Any], *, timeout: float, what: str,
                 kind: Optional[str] = None,
                 before_retry: Optional[BeforeRetry] = None) -> None:
        """post(api) (a request answering a UPID) and its task wait, repeated while
        the VM is locked by another task or a lock was not had in time (the
        request's answer or the task's exit status); a lock no task holds fails
        at once. Before a post is sent again after its answer was lost, the
        node's `kind` task (qmstart ...) that it may have started is looked for
        and waited for, else `before_retry` may say the change took effect."""
        def once() -> None:
            sent_at = time.monotonic()

            def check() -> Tuple[bool, Any]:
                upid = self.lost_task(ref, kind, sent_at) if kind else None
                if upid is not None:
                    log.info("%s: the answer to %s was lost; its task %s runs: waiting for "
                             "it instead of asking again", ref.name, what, upid)
                    return True, upid
                return before_retry() if before_retry is not None else (False, None)

            upid = self.call(post, vm=ref.name, before_retry=check, ref=ref)
            try:
                self.wait_task(upid, timeout=timeout, what=what, vm=ref.name)
            except Busy:
                self.check_stale_lock(ref)
                raise

        self.retrying(once, ref.name)

    def lost_task(self, ref: VmRef, kind: str, sent_at: float) -> Optional[str]:
        """The UPID of a `kind` task of this account on the VM that started
        since `sent_at` (time.monotonic() when the request was sent), or None.
        The node's task list (pve-manager API2/Tasks.pm: vmid, typefilter,
        since) counts in the node's clock, so `since` is the node's time now
        (GET /nodes/{node}/time) less the seconds gone since, less two for
        the clocks' whole seconds."""
        now = self.call(lambda a: a.nodes(ref.node).time.get(), vm=ref.name)
        since = int((now or {}).get("time", 0)) - math.ceil(time.monotonic() - sent_at) - 2
        entries = self.call(lambda a: a.nodes(ref.node).tasks.get(
            source="all", vmid=ref.vmid, typefilter=kind, since=max(0, since)),
            vm=ref.name) or []
        user, _, token = (self.settings.token_id or self.settings.username or "").partition("!")
        mine = [e for e in entries if e.get("type") == kind and str(e.get("id")) == str(ref.vmid)
                and e.get("user", user) == user and (e.get("tokenid") or "") == token
                and int(e.get("starttime") or 0) >= since]
        if not mine:
            return None
        return str(max(mine, key=lambda e: int(e.get("starttime") or 0))["upid"])

    # -- locks --------------------------------------------------------------------
    def active_tasks(self, ref: VmRef) -> List[Dict[str, Any]]:
        return list(self.call(lambda a: a.nodes(ref.node).tasks.get(
            source="active", vmid=ref.vmid), vm=ref.name) or [])

    def check_stale_lock(self, ref: VmRef) -> None:
        """StaleLock when the VM's config is locked and no task runs on it;
        otherwise nothing (a running task's lock is Busy, waited for)."""
        status = self.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).status.current.get(),
                           vm=ref.name, what=f"VM {ref.name!r}")
        lock = (status or {}).get("lock")
        if not lock or self.active_tasks(ref):
            return
        if lock == "clone":
            # qemu-server's clone worker removes the lock last; killed outright,
            # it leaves the config it wrote after its last whole disk
            raise StaleLock(
                f"VM {ref.name} (vmid {ref.vmid} on node {ref.node}) is locked (clone) but no "
                f"task runs on it: its clone task was killed before it finished, and its "
                f"disks may be incomplete. Remove it on {ref.node} with: qm unlock {ref.vmid} "
                f"&& qm destroy {ref.vmid} --purge; the next rollout makes it again",
                driver=DRIVER, vm=ref.name)
        raise StaleLock(
            f"VM {ref.name} (vmid {ref.vmid} on node {ref.node}) is locked ({lock}) but no "
            f"task runs on it: a killed run or task left the lock. Check on {ref.node} that "
            f"no task still works on VM {ref.vmid}, then clear it there with: "
            f"qm unlock {ref.vmid}", driver=DRIVER, vm=ref.name)

    def ensure_unlocked(self, ref: VmRef, timeout: float) -> None:
        """Before a change: a stale lock fails at once; a task's lock is waited
        for (up to `timeout`)."""
        if not ref.lock:
            return
        self.check_stale_lock(ref)
        self.wait_state(ref, lambda e: e is not None and not e.get("lock"), timeout,
                        f"the VM's lock ({ref.lock}) to be released")

    def wait_state(self, ref: VmRef, done: Callable[[Optional[Dict[str, Any]]], bool],
                   timeout: float, what: str) -> None:
        """Until done(the VM's cluster resources entry; None while missing), seen
        in the shared poll of all waiting VMs."""
        self.states.wait("cluster", ref.vmid, done, since=time.monotonic(), timeout=timeout,
                         what=what, vm=ref.name)

    # -- VMs ------------------------------------------------------------------
    def resources(self) -> List[Dict[str, Any]]:
        """Every guest of the cluster (templates too), one request."""
        entries = [e for e in self.call(lambda a: a.cluster.resources.get(type="vm")) or []
                   if e.get("type") == "qemu"]
        with self._where_lock:
            self._listing = list(entries)
        return entries

    def listing(self) -> List[Dict[str, Any]]:
        """The run's last cluster listing with its own changes since (one
        request when there is none yet)."""
        with self._where_lock:
            cached = None if self._listing is None else list(self._listing)
        return cached if cached is not None else self.resources()

    def forget_listing(self) -> None:
        """Something was not where the listing said: list again next time."""
        with self._where_lock:
            self._listing = None
            self.templates.clear()

    def created(self, name: str, node: str, vmid: int) -> None:
        """This run made VM `name` at node/vmid: into the listing, and found
        there by ref() (its own status) without a listing."""
        with self._where_lock:
            self._where[name] = (node, vmid)
            if self._listing is not None:
                self._listing.append({"type": "qemu", "name": name, "node": node,
                                      "vmid": vmid, "template": 0, "status": "stopped"})

    def template_seen(self, name: str) -> Optional[Tuple[VmRef, Dict[str, Any]]]:
        with self._where_lock:
            return self.templates.get(name)

    def remember_template(self, ref: VmRef, config: Dict[str, Any]) -> None:
        with self._where_lock:
            self.templates[ref.name] = (ref, config)

    def removed(self, name: str) -> None:
        with self._where_lock:
            self._where.pop(name, None)
            if self._listing is not None:
                self._listing = [e for e in self._listing
                                 if e.get("name") != name or e.get("template")]

    def refs(self, names: Any) -> Dict[str, VmRef]:
        """The VMs (not templates) among `names`, by name."""
        wanted = set(names)
        found: Dict[str, VmRef] = {}
        for e in self.resources():
            name = str(e.get("name"))
            if name in wanted and not e.get("template"):
                if name in found:
                    raise DriverError(f"two VMs are named {name!r} (vmid {found[name].vmid} "
                                      f"and {e.get('vmid')}); rename one", driver=DRIVER,
                                      vm=name)
                found[name] = VmRef(name, str(e["node"]), int(e["vmid"]), e)
        with self._where_lock:
            for name in wanted:
                if name in found:
                    self._where[name] = (found[name].node, found[name].vmid)
                else:
                    self._where.pop(name, None)
        return found

    def ref(self, name: str) -> VmRef:
        """The VM `name` with its current status and lock: where this run last
        saw it, if its status there still names it; else from a cluster listing.
        NotFound without one."""
        with self._where_lock:
            where = self._where.get(name)
        if where is not None:
            node, vmid = where
            try:
                status = self.call(lambda a: a.nodes(node).qemu(vmid).status.current.get(),
                                   vm=name)
            except NotFound:  # migrated or removed since
                status = None
            if status and str(status.get("name")) == name and not status.get("template"):
                return VmRef(name, node, vmid, dict(status, node=node, vmid=vmid))
        found = self.refs([name]).get(name)
        if found is None:
            raise NotFound(f"VM {name!r} not found", driver=DRIVER, vm=name)
        return found

    def located(self, name: str) -> VmRef:
        """The VM `name` where this run last saw it, without a request (its entry
        holds no status): for reads whose answer a later action checks again."""
        with self._where_lock:
            where = self._where.get(name)
        if where is None:
            return self.ref(name)
        return VmRef(name, where[0], where[1], {"name": name, "node": where[0],
                                                "vmid": where[1]})

    def nextid(self, vmid: Optional[int] = None) -> int:
        """The cluster's next free VMID; with `vmid`, that one if it is free
        (AlreadyExists: "VM N already exists")."""
        if vmid is None:
            return int(self.call(lambda a: a.cluster.nextid.get()))
        return int(self.call(lambda a: a.cluster.nextid.get(vmid=vmid)))

    def config(self, ref: VmRef) -> Dict[str, Any]:
        return dict(self.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).config.get(),
                              vm=ref.name, what=f"VM {ref.name!r}") or {})

    def set_config(self, ref: VmRef, **values: Any) -> None:
        """PUT the VM's config (synchronous in qemu-server's update_vm: the
        answer comes when the change is written); a lock is retried as Busy,
        and a PUT whose answer was lost is sent again only when the config
        does not show it yet."""
        deleted = [k for k in str(values.get("delete") or "").split(",") if k]

        def applied() -> Tuple[bool, None]:
            config = self.config(ref)
            same = all(_same(config.get(k), v) for k, v in values.items() if k != "delete")
            return same and not any(k in config for k in deleted), None

        self.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).config.put(**values),
                  vm=ref.name, what=f"VM {ref.name!r}", ref=ref, before_retry=applied)

    def status(self, ref: VmRef) -> Dict[str, Any]:
        return dict(self.call(lambda a: a.nodes(ref.node).qemu(ref.vmid).status.current.get(),
                              vm=ref.name, what=f"VM {ref.name!r}") or {})


def _same(current: Any, wanted: Any) -> bool:
    """A config value as read back equals what was written (Proxmox VE keeps
    numbers as numbers, and a description may come back with a newline). A
    netN written without its MAC gets one: it never reads back the same, so
    such a PUT is sent again (a second new MAC, no harm)."""
    return current is not None and str(current).rstrip("\n") == str(wanted).rstrip("\n")
