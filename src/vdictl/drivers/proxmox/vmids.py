"""VMIDs for new clones, handed out by the run itself.

qemu-server's clone_vm (PVE/API2/Qemu.pm) answers the clone request after
its early checks and forks the worker; only the worker, once it holds the
source's and the new VMID's lock files, writes the new config. Until then
/cluster/nextid keeps offering that VMID, so clones started close together
would all be offered the same one, and all but one would fail inside their
task. So this process hands each clone under way a VMID of its own (the
cluster's next free one, or the next one of the room's `vmid_range`, passed
over while another clone of this process holds it), checked free with
`nextid?vmid=N` (pve-manager's PVE/API2/Cluster.pm: "VM N already exists"
when it is not). Another client can still take the same VMID before the
worker writes its config: the clone task then fails with the lock timeout or
"config file already exists" for that VMID (`lost`), and the clone is
retried with another one (create.py)."""

from __future__ import annotations

import itertools
import threading
from typing import Callable, Iterable, Optional, Set, Tuple

from vdictl.errors import AlreadyExists, DriverError

from .errors import DRIVER

#: VMIDs of the clones under way in this process, whichever endpoint they go
#: to (one cluster may be reached through several nodes' URLs)
_UNDER_WAY: Set[int] = set()
_UNDER_WAY_LOCK = threading.Lock()


def lost(text: str, vmid: int) -> bool:
    """Whether a clone's failure says another clone took `vmid` first:
    qemu-server's clone worker could not take the VMID's lock file in its 1 s
    (lock_config_full($newid, 1, ...): "can't lock file
    '/var/lock/qemu-server/lock-N.conf' - got timeout"), or found its config
    already written ("unable to create VM N: config file already exists",
    in the request's early check or again in the worker)."""
    return f"lock-{vmid}.conf'" in text or f"unable to create VM {vmid}:" in text


def range_text(vmid_range: Tuple[int, int]) -> str:
    return f"{vmid_range[0]}-{vmid_range[1]}"


class Vmids:
    """One connection's VMID allocation: `claim` a VMID for one clone,
    `release` it when the clone's task has ended, `lose` it to another client."""

    def __init__(self, nextid: Callable[[Optional[int]], int],
                 listed: Callable[[], Iterable[int]]):
        #: nextid(None): the cluster's next free VMID; nextid(N): N, or
        #: AlreadyExists when it is taken
        self._nextid = nextid
        #: the VMIDs in the run's last cluster listing
        self._listed = listed
        #: VMIDs another client took from under this run's clones
        self._lost: Set[int] = set()

    def claim(self, vm: str, vmid_range: Optional[Tuple[int, int]]) -> int:
        """A VMID for `vm`'s clone that no clone of this process holds and
        the cluster says is free (one request while the cluster's next free
        VMID is not held; one per VMID checked otherwise)."""
        with _UNDER_WAY_LOCK:  # one allocation at a time; the clones then run at once
            vmid = self._free(vm, vmid_range)
            _UNDER_WAY.add(vmid)
            return vmid

    def release(self, vmid: int) -> None:
        """The clone's task ended: its config exists, or the clone failed."""
        with _UNDER_WAY_LOCK:
            _UNDER_WAY.discard(vmid)

    def lose(self, vmid: int) -> None:
        """Another client's clone holds `vmid`: never offered again in this run
        (the cluster offers it until that clone's worker writes its config)."""
        with _UNDER_WAY_LOCK:
            self._lost.add(vmid)
            _UNDER_WAY.discard(vmid)

    def _free(self, vm: str, vmid_range: Optional[Tuple[int, int]]) -> int:
        held = _UNDER_WAY | self._lost
        if vmid_range is None:
            first = self._nextid(None)
            if first not in held:
                return first
            candidates: Iterable[int] = itertools.count(first + 1)
        else:
            listed = set(self._listed())
            candidates = (v for v in range(vmid_range[0], vmid_range[1] + 1)
                          if v not in listed)
        for vmid in candidates:
            if vmid in held:
                continue
            try:
                return self._nextid(vmid)
            except AlreadyExists:  # made since the run's listing, by another client
                self._lost.add(vmid)
        assert vmid_range is not None  # the cluster's VMIDs do not run out
        raise DriverError(
            f"no free VMID left in vmid_range = {range_text(vmid_range)}: every one is taken "
            "(by guests of the cluster or clones under way); widen the room's vmid_range "
            "or remove guests from it", driver=DRIVER, vm=vm)
