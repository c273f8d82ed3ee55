"""The one interface every backend implements.

Operations (vdictl.ops) talk only to this interface and never import an SDK.
Every method is blocking: it returns when the backend says the work is
complete, or raises a vdictl.errors.DriverError subclass (OperationTimeout
when a wait ran out). Drivers must be safe to call from several threads.
"""

from __future__ import annotations

import abc
from contextlib import nullcontext
from typing import (TYPE_CHECKING, Callable, ClassVar, ContextManager, Dict, FrozenSet, Iterable,
                    List, Optional, Sequence, Tuple, Union)

from vdictl.errors import AuthError, Unsupported
from vdictl.model import Owner, Sessions, Snapshot, SpaceNeed, StorageSpace, Vm, VmState
from vdictl.config.rooms import Connect, VmSpec
from vdictl.config.secrets import password_path

from .outage import first_contact
from .tls_endpoint import PeerCertificate, TlsEndpoint

#: what vm_problems finds: (what is wrong, what to do)
Finding = Tuple[str, str]


class VmsLacking(str):
    """A line of permission_problems that holds for some VMs only (`vms`,
    their names); a plain str holds for every VM of the endpoint."""

    vms: FrozenSet[str]

    def __new__(cls, text: str, vms: Iterable[str]) -> "VmsLacking":
        line = super().__new__(cls, text)
        line.vms = frozenset(vms)
        return line

    def __reduce__(self) -> Tuple[type, Tuple[str, FrozenSet[str]]]:  # copy and pickle
        return VmsLacking, (str(self), self.vms)

if TYPE_CHECKING:  # pragma: no cover
    from vdictl.firstboot.payload import Payload


def configured_password(connect: Connect, driver: str) -> Optional[str]:
    """`password`, else the first line of `password_file` or of the systemd
    credential `password_credential` (without its line end), else None. An
    unreadable file is an AuthError naming it."""
    path = password_path(connect)
    if connect.password is not None or not path:
        return connect.password
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise AuthError(f"cannot read password file {path}: {reason}",
                        driver=driver) from None


