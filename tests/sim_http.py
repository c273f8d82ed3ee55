# SPDX-License-Identifier: GPL-3.0-or-later
"""What the HTTP(S) front ends of the simulators share (tests/ovirt_sim,
tests/pve_sim): a threaded server with a deep listen backlog that knows its
open connections (to cut them when the simulator freezes or stops), and a
handler base that completes the TLS handshake, tracks its connection and
sends every method to ``_dispatch``."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address, sim, handler):
        self.sim = sim
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)
            open_now = len(self._conns)
        if add:  # outside the lock: the hook may take the simulator's
            self.connection_opened(open_now)

    def connection_opened(self, open_now):
        """A client connected (with TLS, one full handshake); `open_now` are
        open at once. The simulators count what they report."""

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


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

    def _dispatch(self):
        raise NotImplementedError
