"""The libvirt driver: linked clones on qcow2 overlays, internal snapshots.

It holds one Connection and hands it to the feature modules; the choices
they make are explained in docs/backends/libvirt.md.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Tuple, Union

from vdictl.config.rooms import Connect, VmSpec
from vdictl.model import Owner, Sessions, Snapshot, SpaceNeed, StorageSpace, Vm, VmState

from ..base import Driver
from ..tls_endpoint import TlsEndpoint
from . import (create, firstboot, inventory, power, removal, sessions, snapshots, space,
               templates)
from .connection import STATE_MAP, Connection
from .errors import DRIVER
from .remote import tls_endpoint


def reconnecting(method):
    """For calls that are safe to repeat: reconnect and call again when the
    connection to libvirtd is lost (Connection.repeat)."""

    @functools.wraps(method)
    def wrapper(self: "LibvirtDriver", **kwargs):
        return self.connection.repeat(lambda: method(self, **kwargs))

    return wrapper


class LibvirtDriver(Driver):
    """VMs as libvirt domains; clones are qcow2 overlays on the template's disks."""

    name = DRIVER

    STATE_MAP: Dict[int, VmState] = STATE_MAP

    def __init__(self, connect: Connect, *, uri: Optional[str] = None):
        super().__init__(connect, uri=uri or connect.uri)
        self.connection = Connection(connect, uri=self.uri)

    # -- connection -------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return self.connection.endpoint

    def open(self) -> None:
        self.connection.open()

    def close(self) -> None:
        self.connection.close()

    def tls_endpoint(self) -> Union[TlsEndpoint, str]:
        return tls_endpoint(self.uri)

    def permission_problems(self, *, specs: Sequence[VmSpec], purpose: str) -> List[str]:
        """Nothing: the connection is libvirt.open's read-write one (a read-only
        socket or a refused polkit check fails the open itself, as AuthError)."""
        return []

    @property
    def conn(self):
        """The libvirt virConnect (for tests and tools that look behind vdictl)."""
        return self.connection.handle

    # -- inventory --------------------------------------------------------
    @reconnecting
    def find_vms(self, *, names: Sequence[str]) -> Dict[str, Vm]:
        return inventory.find_vms(self.connection, names)

    @reconnecting
    def get_vm(self, *, name: str) -> Vm:
        return inventory.get_vm(self.connection, name)

    # -- users at their desks ---------------------------------------------
    @reconnecting
    def sessions(self, *, names: Sequence[str]) -> Dict[str, Sessions]:
        return sessions.sessions(self.connection, names,
                                 probe=self.connect_settings.console_probe)

    # -- lifecycle --------------------------------------------------------
    def create_vm(self, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
        return create.create_vm(self.connection, spec, owner)

    def check_create(self, *, specs: Sequence[VmSpec]) -> None:
        create.check_create(self.connection, specs)

    def delete_vm(self, *, name: str, timeout: float) -> None:
        removal.delete_vm(self.connection, name)

    # -- power ------------------------------------------------------------
    @reconnecting
    def start_vm(self, *, name: str, timeout: float) -> None:
        power.start_vm(self.connection, name, timeout)

    @reconnecting
    def shutdown_vm(self, *, name: str, timeout: float) -> bool:
        return power.shutdown_vm(self.connection, name, timeout)

    @reconnecting
    def power_off_vm(self, *, name: str, timeout: float) -> None:
        power.power_off_vm(self.connection, name, timeout)

    # -- snapshots --------------------------------------------------------
    @reconnecting
    def list_snapshots(self, *, name: str) -> List[Snapshot]:
        return snapshots.list_snapshots(self.connection, name)

    def create_snapshot(self, *, name: str, description: str, timeout: float,
                        slot: Callable[[], ContextManager] = contextlib.nullcontext) -> Snapshot:
        return snapshots.create_snapshot(self.connection, name, description, slot)

    @reconnecting
    def revert_snapshot(self, *, name: str, snapshot: Snapshot, timeout: float,
                        slot: Callable[[], ContextManager] = contextlib.nullcontext) -> List[str]:
        return snapshots.revert_snapshot(self.connection, name, snapshot, timeout, slot)

    # -- first boot (personalisation) ---------------------------------------
    def personalise_vm(self, *, spec: VmSpec, payload, timeout: float) -> None:
        firstboot.personalise_vm(self.connection, spec, payload, timeout)

    def finish_vm(self, *, spec: VmSpec, timeout: float) -> None:
        firstboot.finish_vm(self.connection, spec)

    def set_phase(self, *, name: str, phase: str) -> None:
        firstboot.set_phase(self.connection, name, phase)

    # -- storage space --------------------------------------------------------
    @reconnecting
    def storage_space(self, *, specs: Sequence[VmSpec]) -> List[StorageSpace]:
        return space.storage_space(self.connection, specs)

    @reconnecting
    def space_needed(self, *, spec: VmSpec) -> List[SpaceNeed]:
        return space.space_needed(self.connection, spec)

    @reconnecting
    def template_space(self, *, vm: str) -> List[Tuple[StorageSpace, int]]:
        return space.template_space(self.connection, vm)

    # -- templates ----------------------------------------------------------
    def uses_template(self, *, spec: VmSpec) -> bool:
        return templates.uses_template(self.connection, spec)

    def create_template(self, *, vm: str, name: str, seal: bool, timeout: float) -> None:
        templates.create_template(self.connection, vm, name, seal, timeout)

    def template_users(self, *, name: str) -> List[str]:
        return templates.template_users(self.connection, name)

    def delete_template(self, *, name: str, adopt: bool, timeout: float) -> List[str]:
        return templates.delete_template(self.connection, name, adopt)

    def template_running(self, *, name: str) -> bool:
        return templates.template_running(self.connection, name)
