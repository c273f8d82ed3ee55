"""Power: start, graceful shutdown (the ACPI power button, pressed again until
the guest obeys or the timeout passes), and power-off."""

from __future__ import annotations

import logging
import time

import libvirt

from vdictl.errors import OperationTimeout
from vdictl.model import VmState

from .connection import POLL_INTERVAL, Connection
from .errors import is_not_running, is_unsupported_flags, map_error

log = logging.getLogger(__name__)

#: seconds between presses of the ACPI power button during a graceful shutdown
PRESS_INTERVAL = 3.0
#: how long to wait for a domain to be gone after virDomainDestroy
DESTROY_WAIT = 30.0


def start_vm(conn: Connection, name: str, timeout: float) -> None:
    dom = conn.domain(name)
    state = conn.state(dom)
    if state == VmState.RUNNING:
        return
    try:
        if state == VmState.PAUSED:
            dom.resume()
        elif conn.is_off(dom):
            dom.create()
    except libvirt.libvirtError as exc:
        if not (exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID
                and "already running" in str(exc)):
            raise map_error(exc, vm=name) from exc
    conn.wait_until_state(dom, VmState.RUNNING, timeout, what="the VM to run")


def shutdown_vm(conn: Connection, name: str, timeout: float) -> bool:
    """Shut down gracefully, else power off; True when it had to power off."""
    dom = conn.domain(name)
    if conn.is_off(dom):
        return False
    if conn.state(dom) == VmState.PAUSED:
        # a paused guest cannot see the power button
        return destroy(conn, dom, name)
    # A press that arrives while the guest is still booting is lost (the
    # guest has not enabled the power-button event yet), so press again
    # every PRESS_INTERVAL seconds until it is off or the timeout passes.
    deadline = time.monotonic() + timeout
    while True:
        if not _press_power_button(dom, name):
            return False
        try:
            conn.wait_until_state(dom, VmState.STOPPED,
                                  min(PRESS_INTERVAL, deadline - time.monotonic()),
                                  what="graceful shutdown")
            return False
        except OperationTimeout:
            if time.monotonic() >= deadline:
                break
    log.info("%s: no graceful shutdown within %gs; powering off", name, timeout)
    return destroy(conn, dom, name)


def _press_power_button(dom: "libvirt.virDomain", name: str) -> bool:
    """Press the ACPI power button; False when the domain is already off."""
    try:
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if not is_unsupported_flags(exc):
                raise
            dom.shutdown()  # hypervisors without the ACPI flag: their default
    except libvirt.libvirtError as exc:
        if is_not_running(exc):
            return False
        raise map_error(exc, vm=name) from exc
    return True


def destroy(conn: Connection, dom: "libvirt.virDomain", name: str,
            timeout: float = DESTROY_WAIT) -> bool:
    """Destroy and wait until off. False when the domain was already off."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            dom.destroy()
            break
        except libvirt.libvirtError as exc:
            if is_not_running(exc):
                return False
            # "Failed to terminate process ... Device or resource busy": retry
            if exc.get_error_code() == libvirt.VIR_ERR_SYSTEM_ERROR \
                    and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
                continue
            raise map_error(exc, vm=name) from exc
    conn.wait_until_state(dom, VmState.STOPPED, deadline - time.monotonic(),
                          what="the VM to power off")
    return True


def power_off_vm(conn: Connection, name: str, timeout: float) -> None:
    dom = conn.domain(name)
    if conn.is_off(dom):
        return
    destroy(conn, dom, name, timeout)
