"""The proxmox driver: VMs cloned from templates through Proxmox VE's REST API
(proxmoxer). It holds one PveConnection and hands each operation to its
feature module; the design is described in docs/backends/proxmox.md."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple, Union

from vdictl.model import Owner, Sessions, Snapshot, SpaceNeed, StorageSpace, Vm
from vdictl.config.rooms import Connect, VmSpec

from ..base import Driver, Finding
from ..tls_endpoint import TlsEndpoint
from . import (cloudinit, create, firstboot, lookups, power, preflight, snapshots, space,
               templates)
from .api import DEFAULT_POOL
from .connection import PveConnection, Tuning
from .sessions import sessions as who_is_at
from .records import STATE_MAP, to_vm


#: threads besides the run's own that call the API: the task and the state polls
POLL_THREADS = 2


class ProxmoxDriver(Driver):
    """VMs in a Proxmox VE cluster, linked clones of templates."""

    name = "proxmox"
    STATE_MAP = STATE_MAP

    # The connection's Tuning, taken from these when the driver is made and
    # again when it opens (tests and benchmarks shrink them on the class).
    poll_interval: float = Tuning.poll_interval
    retry_attempts: int = Tuning.retry_attempts
    retry_max_time: float = Tuning.retry_max_time
    retry_initial: float = Tuning.retry_initial
    retry_maximum: float = Tuning.retry_maximum
    stop_timeout: float = Tuning.stop_timeout
    task_list_limit: int = Tuning.task_list_limit

    def __init__(self, connect: Connect, *, uri: Optional[str] = None):
        super().__init__(connect, uri=uri or connect.url or "")
        self.connection = PveConnection(connect, self.uri or "", self.tuning())
        self.uri = self.connection.url or self.uri

    def tuning(self) -> Tuning:
        """The connection's pauses, limits and retries, as set on this driver."""
        return Tuning(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Tuning)})

    # -- connection -------------------------------------------------------
    def open(self) -> None:
        self.connection.tuning = self.tuning()
        # every thread of the run may hold a connection, and the shared polls too
        self.connection.pool_size = max(DEFAULT_POOL, self.concurrency + POLL_THREADS)
        self.connection.open()

    def close(self) -> None:
        self.connection.close()

    # -- preflight ----------------------------------------------------------
    def tls_endpoint(self) -> Union[TlsEndpoint, str]:
        return preflight.tls_endpoint(self.connection)

    def permission_problems(self, *, specs: Sequence[VmSpec], purpose: str) -> List[str]:
        return preflight.permission_problems(self.connection, specs, purpose)

    def endpoint_problems(self) -> List[Finding]:
        return preflight.node_problems(self.connection)

    def vm_problems(self, *, vm: Vm, snapshots: Sequence[Snapshot]) -> List[Finding]:
        return preflight.vm_problems(self.connection, vm, snapshots)

    # -- inventory --------------------------------------------------------
    def find_vms(self, *, names: Sequence[str]) -> Dict[str, Vm]:
        """One cluster resources request; then the config (for the owner mark)
        of each VM found. The mark is written by the clone request, the tag
        only by the config change after it: a VM without the tag may be one
        vdictl cloned and did not configure (a killed run), so its config is
        read too (a request per untagged VM of the rooms' names)."""
        if not names:
            return {}
        conn = self.connection
        return {name: to_vm(ref.entry, conn.config(ref), conn.url)
                for name, ref in conn.refs(names).items()}

    def get_vm(self, *, name: str) -> Vm:
        return create.get_vm(self.connection, name=name)

    # -- lifecycle --------------------------------------------------------
    def create_vm(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        return create.create_vm(self.connection, spec=spec, owner=owner, timeout=timeout)

    def finish_create(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        return create.finish_create(self.connection, spec=spec, owner=owner, timeout=timeout)

    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        lookups.check_create(self.connection, specs)
        cloudinit.check_create(self.connection, specs)

    def delete_vm(self, *, name: str, timeout: float) -> None:
        create.delete_vm(self.connection, name=name, timeout=timeout)

    def set_phase(self, *, name: str, phase: str) -> None:
        create.set_phase(self.connection, name=name, phase=phase)

    # -- first boot ---------------------------------------------------------
    def personalise_vm(self, *, spec: VmSpec, payload: Any, timeout: float) -> None:
        firstboot.personalise_vm(self.connection, spec=spec, payload=payload, timeout=timeout)

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        firstboot.finish_vm(self.connection, spec=spec, timeout=timeout)

    # -- users at their desks -------------------------------------------------
    def sessions(self, *, names: Sequence[str]) -> Dict[str, Sessions]:
        """Console clients from QEMU's monitor (unless console_probe = False)
        and the guest agent's users; see drivers/proxmox/sessions.py."""
        return who_is_at(self.connection, names, probe=self.connect_settings.console_probe)

    # -- storage space --------------------------------------------------------
    def storage_space(self, *, specs: Sequence[VmSpec]) -> List[StorageSpace]:
        return space.storage_space(self.connection, specs)

    def space_needed(self, *, spec: VmSpec) -> List[SpaceNeed]:
        return space.space_needed(self.connection, spec)

    def template_space(self, *, vm: str) -> List[Tuple[StorageSpace, int]]:
        return space.template_space(self.connection, vm)

    # -- templates ----------------------------------------------------------
    def uses_template(self, *, spec: VmSpec) -> bool:
        return lookups.uses_template(self.connection, spec)

    def create_template(self, *, vm: str, name: str, seal: bool, timeout: float) -> None:
        templates.create_template(self.connection, vm=vm, name=name, seal=seal,
                                  timeout=timeout)

    def template_users(self, *, name: str) -> List[str]:
        return templates.template_users(self.connection, name=name)

    def delete_template(self, *, name: str, adopt: bool, timeout: float) -> List[str]:
        return templates.delete_template(self.connection, name=name, adopt=adopt,
                                         timeout=timeout)

    def template_running(self, *, name: str) -> bool:
        template = lookups.find_template(self.connection, name)
        return template.entry.get("status") == "running"

    # -- power ------------------------------------------------------------
    def start_vm(self, *, name: str, timeout: float) -> None:
        power.start_vm(self.connection, name=name, timeout=timeout)

    def shutdown_vm(self, *, name: str, timeout: float) -> bool:
        return power.shutdown_vm(self.connection, name=name, timeout=timeout)

    def power_off_vm(self, *, name: str, timeout: float) -> None:
        power.power_off_vm(self.connection, name=name, timeout=timeout)

    # -- snapshots --------------------------------------------------------
    def list_snapshots(self, *, name: str) -> List[Snapshot]:
        return snapshots.list_snapshots(self.connection, name=name)

    def create_snapshot(self, *, name: str, description: str, timeout: float,
                        slot: Callable[[], ContextManager] = nullcontext) -> Snapshot:
        return snapshots.create_snapshot(self.connection, name=name, description=description,
                                         timeout=timeout, slot=slot)

    def revert_snapshot(self, *, name: str, snapshot: Snapshot, timeout: float,
                        slot: Callable[[], ContextManager] = nullcontext) -> List[str]:
        return snapshots.revert_snapshot(self.connection, name=name, snapshot=snapshot,
                                         timeout=timeout, slot=slot)
