# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTPS front end: a threaded server, and a handler that records the
request, applies latency, freezes and injected failures, authenticates the
caller (ticket + CSRF or API token) and runs the routed action."""

from __future__ import annotations

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
    def __init__(self, address, sim):
        super().__init__(address, sim, RequestHandler)

    def connection_opened(self, open_now):
        with self.sim.lock:
            self.sim.connections += 1
            self.sim.peak_open_connections = max(self.sim.peak_open_connections, open_now)


class RequestHandler(SimRequestHandler):
    server_version = "pve-api-daemon/3.0"

    # -- plumbing ----------------------------------------------------------

    def _send(self, status, body, reason=None):
        self.send_response(status, reason)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=0")
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error):
        if error.status == 401:
            time.sleep(self.server.sim.time_scale * UNAUTHORIZED_DELAY)
        self._send(error.status, failure(error.errors), reason_phrase(error.message))

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
        if sim.request_latency:
            time.sleep(sim.request_latency)
        while not sim.faults.thawed.wait(0.1):
            if sim.stopping:
                return
        try:
            if rel is None:
                raise ApiError(501, "no such uri")
            injected = sim.faults.injected(self.command, rel)
            if injected is not None:
                raise ApiError(injected[0], injected[1])
            self._send(200, success(self._answer(sim, rel, split.query, raw)))
        except ApiError as error:
            self._error(error)

    def _answer(self, sim, rel, query, raw):
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
            user = self._caller(sim, rel)
            admin = sim.auth.may(user)
            needed = acl(match)
            if needed is not None and not sim.auth.holds(user, needed[1]):
                raise ApiError(403, "Permission check failed (%s, %s)" % needed)
            request = SimpleNamespace(m=match, params=params, files=files, user=user,
                                      admin=admin, visible=lambda vmid: admin)
            return action(sim, request)

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
