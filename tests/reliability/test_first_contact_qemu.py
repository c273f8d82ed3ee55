"""A libvirtd that is not up yet when the run starts (issue 23, item 5), on
the private libvirtd of scripts/libvirt-sandbox with real QEMU guests.

vdictl reaches the sandbox through a unix socket of the test's own
(`qemu:///system?socket=...`): while "down" the socket refuses every
connection (bound, not listening: ECONNREFUSED, as a libvirtd that has not
yet started listening), then it accepts and forwards every byte to the
sandbox's libvirtd. The nightly reset started during the outage resets every
VM once the socket accepts, exit 0.
"""

from __future__ import annotations

import json
import os
import select
import socket
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("libvirt")

from vdictl.cli import exit_codes  # noqa: E402

from tests.vdictl_cli import vdictl, write_config  # noqa: E402

pytestmark = pytest.mark.libvirt_sandbox

OUTAGE = 2.0
VMS = ["late-pc01", "late-pc02"]

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "qemu:///system?socket={socket}"
    endpoint_timeout = 20
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 2
    shutdown_timeout = 2
    operation_timeout = 60

[room late]
    memory = 32MiB
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    template_name = late-tmpl
    [[pcs]]
    ids = "1-2"
    names = "${{roomname}}-pc${{id}}"
"""


class LateSocket:
    """A unix socket at `path` that refuses connections until up(), then
    forwards each one to the unix socket `target`."""

    def __init__(self, path: str, target: str):
        self.path, self.target = path, target
        self._sock = None
        self._closed = threading.Event()
        self.down()

    def _bind(self) -> socket.socket:
        if self._sock is not None:
            self._sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        return self._sock

    def down(self) -> None:
        """Bound but not listening: a connect() gets ECONNREFUSED."""
        self._bind()

    def up(self) -> None:
        sock = self._bind()
        sock.listen(16)
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                client, _ = sock.accept()
            except OSError:  # closed by down() or close()
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def close(self) -> None:
        self._closed.set()
        if self._sock is not None:
            self._sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


@pytest.fixture
def late(libvirt_sandbox, tmp_path):
    """Room late rolled out through the test's socket (up), and running."""
    target = parse_qs(urlsplit(libvirt_sandbox.uri).query)["socket"][0]
    # unix socket paths are limited to 107 bytes: a short directory of its own
    directory = tempfile.mkdtemp(prefix="vdictl-late-")
    proxy = LateSocket(os.path.join(directory, "sock"), target)
    proxy.up()
    libvirt_sandbox.make_template("late-tmpl", "acpi")
    config = write_config(tmp_path, CONFIG.format(socket=proxy.path))
    try:
        result = vdictl(config, "virtroom-rollout", "late")
        assert result.exit_code == 0, result.output
        result = vdictl(config, "virtroom-start", "late")
        assert result.exit_code == 0, result.output
        yield proxy, config
    finally:
        proxy.up()
        vdictl(config, "virtroom-delete", "--yes", "late")
        proxy.close()
        os.rmdir(directory)
        libvirt_sandbox.remove_domain("late-tmpl", delete_volumes=True)


def test_a_libvirtd_not_up_yet_at_the_start_costs_the_reset_nothing(late, libvirt_sandbox):
    proxy, config = late
    proxy.down()
    with pytest.raises(Exception, match="Connection refused"):   # the outage is real
        import libvirt
        libvirt.open(f"qemu:///system?socket={proxy.path}")
    timer = threading.Timer(OUTAGE, proxy.up)
    timer.start()
    started = time.monotonic()
    result = vdictl(config, "virtroom-reset", "late", "-o", "json")
    took = time.monotonic() - started
    timer.join()
    results = {r["vm"]: r for r in json.loads(result.stdout)["results"]} \
        if result.stdout else {}
    assert result.exit_code == exit_codes.OK, (results, result.stderr)
    assert sorted(results) == VMS
    for r in results.values():
        assert r["outcome"] == "ok", r
        assert "restore snapshot 'vdictl rollout'" in r["steps"], r
    assert all(libvirt_sandbox.conn.lookupByName(vm).isActive() for vm in VMS)
    assert took >= OUTAGE
