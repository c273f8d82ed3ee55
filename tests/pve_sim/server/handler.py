# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTPS front end: a threaded server, and a handler that records the
request, applies latency, freezes and injected failures, authenticates the
caller (ticket + CSRF or API token) and runs the routed action."""

from __future__ import annotations

import threading
import time
from http.cookies import SimpleCookie
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

from tests.pve_sim.server.routes import route
from tests.pve_sim.state.errors import ApiError
from tests.pve_sim.wire.answers import JSON, failure, reason_phrase, success
from tests.pve_sim.wire.forms import body_params, query_params
from tests.sim_http import SimRequestHandler, SimServer

PREFIX = "/api2/json"
UNAUTHORIZED_DELAY = 3.0     # pve-http-server delays every refused login


class PveServer(SimServer):
    """One node's pveproxy: every node of the cluster answers for all of it
    (the simulator may listen as several nodes, ``sim.add_node_url``)."""

    def __init__(self, address, sim):
        super().__init__(address, sim, RequestHandler)
        self.thawed = threading.Event()      # this node alone frozen (sim.freeze(url))
        self.thawed.set()

    def connection_opened(self, open_now):
        with self.sim.lock:
            self.sim.connections += 1
            self.sim.peak_open_connections = max(self.sim.peak_open_connections, open_now)


class _Refused(Exception):
    """The authentication step refused the caller (pve-manager PVE::HTTPServer
    auth_handler dies before any API handler runs)."""

    def __init__(self, error):
        super().__init__(error.message)
        self.error = error


class RequestHandler(SimRequestHandler):
    server_version = "pve-api-daemon/3.0"

    # -- plumbing ----------------------------------------------------------

    def _send(self, status, body, reason=None):
        self.send_response(status, reason)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=0")
        if status >= 400:
            # pve-http-server PVE::APIServer::AnyEvent::response: "keep_alive = 0
            # if $code >= 400", then "Connection: close" and the connection ends
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error):
        if error.status == 401:
            time.sleep(self.server.sim.time_scale * UNAUTHORIZED_DELAY)
        self._send(error.status, failure(error.errors), reason_phrase(error.message))

    def _refused(self, error):
        """pve-http-server AnyEvent.pm authenticate_and_handle_request: an
        auth_handler failure (pve-manager PVE::HTTPServer dies "Authentication
        failed!", a plain die, not a PVE::Exception)
        on /api2/json (no login formatter for json) is
        HTTP::Response->new(401, $err) without content, delayed 3 s; response()
        then sends no Content-Length and, as for every code >= 400, closes the
        connection (keep_alive = 0)."""
        time.sleep(self.server.sim.time_scale * UNAUTHORIZED_DELAY)
        self.send_response(error.status, reason_phrase(error.message))
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _auth_kind(self):
        if self.headers.get("Authorization", "").startswith("PVEAPIToken="):
            return "token"
        return "ticket" if "PVEAuthCookie" in self.headers.get("Cookie", "") else "none"

    def _dispatch(self):
        sim = self.server.sim
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        # pveproxy unescapes the whole path, then RESTHandler find_handler splits it
        # on /+ and drops empty fragments: %2F is a separator too, // is one /
        path = "/" + "/".join(part for part in unquote(split.path).split("/") if part)
        rel = path[len(PREFIX):] if path.startswith(PREFIX + "/") else None
        kind = "login" if rel == "/access/ticket" else self._auth_kind()
        sim.record_sent(self.command, split.path)
        sim.record_request(self.command, rel if rel is not None else path, kind)
        sim.record_door(self.server)
        if sim.request_latency:
            time.sleep(sim.request_latency)
        while not (sim.faults.thawed.wait(0.1) and self.server.thawed.is_set()):
            if sim.stopping:
                return
        try:
            if rel is None:
                raise ApiError(501, "no such uri")
            injected = sim.faults.injected(self.command, rel)
            if injected is not None and injected.drop == "before":
                self.close_connection = True      # closed without an answer, nothing done
                return
            if injected is not None and injected.status is not None:
                raise ApiError(injected.status, injected.reason)
            data = self._answer(sim, rel, split.query, raw, injected)
            if injected is not None and injected.drop == "after":
                self.close_connection = True      # done, but the answer is lost
                return
            self._send(200, success(data))
        except _Refused as refused:
            self._refused(refused.error)
        except ApiError as error:
            self._error(error)

    def _answer(self, sim, rel, query, raw, injected=None):
        if self.command in ("GET", "DELETE"):
            params, files = query_params(query), {}
        else:
            params, files = body_params(self.headers.get("Content-Type"), raw)
        hook = sim.faults.hook(self.command, rel)
        if hook is not None:         # another client, just before this request
            hook(params)
        if rel == "/access/ticket" and self.command == "POST":
            with sim.lock:
                return sim.auth.login(params.get("username", ""), params.get("password", ""))
        match, acl, action = route(self.command, rel)
        with sim.lock:
            try:
                user = self._caller(sim, rel)
            except ApiError as error:
                raise _Refused(error) from None
            admin = sim.auth.may(user)
            needed = acl(match)
            if needed is not None and not sim.auth.holds(user, needed[1]):
                raise ApiError(403, "Permission check failed (%s, %s)" % needed)
            request = SimpleNamespace(m=match, params=params, files=files, user=user,
                                      admin=admin, visible=lambda vmid: admin)
            doomed = injected.lock_vmid if injected is not None else None
            if doomed is None:
                return action(sim, request)
            # the action's first take of the VM's lock file times out (the sync
            # part's: a 500; a worker's: its exit status), then nothing is left armed
            sim.flocks.fail_next(doomed)
            try:
                return action(sim, request)
            finally:
                sim.flocks.disarm(doomed)

    def _caller(self, sim, rel):
        header = self.headers.get("Authorization", "")
        if header.startswith("PVEAPIToken="):
            return sim.auth.by_token(header)
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        ticket = cookie["PVEAuthCookie"].value if "PVEAuthCookie" in cookie else None
        upload = self.command == "POST" and rel.endswith("/upload")
        return sim.auth.by_ticket(unquote(ticket) if ticket else None,
                                  self.headers.get("CSRFPreventionToken"),
                                  self.command != "GET" and not upload)
