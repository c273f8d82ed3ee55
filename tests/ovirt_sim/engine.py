# SPDX-License-Identifier: GPL-3.0-or-later
"""Stateful oVirt engine simulator: the engine's state served over HTTP(S).

Only the standard library is used.  The wire format (element names, status
codes, fault bodies, SSO JSON) follows what ``ovirtsdk4``'s writers produce
and its readers expect, so the real SDK can be pointed at ``sim.url``.

Three layers, each importing only the ones below it:
``server`` (HTTP routing, SSO, faults, injected failures) ->
``wire`` (the engine's XML) -> ``state`` (objects, commands, clock).
"""

from __future__ import annotations

import threading

from tests.ovirt_sim.server.handler import EngineServer
from tests.ovirt_sim.state.engine import DEFAULT_LATENCIES, Engine
from tests.ovirt_sim.state.records import (
    NicState,
    PermissionState,
    SnapshotState,
    StartRecord,
    VmState,
)
from tests.ovirt_sim.wire.render import API_PREFIX

__all__ = [
    "DEFAULT_LATENCIES", "NicState", "OvirtEngineSimulator", "PermissionState",
    "SnapshotState", "StartRecord", "VmState",
]


class OvirtEngineSimulator(Engine):
    """A fake oVirt engine reachable by ``ovirtsdk4`` at :attr:`url`.

    Knobs (all plain attributes, settable while the server runs): those of
    :class:`Engine` (``time_scale``, ``latencies``, ``ignore_acpi``,
    ``fail_snapshots``, ``first_boot_hangs``, ``fail_restores``,
    ``restore_failure_rate``, ``lock_conflict_rate``, ``restart_compensates``;
    :meth:`restart` with ``down_for``: a proxy's HTML 503 meanwhile), and ``request_latency``,
    ``error_rate``, ``drop_rate``, ``drop_after_processing``, ``faults_on_sso``,
    ``engine_down`` (httpd's 503 page for every request, as while the engine
    restarts behind it), ``accounts`` (user name -> password), ``denied_status``.  More accounts:
    :meth:`add_account` (``admin=False``: a user with user roles only, who may
    not list ``/jobs``).  Who is at a VM (its ``/sessions`` and
    ``follow=sessions``): :meth:`add_console_session`, :meth:`add_guest_user`,
    :meth:`disconnect_console`, :meth:`clear_sessions`; a VM going down
    forgets them, as the engine does.

    Observability: ``request_log`` (list of ``(method, path)``),
    ``requests`` (list of dicts with query, status, headers (all but
    Authorization) and arrival ``time``, time.monotonic()), ``sso_logins``,
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
        super().__init__(accounts={username: password}, time_scale=time_scale,
                         latencies=latencies, seed=seed, ignore_acpi=ignore_acpi,
                         fail_snapshots=fail_snapshots, version=version)
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.request_latency = request_latency
        self.error_rate = error_rate
        self.drop_rate = drop_rate
        self.drop_after_processing = False
        #: path suffixes (e.g. "/restore"): the next request to each is done
        #: by the engine and its answer lost (the connection cut)
        self.drop_answer_to = []
        self.faults_on_sso = False
        #: True: the engine is down behind its web server, which answers every
        #: request (SSO and API) with its 503 page (server/handler.py PROXY_503)
        self.engine_down = False
        #: the HTTP status of a query refused for lack of permission (see
        #: server/faults.py: the engine answers 400; 403/404 as a proxy may)
        self.denied_status = 400
        #: a server-side ssl.SSLContext: serve HTTPS (see tests/tls.py)
        self.tls = tls

        self.request_log = []
        self.requests = []
        self.injected_errors = 0
        self.dropped_connections = 0
        self.connections_opened = 0

        self._server = None
        self._thread = None

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        self._server = EngineServer((self.host, self.port), self)
        if self.tls is not None:
            # the handshake happens in the request's thread (RequestHandler.setup),
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

    def restart(self, down_for=0.0):
        """The engine restarts (see :meth:`Engine.restart`): its open
        connections are cut too."""
        super().restart(down_for)
        server = self._server
        if server is not None:
            server.close_all_connections()

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

    # -- sessions ------------------------------------------------------------

    @property
    def accounts(self):
        return self.sessions.accounts

    @property
    def sso_logins(self):
        return self.sessions.logins

    @sso_logins.setter
    def sso_logins(self, value):
        self.sessions.logins = value

    @property
    def sso_logouts(self):
        return self.sessions.logouts

    @sso_logouts.setter
    def sso_logouts(self, value):
        self.sessions.logouts = value
