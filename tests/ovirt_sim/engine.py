# SPDX-License-Identifier: GPL-3.0-or-later
"""Stateful oVirt engine simulator: state machine + HTTP front end.

Only the standard library is used.  The wire format (element names, status
codes, fault bodies, SSO JSON) follows what ``ovirtsdk4``'s writers produce
and its readers expect, so the real SDK can be pointed at ``sim.url``.

Timing model: every asynchronous engine operation (VM add, start, stop,
shutdown, snapshot create/restore/remove, VM remove) schedules its state
transitions as deadlines on a simulated clock.  Deadlines are evaluated
lazily, before every HTTP request and every state read through the
simulator's Python API, in deadline order.  The clock is
``time.monotonic()`` plus an offset that :meth:`OvirtEngineSimulator.advance`
and :meth:`OvirtEngineSimulator.settle` move forward, so tests can either
wait (latencies are multiplied by ``time_scale``) or fast-forward.
"""

from __future__ import annotations

import copy
import sys
import datetime
import functools
import heapq
import itertools
import json
import random
import re
import socket
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

API_PREFIX = "/ovirt-engine/api"
SSO_TOKEN_PATH = "/ovirt-engine/sso/oauth/token"
SSO_LOGOUT_PATH = "/ovirt-engine/services/sso-logout"

DEFAULT_LATENCIES = {
    "add": 5.0,
    "start": 10.0,
    "stop": 3.0,
    "shutdown": 5.0,
    "snapshot": 15.0,
    "restore": 20.0,
    "delete": 2.0,
    # a guest started with use_sysprep/use_cloud_init powers itself off this
    # long after it is up (sysprep's shutdown at the end of the specialize pass)
    "first_boot": 30.0,
}

BLANK_TEMPLATE_ID = "00000000-0000-0000-0000-000000000000"

# VM statuses in which the engine considers the VM "running" (not down).
RUNNING_STATUSES = frozenset(
    {"up", "powering_up", "wait_for_launch", "powering_down", "paused",
     "reboot_in_progress", "migrating", "not_responding"}
)

ROLES = {
    "UserRole": "00000012-0000-0000-0000-000000000000",
    "SuperUser": "00000000-0000-0000-0000-000000000001",
    "UserVmManager": "00000000-0000-0000-0001-000000000001",
    "PowerUserRole": "00000000-0000-0000-0001-000000000002",
    "UserVmRunTimeManager": "def00016-0000-0000-0000-def000000016",
}

# VM fields the simulator understands as typed values (everything else that
# is sent in a <vm> body is kept verbatim and echoed back).
_VM_SIMPLE_FIELDS = ("name", "comment", "description")
_VM_HANDLED_TAGS = frozenset(
    {"name", "comment", "description", "memory", "stateless", "os",
     "time_zone", "usb", "cluster", "template", "status", "id", "href",
     "creation_time", "link", "actions", "type"}
)


# ---------------------------------------------------------------------------
# Public read-only records (returned by OvirtEngineSimulator.vm()).
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SnapshotState:
    id: str
    description: str
    status: str          # ok | locked | in_preview
    type: str            # active | regular | preview
    date: str


@dataclass(frozen=True)
class NicState:
    id: str
    name: str
    vnic_profile: str | None   # profile name
    network: str | None        # network name
    mac: str


@dataclass(frozen=True)
class PermissionState:
    id: str
    role: str        # role name
    user: str        # user_name


@dataclass(frozen=True)
class StartRecord:
    """One start action as the engine received it."""
    vm: str
    use_sysprep: bool
    use_cloud_init: bool
    initialization: dict   # tag -> text of <vm><initialization>'s simple children
    initialization_xml: str | None = None


@dataclass(frozen=True)
class VmState:
    id: str
    name: str
    status: str
    comment: str
    description: str
    memory: int
    stateless: bool
    os: str | None
    timezone: str | None
    usb: bool | None
    cluster: str
    template: str
    nics: tuple = ()
    permissions: tuple = ()
    snapshots: tuple = ()
    extra: dict = field(default_factory=dict)   # tag -> XML text
    locked: bool = False       # image_locked or a snapshot op in progress


# ---------------------------------------------------------------------------
# Internal mutable entities.
# ---------------------------------------------------------------------------

class _Fault(Exception):
    """An engine fault to be answered as ``<fault>`` with an HTTP code."""

    def __init__(self, code, detail, reason="Operation Failed"):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.reason = reason


def _conflict(message):
    # Validation failures come back as 409 with the message in brackets.
    return _Fault(409, "[%s]" % message)


def _not_found(what):
    return _Fault(404, "Entity not found: %s" % what)


def _incomplete(what):
    return _Fault(400, what, reason="Incomplete parameters")


def _new_id():
    return str(uuid.uuid4())


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds")


class _Entity:
    def __init__(self, name, **kw):
        self.id = kw.pop("id", None) or _new_id()
        self.name = name
        self.__dict__.update(kw)


class _Snapshot:
    def __init__(self, description, type_, status="ok", config=None):
        self.id = _new_id()
        self.description = description
        self.type = type_
        self.status = status
        self.date = _now_iso()
        self.config = config   # VM configuration captured at creation


class _Vm:
    def __init__(self, name, cluster, template):
        self.id = _new_id()
        self.name = name
        self.cluster = cluster
        self.template = template
        self.status = "down"
        self.comment = ""
        self.description = ""
        self.memory = getattr(template, "memory", 1 << 30)
        self.stateless = False
        self.os = getattr(template, "os_type", None)
        self.timezone = None
        self.usb = None
        self.extra = {}          # tag -> ET.Element
        self.nics = []           # list of _Entity(name, profile, mac)
        self.permissions = []    # list of _Entity(role, user)
        self.snapshots = [_Snapshot("Active VM", "active")]
        self.creation_time = _now_iso()
        self.power_gen = 0       # bumps on every power op: stale timers no-op
        self.snapshot_busy = 0   # snapshot ops holding the VM lock
        self.in_preview = None   # snapshot id being previewed

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


# ---------------------------------------------------------------------------
# XML helpers.
# ---------------------------------------------------------------------------

def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text if isinstance(text, str) else (
            ("true" if text else "false") if isinstance(text, bool) else str(text))
    return el


def _text(el, path, default=None):
    if el is None:
        return default
    found = el.find(path)
    if found is None or found.text is None:
        return default
    return found.text


def _bool(text):
    if text is None:
        return None
    return text.strip().lower() == "true"


def _serialize(el):
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            + ET.tostring(el, encoding="utf-8"))


@functools.lru_cache(maxsize=1024)
def _wildcard_re(pattern):
    # cached: a search tests every VM against the same few patterns
    parts = [re.escape(p) for p in pattern.split("*")]
    return re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE | re.DOTALL)


