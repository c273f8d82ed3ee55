# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's mutable objects, changed only with the engine's lock held."""

from __future__ import annotations

import copy
import datetime
import uuid
from typing import NamedTuple

from tests.ovirt_sim.state.errors import NotFound

BLANK_TEMPLATE_ID = "00000000-0000-0000-0000-000000000000"

# VM statuses in which the engine considers the VM "running" (not down).
RUNNING_STATUSES = frozenset(
    {"up", "powering_up", "wait_for_launch", "powering_down", "paused",
     "reboot_in_progress", "migrating", "not_responding"}
)
# statuses in which the engine forgets who is at the VM (its VmDynamic
# attributes reset: a VM not running, or one whose host went silent)
_SESSIONS_RESET = frozenset({"down", "suspended", "image_locked", "unknown"})

# role name -> id (packaging/dbscripts/data/00500_insert_roles.sql; their
# permits: state/permits.py)
ROLES = {
    "SuperUser": "00000000-0000-0000-0000-000000000001",
    "UserRole": "00000000-0000-0000-0001-000000000001",
    "PowerUserRole": "00000000-0000-0000-0001-000000000002",
    "UserVmManager": "def00006-0000-0000-0000-def000000006",
    "UserVmRunTimeManager": "def00006-0000-0000-0000-def000000011",
    "VmCreator": "def0000a-0000-0000-0000-def00000000d",
}


class Ref(NamedTuple):
    """A reference to another entity as a request gives it: by id or by name."""
    id: str | None = None
    name: str | None = None


def new_id():
    return str(uuid.uuid4())


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds")


class Entity:
    def __init__(self, name, **kw):
        self.id = kw.pop("id", None) or new_id()
        self.name = name
        self.__dict__.update(kw)


class Snapshot:
    def __init__(self, description, type_, status="ok", config=None):
        self.id = new_id()
        self.description = description
        self.type = type_
        self.status = status
        self.date = now_iso()
        self.config = config   # VM configuration captured at creation


class Vm:
    def __init__(self, name, cluster, template):
        self.id = new_id()
        self.name = name
        self.cluster = cluster
        self.template = template
        # who is at the VM, as the engine's VmDynamic holds it: the console
        # user (who got the console ticket, "user@domain") and the client's
        # address the hypervisor reports; the guest agent's logged-in user
        self.console_user = None
        self.client_ip = None
        self.guest_user = None
        self.status = "down"
        self.comment = ""
        self.description = ""
        self.memory = getattr(template, "memory", 1 << 30)
        self.stateless = False
        self.os = getattr(template, "os_type", None)
        self.timezone = None
        self.usb = None
        self.extra = {}          # tag -> the element as sent, kept verbatim (text)
        self.nics = []           # list of Entity(name, profile, mac)
        self.permissions = []    # list of Entity(role, user)
        self.snapshots = [Snapshot("Active VM", "active")]
        self.creation_time = now_iso()
        self.power_gen = 0       # bumps on every power op: stale timers no-op
        self.snapshot_busy = 0   # snapshot ops holding the VM lock
        self.in_preview = None   # snapshot id being previewed

    @property
    def status(self):
        return self._status

    @status.setter
    def status(self, value):
        self._status = value
        if value in _SESSIONS_RESET:
            self.clear_sessions()

    def clear_sessions(self):
        self.console_user = self.client_ip = self.guest_user = None

    def console_disconnected(self):
        """The client closed the console: the hypervisor reports no client
        address, and the engine clears the console user with it."""
        self.client_ip = self.console_user = None

    @property
    def locked(self):
        return self.status == "image_locked" or self.snapshot_busy > 0

    # The part of the configuration a snapshot captures (the engine keeps
    # the VM's OVF in the snapshot and restores it on revert).
    def config(self):
        return {
            "comment": self.comment,
            "description": self.description,
            "memory": self.memory,
            "stateless": self.stateless,
            "os": self.os,
            "timezone": self.timezone,
            "usb": self.usb,
            "extra": copy.deepcopy(self.extra),
        }

    def apply_config(self, cfg):
        for key, value in cfg.items():
            setattr(self, key, copy.deepcopy(value))

    def update(self, fields):
        """``fields``: attribute -> value for what a request set; ``extra``
        (tag -> text) is merged, not replaced."""
        for key, value in fields.items():
            if key == "extra":
                self.extra.update(value)
            else:
                setattr(self, key, value)

    def snapshot(self, sid):
        for s in self.snapshots:
            if s.id == sid:
                return s
        raise NotFound("Snapshot: id=%s" % sid)

    def insert_snapshot(self, snap):
        # Newest regular snapshots come right before "Active VM".
        self.snapshots.insert(len(self.snapshots) - 1, snap)

    def drop_snapshots_after(self, snap):
        """Committing a snapshot drops every snapshot taken after it."""
        idx = self.snapshots.index(snap)
        self.snapshots = self.snapshots[:idx + 1] + [
            s for s in self.snapshots[idx + 1:] if s.type == "active"]
