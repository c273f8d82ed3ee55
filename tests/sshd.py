# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixture ``sshd``: an OpenSSH server of the test session's own on
127.0.0.1, for libvirt's ssh transport (``qemu+ssh://``).

Session-scoped. It makes a throw-away host key and client key with
ssh-keygen in a temporary directory, writes an sshd_config of its own
(127.0.0.1 on a free high port, root login by that key only, no PAM) and runs
``/usr/sbin/sshd -D -f CONFIG -e`` as a child process, stopped at the end of
the session. Nothing outside the directory is touched but /run/sshd (sshd's
privilege separation directory, created if missing): the client gets a
``command=`` wrapper that keeps the host key out of ~/.ssh/known_hosts.

If sshd, ssh, ssh-keygen, nc or root are missing, the tests using it are
skipped -- unless ``$CI`` is set, then they fail: CI has to really run them.

The fixture's value is an :class:`Sshd`; ``Sshd.libvirt_uri(sandbox_uri)``
turns a sandbox's local URI into the qemu+ssh:// URI of the same libvirtd.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.sandbox import in_ci

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = "/run/sshd"
START_TIMEOUT = 15.0

SSHD_CONFIG = """\
HostKey {dir}/host_key
AuthorizedKeysFile {dir}/authorized_keys
PidFile {dir}/sshd.pid
ListenAddress 127.0.0.1
Port {port}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
"""

# libvirt's ssh transport has no known_hosts parameter (libssh has): the
# wrapper gives ssh a known_hosts file of this session instead of ~/.ssh's
SSH_WRAPPER = """\
#!/bin/sh
exec {ssh} -o UserKnownHostsFile={dir}/known_hosts -o GlobalKnownHostsFile=/dev/null "$@"
"""


def missing_ssh_requirements() -> List[str]:
    """What the sshd fixture needs and this machine lacks (empty: all there)."""
    missing = []
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (openssh-server)")
    for tool, pkg in (("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"),
                      ("nc", "netcat-openbsd")):
        if shutil.which(tool) is None:
            missing.append(f"{tool} ({pkg})")
    if os.geteuid() != 0:
        missing.append("root privileges")
    return missing


def require_ssh_requirements() -> None:
    """Skip (or, under CI, fail) the calling test or fixture if sshd cannot run here."""
    missing = missing_ssh_requirements()
    if missing:
        reason = "sshd for the qemu+ssh:// tests unavailable, missing: " + ", ".join(missing)
        if in_ci():
            pytest.fail(reason + " (CI is set, so this is an error; run scripts/install-deps)",
                        pytrace=False)
        pytest.skip(reason)


class Sshd:
    """A running sshd: ``port``, ``key`` (the client's private key), ``dir``,
    ``ssh_command`` (the client wrapper), ``log`` (sshd's stderr)."""

    def __init__(self, directory: str, port: int, process: subprocess.Popen):
        self.dir = directory
        self.port = port
        self.process = process
        self.key = os.path.join(directory, "client_key")
        self.ssh_command = os.path.join(directory, "ssh")
        self.log = os.path.join(directory, "sshd.log")

    def libvirt_uri(self, sandbox_uri: str, *, port: Optional[int] = None,
                    key: Optional[str] = None) -> str:
        """The qemu+ssh:// URI of the libvirtd behind `sandbox_uri` (its
        socket= is passed on, for the remote side's ``nc -U``)."""
        params = parse_qs(urlsplit(sandbox_uri).query)
        extra = []
        if "socket" in params:
            # virt-ssh-helper (proxy=native) ignores socket=; netcat honours it
            extra = [f"socket={params['socket'][0]}", "proxy=netcat"]
        extra += [f"keyfile={key or self.key}", "no_verify=1", "no_tty=1",
                  f"command={self.ssh_command}"]
        return f"qemu+ssh://root@127.0.0.1:{port or self.port}/system?" + "&".join(extra)

    def log_text(self) -> str:
        try:
            with open(self.log, errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vdictl-test",
                    "-f", path], check=True, stdin=subprocess.DEVNULL, capture_output=True)


def _write(path: str, text: str, mode: int) -> None:
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


def _prepare(directory: str) -> None:
    _keygen(os.path.join(directory, "host_key"))
    _keygen(os.path.join(directory, "client_key"))
    with open(os.path.join(directory, "client_key.pub")) as fh:
        _write(os.path.join(directory, "authorized_keys"), fh.read(), 0o600)
    _write(os.path.join(directory, "ssh"),
           SSH_WRAPPER.format(ssh=shutil.which("ssh"), dir=directory), 0o755)
    if not os.path.isdir(PRIVSEP_DIR):
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)


def start_sshd(directory: str, attempts: int = 3) -> Sshd:
    """Keys, config and a running sshd in `directory`; retries on another port
    when the one picked was taken meanwhile."""
    _prepare(directory)
    config = os.path.join(directory, "sshd_config")
    for _ in range(attempts):
        port = free_port()
        _write(config, SSHD_CONFIG.format(dir=directory, port=port), 0o600)
        with open(os.path.join(directory, "sshd.log"), "ab") as log:
            process = subprocess.Popen([SSHD, "-D", "-f", config, "-e"], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, close_fds=True)
        sshd = Sshd(directory, port, process)
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _listening(port):
                return sshd
            time.sleep(0.05)
        stop_sshd(sshd)
    raise RuntimeError(f"sshd did not start on 127.0.0.1; its log:\n{sshd.log_text()}")


def stop_sshd(sshd: Sshd) -> None:
    if sshd.process.poll() is None:
        sshd.process.terminate()
        try:
            sshd.process.wait(10)
        except subprocess.TimeoutExpired:
            sshd.process.kill()
            sshd.process.wait()


@pytest.fixture(scope="session")
def sshd():
    """A running :class:`Sshd` on 127.0.0.1, for the whole session."""
    require_ssh_requirements()
    directory = tempfile.mkdtemp(prefix="vdictl-sshd-")
    server = start_sshd(directory)
    try:
        yield server
    finally:
        stop_sshd(server)
        shutil.rmtree(directory, ignore_errors=True)