_SEARCH_TERM = re.compile(r"^\s*([A-Za-z_.]+)\s*(!=|=)\s*(.*?)\s*$")


def _parse_search(text):
    """``name=room1-* and status=down`` -> [(field, op, value), ...]."""
    text = (text or "").strip()
    prefix = re.match(r"^\s*\w+\s*:\s*", text)
    if prefix and "=" not in prefix.group(0):
        text = text[prefix.end():]
    if not text:
        return []
    terms = []
    for raw in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        m = _SEARCH_TERM.match(raw)
        if m:
            fld, op, value = m.group(1).lower(), m.group(2), m.group(3)
        elif raw.strip() and re.match(r"^[\w*.\-]+$", raw.strip()):
            fld, op, value = "name", "=", raw.strip()
        else:
            raise _Fault(400, "[Invalid Search text.]")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        terms.append((fld, op, value))
    return terms


def _matches(terms, getters):
    for fld, op, value in terms:
        getter = getters.get(fld)
        if getter is None:
            raise _Fault(400, "[Invalid Search text.]")
        actual = getter()
        hit = actual is not None and bool(_wildcard_re(value).match(str(actual)))
        if (op == "=") != hit:
            return False
    return True


# ---------------------------------------------------------------------------
# The simulator.
# ---------------------------------------------------------------------------

