"""Who is at each VM on oVirt: OvirtDriver.sessions() through the real
ovirtsdk4 against the engine simulator (tests/ovirt_sim), which keeps the
console user and client address the hypervisor reports and the guest
agent's user, and lists them as the engine does (/vms/{id}/sessions, and
inlined by follow=sessions)."""

from __future__ import annotations

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402
from vdictl.model import UserSession  # noqa: E402
from vdictl.config.rooms import Connect  # noqa: E402

ROOM = [f"room01-pc0{i}" for i in range(1, 7)]
CONSOLE = "engine console"
GUEST = "guest agent"


@pytest.fixture
def sim(ovirt_engine):
    for name in ROOM:
        ovirt_engine.add_vm(name, template="tmpl-win10", status="up")
    return ovirt_engine


@pytest.fixture
def drv(sim):
    d = OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                            password=sim.password))
    d.retry_initial, d.retry_maximum = 0.01, 0.05
    d.open()
    yield d
    d.close()


def vm_lists(sim):
    """(method, query) of every request on the VM collection."""
    return [r["query"] for r in sim.requests
            if r["method"] == "GET" and r["path"].endswith("/vms")]


def session_gets(sim):
    return [r["path"] for r in sim.requests if "/sessions" in r["path"]]


def test_console_session_with_the_client_address(drv, sim):
    sim.add_console_session("room01-pc02", "192.0.2.7")

    found = drv.sessions(names=ROOM)

    assert found["room01-pc02"] == [UserSession(kind="console", user="thinclient@internal-authz",
                                                client="192.0.2.7", source=CONSOLE)]
    assert all(found[n] == [] for n in ROOM if n != "room01-pc02")


def test_guest_agent_user(drv, sim):
    sim.add_guest_user("room01-pc03", "alice")
    sim.add_console_session("room01-pc04", "192.0.2.9", user="teacher@example.org")
    sim.add_guest_user("room01-pc04", "EXAMPLE\\bob")

    found = drv.sessions(names=ROOM)

    assert found["room01-pc03"] == [UserSession(kind="guest", user="alice", source=GUEST)]
    assert found["room01-pc04"] == [
        UserSession(kind="console", user="teacher@example.org", client="192.0.2.9",
                    source=CONSOLE),
        UserSession(kind="guest", user="EXAMPLE\\bob", source=GUEST)]


def test_disconnect_leaves_nobody(drv, sim):
    sim.add_console_session("room01-pc01", "192.0.2.7")
    assert drv.sessions(names=["room01-pc01"])["room01-pc01"] != []

    sim.disconnect_console("room01-pc01")

    assert drv.sessions(names=["room01-pc01"]) == {"room01-pc01": []}
    assert "User thinclient got disconnected from VM room01-pc01." in sim.events


def test_a_ticket_with_no_client_connected_is_nobody(drv, sim):
    # the engine lists the console user's session from the ticket on, its
    # address only once the hypervisor reports a client connected
    sim.add_console_session("room01-pc01", None)

    assert drv.sessions(names=["room01-pc01"]) == {"room01-pc01": []}


def test_a_down_vm_has_nobody_and_forgets_its_sessions(drv, sim):
    sim.add_console_session("room01-pc05", "192.0.2.7")
    sim.add_guest_user("room01-pc05", "alice")
    sim.set_vm_status("room01-pc05", "down")

    assert drv.sessions(names=["room01-pc05"]) == {"room01-pc05": []}

    sim.set_vm_status("room01-pc05", "up")  # started again: nobody yet
    assert drv.sessions(names=["room01-pc05"]) == {"room01-pc05": []}


def test_an_engine_out_of_touch_with_the_host_cannot_tell(drv, sim):
    sim.add_console_session("room01-pc06", "192.0.2.7")
    sim.set_vm_status("room01-pc06", "not_responding")
    sim.set_vm_status("room01-pc01", "unknown")

    found = drv.sessions(names=ROOM)

    assert found["room01-pc06"] is None and found["room01-pc01"] is None
    assert found["room01-pc02"] == []


def test_a_missing_vm_is_left_out(drv, sim):
    assert drv.sessions(names=["room01-pc01", "room01-pc09"]) == {"room01-pc01": []}


def test_one_request_per_room(drv, sim):
    sim.add_vm("room02-pc01", template="tmpl-win10", status="up")
    sim.add_console_session("room01-pc01", "192.0.2.7")
    sim.add_guest_user("room02-pc01", "carol")
    sim.requests.clear()

    room1 = drv.sessions(names=ROOM)
    room2 = drv.sessions(names=["room02-pc01"])

    assert len(room1) == 6 and room2["room02-pc01"][0].user == "carol"
    assert vm_lists(sim) == [{"search": "name=room01-pc0*", "follow": "sessions"},
                             {"search": "name=room02-pc01", "follow": "sessions"}]
    assert session_gets(sim) == []  # no request per VM
    assert drv.sessions(names=[]) == {}
    assert len(sim.requests) == 2
