"""Tests of the ovirt driver.

Part 1 needs nothing: pure helpers. Part 2 runs the driver through the real
ovirtsdk4 against the stateful engine simulator (tests/ovirt_sim, fixture
`ovirt_engine`).
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

pytest.importorskip("ovirtsdk4")

import ovirtsdk4 as sdk  # noqa: E402

from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402
from vdictl.drivers.ovirt.connection import name_search  # noqa: E402
from vdictl.drivers.ovirt.errors import map_error  # noqa: E402
from vdictl.drivers.ovirt.owner_mark import owner_comment, parse_owner  # noqa: E402
from vdictl.drivers.ovirt.pool import normalize_url, resolve_password  # noqa: E402
from vdictl.errors import (AlreadyExists, AuthError, Conflict, DriverError, NotFound, NotOwned,  # noqa: E402
                           Unreachable)
from vdictl.model import Owner, VmState  # noqa: E402
from vdictl.config.rooms import Connect, VmSpec  # noqa: E402

OWNER = Owner(room="room01", subsection="students", tool_version="0.1.0")
SECRET = "s3cr3t-Pa55"


def fast(drv: OvirtDriver) -> OvirtDriver:
    drv.poll_interval = 0.01
    drv.retry_initial = 0.01
    drv.retry_maximum = 0.05
    return drv


# -- part 1: helpers ----------------------------------------------------------
@pytest.mark.parametrize("url,want", [
    ("https://engine.example/api", "https://engine.example/ovirt-engine/api"),
    ("https://engine.example/api/", "https://engine.example/ovirt-engine/api"),
    ("https://engine.example/ovirt-engine/api", "https://engine.example/ovirt-engine/api"),
    ("https://engine.example/ovirt-engine/api/", "https://engine.example/ovirt-engine/api"),
    ("https://engine.example:8443/x/api/v4", "https://engine.example:8443/x/api/v4"),
])
def test_api_url_rewrite(url, want):
    assert normalize_url(url) == want
    assert OvirtDriver(Connect(driver="ovirt", url=url)).endpoint == want


def test_owner_mark_round_trip():
    text = owner_comment(OWNER)
    assert text == "vdictl:room=room01;subsection=students;version=0.1.0"
    assert parse_owner(text) == OWNER
    odd = Owner(room="a;b=c", subsection="x y", tool_version="1")
    assert parse_owner(owner_comment(odd)) == odd
    assert parse_owner("golden image, do not touch") is None
    assert parse_owner(None) is None
    assert parse_owner("") is None


def test_name_search():
    assert name_search(["room01-pc01", "room01-pc02"]) == "name=room01-pc0*"
    assert name_search(["pc1"]) == "name=pc1"
    assert name_search(["abc", "xyz"]) == "name=*"
    assert name_search(["ro om1", "ro om2"]) == "name=ro*"


def test_state_map():
    t = sdk.types.VmStatus
    m = OvirtDriver.STATE_MAP
    assert m[t.UP] == VmState.RUNNING and m[t.DOWN] == VmState.STOPPED
    assert m[t.IMAGE_LOCKED] == VmState.LOCKED and m[t.POWERING_DOWN] == VmState.STOPPING
    assert m[t.WAIT_FOR_LAUNCH] == VmState.STARTING and m[t.SUSPENDED] == VmState.SUSPENDED
    assert m.get(t.NOT_RESPONDING, VmState.UNKNOWN) == VmState.UNKNOWN


def _err(cls, msg, code=None):
    e = cls(msg)
    e.code = code
    return e


def test_map_error():
    assert isinstance(map_error(_err(sdk.Error, "Fault reason is \"Operation Failed\". "
                                     "Fault detail is \"[Cannot run VM: VM is locked]\".", 409)),
                      Conflict)
    assert map_error(_err(sdk.Error, "x", 409)).transient
    exists = map_error(_err(sdk.Error, "Fault reason is \"Operation Failed\". Fault detail is "
                            "\"[Cannot add permission. Permission already exists.]\".", 409))
    assert isinstance(exists, AlreadyExists) and not exists.transient
    in_use = map_error(_err(sdk.Error, "[Cannot add VM. The VM name is already in use, please "
                            "choose a unique name and try again.]", 409))
    assert isinstance(in_use, AlreadyExists) and not in_use.transient
    assert isinstance(map_error(_err(sdk.Error, "x", 503)), Unreachable)
    assert isinstance(map_error(_err(sdk.NotFoundError, "x", 404), what="VM 'a'"), NotFound)
    assert isinstance(map_error(_err(sdk.AuthError, "x", 401)), AuthError)
    assert isinstance(map_error(_err(sdk.Error, "x", 403)), AuthError)
    bad = map_error(_err(sdk.Error, "Fault reason is \"Request syntactically incorrect.\"", 400))
    assert type(bad) is DriverError and not bad.transient
    assert isinstance(map_error(sdk.ConnectionError("Error while sending HTTP request: (7, "
                                                    "'Failed to connect')")), Unreachable)
    assert isinstance(map_error(sdk.Error("Failed to read response: [(x, 56, 'Recv failure')]")),
                      Unreachable)
    msg = str(map_error(_err(sdk.Error, f"boom {SECRET}", 400), secrets=[SECRET]))
    assert SECRET not in msg


def test_password_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("VDICTL_OVIRT_PASSWORD", "from-env")
    assert resolve_password(Connect(driver="ovirt", password="direct")) == "direct"
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    assert resolve_password(Connect(driver="ovirt", password_file=str(f))) == "from-file"
    f.write_text(" spaced pw \r\nsecond line\n")  # the first line, as documented
    assert resolve_password(Connect(driver="ovirt", password_file=str(f))) == " spaced pw "
    assert resolve_password(Connect(driver="ovirt")) == "from-env"
    missing = tmp_path / "nope"
    with pytest.raises(AuthError) as info:
        resolve_password(Connect(driver="ovirt", password_file=str(missing)))
    assert str(missing) in str(info.value)


def _connect(url, password=SECRET, **kw):
    return Connect(driver="ovirt", url=url, username="admin@internal", password=password, **kw)


def test_unreachable_names_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    drv = OvirtDriver(_connect(url))
    with pytest.raises(Unreachable) as info:
        drv.open()
    assert f"http://127.0.0.1:{port}/ovirt-engine/api" in str(info.value)
    assert SECRET not in str(info.value)


# -- part 2: the engine simulator --------------------------------------------
@pytest.fixture
def sim(ovirt_engine):
    return ovirt_engine


@pytest.fixture
def drv(sim):
    d = fast(OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                                 password=sim.password)))
    d.open()
    yield d
    d.close()


def spec(name="room01-pc01", **kw):
    base = dict(room="room01", subsection="students", id=1, id_str="01", name=name,
                template_name="tmpl-win10", cluster="Default", memory=2 << 30,
                network_name="vdi-net", tc_user="thinclient@internal")
    base.update(kw)
    return VmSpec(**base)


def _vm_searches(sim):
    """The `search` parameter of every GET on the VM collection."""
    return [r["query"].get("search", "") for r in sim.requests
            if r["method"] == "GET" and r["path"].endswith("/vms")]


def test_sim_wrong_password_is_auth_error_without_password(sim, caplog):
    d = OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                            password="wrong-" + sim.password))
    with pytest.raises(AuthError) as info:
        d.open()
    text = str(info.value)
    assert sim.url in text and sim.username in text
    assert sim.password not in text and "wrong-" not in text
    assert sim.password not in caplog.text
    d.close()
    d.close()


def test_sim_api_url_is_rewritten_for_the_engine(sim):
    d = fast(OvirtDriver(Connect(driver="ovirt", url=sim.url.replace("/ovirt-engine/api", "/api"),
                                 username=sim.username, password=sim.password)))
    with d:
        assert d.find_vms(names=["a"]) == {}
    assert len(_vm_searches(sim)) == 1


def test_tuning_is_taken_from_the_driver_when_it_opens(sim):
    d = OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                            password=sim.password))
    d.poll_interval, d.max_connections = 0.01, 3
    assert d.connection.tuning.poll_interval == OvirtDriver.poll_interval
    with d:
        assert d.connection.tuning.poll_interval == 0.01
        assert d.connection.tuning.max_connections == 3
        assert d.find_vms(names=["a"]) == {}


def test_sim_one_login_and_one_search_across_threads(sim):
    sim.add_vm("room01-pc01", template="tmpl-win10", comment=owner_comment(OWNER), status="up")
    sim.add_vm("room01-pc02", template="tmpl-win10", status="down")
    sim.add_vm("room01-pc020", template="tmpl-win10", status="down")
    d = fast(OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                                 password=sim.password)))
    d.max_connections = 4
    with d:
        before = len(_vm_searches(sim))
        found = d.find_vms(names=["room01-pc01", "room01-pc02", "room01-pc03"])
        searches = _vm_searches(sim)[before:]
        assert len(searches) == 1 and "room01-pc0" in searches[0]
        assert set(found) == {"room01-pc01", "room01-pc02"}
        assert found["room01-pc01"].owner == OWNER and found["room01-pc01"].state == "running"
        assert found["room01-pc02"].owner is None

        def work(i):
            return d.get_vm(name="room01-pc01" if i % 2 else "room01-pc02").name

        with ThreadPoolExecutor(16) as ex:
            names = list(ex.map(work, range(200)))
        assert names.count("room01-pc01") == 100
        with pytest.raises(NotFound):
            d.get_vm(name="room01-pc03")
    assert sim.sso_logins == 1


def test_sim_create(drv, sim):
    vm = drv.create_vm(spec=spec(), owner=OWNER, timeout=30)
    assert vm.state == VmState.STOPPED and vm.owner == OWNER
    state = sim.vm("room01-pc01")
    assert state.status == "down"
    assert "vdictl:room=room01" in state.comment
    assert [(n.name, n.network) for n in state.nics] == [("nic1", "vdi-net")]
    assert [(p.role, p.user) for p in state.permissions] == [
        ("UserRole", "thinclient@internal")]


def test_sim_create_unknown_network(drv):
    with pytest.raises(NotFound, match="no-such-net"):
        drv.create_vm(spec=spec(network_name="no-such-net"), owner=OWNER, timeout=30)
    assert drv.find_vms(names=["room01-pc01"]) == {}


def test_sim_find_vms_one_request(drv, sim):
    for i in (1, 2, 3):
        drv.create_vm(spec=spec(f"room01-pc0{i}"), owner=OWNER, timeout=30)
    before = len(_vm_searches(sim))
    found = drv.find_vms(names=["room01-pc01", "room01-pc02", "room01-pc03"])
    assert len(found) == 3
    assert len(_vm_searches(sim)) - before == 1


def test_sim_snapshots_power_revert_delete(drv, sim):
    drv.create_vm(spec=spec(), owner=OWNER, timeout=30)
    s1 = drv.create_snapshot(name="room01-pc01", description="clean 1", timeout=30)
    s2 = drv.create_snapshot(name="room01-pc01", description="clean 2", timeout=30)
    assert [s.id for s in drv.list_snapshots(name="room01-pc01")] == [s1.id, s2.id]
    assert s1.extra["status"] == "ok"
    drv.start_vm(name="room01-pc01", timeout=30)
    assert drv.get_vm(name="room01-pc01").state == VmState.RUNNING
    with pytest.raises(Conflict):
        drv.revert_snapshot(name="room01-pc01", snapshot=s1, timeout=30)
    assert drv.shutdown_vm(name="room01-pc01", timeout=30) is False
    drv.revert_snapshot(name="room01-pc01", snapshot=s1, timeout=30)
    assert drv.get_vm(name="room01-pc01").state == VmState.STOPPED
    drv.delete_vm(name="room01-pc01", timeout=30)
    assert drv.find_vms(names=["room01-pc01"]) == {}


def test_sim_restore_holds_the_slot_only_for_the_restore_and_its_wait(drv, sim):
    """Lookups before and the job check after run outside the caller's
    throttle slot, so a freed slot goes to the next VM at once."""
    drv.create_vm(spec=spec(), owner=OWNER, timeout=30)
    snap = drv.create_snapshot(name="room01-pc01", description="clean", timeout=30)
    marks = {}

    @contextmanager
    def slot():
        marks["enter"] = len(sim.requests)
        yield
        marks["exit"] = len(sim.requests)

    start = len(sim.requests)
    drv.revert_snapshot(name="room01-pc01", snapshot=snap, timeout=30, slot=slot)
    kinds = [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in sim.requests]
    before = kinds[start:marks["enter"]]
    inside = kinds[marks["enter"]:marks["exit"]]
    after = kinds[marks["exit"]:]
    assert before and all(method == "GET" for method, _ in before)  # the VM and its snapshots
    assert inside[0] == ("POST", "restore")
    assert all(method == "GET" for method, _ in inside[1:])  # waits: room polls, snapshots
    assert after == [("GET", "jobs")]


def test_sim_forced_shutdown(drv, sim):
    drv.create_vm(spec=spec(), owner=OWNER, timeout=30)
    drv.start_vm(name="room01-pc01", timeout=30)
    sim.ignore_acpi.add("room01-pc01")
    assert drv.shutdown_vm(name="room01-pc01", timeout=0.5) is True
    assert drv.get_vm(name="room01-pc01").state == VmState.STOPPED
    assert drv.shutdown_vm(name="room01-pc01", timeout=1) is False


def test_sim_delete_refuses_foreign(drv, sim):
    sim.add_vm("golden", template="tmpl-win10", comment="hands off", status="down")
    with pytest.raises(NotOwned):
        drv.delete_vm(name="golden", timeout=5)


def test_sim_transient_errors_are_retried(drv, sim):
    drv.create_vm(spec=spec(), owner=OWNER, timeout=30)
    sim.error_rate = 0.3
    drv.connection.tuning.retry_attempts = 30  # the driver is open: its connection's retries
    drv.start_vm(name="room01-pc01", timeout=60)
    drv.power_off_vm(name="room01-pc01", timeout=60)
    sim.error_rate = 0.0
    assert drv.get_vm(name="room01-pc01").state == VmState.STOPPED


def test_sim_one_login_many_threads(drv, sim):
    names = [f"room01-pc{i:02d}" for i in range(1, 7)]
    with ThreadPoolExecutor(6) as ex:
        list(ex.map(lambda n: drv.create_vm(spec=spec(n), owner=OWNER, timeout=60), names))
        list(ex.map(lambda n: drv.create_snapshot(name=n, description="s", timeout=60), names))
    assert len(drv.find_vms(names=names)) == 6
    assert sim.sso_logins == 1
