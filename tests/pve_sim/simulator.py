# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful Proxmox VE API simulator over HTTPS (stdlib only) for the real
``proxmoxer`` client.

Layers, each importing only those below it: ``server`` (HTTPS, routing,
authentication, faults, latency) -> ``wire`` (PVE's JSON, forms, UPIDs,
drive strings) -> ``state`` (cluster, guests, locks, tasks).

Knobs: ``time_scale`` (simulated seconds x scale = real seconds),
``durations`` (worker type -> seconds; ``qmclone-start``: from a clone's
answer until its worker takes the lock files and writes the config), ``lock_wait`` (10 s),
``firstboot`` (2 s), ``acpi_delay`` (1 s), ``request_latency`` (real
seconds slept per request), :meth:`fail`, :meth:`freeze`/:meth:`thaw`,
:meth:`fail_task`, :meth:`kill_clone` (a clone's worker killed outright,
leaving ``lock: clone``), per-VM ``ignores_acpi`` (``sim.vm(name).ignores_acpi``).
Who is at a VM (state/sessions.py): :meth:`connect_console` /
:meth:`disconnect_console` (a VNC client through vncproxy, a SPICE client
through spiceproxy), :meth:`log_in` / :meth:`log_out` (users the guest agent
lists, where the config enables it), ``sim.vm(name).agent_running`` (False:
"QEMU guest agent is not running"), ``sim.vm(name).monitor_error`` (the
monitor's answer becomes "ERROR: <it>", as qemu-server reports a failed
HMP command), :meth:`withhold` (privileges an admin
account lacks, e.g. VM.Monitor).
Observability: ``requests`` ((method, path after /api2/json, auth kind:
"login", "ticket", "token" or "none") per request), ``logins`` (successful
ticket logins), ``auth.failures`` (why callers were refused: the real API
only says "Authentication failed!"), ``starts`` (:class:`StartRecord` per
start), ``tasks`` (:class:`Task`, oldest first), ``snapshot_ops_in_flight``,
``peak_snapshot_ops``, ``peak_tasks`` (worker type -> most running at once),
``sent`` (paths as written), ``connections`` (accepted, one TLS
handshake each) and ``peak_open_connections``, :meth:`linked_clones`, :meth:`vm` (the state
object), :meth:`wait_tasks`.

Seed (:meth:`seed`, as /work/briefs/pve-api.md says): nodes pve1 and pve2;
storages local, local-lvm (per node) and shared-nfs (shared); pool lab;
templates tmpl-win10 (9000), tmpl-linux (9001, cloud-init drive) and
tmpl-shared (9002, on shared-nfs); accounts root@pam (``password``, token
``token_id`` with ``token_secret``) and ``student`` (``student_password``,
no privileges).
"""

from __future__ import annotations

import threading
import uuid

from tests.pve_sim.server.faults import Faults
from tests.pve_sim.server.handler import PveServer
from tests.pve_sim.state.accounts import Accounts
from tests.pve_sim.state.clone import linked_clones
from tests.pve_sim.state import seed, sessions
from tests.pve_sim.state.cluster import Cluster


class PveSimulator(Cluster):
    def __init__(self, *, host="127.0.0.1", port=0, tls=None, ca_file=None,
                 password="pve-sim-secret", request_latency=0.0, **cluster_kw):
        super().__init__(**cluster_kw)
        self.host = host
        self.port = port
        self.tls = tls
        self.ca_file = ca_file
        self.password = password
        self.token_secret = str(uuid.UUID(int=self.rng.getrandbits(128)))
        self.token_id = "root@pam!vdictl"
        self.student = seed.STUDENT              # an account without privileges
        self.student_password = "student-secret"
        self.request_latency = request_latency
        self.requests = []
        #: (method, path) of each request as the client wrote it (still escaped)
        self.sent = []
        #: connections accepted (each a TLS handshake), and the most open at once
        self.connections = 0
        self.peak_open_connections = 0
        self.auth = Accounts(self)
        self.faults = Faults()
        self.stopping = False
        self._requests_lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        self._server = PveServer((self.host, self.port), self)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="pve-sim",
                                        daemon=True, kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping = True
        self.faults.thaw()
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls is not None else "http", self.host,
                               self.port)

    # -- knobs -------------------------------------------------------------

    def record_request(self, method, path, kind):
        with self._requests_lock:
            self.requests.append((method, path, kind))

    def record_sent(self, method, path):
        with self._requests_lock:
            self.sent.append((method, path))

    def fail(self, method, path_regex, status, reason, times=1):
        """The next ``times`` ``method`` requests whose path (after
        /api2/json) ``path_regex`` searches answer ``status reason``."""
        self.faults.fail(method, path_regex, status, reason, times)

    def before(self, method, path_regex, callback, times=1):
        """Run ``callback(params)`` (the request's parameters) before each of the
        next ``times`` matching requests is handled, without the cluster's lock:
        another client's request in between, e.g. a clone of the same VMID."""
        self.faults.before(method, path_regex, callback, times)

    def freeze(self):
        """Accept connections but answer nothing (a hung host) until thaw()."""
        self.faults.freeze()

    def thaw(self):
        self.faults.thaw()

    @property
    def logins(self):
        return self.auth.logins

    # -- inspection and foreign objects -------------------------------------

    def vm(self, name):
        """The state object of guest ``name`` (config, snapshots, status, lock)."""
        return self.by_name(name)

    def leave_lock(self, name, lock):
        """A task killed mid-run: the config lock stays, no task runs."""
        with self.lock:
            self.by_name(name).config["lock"] = lock

    def connect_console(self, name, protocol="vnc"):
        """A console client (``vnc``: the web interface's noVNC or a VNC
        viewer through vncproxy; ``spice``: remote-viewer through spiceproxy)
        connected to running VM ``name`` until disconnected or the VM stops."""
        with self.lock:
            sessions.connect_console(self, self.by_name(name), protocol)

    def disconnect_console(self, name, protocol=None):
        with self.lock:
            sessions.disconnect_console(self.by_name(name), protocol)

    def log_in(self, name, user, domain=None, since=None):
        """``user`` logs in to running VM ``name`` (its config must enable the
        agent); ``since``: the login time, seconds since the epoch."""
        with self.lock:
            sessions.log_in(self.by_name(name), user, domain, since)

    def log_out(self, name, user=None):
        with self.lock:
            sessions.log_out(self.by_name(name), user)

    def withhold(self, userid, *privileges):
        """Account ``userid`` (and its tokens) lacks ``privileges``: 403
        "Permission check failed (/vms/N, PRIV)" where one is needed."""
        with self.lock:
            self.accounts[userid].withheld.update(privileges)

    def linked_clones(self, template_name):
        """Names of the guests whose disks are on the template's base volumes."""
        with self.lock:
            return sorted(vm.name for vm in linked_clones(self, self.by_name(template_name)))

    def add_vm(self, name, node="pve1", template=None, running=False, **kw):
        """A guest not made through the API (``template``: linked clone of it)."""
        return seed.add_vm(self, name, node=node, template=template, running=running, **kw)

    def add_template(self, name, node="pve1", storage="local-lvm", **kw):
        return seed.add_template(self, name, node=node, storage=storage, **kw)

    def seed(self):
        """The fixtures' cluster (pve-api.md, "Simulator seed")."""
        seed.seed(self, self.password, self.token_secret, self.student_password)
        return self
