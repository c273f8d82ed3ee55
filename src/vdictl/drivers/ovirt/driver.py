"""The ovirt driver: VMs from templates through the engine's REST API (ovirtsdk4).
It holds one OvirtConnection and hands each operation to its feature module;
the design is described in docs/backends/ovirt.md."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple, Union

from vdictl.config.rooms import Connect, VmSpec
from vdictl.model import Owner, Sessions, Snapshot, SpaceNeed, StorageSpace, Vm

from ..base import Driver, Finding
from ..tls_endpoint import TlsEndpoint, endpoint_of_url
from . import create, firstboot, lookups, permits, power, sessions, snapshots, space, templates
from . import snapshots as snapshots_module
from .connection import OvirtConnection, Tuning
from .pool import normalize_url
from .records import STATE_MAP, to_vm


class OvirtDriver(Driver):
    """VMs in an oVirt/RHV engine, cloned from templates."""

    name = "ovirt"
    STATE_MAP = STATE_MAP

    # The connection's Tuning, taken from these when the driver is made and
    # again when it opens (tests and benchmarks shrink them on the class).
    poll_interval: float = Tuning.poll_interval
    max_connections: int = Tuning.max_connections
    retry_attempts: int = Tuning.retry_attempts
    retry_max_time: float = Tuning.retry_max_time
    retry_initial: float = Tuning.retry_initial
    retry_maximum: float = Tuning.retry_maximum
    stop_timeout: float = Tuning.stop_timeout

    def __init__(self, connect: Connect, *, uri: Optional[str] = None):
        url = uri or connect.url or ""
        super().__init__(connect, uri=normalize_url(url) if url else url)
        self.connection = OvirtConnection(connect, self.uri or "", self.tuning())

    def tuning(self) -> Tuning:
        """The connection's pauses, limits and retries, as set on this driver."""
        return Tuning(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Tuning)})

    # -- connection -------------------------------------------------------
    def open(self) -> None:
        self.connection.tuning = self.tuning()
        self.connection.open()

    def close(self) -> None:
        self.connection.close()

    # -- preflight ----------------------------------------------------------
    def tls_endpoint(self) -> Union[TlsEndpoint, str]:
        c = self.connect_settings
        found = endpoint_of_url(self.uri or "", default_port=443, ca_file=c.ca_file,
                                insecure=c.insecure)
        return found or f"{self.uri} is plain HTTP: no TLS certificate"

    def room_snapshots(self, *, names: Sequence[str]) -> Dict[str, List[Snapshot]]:
        return snapshots_module.room_snapshots(self.connection, names)

    def permission_problems(self, *, specs: Sequence[VmSpec],
                            purpose: str) -> Optional[List[str]]:
        return permits.permission_problems(self.connection, specs, purpose)

    def vm_problems(self, *, vm: Vm, snapshots: Sequence[Snapshot]) -> List[Finding]:
        return super().vm_problems(vm=vm, snapshots=snapshots) + \
            snapshots_module.left_in_preview(snapshots)

    # -- inventory --------------------------------------------------------
    def find_vms(self, *, names: Sequence[str]) -> Dict[str, Vm]:
        if not names:
            return {}
        found = self.connection.find_room(names)
        return {n: to_vm(v, self.endpoint) for n, v in found.items()}

    def get_vm(self, *, name: str) -> Vm:
        return to_vm(self.connection.sdk_vm(name), self.endpoint)

    # -- lifecycle --------------------------------------------------------
    def create_vm(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        return create.create_vm(self.connection, spec=spec, owner=owner, timeout=timeout)

    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        lookups.check_create(self.connection, specs)

    def delete_vm(self, *, name: str, timeout: float) -> None:
        create.delete_vm(self.connection, name=name, timeout=timeout)

    def set_phase(self, *, name: str, phase: str) -> None:
        create.set_phase(self.connection, name=name, phase=phase)

    # -- first boot ---------------------------------------------------------
    def personalise_vm(self, *, spec: VmSpec, payload: Any, timeout: float) -> None:
        firstboot.personalise_vm(self.connection, spec=spec, payload=payload, timeout=timeout)

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        firstboot.finish_vm(self.connection, spec=spec, timeout=timeout)

    # -- templates ----------------------------------------------------------
    def storage_space(self, *, specs: Sequence[VmSpec]) -> List[StorageSpace]:
        return space.storage_space(self.connection, specs)

    def space_needed(self, *, spec: VmSpec) -> List[SpaceNeed]:
        return space.space_needed(self.connection, spec)

    def template_space(self, *, vm: str) -> List[Tuple[StorageSpace, int]]:
        return space.template_space(self.connection, vm)

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

    # -- power ------------------------------------------------------------
    def start_vm(self, *, name: str, timeout: float) -> None:
        power.start_vm(self.connection, name=name, timeout=timeout)

    def shutdown_vm(self, *, name: str, timeout: float) -> bool:
        return power.shutdown_vm(self.connection, name=name, timeout=timeout)

    def power_off_vm(self, *, name: str, timeout: float) -> None:
        power.power_off_vm(self.connection, name=name, timeout=timeout)

    # -- users at their desks ----------------------------------------------
    def sessions(self, *, names: Sequence[str]) -> Dict[str, Sessions]:
        return sessions.sessions(self.connection, names=names)

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
