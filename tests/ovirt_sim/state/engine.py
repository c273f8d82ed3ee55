# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine as a whole: inventory, sessions, clock and knobs, one lock.

Timing model: every asynchronous engine operation (VM add, start, stop,
shutdown, snapshot create/restore/remove, VM remove) schedules its state
transitions as deadlines on the simulated clock.  Deadlines are evaluated
lazily, before every request and every state read through this Python API,
in deadline order.  :meth:`Engine.advance` and :meth:`Engine.settle` move
the clock forward, so tests can either wait (latencies are multiplied by
``time_scale``) or fast-forward.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass

from tests.ovirt_sim.state import permits, snapshot_ops, storage
from tests.ovirt_sim.state.clock import Clock
from tests.ovirt_sim.state.entities import RUNNING_STATUSES, Snapshot
from tests.ovirt_sim.state.inventory import Inventory
from tests.ovirt_sim.state.records import vm_state
from tests.ovirt_sim.state.sessions import Sessions

DEFAULT_LATENCIES = {
    "add": 5.0,
    "start": 10.0,
    "stop": 3.0,
    "shutdown": 5.0,
    "snapshot": 15.0,
    "restore": 20.0,
    "delete": 2.0,
    # a guest started with use_sysprep/use_cloud_init powers itself off this
    # long after it is up (sysprep's shutdown at the end of the specialize pass)
    "first_boot": 30.0,
}


@dataclass(eq=False)
class InFlight:
    """A restore's preview or commit the engine is running."""
    vm: str
    kind: str                 # preview | commit
    orphaned: bool = False    # the engine restarted while it ran
    compensated: bool = False  # rolled back at the restart


