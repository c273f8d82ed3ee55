# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's VM sessions, driven only through the real ovirtsdk4:
the shape the engine gives them (VmMapper and the sessions resource), the
sub-collection, follow=sessions on a search, and when they vanish."""

import urllib.request
import xml.etree.ElementTree as ET

import pytest

sdk = pytest.importorskip("ovirtsdk4")
types = sdk.types

from tests.ovirt_sim.fixtures import sim_connection_args  # noqa: E402


@pytest.fixture
def conn(ovirt_engine):
    ovirt_engine.add_vm("room1-pc01", template="tmpl-win10", status="up")
    ovirt_engine.add_vm("room1-pc02", template="tmpl-win10", status="up")
    c = sdk.Connection(**sim_connection_args(ovirt_engine))
    yield c
    c.close()


def vms(c):
    return c.system_service().vms_service()


def raw_get(sim, c, path):
    """The engine's XML for `path`, as it is sent (the SDK's token reused)."""
    req = urllib.request.Request(sim.base_url + path, headers={
        "Authorization": "Bearer " + c.authenticate(), "Accept": "application/xml"})
    with urllib.request.urlopen(req) as reply:
        return ET.fromstring(reply.read())


def test_console_and_guest_sessions_as_the_sdk_reads_them(conn, ovirt_engine):
    ovirt_engine.add_console_session("room1-pc01", "192.0.2.7")
    ovirt_engine.add_guest_user("room1-pc01", "alice")
    vm = vms(conn).list(search="name=room1-pc01")[0]

    console, guest = vms(conn).vm_service(vm.id).sessions_service().list()

    assert console.console_user is True and console.ip.address == "192.0.2.7"
    assert (console.user.user_name, console.user.domain.name) == ("thinclient", "internal-authz")
    user = conn.system_service().users_service().list(search="usrname=thinclient@internal")[0]
    assert console.user.id == user.id and console.vm.id == vm.id
    assert console.protocol is None  # the engine does not map it
    assert guest.console_user is None and guest.ip is None
    assert guest.user.user_name == "alice" and guest.user.id is None
    assert console.id and guest.id and console.id != guest.id


def test_session_xml_shape(conn, ovirt_engine):
    ovirt_engine.add_console_session("room1-pc01", "192.0.2.7")
    vm = vms(conn).list(search="name=room1-pc01")[0]

    root = raw_get(ovirt_engine, conn, f"/ovirt-engine/api/vms/{vm.id}/sessions")

    (session,) = root.findall("session")
    assert root.tag == "sessions"
    assert session.get("href") == f"/ovirt-engine/api/vms/{vm.id}/sessions/{session.get('id')}"
    assert [c.tag for c in session] == ["console_user", "ip", "user", "vm"]
    assert session.findtext("console_user") == "true"
    assert session.findtext("ip/address") == "192.0.2.7"
    assert session.findtext("user/user_name") == "thinclient"
    assert session.findtext("user/domain/name") == "internal-authz"


def test_follow_sessions_inlines_them_in_one_request(conn, ovirt_engine):
    ovirt_engine.add_console_session("room1-pc02", "192.0.2.8", user="teacher@example.org")
    conn.authenticate()  # the SDK logs in with its first request
    ovirt_engine.requests.clear()

    found = {v.name: v for v in vms(conn).list(search="name=room1-*", follow="sessions")}

    assert [s.ip.address for s in found["room1-pc02"].sessions] == ["192.0.2.8"]
    assert found["room1-pc02"].sessions[0].user.id is None  # not a user the engine has
    assert list(found["room1-pc01"].sessions) == []
    assert [(r["method"], r["path"], r["query"]) for r in ovirt_engine.requests] == [
        ("GET", "/ovirt-engine/api/vms", {"search": "name=room1-*", "follow": "sessions"})]


def test_disconnect_and_shutdown_forget_the_sessions(conn, ovirt_engine):
    ovirt_engine.add_console_session("room1-pc01", "192.0.2.7")
    ovirt_engine.add_guest_user("room1-pc01", "alice")
    vm = vms(conn).list(search="name=room1-pc01")[0]
    sessions = vms(conn).vm_service(vm.id).sessions_service()

    ovirt_engine.disconnect_console("room1-pc01")
    assert [s.user.user_name for s in sessions.list()] == ["alice"]
    vms(conn).vm_service(vm.id).shutdown()
    ovirt_engine.settle()
    assert ovirt_engine.vm("room1-pc01").status == "down"
    assert list(sessions.list()) == []


def test_nobody_can_connect_to_a_vm_that_is_down(ovirt_engine):
    ovirt_engine.add_vm("off", template="tmpl-win10")
    with pytest.raises(ValueError, match="VM off is down: no console to connect to"):
        ovirt_engine.add_console_session("off", "192.0.2.7")
    with pytest.raises(ValueError, match="VM off is down: no guest agent to report"):
        ovirt_engine.add_guest_user("off", "alice")
