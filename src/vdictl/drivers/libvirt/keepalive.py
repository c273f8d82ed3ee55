"""Bounds on a libvirt endpoint that stops answering: keepalive, and an open
that gives up.

libvirt's keepalive (virConnect.setKeepAlive) pings the daemon while the
connection is idle or a call waits; after `count` unanswered pings the
connection is closed and every call waiting on it fails. It needs libvirt's
event loop running, so the first libvirt connection of the process starts
one thread for it. Opening a connection is not covered by keepalive (a
stopped libvirtd accepts the socket and never answers the handshake), so the
open runs in a thread that the caller stops waiting for.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Dict, Tuple

import libvirt

from vdictl.errors import Unreachable

from .errors import DRIVER

log = logging.getLogger(__name__)

_loop_lock = threading.Lock()
_loop_started = False


def _run_event_loop() -> None:
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError as exc:  # keep serving the other connections
            log.debug("libvirt event loop: %s", exc)


def ensure_event_loop() -> None:
    """libvirt's default event loop, registered and run in one daemon thread,
    once per process; connections opened afterwards can use keepalive."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True).start()
        _loop_started = True


def keepalive_settings(bound: float) -> Tuple[int, int]:
    """(interval, count) for setKeepAlive: libvirt closes a connection whose
    daemon answered nothing for about interval * (count + 1) seconds, here
    about `bound` (at least 2 s)."""
    interval = max(1, round(bound / 6))
    count = max(1, round(bound / interval) - 1)
    return interval, count


def start_keepalive(handle: "libvirt.virConnect", bound: float, endpoint: str) -> None:
    """Keepalive on `handle`; drivers without it (test:///, local ones) need none."""
    interval, count = keepalive_settings(bound)
    try:
        if handle.setKeepAlive(interval, count) == 1:
            log.debug("%s does not support keepalive", endpoint)
    except libvirt.libvirtError as exc:
        log.debug("no keepalive on %s: %s", endpoint, exc.get_error_message())


def open_within(open_handle: Callable[[], "libvirt.virConnect"], timeout: float,
                endpoint: str) -> "libvirt.virConnect":
    """open_handle() in a thread of its own; Unreachable when it has not
    returned after `timeout` seconds. A handle that arrives later is closed."""
    lock = threading.Lock()
    done = threading.Event()
    box: Dict[str, object] = {"waiting": True}

    def run() -> None:
        try:
            result: Dict[str, object] = {"handle": open_handle()}
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            result = {"error": exc}
        with lock:
            if box["waiting"]:
                box.update(result)
                done.set()
                return
        late = result.get("handle")
        if late is not None:
            try:
                late.close()  # type: ignore[attr-defined]
            except libvirt.libvirtError:
                pass

    threading.Thread(target=run, name=f"libvirt-open {endpoint}", daemon=True).start()
    done.wait(timeout)
    with lock:
        if not done.is_set():
            box["waiting"] = False
            raise Unreachable(f"cannot connect to {endpoint}: no answer within {timeout:g}s "
                              "(endpoint_timeout)", driver=DRIVER)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["handle"]
