# SPDX-License-Identifier: GPL-3.0-or-later
"""The tools sites use today, re-created against the engine simulator.

Both talk to the engine through the same ovirtsdk4 as vdictl's driver, and
their waits shrink with the same time scale.

- `sequential_reset`: Amoothei-VDI's algorithm. One VM after the other:
  stop, wait until down, find the snapshot, restore, wait until the VM is
  down and the snapshot unlocked, start, wait until it is powering up.
- `phase_barrier_reset`: a batch client. Three phases (stop, restore,
  start), each in batches of `batch` VMs; a batch waits for all its VMs,
  a phase for all its batches. One worker thread per batch slot, each with
  its own SDK connection and so its own SSO login; each polls its own VM.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, List, Sequence

import ovirtsdk4 as sdk
import ovirtsdk4.types as types

from .engine import SNAPSHOT

VS = types.VmStatus
#: seconds between status polls of these clients (engine time, before scaling)
SEQUENTIAL_POLL = 1.0
BARRIER_POLL = 0.5


def connect(url: str, username: str, password: str) -> sdk.Connection:
    return sdk.Connection(url=url, username=username, password=password, insecure=True)


def _wait(check: Callable[[], bool], interval: float, timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("baseline client: wait timed out")
        time.sleep(interval)


def _stop(vms, name: str, poll: float) -> None:
    [vm] = vms.list(search=f"name={name}")
    svc = vms.vm_service(vm.id)
    if vm.status != VS.DOWN:
        svc.stop()
        _wait(lambda: svc.get().status == VS.DOWN, poll)


def _restore(vms, name: str, poll: float) -> None:
    [vm] = vms.list(search=f"name={name}")
    svc = vms.vm_service(vm.id)
    snaps = svc.snapshots_service()
    [snap] = [s for s in snaps.list() if s.description == SNAPSHOT]
    snaps.snapshot_service(snap.id).restore()
    snap_svc = snaps.snapshot_service(snap.id)
    _wait(lambda: svc.get().status == VS.DOWN
          and snap_svc.get().snapshot_status == types.SnapshotStatus.OK, poll)


def _start(vms, name: str, poll: float, until: Sequence) -> None:
    [vm] = vms.list(search=f"name={name}")
    svc = vms.vm_service(vm.id)
    svc.start()
    _wait(lambda: svc.get().status in until, poll)


def sequential_reset(url: str, username: str, password: str, names: Sequence[str],
                     scale: float) -> None:
    conn = connect(url, username, password)
    try:
        vms = conn.system_service().vms_service()
        poll = SEQUENTIAL_POLL * scale
        for name in names:
            _stop(vms, name, poll)
            _restore(vms, name, poll)
            _start(vms, name, poll, (VS.POWERING_UP, VS.UP))
    finally:
        conn.close()


def phase_barrier_reset(url: str, username: str, password: str, names: Sequence[str],
                        batch: int, scale: float) -> None:
    poll = BARRIER_POLL * scale
    conns: List[sdk.Connection] = [connect(url, username, password) for _ in range(batch)]
    phases = [lambda vms, n: _stop(vms, n, poll),
              lambda vms, n: _restore(vms, n, poll),
              lambda vms, n: _start(vms, n, poll, (VS.UP,))]
    errors: List[BaseException] = []
    try:
        for phase in phases:
            for first in range(0, len(names), batch):
                chunk = names[first:first + batch]
                threads = [threading.Thread(target=_guarded, args=(phase, c, n, errors))
                           for c, n in zip(conns, chunk)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        if errors:
            raise errors[0]
    finally:
        for c in conns:
            c.close()


def _guarded(phase, conn: sdk.Connection, name: str, errors: List[BaseException]) -> None:
    try:
        phase(conn.system_service().vms_service(), name)
    except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
        errors.append(exc)