class OvirtEngineSimulator:
    """A fake oVirt engine reachable by ``ovirtsdk4`` at :attr:`url`.

    Knobs (all plain attributes, settable while the server runs):
    ``time_scale``, ``latencies``, ``request_latency``, ``error_rate``,
    ``drop_rate``, ``drop_after_processing``, ``faults_on_sso``,
    ``ignore_acpi`` (set of VM names), ``fail_snapshots`` (set of VM names),
    ``first_boot_hangs`` (set of VM names whose guest never powers itself
    off after a start with use_sysprep/use_cloud_init).

    Observability: ``request_log`` (list of ``(method, path)``),
    ``requests`` (list of dicts with query, status and arrival ``time``,
    time.monotonic()), ``sso_logins``,
    ``sso_logouts``, ``events`` (engine audit messages),
    ``snapshot_ops_in_flight``, ``max_snapshot_ops_in_flight``,
    ``injected_errors``, ``dropped_connections``, ``connections_opened``
    (TCP connections accepted: keep-alive reuse keeps it low), ``starts``
    (one :class:`StartRecord` per start action, with the initialization sent).
    """

    def __init__(self, *, host="127.0.0.1", port=0, username="admin@internal",
                 password="engine-secret", time_scale=1.0, latencies=None,
                 request_latency=0.0, error_rate=0.0, drop_rate=0.0, seed=None,
                 ignore_acpi=(), fail_snapshots=(), version=(4, 5, 5), tls=None):
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.accounts = {username: password}
        self.time_scale = time_scale
        self.latencies = dict(DEFAULT_LATENCIES)
        self.latencies.update(latencies or {})
        self.request_latency = request_latency
        self.error_rate = error_rate
        self.drop_rate = drop_rate
        self.drop_after_processing = False
        self.faults_on_sso = False
        self.ignore_acpi = set(ignore_acpi)
        self.fail_snapshots = set(fail_snapshots)
        self.first_boot_hangs = set()
        self.version = version
        #: a server-side ssl.SSLContext: serve HTTPS (see tests/ovirt_sim/tls.py)
        self.tls = tls

        self.request_log = []
        self.starts = []
        self.requests = []
        self.events = []
        self.sso_logins = 0
        self.sso_logouts = 0
        self.restarts = 0
        self.injected_errors = 0
        self.dropped_connections = 0
        self.connections_opened = 0
        self._in_flight = 0
        self._max_in_flight = 0

        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._timers = []                 # heap of (due, seq, fn)
        self._seq = itertools.count()
        self._clock_offset = 0.0
        self._tokens = set()

        self._datacenters = {}
        self._clusters = {}
        self._networks = {}
        self._profiles = {}
        self._templates = {}
        self._users = {}
        self._vms = {}                    # id -> _Vm
        self._jobs = {}                   # id -> _Entity (the engine's job of a command)
        self._roles = {rid: _Entity(name, id=rid) for name, rid in ROLES.items()}

        self._templates[BLANK_TEMPLATE_ID] = _Entity(
            "Blank", id=BLANK_TEMPLATE_ID, cluster=None, memory=1 << 30,
            os_type="other", description="Blank template", nics=())

        self._server = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        self._server = _Server((self.host, self.port), _Handler, self)
        if self.tls is not None:
            # the handshake happens in the request's thread (_Handler.setup),
            # so a client that rejects the certificate blocks nobody else
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ovirt-sim", daemon=True,
            kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        scheme = "https" if self.tls is not None else "http"
        return "%s://%s:%d" % (scheme, self.host, self.port)

    @property
    def url(self):
        return self.base_url + API_PREFIX

    def restart(self):
        """Simulate an engine restart: every SSO token becomes invalid (the
        next API request is answered 401 until the client logs in again);
        operations in progress complete as scheduled."""
        with self._lock:
            self._tokens.clear()
            self.restarts += 1

    # -- clock -------------------------------------------------------------

    def _now(self):
        return time.monotonic() + self._clock_offset

    def _delay(self, kind, fraction=1.0):
        return self.latencies[kind] * self.time_scale * fraction

    def _schedule(self, delay, fn):
        heapq.heappush(self._timers, (self._now() + delay, next(self._seq), fn))

    def _run_due(self):
        with self._lock:
            now = self._now()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                fn()

    def advance(self, seconds):
        """Move the simulated clock forward by ``seconds`` of engine time
        (i.e. before ``time_scale``) and fire what became due."""
        with self._lock:
            self._clock_offset += seconds * self.time_scale
            self._run_due()

    def settle(self):
        """Fast-forward until no timed operation is pending."""
        with self._lock:
            while self._timers:
                due = self._timers[0][0]
                if due > self._now():
                    self._clock_offset += due - self._now()
                self._run_due()

    @property
    def pending_operations(self):
        with self._lock:
            self._run_due()
            return len(self._timers)

    @property
    def snapshot_ops_in_flight(self):
        with self._lock:
            self._run_due()
            return self._in_flight

    @property
    def max_snapshot_ops_in_flight(self):
        return self._max_in_flight

    def _snapshot_op_begin(self):
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _snapshot_op_end(self):
        self._in_flight -= 1

    def _event(self, message):
        self.events.append(message)

    # -- seeding -----------------------------------------------------------

    def _datacenter(self, name="Default"):
        for dc in self._datacenters.values():
            if dc.name == name:
                return dc
        dc = _Entity(name)
        self._datacenters[dc.id] = dc
        return dc

    def add_cluster(self, name, datacenter="Default"):
        with self._lock:
            for c in self._clusters.values():
                if c.name == name:
                    return c.id
            c = _Entity(name, datacenter=self._datacenter(datacenter))
            self._clusters[c.id] = c
            return c.id

    def add_network(self, name, cluster="Default"):
        """Add a VM network (attached to ``cluster``) and its vNIC profile of
        the same name.  Returns the profile id."""
        with self._lock:
            cl = self._find_by_name(self._clusters, cluster, "Cluster")
            net = _Entity(name, datacenter=cl.datacenter, clusters=[cl])
            self._networks[net.id] = net
            prof = _Entity(name, network=net)
            self._profiles[prof.id] = prof
            return prof.id

    def add_template(self, name, cluster="Default", memory=4 << 30,
                     os_type="windows_10x64", nics=()):
        """``nics``: network (= vNIC profile) names; VMs created from the
        template get ``nic1``, ``nic2``... on them, as the engine copies the
        template's interfaces."""
        with self._lock:
            cl = self._find_by_name(self._clusters, cluster, "Cluster")
            profiles = [self._find_by_name(self._profiles, n, "VnicProfile")
                        for n in nics]
            t = _Entity(name, cluster=cl, memory=memory, os_type=os_type,
                        description="", nics=tuple(profiles))
            self._templates[t.id] = t
            return t.id

    def add_user(self, name, domain=None):
        """``name`` is the user_name (``thinclient@internal``)."""
        with self._lock:
            principal, _, dom = name.partition("@")
            dom = domain or (dom + "-authz" if dom else "internal-authz")
            u = _Entity(principal, user_name=name, principal=principal,
                        domain=dom)
            self._users[u.id] = u
            return u.id

    def add_vm(self, name, template="Blank", cluster="Default", comment="",
               description="", status="down", memory=None):
        """Add a VM directly (no latency), e.g. a foreign VM."""
        with self._lock:
            cl = self._find_by_name(self._clusters, cluster, "Cluster")
            tp = self._find_by_name(self._templates, template, "Template")
            vm = _Vm(name, cl, tp)
            vm.comment, vm.description, vm.status = comment, description, status
            if memory is not None:
                vm.memory = memory
            self._copy_template_nics(vm, tp)
            self._vms[vm.id] = vm
            return vm.id

    def add_snapshot(self, vm_name, description):
        """Add a finished regular snapshot to a VM directly (no latency),
        capturing its current configuration.  Returns the snapshot id."""
        with self._lock:
            vm = self._vm_by_name(vm_name)
            snap = _Snapshot(description, "regular", "ok", vm.config())
            vm.snapshots.insert(len(vm.snapshots) - 1, snap)
            return snap.id

    def set_vm_status(self, name, status):
        with self._lock:
            vm = self._vm_by_name(name)
            vm.power_gen += 1
            vm.status = status

    def preview_snapshot(self, name, description):
        """Leave VM ``name`` previewing its snapshot ``description`` (no latency),
        as an operator who forgot to commit or undo a preview would."""
        with self._lock:
            vm = self._vm_by_name(name)
            snap = next(s for s in vm.snapshots if s.description == description)
            body = ET.Element("action")
            _sub(body, "snapshot", id=snap.id)
            self._op_preview(vm, body)
            self.settle()

    # -- reading state -----------------------------------------------------

    def vm(self, name):
        """A read-only :class:`VmState` of the VM called ``name``
        (``KeyError`` if there is none)."""
        with self._lock:
            self._run_due()
            return self._vm_state(self._vm_by_name(name))

    def template(self, name):
        """The template called ``name`` as a dict: status, sealed, source_vm,
        comment (``KeyError`` if there is none)."""
        with self._lock:
            self._run_due()
            t = self._find_by_name(self._templates, name, "Template") \
                if any(t.name == name for t in self._templates.values()) else None
            if t is None:
                raise KeyError(name)
            return {"status": getattr(t, "status", "ok"), "sealed": getattr(t, "sealed", False),
                    "source_vm": getattr(t, "source_vm", None),
                    "comment": getattr(t, "comment", "")}

    def vms(self):
        with self._lock:
            self._run_due()
            return [self._vm_state(v) for v in self._vms.values()]

    def vm_names(self):
        return [v.name for v in self.vms()]

    def has_vm(self, name):
        with self._lock:
            self._run_due()
            return any(v.name == name for v in self._vms.values())

    def _vm_state(self, vm):
        return VmState(
            id=vm.id, name=vm.name, status=vm.status, comment=vm.comment,
            description=vm.description, memory=vm.memory,
            stateless=vm.stateless, os=vm.os, timezone=vm.timezone,
            usb=vm.usb, cluster=vm.cluster.name, template=vm.template.name,
            nics=tuple(NicState(n.id, n.name,
                                n.profile.name if n.profile else None,
                                n.profile.network.name if n.profile else None,
                                n.mac) for n in vm.nics),
            permissions=tuple(PermissionState(p.id, p.role.name, p.user.user_name)
                              for p in vm.permissions),
            snapshots=tuple(SnapshotState(s.id, s.description, s.status,
                                          s.type, s.date)
                            for s in vm.snapshots),
            extra={k: ET.tostring(v, encoding="unicode") for k, v in vm.extra.items()},
            locked=vm.status == "image_locked" or vm.snapshot_busy > 0,
        )

    def _vm_by_name(self, name):
        for vm in self._vms.values():
            if vm.name == name:
                return vm
        raise KeyError(name)

    @staticmethod
    def _find_by_name(table, name, kind):
        for e in table.values():
            if e.name == name:
                return e
        raise _not_found("%s: name=%s" % (kind, name))

    def _copy_template_nics(self, vm, tp):
        for i, prof in enumerate(getattr(tp, "nics", ()), start=1):
            vm.nics.append(_Entity("nic%d" % i, profile=prof, mac=self._mac()))

    def _mac(self):
        return "56:6f:%02x:%02x:%02x:%02x" % tuple(
            self._rng.randrange(256) for _ in range(4))

    # -- validation helpers -------------------------------------------------

    def _check_unlocked(self, vm, action, type_="VM"):
        if vm.status == "image_locked":
            raise _conflict("Cannot %s %s: VM is locked. Please try again in a "
                            "few minutes." % (action, type_))
        if vm.snapshot_busy:
            raise _conflict("Cannot %s %s. The VM is performing an operation "
                            "on a Snapshot. Please wait for the operation to "
                            "finish, and try again." % (action, type_))

    # -- VM operations (called with the lock held) --------------------------

    def _op_add_vm(self, body):
        name = _text(body, "name")
        if not name:
            raise _incomplete("Vm [name] required for add")
        cl_el = body.find("cluster")
        if cl_el is None:
            raise _incomplete("Vm [cluster.id|name] required for add")
        cluster = self._resolve(self._clusters, cl_el, "Cluster")
        tp_el = body.find("template")
        template = (self._resolve(self._templates, tp_el, "Template")
                    if tp_el is not None else self._templates[BLANK_TEMPLATE_ID])
        if any(v.name == name for v in self._vms.values()):
            raise _conflict("Cannot add VM. The VM name is already in use, "
                            "please choose a unique name and try again.")
        vm = _Vm(name, cluster, template)
        self._apply_vm_fields(vm, body)
        self._copy_template_nics(vm, template)
        vm.status = "image_locked"
        self._vms[vm.id] = vm

        def done():
            if vm.status == "image_locked":
                vm.status = "down"
                self._event("VM %s creation has been completed." % vm.name)
        self._schedule(self._delay("add"), done)
        return vm

    def _resolve(self, table, el, kind):
        ident = el.get("id") or _text(el, "id")
        if ident:
            if ident not in table:
                raise _not_found("%s: id=%s" % (kind, ident))
            return table[ident]
        name = _text(el, "name")
        if not name:
            raise _incomplete("%s [id|name] required" % kind)
        return self._find_by_name(table, name, kind)

    def _apply_vm_fields(self, vm, body):
        for tag in _VM_SIMPLE_FIELDS:
            el = body.find(tag)
            if el is not None:
                setattr(vm, tag, el.text or "")
        memory = _text(body, "memory")
        if memory is not None:
            vm.memory = int(memory)
        stateless = _bool(_text(body, "stateless"))
        if stateless is not None:
            vm.stateless = stateless
        os_type = _text(body, "os/type")
        if os_type is not None:
            vm.os = os_type
        tz = _text(body, "time_zone/name")
        if tz is not None:
            vm.timezone = tz
        usb = _bool(_text(body, "usb/enabled"))
        if usb is not None:
            vm.usb = usb
        for child in body:
            if child.tag not in _VM_HANDLED_TAGS:
                vm.extra[child.tag] = copy.deepcopy(child)

    def _op_add_template(self, body, query):
        """A template made from a VM: locked while the disks are copied (and
        sealed when ``seal=true``, recorded as ``sealed``), then ok."""
        name = _text(body, "name")
        vm_el = body.find("vm")
        if not name or vm_el is None:
            raise _incomplete("Template [name, vm.id|name] required for add")
        vm = self._resolve(self._vms, vm_el, "VM")
        if any(t.name == name for t in self._templates.values()):
            raise _conflict("Cannot add Template. The Template name is already in use, "
                            "please choose a unique name and try again.")
        if vm.status != "down":
            raise _conflict("Cannot add Template. VM is running.")
        t = _Entity(name, cluster=vm.cluster, memory=vm.memory, os_type=vm.os,
                    description=_text(body, "description") or "",
                    comment=_text(body, "comment") or "",
                    nics=tuple(n.profile for n in vm.nics), status="locked",
                    sealed=_bool(query.get("seal")) or False, source_vm=vm.name)
        self._templates[t.id] = t
        vm.status = "image_locked"

        def done():
            t.status = "ok"
            if vm.status == "image_locked":
                vm.status = "down"
            self._event("Template %s creation has been completed." % name)
        self._schedule(self._delay("add"), done)
        return t

    def _op_remove_template(self, ident):
        t = self._templates.get(ident)
        if t is None:
            raise _Fault(404, "Entity not found: Template: id=%s" % ident, reason="Not Found")
        if getattr(t, "status", "ok") == "locked":
            raise _conflict("Cannot remove Template. Template is being updated.")
        users = [v.name for v in self._vms.values() if v.template is t]
        if users:
            raise _conflict("Cannot remove Template. The following VMs are based on "
                            "this Template: %s." % ", ".join(users))
        del self._templates[ident]

    def _op_update_vm(self, vm, body):
        self._check_unlocked(vm, "edit")
        new_name = _text(body, "name")
        if new_name and new_name != vm.name and any(
                v.name == new_name for v in self._vms.values()):
            raise _conflict("Cannot edit VM. The VM name is already in use, "
                            "please choose a unique name and try again.")
        self._apply_vm_fields(vm, body)

    def _op_remove_vm(self, vm):
        self._check_unlocked(vm, "remove")
        if vm.status != "down":
            raise _conflict("Cannot remove VM. VM is running.")
        vm.status = "image_locked"
        vm.power_gen += 1

        def done():
            self._vms.pop(vm.id, None)
            self._event("VM %s was successfully removed." % vm.name)
        self._schedule(self._delay("delete"), done)

    def _op_start(self, vm, action=None):
        self._check_unlocked(vm, "run")
        if vm.status in RUNNING_STATUSES:
            raise _conflict("Cannot run VM. VM is running.")
        init = action.find("vm/initialization") if action is not None else None
        first_boot = action is not None and (
            _bool(_text(action, "use_sysprep")) or _bool(_text(action, "use_cloud_init")))
        self.starts.append(StartRecord(
            vm=vm.name, use_sysprep=bool(_bool(_text(action, "use_sysprep"))),
            use_cloud_init=bool(_bool(_text(action, "use_cloud_init"))),
            initialization={c.tag: c.text for c in init} if init is not None else {},
            initialization_xml=ET.tostring(init, encoding="unicode")
            if init is not None else None))
        if vm.in_preview:
            pass  # the engine runs a VM in preview fine
        vm.power_gen += 1
        gen = vm.power_gen
        vm.status = "wait_for_launch"

        def powering_up():
            if vm.power_gen == gen:
                vm.status = "powering_up"

        def up():
            if vm.power_gen == gen:
                vm.status = "up"
                self._event("VM %s started on Host sim-host" % vm.name)

        def guest_off():  # sysprep / cloud-init finished and powered off
            if vm.power_gen == gen and vm.status == "up":
                vm.status = "down"
                self._event("VM %s is down. Exit message: guest powered off after "
                            "first-boot initialization" % vm.name)
        self._schedule(self._delay("start", 0.3), powering_up)
        self._schedule(self._delay("start"), up)
        if first_boot and vm.name not in self.first_boot_hangs:
            self._schedule(self._delay("start") + self._delay("first_boot"), guest_off)

    def _op_stop(self, vm):
        self._check_unlocked(vm, "stop")
        if vm.status not in RUNNING_STATUSES:
            raise _conflict("Cannot stop VM. VM is not running.")
        vm.power_gen += 1
        gen = vm.power_gen
        vm.status = "powering_down"

        def down():
            if vm.power_gen == gen:
                vm.status = "down"
                self._event("VM %s powered off by admin@internal-authz." % vm.name)
        self._schedule(self._delay("stop"), down)

    def _op_shutdown(self, vm):
        self._check_unlocked(vm, "shutdown")
        if vm.status not in RUNNING_STATUSES:
            raise _conflict("Cannot shutdown VM. VM is not running.")
        vm.power_gen += 1
        gen = vm.power_gen
        vm.status = "powering_down"
        ignores = vm.name in self.ignore_acpi

        def done():
            if vm.power_gen != gen:
                return
            if ignores:
                # The guest never reacted to the ACPI event: VDSM gives up
                # and the VM is reported up again.
                vm.status = "up"
                self._event("Shutdown of VM %s failed." % vm.name)
            else:
                vm.status = "down"
                self._event("VM %s is down. Exit message: User shut down from "
                            "within the guest" % vm.name)
        self._schedule(self._delay("shutdown"), done)

    def _snapshot(self, vm, sid):
        for s in vm.snapshots:
            if s.id == sid:
                return s
        raise _not_found("Snapshot: id=%s" % sid)

    def _op_add_snapshot(self, vm, body):
        self._check_unlocked(vm, "create", "Snapshot")
        if vm.status not in ("down", "up", "paused"):
            raise _conflict("Cannot create Snapshot. The VM status is illegal.")
        if vm.in_preview:
            raise _conflict("Cannot create Snapshot. VM is previewing a Snapshot.")
        description = _text(body, "description") or ""
        snap = _Snapshot(description, "regular", "locked", vm.config())
        # Newest regular snapshots come right before "Active VM".
        vm.snapshots.insert(len(vm.snapshots) - 1, snap)
        vm.snapshot_busy += 1
        self._snapshot_op_begin()
        fail = vm.name in self.fail_snapshots

        def done():
            vm.snapshot_busy -= 1
            self._snapshot_op_end()
            if fail:
                vm.snapshots.remove(snap)
                self._event("Failed to complete snapshot '%s' creation for VM "
                            "'%s'." % (description, vm.name))
            else:
                snap.status = "ok"
                self._event("Snapshot '%s' creation for VM '%s' has been "
                            "completed." % (description, vm.name))
        self._schedule(self._delay("snapshot"), done)
        return snap

    def _begin_job(self, query, description):
        """The engine's job for a command; ?correlation_id= tags it for a search."""
        job = _Entity(description, description=description, status="started",
                      correlation_id=query.get("correlation_id"))
        self._jobs[job.id] = job
        return job

    def _op_restore_snapshot(self, vm, snap, job=None):
        self._check_unlocked(vm, "revert to", "Snapshot")
        if vm.status != "down":
            raise _conflict("Cannot revert to Snapshot. VM is running.")
        if snap.type == "active":
            raise _conflict("Cannot revert to Snapshot. The VM's active "
                            "snapshot cannot be restored.")
        if snap.status != "ok":
            raise _conflict("Cannot revert to Snapshot. Snapshot is locked.")
        vm.status = "image_locked"
        snap.status = "locked"
        vm.power_gen += 1
        self._snapshot_op_begin()
        fail = vm.name in self.fail_snapshots

        def done():
            self._snapshot_op_end()
            snap.status = "ok"
            vm.status = "down"
            if job is not None:
                job.status = "failed" if fail else "finished"
            if fail:
                self._event("Failed to restore VM %s from Snapshot." % vm.name)
                return
            # Committing a snapshot drops every snapshot taken after it.
            idx = vm.snapshots.index(snap)
            vm.snapshots = vm.snapshots[:idx + 1] + [
                s for s in vm.snapshots[idx + 1:] if s.type == "active"]
            vm.apply_config(snap.config)
            self._event("VM %s restored from Snapshot." % vm.name)
        self._schedule(self._delay("restore"), done)

    def _op_remove_snapshot(self, vm, snap):
        self._check_unlocked(vm, "remove", "Snapshot")
        if snap.type == "active":
            raise _conflict("Cannot remove Snapshot. Removing the VM active "
                            "Snapshot is not allowed.")
        if snap.status != "ok":
            raise _conflict("Cannot remove Snapshot. Snapshot is locked.")
        snap.status = "locked"
        vm.snapshot_busy += 1

        def done():
            vm.snapshot_busy -= 1
            if snap in vm.snapshots:
                vm.snapshots.remove(snap)
            self._event("Snapshot '%s' deletion for VM '%s' has been "
                        "completed." % (snap.description, vm.name))
        self._schedule(self._delay("delete"), done)

    def _op_preview(self, vm, body):
        self._check_unlocked(vm, "preview", "Snapshot")
        if vm.status != "down":
            raise _conflict("Cannot preview Snapshot. VM is running.")
        if vm.in_preview:
            raise _conflict("Cannot preview Snapshot. VM is previewing a Snapshot.")
        sid = body.get("id") if body.tag == "snapshot" else None
        sid = sid or (body.find("snapshot").get("id")
                      if body.find("snapshot") is not None else None)
        if not sid:
            raise _incomplete("Action [snapshot.id] required for previewSnapshot")
        snap = self._snapshot(vm, sid)
        before = _Snapshot("Active VM before the preview", "preview", "ok",
                           vm.config())
        vm.snapshots.insert(len(vm.snapshots) - 1, before)
        vm.status = "image_locked"
        vm.power_gen += 1
        vm.in_preview = snap.id
        self._snapshot_op_begin()

        def done():
            self._snapshot_op_end()
            vm.status = "down"
            snap.status = "in_preview"
            vm.apply_config(snap.config)
        self._schedule(self._delay("restore"), done)

    def _end_preview(self, vm):
        """Commit and undo both start here: the previewed snapshot, VM locked."""
        self._check_unlocked(vm, "revert to", "Snapshot")
        if not vm.in_preview:
            raise _conflict("Cannot revert to Snapshot. VM is not previewing a "
                            "Snapshot.")
        snap = self._snapshot(vm, vm.in_preview)
        vm.status = "image_locked"
        return snap

    def _op_commit(self, vm):
        snap = self._end_preview(vm)

        def done():
            vm.status = "down"
            snap.status = "ok"
            idx = vm.snapshots.index(snap)
            vm.snapshots = vm.snapshots[:idx + 1] + [
                s for s in vm.snapshots[idx + 1:] if s.type == "active"]
            vm.in_preview = None
        self._schedule(self._delay("delete"), done)

    def _op_undo(self, vm):
        snap = self._end_preview(vm)

        def done():
            vm.status = "down"
            snap.status = "ok"
            before = [s for s in vm.snapshots if s.type == "preview"]
            for s in before:
                vm.apply_config(s.config)
                vm.snapshots.remove(s)
            vm.in_preview = None
        self._schedule(self._delay("delete"), done)

    def _op_add_nic(self, vm, body):
        name = _text(body, "name")
        if not name:
            raise _incomplete("Nic [name] required for add")
        if any(n.name == name for n in vm.nics):
            raise _conflict("Cannot add Interface. The VM Network Interface "
                            "name is already in use.")
        prof_el = body.find("vnic_profile")
        profile = None
        if prof_el is not None:
            pid = prof_el.get("id")
            if not pid:
                raise _incomplete("Nic [vnic_profile.id] required for add")
            profile = self._profiles.get(pid)
            if profile is None:
                raise _not_found("VnicProfile: id=%s" % pid)
        nic = _Entity(name, profile=profile, mac=self._mac())
        vm.nics.append(nic)
        return nic

    def _op_add_permission(self, vm, body):
        role_el, user_el = body.find("role"), body.find("user")
        if role_el is None or user_el is None:
            raise _incomplete("Permission [role.id|name, user.id|group.id] "
                              "required for add")
        role = self._resolve(self._roles, role_el, "Role")
        uid = user_el.get("id")
        if not uid:
            raise _incomplete("Permission [user.id] required for add")
        user = self._users.get(uid)
        if user is None:
            raise _not_found("User: id=%s" % uid)
        for p in vm.permissions:
            if p.role is role and p.user is user:
                raise _conflict("Cannot add permission. Permission already "
                                "exists.")
        perm = _Entity(role.name, role=role, user=user)
        vm.permissions.append(perm)
        return perm

    # -- XML rendering -----------------------------------------------------

    def _href(self, *parts):
        return API_PREFIX + "/" + "/".join(parts)

    def _link(self, parent, tag, coll, entity):
        if entity is None:
            return None
        return _sub(parent, tag, href=self._href(coll, entity.id), id=entity.id)

    def _vm_xml(self, vm, parent=None, follow=()):
        """``follow``: links to inline, as the engine does for ``?follow=nics``."""
        el = ET.Element("vm") if parent is None else _sub(parent, "vm")
        el.set("href", self._href("vms", vm.id))
        el.set("id", vm.id)
        for rel in ("nics", "permissions", "snapshots"):
            _sub(el, "link", href=self._href("vms", vm.id, rel), rel=rel)
        followed = {"nics": (vm.nics, self._nic_xml),
                    "permissions": (vm.permissions, self._permission_xml),
                    "snapshots": (vm.snapshots, self._snapshot_xml)}
        for rel in follow:
            if rel in followed:
                items, render = followed[rel]
                inline = _sub(el, rel)
                for item in items:
                    render(vm, item, inline)
        _sub(el, "name", vm.name)
        _sub(el, "description", vm.description)
        _sub(el, "comment", vm.comment)
        _sub(el, "creation_time", vm.creation_time)
        _sub(el, "memory", vm.memory)
        if vm.os:
            _sub(_sub(el, "os"), "type", vm.os)
        _sub(el, "stateless", vm.stateless)
        if vm.timezone:
            _sub(_sub(el, "time_zone"), "name", vm.timezone)
        _sub(el, "type", "desktop")
        if vm.usb is not None:
            _sub(_sub(el, "usb"), "enabled", vm.usb)
        _sub(el, "status", vm.status)
        _sub(el, "next_run_configuration_exists", False)
        self._link(el, "cluster", "clusters", vm.cluster)
        self._link(el, "template", "templates", vm.template)
        for extra in vm.extra.values():
            el.append(copy.deepcopy(extra))
        return el

    def _snapshot_xml(self, vm, snap, parent=None):
        el = ET.Element("snapshot") if parent is None else _sub(parent, "snapshot")
        el.set("href", self._href("vms", vm.id, "snapshots", snap.id))
        el.set("id", snap.id)
        _sub(el, "description", snap.description)
        _sub(el, "date", snap.date)
        _sub(el, "persist_memorystate", False)
        _sub(el, "snapshot_status", snap.status)
        _sub(el, "snapshot_type", snap.type)
        self._link(el, "vm", "vms", vm)
        return el

    def _nic_xml(self, vm, nic, parent=None):
        el = ET.Element("nic") if parent is None else _sub(parent, "nic")
        el.set("href", self._href("vms", vm.id, "nics", nic.id))
        el.set("id", nic.id)
        _sub(el, "name", nic.name)
        _sub(el, "interface", "virtio")
        _sub(el, "linked", True)
        _sub(_sub(el, "mac"), "address", nic.mac)
        _sub(el, "plugged", True)
        self._link(el, "vnic_profile", "vnicprofiles", nic.profile)
        self._link(el, "vm", "vms", vm)
        return el

    def _permission_xml(self, vm, perm, parent=None):
        el = ET.Element("permission") if parent is None else _sub(parent, "permission")
        el.set("href", self._href("vms", vm.id, "permissions", perm.id))
        el.set("id", perm.id)
        self._link(el, "role", "roles", perm.role)
        self._link(el, "user", "users", perm.user)
        self._link(el, "vm", "vms", vm)
        return el

    def _simple_xml(self, kind, e, parent=None):
        tag, coll = {
            "cluster": ("cluster", "clusters"),
            "template": ("template", "templates"),
            "network": ("network", "networks"),
            "profile": ("vnic_profile", "vnicprofiles"),
            "user": ("user", "users"),
            "role": ("role", "roles"),
            "datacenter": ("data_center", "datacenters"),
            "job": ("job", "jobs"),
        }[kind]
        el = ET.Element(tag) if parent is None else _sub(parent, tag)
        el.set("href", self._href(coll, e.id))
        el.set("id", e.id)
        _sub(el, "name", e.name)
        if kind == "cluster":
            self._link(el, "data_center", "datacenters", e.datacenter)
            ver = _sub(el, "version")
            _sub(ver, "major", self.version[0])
            _sub(ver, "minor", self.version[1])
        elif kind == "template":
            _sub(el, "description", e.description)
            _sub(el, "memory", e.memory)
            _sub(_sub(el, "os"), "type", e.os_type)
            _sub(el, "status", getattr(e, "status", "ok"))
            if getattr(e, "comment", ""):
                _sub(el, "comment", e.comment)
            ver = _sub(el, "version")
            _sub(ver, "version_name", "base version")
            _sub(ver, "version_number", 1)
            self._link(el, "cluster", "clusters", e.cluster)
        elif kind == "network":
            self._link(el, "data_center", "datacenters", e.datacenter)
            _sub(_sub(el, "usages"), "usage", "vm")
        elif kind == "profile":
            self._link(el, "network", "networks", e.network)
        elif kind == "user":
            _sub(el, "principal", e.principal)
            _sub(el, "namespace", "*")
            _sub(el, "user_name", e.user_name)
            _sub(_sub(el, "domain"), "name", e.domain)
        elif kind == "role":
            _sub(el, "administrative", e.name == "SuperUser")
        elif kind == "job":
            _sub(el, "description", e.description)
            _sub(el, "status", e.status)
            _sub(el, "auto_cleared", True)
            _sub(el, "external", False)
            if e.correlation_id:
                _sub(el, "correlation_id", e.correlation_id)
        return el

    def _api_xml(self):
        el = ET.Element("api")
        for rel in ("clusters", "datacenters", "networks", "templates",
                    "users", "vms", "vnicprofiles", "roles"):
            _sub(el, "link", href=self._href(rel), rel=rel)
        info = _sub(el, "product_info")
        _sub(info, "name", "oVirt Engine")
        _sub(info, "vendor", "ovirt.org")
        ver = _sub(info, "version")
        major, minor, rev = self.version
        _sub(ver, "build", 0)
        _sub(ver, "full_version", "%d.%d.%d-sim" % (major, minor, rev))
        _sub(ver, "major", major)
        _sub(ver, "minor", minor)
        _sub(ver, "revision", rev)
        _sub(el, "time", _now_iso())
        return el

    # -- request dispatch --------------------------------------------------

    def _getters(self, kind, e):
        if kind == "vm":
            return {"name": lambda: e.name, "id": lambda: e.id,
                    "status": lambda: e.status, "comment": lambda: e.comment,
                    "description": lambda: e.description,
                    "cluster": lambda: e.cluster.name,
                    "template": lambda: e.template.name}
        if kind == "user":
            return {"usrname": lambda: e.user_name, "name": lambda: e.name,
                    "id": lambda: e.id, "principal": lambda: e.principal}
        if kind == "job":
            return {"correlation_id": lambda: e.correlation_id, "id": lambda: e.id,
                    "status": lambda: e.status}
        return {"name": lambda: e.name, "id": lambda: e.id}

    def _list(self, kind, tag, entities, query, render):
        terms = _parse_search(query.get("search"))
        root = ET.Element(tag)
        count = 0
        limit = int(query["max"]) if query.get("max", "").lstrip("-").isdigit() else -1
        for e in list(entities):
            if terms and not _matches(terms, self._getters(kind, e)):
                continue
            if 0 <= limit <= count:
                break
            render(e, root)
            count += 1
        return 200, root

    def handle_api(self, method, parts, query, body):
        """Returns (status, Element or None, extra_headers)."""
        tables = {
            "clusters": ("cluster", "clusters", self._clusters),
            "templates": ("template", "templates", self._templates),
            "networks": ("network", "networks", self._networks),
            "vnicprofiles": ("profile", "vnic_profiles", self._profiles),
            "users": ("user", "users", self._users),
            "roles": ("role", "roles", self._roles),
            "datacenters": ("datacenter", "data_centers", self._datacenters),
            "jobs": ("job", "jobs", self._jobs),
        }
        if not parts:
            if method == "GET":
                return 200, self._api_xml(), {}
            raise _Fault(405, "Method not allowed", reason="Method Not Allowed")
        head, rest = parts[0], parts[1:]
        if head == "templates" and method == "POST" and not rest:
            t = self._op_add_template(self._require(body, "template"), query)
            return 201, self._simple_xml("template", t), {
                "Location": self._href("templates", t.id)}
        if head == "templates" and method == "DELETE" and len(rest) == 1:
            self._op_remove_template(rest[0])
            return 200, None, {}
        if head in tables and method == "GET":
            kind, list_tag, table = tables[head]
            if not rest:
                return (*self._list(kind, list_tag, table.values(), query,
                                    lambda e, p: self._simple_xml(kind, e, p)), {})
            if len(rest) == 1 and rest[0] in table:
                return 200, self._simple_xml(kind, table[rest[0]]), {}
            raise _Fault(404, "Entity not found: %s" % "/".join(parts),
                         reason="Not Found")
        if head == "vms":
            return self._handle_vms(method, rest, query, body)
        raise _Fault(404, "Entity not found: %s" % "/".join(parts),
                     reason="Not Found")

    def _handle_vms(self, method, rest, query, body):
        if not rest:
            if method == "GET":
                follow = [f.strip() for f in query.get("follow", "").split(",") if f.strip()]
                return (*self._list("vm", "vms", self._vms.values(), query,
                                    lambda v, p: self._vm_xml(v, p, follow)), {})
            if method == "POST":
                # 202: the disks are still being created (image_locked)
                vm = self._op_add_vm(self._require(body, "vm"))
                return 202, self._vm_xml(vm), {"Location": self._href("vms", vm.id)}
            raise _Fault(405, "Method not allowed", reason="Method Not Allowed")
        vm = self._vms.get(rest[0])
        if vm is None:
            raise _Fault(404, "Entity not found: VM: id=%s" % rest[0],
                         reason="Not Found")
        sub = rest[1:]
        if not sub:
            if method == "GET":
                return 200, self._vm_xml(vm), {}
            if method == "PUT":
                self._op_update_vm(vm, self._require(body, "vm"))
                return 200, self._vm_xml(vm), {}
            if method == "DELETE":
                self._op_remove_vm(vm)
                return 200, None, {}
        elif len(sub) == 1 and method == "POST" and sub[0] in (
                "start", "stop", "shutdown", "previewsnapshot",
                "commitsnapshot", "undosnapshot"):
            action = self._require(body, "action")
            op = {"start": lambda v: self._op_start(v, action), "stop": self._op_stop,
                  "shutdown": self._op_shutdown, "commitsnapshot": self._op_commit,
                  "undosnapshot": self._op_undo}.get(sub[0])
            if op is not None:
                op(vm)
            else:
                self._op_preview(vm, action)
            if sub[0] in ("start", "stop", "shutdown"):
                return 200, self._action_reply(action), {}
            # snapshot actions run storage tasks: accepted, still pending
            return 202, self._action_reply(action, "pending"), {}
        elif sub[0] == "snapshots":
            return self._handle_snapshots(method, vm, sub[1:], body, query)
        elif sub[0] == "nics":
            return self._handle_children(
                method, vm, sub[1:], body, "nics", "nic", vm.nics,
                self._nic_xml, self._op_add_nic)
        elif sub[0] == "permissions":
            return self._handle_children(
                method, vm, sub[1:], body, "permissions", "permission",
                vm.permissions, self._permission_xml, self._op_add_permission)
        raise _Fault(404, "Not found", reason="Not Found")

    def _handle_children(self, method, vm, rest, body, list_tag, tag, items,
                         render, add):
        if not rest:
            if method == "GET":
                root = ET.Element(list_tag)
                for item in items:
                    render(vm, item, root)
                return 200, root, {}
            if method == "POST":
                item = add(vm, self._require(body, tag))
                return 201, render(vm, item), {}
        else:
            item = next((i for i in items if i.id == rest[0]), None)
            if item is None:
                raise _Fault(404, "Entity not found: %s" % rest[0],
                             reason="Not Found")
            if len(rest) == 1 and method == "GET":
                return 200, render(vm, item), {}
            if len(rest) == 1 and method == "DELETE":
                items.remove(item)
                return 200, None, {}
        raise _Fault(405, "Method not allowed", reason="Method Not Allowed")

    def _handle_snapshots(self, method, vm, rest, body, query):
        if not rest:
            if method == "GET":
                root = ET.Element("snapshots")
                for s in vm.snapshots:
                    self._snapshot_xml(vm, s, root)
                return 200, root, {}
            if method == "POST":
                snap = self._op_add_snapshot(vm, self._require(body, "snapshot"))
                return 202, self._snapshot_xml(vm, snap), {}
        else:
            snap = self._snapshot(vm, rest[0])
            if len(rest) == 1 and method == "GET":
                return 200, self._snapshot_xml(vm, snap), {}
            if len(rest) == 1 and method == "DELETE":
                self._op_remove_snapshot(vm, snap)
                return 200, None, {}
            if rest[1:] == ["restore"] and method == "POST":
                action = self._require(body, "action")
                self._op_restore_snapshot(vm, snap, self._begin_job(
                    query, "Restoring VM %s from Snapshot" % vm.name))
                return 202, self._action_reply(action, "pending"), {}
        raise _Fault(405, "Method not allowed", reason="Method Not Allowed")

    @staticmethod
    def _require(body, tag):
        if body is None or body.tag != tag:
            raise _Fault(400, "Request syntactically incorrect. Expected <%s>."
                         % tag, reason="Bad Request")
        return body

    @staticmethod
    def _action_reply(action, status="complete"):
        reply = copy.deepcopy(action)
        for old in reply.findall("status"):
            reply.remove(old)
        _sub(reply, "status", status)
        return reply

    # -- SSO -----------------------------------------------------------------

    def handle_sso_token(self, form):
        username = form.get("username", "")
        if (form.get("grant_type") != "password"
                or self.accounts.get(username) != form.get("password")
                or not username):
            return 400, {
                "error": "access_denied",
                "error_description": "Cannot authenticate user '%s': The "
                                     "username or password is incorrect.."
                                     % username,
            }
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self._tokens.add(token)
        self.sso_logins += 1
        return 200, {
            "access_token": token,
            "scope": form.get("scope", "ovirt-app-api"),
            "exp": str(int(time.time() * 1000) + 36000000),
            "token_type": "bearer",
        }

    def handle_sso_logout(self, form):
        self._tokens.discard(form.get("token"))
        self.sso_logouts += 1
        return 200, {}

    def token_valid(self, header):
        if not header or not header.lower().startswith("bearer "):
            return False
        return header[7:].strip() in self._tokens