class Engine:
    """Knobs (plain attributes): ``time_scale``, ``latencies``,
    ``ignore_acpi`` (VM names whose guest ignores ACPI shutdown),
    ``fail_snapshots`` (VM names whose snapshot creates and restores fail),
    ``first_boot_hangs`` (VM names whose guest never powers itself off after
    a start with use_sysprep/use_cloud_init), ``version``.

    Observability: ``events`` (engine audit messages), ``starts`` (one
    :class:`StartRecord` per start action), ``restarts``."""

    def __init__(self, *, accounts, time_scale=1.0, latencies=None, seed=None,
                 ignore_acpi=(), fail_snapshots=(), version=(4, 5, 5)):
        self.time_scale = time_scale
        self.latencies = dict(DEFAULT_LATENCIES)
        self.latencies.update(latencies or {})
        self.ignore_acpi = set(ignore_acpi)
        self.fail_snapshots = set(fail_snapshots)
        self.first_boot_hangs = set()
        #: VM name -> how many of its next restores fail their tasks
        self.fail_restores = {}
        #: the share of restores whose tasks fail (the preview rolled back)
        self.restore_failure_rate = 0.0
        #: the share of snapshot commands refused because a command of the
        #: engine's own holds the VM's lock ("Related operation ...")
        self.lock_conflict_rate = 0.0
        #: VM name -> how many of its next snapshot commands are refused so
        self.lock_conflicts = {}
        #: at a restart, the share of previews in flight that the engine
        #: compensates (rolls back) rather than ends
        self.restart_compensates = 0.5
        #: the restores and commits the engine is running (InFlight)
        self.in_flight = []
        #: time.monotonic() until which a proxy answers 503 (a restart)
        self.unavailable_until = 0.0
        self.version = version
        self.events = []
        self.starts = []
        self.restarts = 0
        self.ops_in_flight = 0        # snapshot operations holding storage
        self.ops_in_flight_peak = 0
        self.lock = threading.RLock()
        self.seed = seed
        self.rng = random.Random(seed)
        #: (fault, VM name) -> its own seeded stream (see _draw)
        self._streams = {}
        self.clock = Clock()
        self.inventory = Inventory(self.rng)
        self.sessions = Sessions(accounts)
        #: permissions on the system or a cluster (state/permits.py; those on
        #: a VM are the VM's own ``permissions``)
        self.grants = []
        for username in accounts:   # the engine's admins: SuperUser on the system
            self.grants.append(permits.Grant(self._role("SuperUser"),
                                             self.account_user(username)))

    # -- clock ---------------------------------------------------------------

    def delay(self, kind, fraction=1.0):
        """Real seconds an operation of ``kind`` (a ``latencies`` key) takes."""
        return self.latencies[kind] * self.time_scale * fraction

    def schedule(self, kind, fn, fraction=1.0):
        self.clock.schedule(self.delay(kind, fraction), fn)

    def schedule_after(self, seconds, fn):
        self.clock.schedule(seconds, fn)

    def run_due(self):
        with self.lock:
            self.clock.run_due()

    @contextlib.contextmanager
    def current(self):
        """The lock held, and every transition that is due done."""
        with self.lock:
            self.clock.run_due()
            yield

    def advance(self, seconds):
        """Move the simulated clock forward by ``seconds`` of engine time
        (i.e. before ``time_scale``) and fire what became due."""
        with self.lock:
            self.clock.forward(seconds * self.time_scale)

    def settle(self):
        """Fast-forward until no timed operation is pending."""
        with self.lock:
            self.clock.settle()

    @property
    def pending_operations(self):
        with self.current():
            return len(self.clock)

    def restart(self, down_for=0.0):
        """Simulate an engine restart: every SSO token becomes invalid (the
        next API request is answered 401 until the client logs in again);
        for ``down_for`` real seconds a proxy in front of the engine answers
        every request 503 with its HTML page (the server front end also cuts
        the open connections).

        Commands in flight, as the engine's startup treats them: a restore's
        preview (TryBackToAllSnapshotsOfVm) is either ended by its callback
        (CommandCallbacksPoller.initCommandExecutor: the VM is left in
        preview, since the request's thread that would commit it is gone) or
        compensated (CommandCompensator.compensate: rolled back, job FAILED),
        ``restart_compensates`` of them by the seeded random stream; a commit
        (RestoreAllSnapshots) finishes, its storage tasks polled again."""
        with self.lock:
            self.sessions.forget_all()
            self.restarts += 1
            self.unavailable_until = max(self.unavailable_until,
                                         time.monotonic() + down_for)
            for op in self.in_flight:
                op.orphaned = True
                if op.kind == "preview":
                    op.compensated = self._draw("compensate", op.vm) < self.restart_compensates
            # JobRepositoryImpl.finalizeJobs at the engine's start
            # (UpdateStartedExecutionEntitiesToUnknown): every job still
            # STARTED ends UNKNOWN. The simulator keeps it so when the
            # command ends later (ExecutionHandler.updateSpecificActionJobCompleted
            # ends only STARTED jobs); whether a command rebuilt after the
            # restart still holds its job in its ExecutionContext, and so
            # rewrites it through ExecutionHandler.endJob, was not read in the
            # source. If it does, the job ends FAILED and the driver counts a
            # failed attempt, as before
            for job in self.inventory.jobs.values():
                if job.status == "started":
                    job.status = "unknown"

    @property
    def unavailable(self):
        """Whether the engine is restarting (its proxy answers 503)."""
        return time.monotonic() < self.unavailable_until

    # -- faults of commands ---------------------------------------------------

    def _draw(self, fault, vm_name):
        """The next number of VM ``vm_name``'s own stream for ``fault``: with a
        seed, which of a VM's restores fail is the same whatever order the
        client's threads reach the engine in (one shared stream is not)."""
        key = (fault, vm_name)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = random.Random(
                None if self.seed is None else f"{self.seed}/{fault}/{vm_name}")
        return stream.random()

    def restore_fails(self, vm_name):
        """Whether this restore of VM ``vm_name`` fails its tasks."""
        left = self.fail_restores.get(vm_name, 0)
        if left:
            self.fail_restores[vm_name] = left - 1
            return True
        return (self.restore_failure_rate > 0
                and self._draw("restore", vm_name) < self.restore_failure_rate)

    def lock_conflict(self, vm_name):
        left = self.lock_conflicts.get(vm_name, 0)
        if left:
            self.lock_conflicts[vm_name] = left - 1
            return True
        return (self.lock_conflict_rate > 0
                and self._draw("lock", vm_name) < self.lock_conflict_rate)

    def in_flight_op(self, vm, kind):
        op = InFlight(vm.name, kind)
        self.in_flight.append(op)
        return op

    def in_flight_done(self, op):
        if op in self.in_flight:
            self.in_flight.remove(op)

    # -- what happened -------------------------------------------------------

    def event(self, message):
        self.events.append(message)

    def snapshot_op_begin(self):
        self.ops_in_flight += 1
        self.ops_in_flight_peak = max(self.ops_in_flight_peak, self.ops_in_flight)

    def snapshot_op_end(self):
        self.ops_in_flight -= 1

    @property
    def snapshot_ops_in_flight(self):
        with self.current():
            return self.ops_in_flight

    @property
    def max_snapshot_ops_in_flight(self):
        return self.ops_in_flight_peak

    # -- seeding -------------------------------------------------------------

    def add_cluster(self, name, datacenter="Default"):
        with self.lock:
            return self.inventory.add_cluster(name, datacenter).id

    def add_network(self, name, cluster="Default"):
        """Add a VM network (attached to ``cluster``) and its vNIC profile of
        the same name.  Returns the profile id."""
        with self.lock:
            return self.inventory.add_network(name, cluster).id

    def add_template(self, name, cluster="Default", memory=4 << 30,
                     os_type="windows_10x64", nics=(), storage_domain=None,
                     disk_size=32 << 30, disk_actual=6 << 30):
        """``nics``: network (= vNIC profile) names; VMs created from the
        template get ``nic1``, ``nic2``... on them, as the engine copies the
        template's interfaces. Its disk (``disk_size`` provisioned, of which
        ``disk_actual`` is written) is on ``storage_domain``, else on the
        first storage domain (none without one)."""
        with self.lock:
            t = self.inventory.add_template(name, cluster, memory, os_type, nics)
            domains = list(self.inventory.storage_domains.values())
            domain = next((d for d in domains if d.name == storage_domain), None) \
                if storage_domain else (domains[0] if domains else None)
            if domain is not None:
                storage.add_disk(self.inventory, t, domain, disk_size, disk_actual,
                                 "%s_Disk1" % name)
            return t.id

    def add_storage_domain(self, name, total, storage_type="nfs",
                           blocker=storage.DEFAULT_BLOCKER_GIB):
        """A data domain of ``total`` bytes (``storage_type`` iscsi/fcp: a
        block domain); ``blocker``: its critical_space_action_blocker in GiB."""
        with self.lock:
            return storage.add_domain(self.inventory, name, total, storage_type, blocker).id

    def fill_storage_domain(self, name, taken):
        """Let ``taken`` bytes of the domain be used by what the simulator does
        not model (other VMs' disks); 0 frees them."""
        with self.lock:
            self.inventory.find_by_name(self.inventory.storage_domains, name,
                                        "StorageDomain").taken = taken

    def storage_numbers(self, name):
        """(available, used, committed) in GiB, as the engine keeps them."""
        with self.lock:
            inv = self.inventory
            return storage.numbers(inv, inv.find_by_name(inv.storage_domains, name,
                                                         "StorageDomain"))

    def add_account(self, username, password, admin=False, roles=("UserVmManager",)):
        """An account that may log in. ``admin``: SuperUser on the system;
        else one with user roles only (``roles``, on the system), whose
        admin-only queries are refused."""
        with self.lock:
            self.sessions.add_account(username, password, admin)
            for role in ("SuperUser",) if admin else roles:
                self.grant(username, role)

    def account_user(self, username):
        """The engine's user entity of account ``username`` (made at its first use)."""
        for user in self.inventory.users.values():
            if user.user_name == username:
                return user
        return self.inventory.add_user(username)

    def _role(self, name):
        return self.inventory.find_by_name(self.inventory.roles, name, "Role")

    def grant(self, username, role, cluster=None):
        """Give ``role`` to account ``username`` on the system, or on the
        cluster named ``cluster``."""
        with self.lock:
            target = None
            if cluster is not None:
                inv = self.inventory
                target = ("cluster", inv.find_by_name(inv.clusters, cluster, "Cluster"))
            self.grants.append(permits.Grant(self._role(role), self.account_user(username),
                                             target))

    def revoke(self, username):
        """Take every permission on the system and clusters from ``username``."""
        with self.lock:
            self.grants = [g for g in self.grants if g.user.user_name != username]

    def add_user(self, name, domain=None):
        """``name`` is the user_name (``thinclient@internal``)."""
        with self.lock:
            return self.inventory.add_user(name, domain).id

    def add_vm(self, name, template="Blank", cluster="Default", comment="",
               description="", status="down", memory=None):
        """Add a VM directly (no latency), e.g. a foreign VM."""
        inv = self.inventory
        fields = {"comment": comment, "description": description, "status": status}
        if memory is not None:
            fields["memory"] = memory
        with self.lock:
            cl = inv.find_by_name(inv.clusters, cluster, "Cluster")
            tp = inv.find_by_name(inv.templates, template, "Template")
            return inv.add_vm(name, cl, tp, fields).id

    def add_snapshot(self, vm_name, description):
        """Add a finished regular snapshot to a VM directly (no latency),
        capturing its current configuration.  Returns the snapshot id."""
        with self.lock:
            vm = self.inventory.vm_by_name(vm_name)
            snap = Snapshot(description, "regular", "ok", vm.config())
            vm.insert_snapshot(snap)
            return snap.id

    def set_vm_status(self, name, status):
        with self.lock:
            vm = self.inventory.vm_by_name(name)
            vm.power_gen += 1
            vm.status = status

    # -- who is at a VM --------------------------------------------------------

    def add_console_session(self, vm_name, ip, user="thinclient@internal-authz"):
        """A console client connected to running VM ``vm_name`` from ``ip``:
        ``user`` (login@authz, as the engine records who got the ticket)
        got the console ticket from the engine, the hypervisor
        reported the graphics connect with the client's address.  ``ip=None``:
        the ticket was issued but no client has connected (yet)."""
        with self.current():
            vm = self.inventory.vm_by_name(vm_name)
            if vm.status not in RUNNING_STATUSES:
                raise ValueError("VM %s is %s: no console to connect to" % (vm_name, vm.status))
            vm.console_user, vm.client_ip = user, ip
            if ip:
                self.event("User %s is connected to VM %s." % (user.partition("@")[0], vm_name))

    def add_guest_user(self, vm_name, user):
        """The guest agent of running VM ``vm_name`` reports ``user`` logged in
        (the engine keeps one name, as the agent reports it)."""
        with self.current():
            vm = self.inventory.vm_by_name(vm_name)
            if vm.status not in RUNNING_STATUSES:
                raise ValueError("VM %s is %s: no guest agent to report" % (vm_name, vm.status))
            vm.guest_user = user

    def disconnect_console(self, vm_name):
        """The console client of VM ``vm_name`` hung up (the hypervisor's
        graphics disconnect): the engine clears the console user."""
        with self.current():
            vm = self.inventory.vm_by_name(vm_name)
            if vm.console_user is not None and vm.client_ip:
                self.event("User %s got disconnected from VM %s."
                           % (vm.console_user.partition("@")[0], vm_name))
            vm.console_disconnected()

    def clear_sessions(self, vm_name):
        """Nobody at VM ``vm_name`` any more: no console, no guest user."""
        with self.current():
            self.inventory.vm_by_name(vm_name).clear_sessions()

    def preview_snapshot(self, name, description):
        """Leave VM ``name`` previewing its snapshot ``description`` (no latency),
        as an operator who forgot to commit or undo a preview would."""
        with self.lock:
            vm = self.inventory.vm_by_name(name)
            snap = next(s for s in vm.snapshots if s.description == description)
            snapshot_ops.preview(self, vm, snap.id)
            self.settle()

    # -- reading state -------------------------------------------------------

    def vm(self, name):
        """A read-only :class:`VmState` of the VM called ``name``
        (``KeyError`` if there is none)."""
        with self.current():
            return vm_state(self.inventory.vm_by_name(name))

    def template(self, name):
        """The template called ``name`` as a dict: status, sealed, source_vm,
        comment (``KeyError`` if there is none)."""
        with self.current():
            t = next((t for t in self.inventory.templates.values() if t.name == name),
                     None)
            if t is None:
                raise KeyError(name)
            return {"status": getattr(t, "status", "ok"), "sealed": getattr(t, "sealed", False),
                    "source_vm": getattr(t, "source_vm", None),
                    "comment": getattr(t, "comment", "")}

    def vms(self):
        with self.current():
            return [vm_state(v) for v in self.inventory.vms.values()]

    def vm_names(self):
        return [v.name for v in self.vms()]

    def has_vm(self, name):
        with self.current():
            return any(v.name == name for v in self.inventory.vms.values())
