"""Start, shut down and stop VMs: look, act only if needed, then wait for the
task (one shared poll per node)."""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Tuple

from vdictl.errors import DriverError, OperationTimeout

from .connection import PveConnection, VmRef

log = logging.getLogger(__name__)


def _status(conn: PveConnection, ref: VmRef) -> str:
    return str(conn.status(ref).get("status"))


def _act(conn: PveConnection, ref: VmRef, action: str, wait: float, what: str,
         done: Callable[[str], bool], **params: Any) -> None:
    """POST status/<action> and wait for its task; a retry after a lost answer
    is skipped when the VM's status shows it took effect."""
    def check() -> Tuple[bool, None]:
        return done(_status(conn, ref)), None

    conn.run_task(ref, lambda a: getattr(a.nodes(ref.node).qemu(ref.vmid).status, action)
                  .post(**params), timeout=wait, what=what, kind=f"qm{action}",
                  before_retry=check)


def start_vm(conn: PveConnection, *, name: str, timeout: float) -> None:
    ref = conn.ref(name)
    if ref.entry.get("status") == "running":
        return
    conn.ensure_unlocked(ref, timeout)
    _act(conn, ref, "start", timeout, "the start", lambda st: st == "running")


def shutdown_vm(conn: PveConnection, *, name: str, timeout: float) -> bool:
    """ACPI shutdown within `timeout`; a stop (True) when the guest ignores it."""
    ref = conn.ref(name)
    if ref.entry.get("status") == "stopped":
        return False
    conn.ensure_unlocked(ref, timeout)
    try:
        # Proxmox VE ends the task with an error after its timeout; forceStop=0
        # leaves the stop to vdictl, which can then say it forced it
        _act(conn, ref, "shutdown", timeout + conn.tuning.poll_interval * 2 + 5,
             "graceful shutdown", lambda st: st == "stopped",
             timeout=max(1, math.ceil(timeout)), forceStop=0)
        if _status(conn, ref) == "stopped":
            return False
    except (OperationTimeout, DriverError) as err:
        if _status(conn, ref) == "stopped":
            return False
        log.info("%s: no graceful shutdown within %gs (%s); stopping", name, timeout,
                 getattr(err, "message", err))
    _act(conn, ref, "stop", conn.tuning.stop_timeout, "the stop",
         lambda st: st == "stopped")
    return True


def power_off_vm(conn: PveConnection, *, name: str, timeout: float) -> None:
    ref = conn.ref(name)
    if ref.entry.get("status") == "stopped" and not ref.lock:
        return
    conn.ensure_unlocked(ref, timeout)
    if ref.lock and _status(conn, ref) == "stopped":  # the task we waited for stopped it
        return
    _act(conn, ref, "stop", timeout, "the stop", lambda st: st == "stopped")
