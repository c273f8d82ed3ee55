"""Which libvirt URIs are remote: the one question the refusals of local-only
work (template-create --seal) ask. The real refusal over qemu+ssh:// is in
tests/integration/test_over_ssh.py."""

from __future__ import annotations

import pytest

libvirt = pytest.importorskip("libvirt")

from vdictl.drivers.libvirt.connection import Connection  # noqa: E402
from vdictl.drivers.libvirt.remote import is_remote  # noqa: E402
from vdictl.config.rooms import Connect  # noqa: E402


@pytest.mark.parametrize("uri", [
    "qemu+ssh://root@kvm1.school.example/system",
    "qemu+ssh://root@127.0.0.1:2222/system?socket=/srv/run/libvirt-sock&keyfile=/k&no_verify=1",
    "qemu+ssh:///system",                      # ssh to localhost is still ssh
    "qemu+libssh2://admin@kvm2/system?known_hosts=/root/.ssh/known_hosts",
    "qemu+libssh://kvm2/system",
    "qemu+tls://kvm3.school.example/system",
    "qemu://kvm3.school.example/system",       # a host without a transport means TLS
    "qemu+tcp://10.0.0.5:16509/system",
    "QEMU+SSH://KVM1/system",
    "qemu+ext:///system?command=/usr/local/bin/tunnel",
])
def test_network_transports_and_hosts_are_remote(uri):
    assert is_remote(uri) is True


@pytest.mark.parametrize("uri", [
    "qemu:///system",
    "qemu:///session",
    "qemu:///system?socket=/tmp/vdictl-sandbox-x/run/libvirt-sock",
    "qemu+unix:///system?socket=/opt/libvirt/run/libvirt/libvirt-sock",
    "test:///default",
    "",
    None,
    "hail",                                    # an alias: the connection resolves it
])
def test_local_uris_are_not_remote(uri):
    assert is_remote(uri) is False


def test_the_default_uri_is_resolved_through_the_connection(monkeypatch):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "test:///default")
    conn = Connection(Connect(driver="libvirt"), uri=None)
    try:
        assert conn.is_remote() is False
        assert conn.uri == "test:///default"
    finally:
        conn.close()


def test_a_configured_remote_uri_answers_without_connecting():
    # 192.0.2.9 (TEST-NET-1) answers nothing: connecting would raise Unreachable
    conn = Connection(Connect(driver="libvirt"), uri="qemu+ssh://root@192.0.2.9/system")
    assert conn.is_remote() is True
