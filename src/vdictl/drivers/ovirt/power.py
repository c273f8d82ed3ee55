"""Start, shut down and power off VMs: fetch, act only if needed, then wait
for the state in the room's shared polls."""

from __future__ import annotations

import logging
from typing import Any, Callable, Tuple

import ovirtsdk4.types as types

from vdictl.errors import OperationTimeout

from .connection import OvirtConnection

log = logging.getLogger(__name__)

VS = types.VmStatus


def _action(conn: OvirtConnection, vm_id: str, name: str, action: str,
            skip: Callable[[Any], bool]) -> None:
    """POST an action; on a retry, skip it when the status shows it took effect."""
    def check() -> Tuple[bool, None]:
        return skip(conn.vm_status(vm_id, name)), None
    conn.call(lambda s: getattr(conn.vm_service(s, vm_id), action)(), vm=name,
              what=f"VM {name!r}", before_retry=check)


def start_vm(conn: OvirtConnection, *, name: str, timeout: float) -> None:
    v = conn.sdk_vm(name)
    if v.status == VS.UP:
        return
    _action(conn, v.id, name, "start",
            lambda st: st in (VS.UP, VS.POWERING_UP, VS.WAIT_FOR_LAUNCH))
    conn.wait_status(name, VS.UP, timeout, "the VM to run")


def shutdown_vm(conn: OvirtConnection, *, name: str, timeout: float) -> bool:
    """Graceful shutdown; a power-off (True) when `timeout` passes first."""
    v = conn.sdk_vm(name)
    if v.status == VS.DOWN:
        return False
    _action(conn, v.id, name, "shutdown", lambda st: st in (VS.DOWN, VS.POWERING_DOWN))
    try:
        conn.wait_status(name, VS.DOWN, timeout, "graceful shutdown")
        return False
    except OperationTimeout:
        log.info("%s: no graceful shutdown within %gs; powering off", name, timeout)
    _action(conn, v.id, name, "stop", lambda st: st == VS.DOWN)
    conn.wait_status(name, VS.DOWN, conn.tuning.stop_timeout, "the VM to power off")
    return True


def power_off_vm(conn: OvirtConnection, *, name: str, timeout: float) -> None:
    v = conn.sdk_vm(name)
    if v.status == VS.IMAGE_LOCKED:
        # a restore or preview still running (a killed run left it): the VM
        # is down underneath; the engine refuses "stop" until it ends
        conn.wait_room(name, lambda st: st != VS.IMAGE_LOCKED, timeout,
                       "the VM's disks to be unlocked")
        v = conn.sdk_vm(name)
    if v.status == VS.DOWN:
        return
    _action(conn, v.id, name, "stop", lambda st: st == VS.DOWN)
    conn.wait_status(name, VS.DOWN, timeout, "the VM to power off")