class Driver(abc.ABC):
    """A connection to one backend endpoint (one libvirt URI, one engine)."""

    #: short name, as written in `[general][[connect]] driver = ...`
    name: ClassVar[str] = ""

    def __init__(self, connect: Connect, *, uri: Optional[str] = None):
        self.connect_settings = connect
        self.uri = uri
        #: how many of the run's threads may use this driver at once; the session
        #: sets it before open() (a driver with a connection pool sizes it so)
        self.concurrency = 1

    # -- connection -------------------------------------------------------
    @abc.abstractmethod
    def open(self) -> None:
        """Connect. Raises Unreachable or AuthError naming the URI."""

    def open_within_bound(self) -> None:
        """open(), as a run's first contact with the endpoint: a refused
        connection, a reset, a 503 or a timeout is tried again with backoff for
        up to endpoint_timeout before the endpoint is given up (Unreachable,
        saying how long it was tried). A refused login (AuthError) and an
        endpoint that cannot be used as configured (Unusable) fail at once."""
        first_contact(self.open, bound=self.connect_settings.endpoint_timeout,
                      driver=self.name)

    @abc.abstractmethod
    def close(self) -> None:
        """Disconnect; safe to call twice."""

    def __enter__(self) -> "Driver":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        """The URI or URL this driver talks to, for messages."""
        return self.uri or ""

    # -- inventory --------------------------------------------------------
    @abc.abstractmethod
    def find_vms(self, *, names: Sequence[str]) -> Dict[str, Vm]:
        """The VMs among `names` that exist, by name, in one query (the
        session asks once per room and endpoint)."""

    @abc.abstractmethod
    def get_vm(self, *, name: str) -> Vm:
        """One VM; raises NotFound."""

    # -- lifecycle --------------------------------------------------------
    @abc.abstractmethod
    def create_vm(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        """Create the VM of `spec` from its template, marked with `owner`.

        Returns once the VM exists and is stopped.
        """

    def finish_create(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        """Finish a VM whose creation an earlier run began and did not finish
        (find_vms reports it with phase model.CREATING): what create_vm does
        after the copy. Only a driver that reports that phase is asked."""
        raise NotImplementedError(f"{self.name} reports no VM in phase creating")

    @abc.abstractmethod
    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        """Check, before any VM is created, that what creating `specs` needs
        exists (template, cluster, network, user ...). Raises NotFound naming
        every missing item at once; changes nothing."""

    @abc.abstractmethod
    def delete_vm(self, *, name: str, timeout: float) -> None:
        """Remove a stopped VM, its snapshots and the disks its rollout created."""

    # -- power ------------------------------------------------------------
    @abc.abstractmethod
    def start_vm(self, *, name: str, timeout: float) -> None:
        """Start and wait until the VM runs. Starting a running VM is a no-op."""

    @abc.abstractmethod
    def shutdown_vm(self, *, name: str, timeout: float) -> bool:
        """Graceful (ACPI) shutdown; power off when `timeout` passes.

        Returns True when the power-off fallback was needed. Stopping a
        stopped VM is a no-op and returns False.
        """

    @abc.abstractmethod
    def power_off_vm(self, *, name: str, timeout: float) -> None:
        """Hard power-off, waiting until stopped. No-op on a stopped VM."""

    # -- snapshots --------------------------------------------------------
    @abc.abstractmethod
    def list_snapshots(self, *, name: str) -> List[Snapshot]:
        """The VM's snapshots, oldest first."""

    def room_snapshots(self, *, names: Sequence[str]) -> Optional[Dict[str, List[Snapshot]]]:
        """The snapshots of each VM among `names` that exists, as list_snapshots
        gives them, read in one query; None where the backend has no such
        query (the caller then asks list_snapshots VM by VM)."""
        return None

    # The snapshot methods take `slot`, a factory of the context manager that
    # the caller's throttle counts: the driver holds it around the work that
    # loads the backend (the request and the wait for its end) and no longer,
    # so lookups before and checks after leave the slot to the next VM. A
    # driver enters it once per attempt (a repeated call enters it again).
    @abc.abstractmethod
    def create_snapshot(self, *, name: str, description: str, timeout: float,
                        slot: Callable[[], ContextManager] = nullcontext) -> Snapshot:
        """Take a snapshot and wait until it is complete."""

    @abc.abstractmethod
    def revert_snapshot(self, *, name: str, snapshot: Snapshot, timeout: float,
                        slot: Callable[[], ContextManager] = nullcontext) -> List[str]:
        """Restore `snapshot` on a stopped VM and wait until the VM is
        stopped and no snapshot is locked.

        Returns what it had to do first to make the restore possible (e.g.
        "undo snapshot preview"), for the summary; usually nothing.
        """

    # -- first boot (personalisation) ---------------------------------------
    # create_vm leaves what must not be in force while the guest personalises
    # itself (stateless, the tc_user's role) to finish_vm.
    def personalise_vm(self, *, spec: VmSpec, payload: "Payload", timeout: float) -> None:
        """Boot the stopped VM once with its first-boot payload and wait until the
        guest has powered itself off (sysprep / cloud-init done); OperationTimeout
        otherwise. On a VM already running (a rerun after an interrupted wait),
        only wait."""
        raise Unsupported("first-boot personalisation is not supported", driver=self.name,
                          vm=spec.name)

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        """After personalisation: remove the payload media, then apply stateless
        and the tc_user role. Idempotent."""
        raise Unsupported("first-boot personalisation is not supported", driver=self.name,
                          vm=spec.name)

    def set_phase(self, *, name: str, phase: str) -> None:
        """Record the rollout phase a VM reached; find_vms reports it as
        Vm.phase. It need not survive a snapshot revert: the phases
        after the snapshot are read from the snapshots themselves."""
        raise Unsupported("rollout phases are not supported", driver=self.name, vm=name)

    # -- users at their desks ----------------------------------------------
    def sessions(self, *, names: Sequence[str]) -> Dict[str, Sessions]:
        """Who is at each VM of `names`: console clients connected and users
        logged in. A VM the backend cannot tell about (no probe, no guest
        agent, or a backend without the means) maps to None, never to [] (an
        empty list means: looked, and nobody is there). VMs that do not exist
        may be left out. One request per room where the backend allows it.

        `names` holds only VMs vdictl owns (its mark, of the room asking) or
        that the run adopts: the ops layer (ops/in_use.py) never asks about
        another team's VM whose name matches a desk. So a driver may ask
        QEMU's monitor or the guest agent about every VM it is given."""
        return {name: None for name in names}

    # -- storage space (vdictl.ops.storage) ----------------------------------
    def storage_space(self, *, specs: Sequence[VmSpec]) -> List[StorageSpace]:
        """The storages that hold, or would hold, the disks of the VMs of
        `specs` (and their templates), each with its free and total bytes as
        the backend reports them now; one or a few requests per storage."""
        raise Unsupported("cannot tell free storage space", driver=self.name)

    def space_needed(self, *, spec: VmSpec) -> List[SpaceNeed]:
        """What one new VM of `spec` would take on each storage (Storage names
        as storage_space gives them): an estimate from its template's disks.
        The ops layer asks once per template and storage setting."""
        raise Unsupported("cannot estimate storage needs", driver=self.name, vm=spec.name)

    def template_space(self, *, vm: str) -> List[Tuple[StorageSpace, int]]:
        """The storages template-create would copy VM `vm`'s disks to, each
        with the bytes the copy is estimated to take there."""
        raise Unsupported("cannot estimate a template's storage needs", driver=self.name, vm=vm)

    # -- templates ----------------------------------------------------------
    def uses_template(self, *, spec: VmSpec) -> bool:
        """Whether the existing VM of `spec` was made from the template
        `spec.template_name` names now (oVirt: its newest version)."""
        raise Unsupported("cannot tell a VM's template", driver=self.name, vm=spec.name)

    def create_template(self, *, vm: str, name: str, seal: bool, timeout: float) -> None:
        """Make template `name` from the stopped VM `vm`, sealed (host keys,
        machine-id, hostname ... removed) when `seal`. Returns once the
        template is usable; AlreadyExists when `name` exists, WrongState when `vm` runs."""
        raise Unsupported("cannot create templates", driver=self.name, vm=vm)

    def template_users(self, *, name: str) -> List[str]:
        """The VMs whose disks depend on template `name`, sorted."""
        raise Unsupported("cannot tell a template's VMs", driver=self.name, vm=name)

    def delete_template(self, *, name: str, adopt: bool, timeout: float) -> List[str]:
        """Delete template `name`; returns what was left behind (for the summary).

        Raises TemplateInUse while VMs depend on it, NotOwned when vdictl did
        not create it and not `adopt`."""
        raise Unsupported("cannot delete templates", driver=self.name, vm=name)

    def template_running(self, *, name: str) -> bool:
        """Whether the template is running (which corrupts linked clones)."""
        return False

    # -- preflight (vdictl preflight, ops/preflight.py) ------------------------
    def tls_endpoint(self) -> Union[TlsEndpoint, str]:
        """Where the endpoint presents the TLS certificate the preflight reads
        (drivers/tls_endpoint.py), or a sentence saying why there is none to read."""
        return "cannot tell where its TLS certificate is"

    def tls_certificate(self, *, timeout: float) -> Union[PeerCertificate, str]:
        """The certificate at tls_endpoint(), read over a TLS connection of its
        own (drivers/tls_probe.py), or why there is none to read. OSError when
        no TLS handshake could be made. Needs no login: asked before open()."""
        from .tls_probe import probe  # ssl and socket: only the preflight loads them

        where = self.tls_endpoint()
        return where if isinstance(where, str) else probe(where, timeout=timeout)

    def permission_problems(self, *, specs: Sequence[VmSpec], purpose: str) -> Optional[List[str]]:
        """What the account may not do that `specs` need for `purpose` ("reset",
        "rollout" or "rebuild"), one line each ([]: it may do all of it); None
        when the backend cannot tell. Asked once per endpoint, after open()."""
        return None

    def endpoint_problems(self) -> List[Finding]:
        """What about the endpoint itself, besides its login, certificate and
        permits, a run would meet (a node of several in `url` that does not
        answer). Asked once per endpoint, after open(); asks no VM."""
        return []

    def vm_problems(self, *, vm: Vm, snapshots: Sequence[Snapshot]) -> List[Finding]:
        """What about `vm` and its `snapshots` (as list_snapshots gave them)
        would stop or hold up the next reset: locked, a snapshot in preview or
        locked, a lock left by a killed task. From what was read already; a
        driver may ask more only about a VM found in such a state."""
        if vm.state == VmState.LOCKED:
            return [("locked: a task works on its disks or snapshots",
                     "wait for the task to end; if none runs, ask the backend's admin")]
        return []
