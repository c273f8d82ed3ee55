# SPDX-License-Identifier: GPL-3.0-or-later
"""The objects of the simulated cluster: plain records, no behaviour beyond
small queries.  The cluster (state/cluster.py) owns them under its lock."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from tests.pve_sim.wire.drives import drive_volumes


@dataclass
class Node:
    name: str
    online: bool = True


@dataclass
class Storage:
    storage: str
    plugintype: str          # dir, lvmthin, nfs
    content: tuple           # ("images", "rootdir")
    shared: bool = False
    #: bytes of the storage (a thin pool's lv_size, a file system's size), the
    #: same on every node for local storages
    total: int = 4 << 40
    #: bytes taken by what the simulator does not model (other guests,
    #: backups), by node (None on shared storage): the tests fill it on purpose
    taken: dict = field(default_factory=dict)

    @property
    def content_text(self):
        return ",".join(self.content)


@dataclass
class Volume:
    """A disk image or an ISO; ``node`` is None on shared storage."""
    volid: str
    node: str | None
    size: int = 0
    data: bytes = b""
    base: str | None = None      # a linked clone's base volume (its volid)
    #: bytes it takes on its storage; None: its whole size (a full copy, an ISO)
    used: int | None = None

    @property
    def taken(self):
        return self.size if self.used is None else self.used


@dataclass
class Snapshot:
    name: str
    config: dict
    description: str = ""
    snaptime: int = 0
    parent: str | None = None
    vmstate: bool = False
    snapstate: str | None = None   # "prepare"/"delete" while a task works on it
    booted: bool = True            # the guest had had its first boot then


@dataclass
class Vm:
    """A guest: ``config`` is its config file as a dict (strings and ints)."""
    vmid: int
    node: str
    config: dict
    status: str = "stopped"      # or "running"
    snapshots: dict = field(default_factory=dict)
    parent: str | None = None    # the snapshot "current" hangs under
    pool: str | None = None
    ignores_acpi: bool = False
    booted: bool = False         # started at least once (first boot done)
    generation: int = 0          # bumped at each power change (stale timers see it)
    consoles: list = field(default_factory=list)   # VNC/SPICE clients (state/sessions.py)
    logins: list = field(default_factory=list)     # users the guest agent lists
    agent_running: bool = True   # the agent runs in the guest (when the config enables it)
    monitor_error: str | None = None   # QEMU's monitor fails: qemu-server answers "ERROR: ..."

    @property
    def name(self):
        return self.config.get("name", "VM %d" % self.vmid)

    @property
    def lock(self):
        return self.config.get("lock")

    @property
    def template(self):
        return bool(self.config.get("template"))

    def volumes(self, include_cdrom=False):
        """(key, volid) of the disks the config names."""
        return drive_volumes(self.config, include_cdrom)

    def snapshot_config(self):
        return copy.deepcopy({k: v for k, v in self.config.items() if k != "lock"})


@dataclass
class Task:
    upid: str
    node: str
    type: str
    id: str
    user: str
    starttime: int
    pid: int
    pstart: int
    endtime: int | None = None
    exitstatus: str | None = None
    settled: bool = False        # its worker has started waiting or finished
    answered: bool = False       # its request has answered with the UPID
    log: list = field(default_factory=list)      # the task log's lines
    warnings: int = 0

    @property
    def running(self):
        return self.exitstatus is None


@dataclass
class Account:
    userid: str                  # user@realm
    password: str | None
    admin: bool = False
    tokens: dict = field(default_factory=dict)   # token name -> secret
    #: token name -> its `expire` (seconds since the epoch; 0: never), as user.cfg keeps it
    token_expire: dict = field(default_factory=dict)
    withheld: set = field(default_factory=set)   # privileges an admin lacks (a narrower role)


@dataclass
class StartRecord:
    """One start of a VM: its name, its config then, and the bytes of the
    uploaded ISOs in its CD-ROM drives (key -> bytes)."""
    name: str
    vmid: int
    config: dict
    isos: dict
