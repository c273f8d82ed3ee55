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
seconds slept per request), :meth:`fail` (an error answer, or a
connection dropped before or after the action), :meth:`fail_lock` (a VM's
lock file times out), :meth:`chaos` (a seeded share of all requests fail
transiently), :meth:`before` (another client's request just before one),
:meth:`freeze`/:meth:`thaw` (all, or one node's URL), :meth:`fail_task`,
:meth:`kill_clone` (a clone's worker killed outright, leaving ``lock: clone``),
:meth:`add_node_url` / :meth:`node_down` (more nodes of the cluster, each its
own port; one down refuses connections), per-VM ``ignores_acpi``
(``sim.vm(name).ignores_acpi``).
Who is at a VM (state/sessions.py): :meth:`connect_console` /
:meth:`disconnect_console` (a VNC client through vncproxy, a SPICE client
through spiceproxy), :meth:`log_in` / :meth:`log_out` (users the guest agent
lists, where the config enables it), ``sim.vm(name).agent_running`` (False:
"QEMU guest agent is not running"), ``sim.vm(name).monitor_error`` (the
monitor's answer becomes "ERROR: <it>", as qemu-server reports a failed
HMP command), :meth:`withhold` (privileges an admin
account lacks, e.g. VM.Monitor), :meth:`expire_token` (an API token's ``expire``).
Observability: ``requests`` ((method, path after /api2/json, auth kind:
"login", "ticket", "token" or "none") per request), ``logins`` (successful
ticket logins), ``auth.failures`` (why callers were refused: the real API
only says "Authentication failed!"), ``starts`` (:class:`StartRecord` per
start), ``tasks`` (:class:`Task`, oldest first), ``snapshot_ops_in_flight``,
``peak_snapshot_ops``, ``peak_tasks`` (worker type -> most running at once),
``requests_by_url`` (per node URL), ``sent`` (paths as written), ``connections``
(accepted, one TLS handshake each) and ``peak_open_connections``,
:meth:`linked_clones`, :meth:`vm` (the state object), :meth:`wait_tasks`.

Seed (:meth:`seed`, as /work/briefs/pve-api.md says): nodes pve1 and pve2;
storages local, local-lvm (per node) and shared-nfs (shared); pool lab;
templates tmpl-win10 (9000), tmpl-linux (9001, cloud-init drive) and
tmpl-shared (9002, on shared-nfs); accounts root@pam (``password``, token
``token_id`` with ``token_secret``) and ``student`` (``student_password``,
no privileges).
"""

from __future__ import annotations

import collections
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
        #: url -> (server, thread) of the other nodes' front ends (add_node_url)
        self._doors = {}
        #: url -> requests that node's front end received
        self.requests_by_url = collections.Counter()

    # -- lifecycle ---------------------------------------------------------

    def _listen(self, port):
        server = PveServer((self.host, port), self)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False)
        thread = threading.Thread(target=server.serve_forever, name="pve-sim", daemon=True,
                                  kwargs={"poll_interval": 0.05})
        thread.start()
        return server, thread

    def start(self):
        self._server, self._thread = self._listen(self.port)
        self.port = self._server.server_address[1]
        return self

    def stop(self):
        server, self._server = self._server, None
        self.stopping = True
        self.faults.thaw()
        for url in list(self._doors):
            self.node_down(url)
        if server is not None:
            _close(server, self._thread)

    def add_node_url(self):
        """Listen as one more node of the same cluster (any node of a Proxmox VE
        cluster answers for all of it: pveproxy forwards to the VM's node);
        its URL, e.g. for a ``url`` list."""
        server, thread = self._listen(0)
        url = self._url_of(server)
        self._doors[url] = (server, thread)
        return url

    def node_down(self, url):
        """That node's pveproxy stops (or its host is off): connecting to
        ``url`` is refused, its open connections are cut. The main URL too."""
        if url == self.url and self._server is not None:
            server, self._server = self._server, None
            _close(server, self._thread)
            return
        server, thread = self._doors.pop(url)
        _close(server, thread)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls is not None else "http", self.host,
                               self.port)

    def _url_of(self, server):
        if server is self._server:
            return self.url
        return "%s://%s:%d" % ("https" if self.tls is not None else "http", self.host,
                               server.server_address[1])

    # -- knobs -------------------------------------------------------------

    def record_request(self, method, path, kind):
        with self._requests_lock:
            self.requests.append((method, path, kind))

    def record_sent(self, method, path):
        with self._requests_lock:
            self.sent.append((method, path))

    def record_door(self, server):
        with self._requests_lock:
            self.requests_by_url[self._url_of(server)] += 1

    def fail(self, method, path_regex, status=None, reason=None, times=1, drop=None):
        """The next ``times`` ``method`` requests whose path (after
        /api2/json) ``path_regex`` searches answer ``status reason`` (e.g.
        500 and faults.CFS_LOCK_TIMEOUT), or, with ``drop``, lose their
        connection without an answer: "before" the action (nothing done) or
        "after" it (done, the answer lost)."""
        self.faults.fail(method, path_regex, status, reason, times, drop)

    def fail_lock(self, name, times=1):
        """The next ``times`` takes of guest ``name``'s lock file time out, as
        if another process held it: a config PUT answers 500, a task (start,
        snapshot, rollback, destroy ...) ends with ``can't lock file
        '/var/lock/qemu-server/lock-N.conf' - got timeout`` having changed
        nothing (the first lock_config of each)."""
        with self.lock:
            self.flocks.fail_next(self.by_name(name).vmid, times)

    def before(self, method, path_regex, callback, times=1):
        """Run ``callback(params)`` (the request's parameters) before each of the
        next ``times`` matching requests is handled, without the cluster's lock:
        another client's request in between, e.g. a clone of the same VMID."""
        self.faults.before(method, path_regex, callback, times)


    def chaos(self, rate, seed=0, **kw):
        """``rate`` of the requests from now on fail transiently (seeded); see
        Faults.chaos. ``faults.chaos_log`` lists what was injected."""
        self.faults.chaos(rate, seed, **kw)

    def freeze(self, url=None):
        """Accept connections but answer nothing (a hung host) until thaw();
        with ``url``, that node only."""
        if url is None:
            self.faults.freeze()
        else:
            self._server_at(url).thawed.clear()

    def thaw(self, url=None):
        if url is None:
            self.faults.thaw()
        else:
            self._server_at(url).thawed.set()

    def _server_at(self, url):
        return self._server if url == self.url else self._doors[url][0]

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

    def expire_token(self, userid, name, when):
        """Token ``name`` of ``userid`` expires at ``when`` (seconds since the
        epoch; a time past: every request with it is refused, as
        PVE::AccessControl::verify_token does)."""
        with self.lock:
            self.accounts[userid].token_expire[name] = int(when)

    def linked_clones(self, template_name):
        """Names of the guests whose disks are on the template's base volumes."""
        with self.lock:
            return sorted(vm.name for vm in linked_clones(self, self.by_name(template_name)))

    def add_vm(self, name, node="pve1", template=None, running=False, **kw):
        """A guest not made through the API (``template``: linked clone of it)."""
        return seed.add_vm(self, name, node=node, template=template, running=running, **kw)

    def add_template(self, name, node="pve1", storage="local-lvm", **kw):
        return seed.add_template(self, name, node=node, storage=storage, **kw)

    def size_storage(self, storage, total):
        """Give ``storage`` a size of ``total`` bytes."""
        with self.lock:
            self.storages[storage].total = total

    def fill_storage(self, storage, taken, node="pve1"):
        """Let ``taken`` bytes of ``storage`` (on ``node``, unless shared) be
        used by what the simulator does not model; 0 frees them."""
        with self.lock:
            store = self.storages[storage]
            store.taken[None if store.shared else node] = taken

    def storage_status(self, storage, node="pve1"):
        """(total, used, avail), as GET .../storage/{storage}/status answers."""
        from tests.pve_sim.state.storage import space

        with self.lock:
            return space(self, node, self.storages[storage])

    def seed(self):
        """The fixtures' cluster (pve-api.md, "Simulator seed")."""
        seed.seed(self, self.password, self.token_secret, self.student_password)
        return self


def _close(server, thread):
    server.thawed.set()
    server.shutdown()
    server.close_all_connections()
    server.server_close()
    thread.join(timeout=5)