# ---------------------------------------------------------------------------
# HTTP front end.
# ---------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, handler, sim):
        self.sim = sim
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def handle_error(self, request, client_address):
        # a client that refused our certificate, or hung up mid-handshake
        if isinstance(sys.exc_info()[1], (ssl.SSLError, OSError)):
            return
        super().handle_error(request, client_address)

    def close_all_connections(self):
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "ovirt-engine-simulator"

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()
        self.server.track(self.connection, True)
        with self.server.sim._lock:
            self.server.sim.connections_opened += 1

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    # -- plumbing ----------------------------------------------------------

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code, payload=b"", content_type=None, headers=None):
        # recorded before the reply leaves: a client that has its answer may
        # read the log at once
        record = getattr(self, "_record", None)
        if record is not None:
            record["status"] = code
        self.send_response(code)
        if content_type and payload:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        self._status = code

    def _send_json(self, code, obj):
        self._send(code, json.dumps(obj).encode(), "application/json")

    def _send_fault(self, fault):
        el = ET.Element("fault")
        _sub(el, "reason", fault.reason)
        _sub(el, "detail", fault.detail)
        self._send(fault.code, _serialize(el), "application/xml;charset=UTF-8")

    def _drop(self):
        sim = self.server.sim
        with sim._lock:
            sim.dropped_connections += 1
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self):
        sim = self.server.sim
        self._status = None
        raw = self._read_body()
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        is_sso = path.startswith("/ovirt-engine/sso/") or path.startswith(
            "/ovirt-engine/services/")
        record = {"method": self.command, "path": path, "query": query,
                  "time": time.monotonic()}
        self._record = record
        with sim._lock:
            sim.request_log.append((self.command, path))
            sim.requests.append(record)
            roll_drop = sim._rng.random()
            roll_error = sim._rng.random()
            may_fault = not is_sso or sim.faults_on_sso
            drop = may_fault and roll_drop < sim.drop_rate
            error = may_fault and not drop and roll_error < sim.error_rate
            drop_after = sim.drop_after_processing
        if sim.request_latency:
            time.sleep(sim.request_latency)
        self._drop_later = drop and drop_after
        if drop and not drop_after:
            record["status"] = "dropped"
            return self._drop()
        if error:
            with sim._lock:
                sim.injected_errors += 1
            self._send(503)
            return
        try:
            if is_sso:
                self._dispatch_sso(path, raw)
            else:
                self._dispatch_api(path, query, raw)
        finally:
            record.setdefault("status", "dropped")

    def _dispatch_sso(self, path, raw):
        sim = self.server.sim
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()}
        with sim._lock:
            if path == SSO_TOKEN_PATH and self.command == "POST":
                code, obj = sim.handle_sso_token(form)
            elif path == SSO_LOGOUT_PATH:
                code, obj = sim.handle_sso_logout(form)
            else:
                code, obj = 404, {"error": "not_found",
                                  "error_description": path}
        self._send_json(code, obj)

    def _dispatch_api(self, path, query, raw):
        sim = self.server.sim
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            self._send(404)
            return
        parts = [p for p in path[len(API_PREFIX):].split("/") if p]
        with sim._lock:
            if not sim.token_valid(self.headers.get("Authorization")):
                self._reply_or_drop(401, b"", None, {})
                return
            sim._run_due()
            try:
                body = ET.fromstring(raw) if raw.strip() else None
            except ET.ParseError as exc:
                fault = _Fault(400, "Request syntactically incorrect: %s" % exc,
                               reason="Bad Request")
                code, payload, headers = fault.code, fault, {}
            else:
                try:
                    code, payload, headers = sim.handle_api(
                        self.command, parts, query, body)
                except _Fault as fault:
                    code, payload, headers = fault.code, fault, {}
        if isinstance(payload, ET.Element):  # a tree of its own: serialised unlocked
            payload = _serialize(payload)
        elif payload is None:
            payload = b""
        if isinstance(payload, _Fault):
            if self._should_drop_after():
                return self._drop()
            self._send_fault(payload)
        else:
            self._reply_or_drop(code, payload, "application/xml;charset=UTF-8",
                                headers)

    def _should_drop_after(self):
        return self._drop_later

    def _reply_or_drop(self, code, payload, content_type, headers):
        if code != 401 and self._should_drop_after():
            return self._drop()
        self._send(code, payload, content_type, headers)
