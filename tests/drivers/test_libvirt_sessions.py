"""The pure parts of the libvirt driver's sessions(): QMP replies shaped as
QEMU's QAPI schema gives them (query-vnc's VncClientInfo, query-spice's
SpiceChannel), the guest agent's user parameters, and the live XML. The
real monitor is asked in tests/integration/test_sessions_on_qemu.py."""

from __future__ import annotations

import pytest

pytest.importorskip("libvirt")

from vdictl.drivers.libvirt.sessions import (devices, logged_in, spice_sessions,  # noqa: E402
                                             vnc_session)
from vdictl.model import UserSession  # noqa: E402


def test_a_vnc_client_is_named_by_address_and_its_sasl_or_x509_user():
    assert vnc_session({"host": "192.0.2.7", "service": "51234", "family": "ipv4",
                        "websocket": False}) == \
        UserSession(kind="console", client="192.0.2.7:51234", source="qemu vnc")
    assert vnc_session({"host": "2001:db8::7", "service": "5901", "family": "ipv6",
                        "websocket": False, "sasl_username": "anna"}) == \
        UserSession(kind="console", user="anna", client="[2001:db8::7]:5901",
                    source="qemu vnc")
    assert vnc_session({"host": "", "service": "/run/vnc.sock", "family": "unix",
                        "websocket": False, "x509_dname": "CN=desk7"}) == \
        UserSession(kind="console", user="CN=desk7", client=None, source="qemu vnc")


def test_a_spice_client_is_one_session_however_many_channels_it_opens():
    def channel(conn_id, port, kind):
        return {"host": "192.0.2.8", "port": str(port), "family": "ipv4",
                "connection-id": conn_id, "channel-type": kind, "channel-id": 0,
                "tls": False}

    channels = [channel(11, 40002, 2), channel(11, 40001, 1), channel(11, 40003, 4),
                channel(12, 40010, 1)]
    assert spice_sessions(channels) == [
        UserSession(kind="console", client="192.0.2.8:40001", source="qemu spice"),
        UserSession(kind="console", client="192.0.2.8:40010", source="qemu spice")]
    assert spice_sessions([]) == []


def test_the_guest_agents_users_with_their_windows_domain_and_login_time():
    info = {"user.count": 2, "user.0.name": "anna", "user.0.login-time": 1764763200123,
            "user.1.name": "bob", "user.1.domain": "SCHOOL"}
    assert logged_in(info) == [
        UserSession(kind="guest", user="anna", since=1764763200.123, source="guest agent"),
        UserSession(kind="guest", user="SCHOOL\\bob", source="guest agent")]
    assert logged_in({"user.count": 0}) == []
    assert logged_in({}) == []


def test_the_live_xml_gives_the_displays_and_whether_the_agent_is_connected():
    def xml(channel_state):
        return ("<domain><devices>"
                "<graphics type='vnc' port='5900' listen='127.0.0.1'/>"
                "<graphics type='spice' port='5901'/>"
                "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'"
                f" state='{channel_state}'/></channel>"
                "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'"
                " state='connected'/></channel>"
                "</devices></domain>")

    assert devices(xml("connected")) == ({"vnc", "spice"}, True)
    assert devices(xml("disconnected")) == ({"vnc", "spice"}, False)
    assert devices("<domain><devices/></domain>") == (set(), False)
