# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pytest configuration.

tests/sandbox.py provides the session fixture ``libvirt_sandbox`` (a private
libvirtd with real QEMU, see scripts/libvirt-sandbox) and marks the tests
using it with ``libvirt_sandbox``; tests/sshd.py the session fixture ``sshd``
(an OpenSSH server on 127.0.0.1, for qemu+ssh:// URIs).
"""

pytest_plugins = ["tests.sandbox", "tests.sshd", "tests.ovirt_sim.fixtures",
                  "tests.pve_sim.fixtures"]

import pytest


@pytest.fixture(autouse=True)
def _private_locks_and_no_syslog(tmp_path_factory, monkeypatch):
    """Room locks in a directory of this test session (other checkouts may run
    the same room names on this machine at the same time), run records in one
    of this test (not /var/lib/vdictl), and no syslog."""
    monkeypatch.setenv("VDICTL_LOCK_DIR", str(tmp_path_factory.getbasetemp() / "locks"))
    monkeypatch.setenv("VDICTL_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("VDICTL_SYSLOG", "off")
