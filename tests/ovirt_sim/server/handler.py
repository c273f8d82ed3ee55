# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP front end: a threaded server, and a handler that injects the
simulator's faults and latency before handing a request to the SSO
endpoints or to the API's routes.

``sim`` (the server's) is a :class:`tests.ovirt_sim.engine.OvirtEngineSimulator`.
"""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlsplit

from tests.ovirt_sim.server.faults import Fault, fault_for
from tests.ovirt_sim.server.routes import Caller, handle_api
from tests.ovirt_sim.server.sso import bearer_token, is_sso, sso_reply
from tests.ovirt_sim.state.errors import EngineError
from tests.ovirt_sim.wire.render import API_PREFIX, fault_xml
from tests.ovirt_sim.wire.xml import parse_body, serialize
from tests.sim_http import SimRequestHandler, SimServer

XML = "application/xml;charset=UTF-8"

#: what the engine's Apache httpd answers while the engine behind it (JBoss,
#: reached through mod_proxy_ajp: ovirt-engine's
#: packaging/conf/ovirt-engine-proxy.conf.v2.in, "ProxySet retry=5 ... when the
#: application server is restarted the web server will refuse to connect")
#: is down: httpd's canned 503 page (modules/http/http_protocol.c,
#: get_canned_error_string for HTTP_SERVICE_UNAVAILABLE), as text/html, on
#: /ovirt-engine/sso as on /ovirt-engine/api
PROXY_503 = (b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
             b"<title>503 Service Unavailable</title>\n</head><body>\n"
             b"<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to "
             b"service your\nrequest due to maintenance downtime or capacity\n"
             b"problems. Please try again later.</p>\n</body></html>\n")
PROXY_503_TYPE = "text/html; charset=iso-8859-1"


def _recorded_headers(headers):
    """The request's headers as sent, but the bearer token."""
    return {name: value for name, value in headers.items()
            if name.lower() != "authorization"}


def _filter_asked(headers, query):
    """The Filter header (or ?filter=): True, False, or None when not sent, as
    the engine's ParametersHelper.getBooleanParameter reads it."""
    value = headers.get("Filter", query.get("filter"))
    if value is None:
        return None
    return value.strip().lower() == "true"


class EngineServer(SimServer):
    def __init__(self, address, sim):
        super().__init__(address, sim, RequestHandler)

    def connection_opened(self, open_now):
        with self.sim.lock:
            self.sim.connections_opened += 1


class RequestHandler(SimRequestHandler):
    server_version = "ovirt-engine-simulator"

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

    def _drop(self):
        sim = self.server.sim
        with sim.lock:
            sim.dropped_connections += 1
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _roll(self, record, sso):
        """Log the request and roll for an injected drop or error (one shared
        random stream, so a seed replays the same run)."""
        sim = self.server.sim
        with sim.lock:
            sim.request_log.append((self.command, record["path"]))
            sim.requests.append(record)
            roll_drop = sim.rng.random()
            roll_error = sim.rng.random()
            may_fault = not sso or sim.faults_on_sso
            drop = may_fault and roll_drop < sim.drop_rate
            error = may_fault and not drop and roll_error < sim.error_rate
            drop_after = sim.drop_after_processing
            for suffix in list(sim.drop_answer_to):
                if record["path"].endswith(suffix):  # the next one: done, answer lost
                    sim.drop_answer_to.remove(suffix)
                    drop, error, drop_after = True, False, True
                    break
        return drop, error, drop_after

    def _dispatch(self):
        sim = self.server.sim
        raw = self._read_body()
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        sso = is_sso(path)
        record = {"method": self.command, "path": path, "query": query,
                  "time": time.monotonic(), "headers": _recorded_headers(self.headers)}
        self._record = record
        drop, error, drop_after = self._roll(record, sso)
        if sim.engine_down:  # httpd up, the engine behind it not (yet)
            self._send(503, PROXY_503, PROXY_503_TYPE)
            return
        if sim.request_latency:
            time.sleep(sim.request_latency)
        self._drop_later = drop and drop_after
        if sim.unavailable:  # the engine restarts: its proxy answers the same page
            self._send(503, PROXY_503, PROXY_503_TYPE)
            return
        if drop and not drop_after:
            record["status"] = "dropped"
            return self._drop()
        if error:
            with sim.lock:
                sim.injected_errors += 1
            self._send(503)
            return
        try:
            if sso:
                self._dispatch_sso(path, raw)
            else:
                self._dispatch_api(path, query, raw)
        finally:
            record.setdefault("status", "dropped")

    def _dispatch_sso(self, path, raw):
        sim = self.server.sim
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()}
        with sim.lock:
            code, obj = sso_reply(sim.sessions, self.command, path, form)
        self._send(code, json.dumps(obj).encode(), "application/json")

    def _dispatch_api(self, path, query, raw):
        sim = self.server.sim
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            self._send(404)
            return
        parts = [p for p in path[len(API_PREFIX):].split("/") if p]
        with sim.lock:
            user = sim.sessions.user(bearer_token(self.headers.get("Authorization")))
            if user is None:
                self._reply_or_drop(401, b"", None, {})
                return
            sim.run_due()
            caller = Caller(user, sim.sessions.filtered(user, _filter_asked(self.headers, query)))
            code, payload, headers = self._answer(sim, caller, parts, query, raw)
        if isinstance(payload, ET.Element):  # a tree of its own: serialised unlocked
            payload = serialize(payload)
        elif payload is None:
            payload = b""
        if isinstance(payload, Fault):
            if self._drop_later:
                return self._drop()
            self._send(payload.code, serialize(fault_xml(payload.reason, payload.detail)),
                       XML)
        else:
            self._reply_or_drop(code, payload, XML, headers)

    def _answer(self, sim, caller, parts, query, raw):
        """(status, an Element, None or a Fault, headers); the lock is held."""
        try:
            return handle_api(sim, caller, self.command, parts, query, parse_body(raw))
        except EngineError as error:
            fault = fault_for(error, sim.denied_status)
        except Fault as caught:
            fault = caught
        return fault.code, fault, {}

    def _reply_or_drop(self, code, payload, content_type, headers):
        if code != 401 and self._drop_later:
            return self._drop()
        self._send(code, payload, content_type, headers)
