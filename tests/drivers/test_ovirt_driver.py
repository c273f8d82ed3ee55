"""Tests of the ovirt driver.

Part 1 needs nothing: pure helpers, and a tiny stub engine (SSO + /api +
/vms) for login, error and threading behaviour.
Part 2 runs against the stateful engine simulator (tests/ovirt_sim,
fixture `ovirt_engine`) and is skipped while that package is absent.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("ovirtsdk4")

import ovirtsdk4 as sdk  # noqa: E402

from vdictl.drivers.ovirt import OvirtDriver, name_search, parse_owner  # noqa: E402
from vdictl.drivers.ovirt_conn import map_error, normalize_url, resolve_password  # noqa: E402
from vdictl.drivers.ovirt_create import owner_comment  # noqa: E402
from vdictl.errors import (AuthError, Conflict, DriverError, NotFound, NotOwned,  # noqa: E402
                           Unreachable)
from vdictl.model import Owner, VmState  # noqa: E402
from vdictl.rooms import Connect, VmSpec  # noqa: E402

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
    assert resolve_password(Connect(driver="ovirt")) == "from-env"
    missing = tmp_path / "nope"
    with pytest.raises(AuthError) as info:
        resolve_password(Connect(driver="ovirt", password_file=str(missing)))
    assert str(missing) in str(info.value)


# -- part 1: a stub engine ----------------------------------------------------
class StubEngine:
    """SSO + GET /ovirt-engine/api + GET /vms; counts logins and requests."""

    def __init__(self):
        self.password = SECRET
        self.sso_logins = 0
        self.requests = []
        self.lock = threading.Lock()
        self.vms_xml = "<vms/>"
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code, body, ctype):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                path = urlsplit(self.path).path
                if path.endswith("/sso/oauth/token"):
                    with stub.lock:
                        stub.sso_logins += 1
                    if form.get("password", [""])[0] != stub.password:
                        return self._send(400, json.dumps({
                            "error": "access_denied",
                            "error_description": "Cannot authenticate user"}),
                            "application/json")
                    return self._send(200, json.dumps({"access_token": "tok"}),
                                      "application/json")
                if path.endswith("/sso-logout"):
                    return self._send(200, "{}", "application/json")
                self._send(404, "<fault><reason>nope</reason></fault>", "application/xml")

            def do_GET(self):
                with stub.lock:
                    stub.requests.append(("GET", self.path))
                path = urlsplit(self.path).path
                if path == "/ovirt-engine/api":
                    return self._send(200, "<api/>", "application/xml")
                if path == "/ovirt-engine/api/vms":
                    return self._send(200, stub.vms_xml, "application/xml")
                self._send(404, "<fault><reason>Not Found</reason></fault>", "application/xml")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ovirt-engine/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = StubEngine()
    yield s
    s.stop()


def _connect(url, password=SECRET, **kw):
    return Connect(driver="ovirt", url=url, username="admin@internal", password=password, **kw)


def test_wrong_password_is_auth_error_without_password(stub, caplog):
    drv = OvirtDriver(_connect(stub.url, password="wrong-" + SECRET))
    with pytest.raises(AuthError) as info:
        drv.open()
    text = str(info.value)
    assert stub.url in text and "admin@internal" in text
    assert SECRET not in text and "wrong-" not in text
    assert SECRET not in caplog.text
    drv.close()
    drv.close()


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


def test_api_url_is_rewritten_for_the_engine(stub):
    drv = OvirtDriver(_connect(stub.url.replace("/ovirt-engine/api", "/api")))
    drv.open()
    try:
        assert drv.find_vms(room="r", names=["a"]) == {}
        assert ("GET", "/ovirt-engine/api") in stub.requests
    finally:
        drv.close()


def test_one_login_and_one_search_across_threads(stub):
    stub.vms_xml = (
        "<vms>"
        "<vm id='1'><name>room01-pc01</name><status>up</status>"
        f"<comment>{owner_comment(OWNER)}</comment></vm>"
        "<vm id='2'><name>room01-pc02</name><status>down</status></vm>"
        "<vm id='3'><name>room01-pc020</name><status>down</status></vm>"
        "</vms>")
    drv = OvirtDriver(_connect(stub.url))
    drv.max_connections = 4
    with drv:
        before = len(stub.requests)
        found = drv.find_vms(room="room01", names=["room01-pc01", "room01-pc02", "room01-pc03"])
        searches = [p for m, p in stub.requests[before:] if "/vms" in p]
        assert len(searches) == 1 and "room01-pc0" in searches[0]
        assert set(found) == {"room01-pc01", "room01-pc02"}
        assert found["room01-pc01"].owner == OWNER and found["room01-pc01"].state == "running"
        assert found["room01-pc02"].owner is None

        def work(i):
            return drv.get_vm(name="room01-pc01" if i % 2 else "room01-pc02").name

        with ThreadPoolExecutor(16) as ex:
            names = list(ex.map(work, range(200)))
        assert names.count("room01-pc01") == 100
        with pytest.raises(NotFound):
            drv.get_vm(name="room01-pc03")
    assert stub.sso_logins == 1


# -- part 2: the engine simulator --------------------------------------------
@pytest.fixture
def sim(request):
    pytest.importorskip("tests.ovirt_sim")
    return request.getfixturevalue("ovirt_engine")


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


def _vm_get_count(sim):
    return sum(1 for r in sim.request_log if _method(r) == "GET" and "/vms" in _path(r)
               and "/vms/" not in _path(r))


def _method(r):
    return r[0] if isinstance(r, tuple) else getattr(r, "method", "")


def _path(r):
    return r[1] if isinstance(r, tuple) else getattr(r, "path", "")


def test_sim_wrong_password(sim):
    d = OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                            password="x" + sim.password))
    with pytest.raises(AuthError) as info:
        d.open()
    assert sim.password not in str(info.value) and sim.url in str(info.value)


def test_sim_create(drv, sim):
    vm = drv.create_vm(spec=spec(), owner=OWNER, timeout=30)
    assert vm.state == VmState.STOPPED and vm.owner == OWNER
    state = sim.vm("room01-pc01")
    assert str(getattr(state, "status", "down")).lower().endswith("down")
    assert "vdictl:room=room01" in state.comment


def test_sim_create_unknown_network(drv):
    with pytest.raises(NotFound, match="no-such-net"):
        drv.create_vm(spec=spec(network_name="no-such-net"), owner=OWNER, timeout=30)
    assert drv.find_vms(room="room01", names=["room01-pc01"]) == {}


def test_sim_find_vms_one_request(drv, sim):
    for i in (1, 2, 3):
        drv.create_vm(spec=spec(f"room01-pc0{i}"), owner=OWNER, timeout=30)
    before = _vm_get_count(sim)
    found = drv.find_vms(room="room01", names=["room01-pc01", "room01-pc02", "room01-pc03"])
    assert len(found) == 3
    assert _vm_get_count(sim) - before == 1


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
    assert drv.find_vms(room="room01", names=["room01-pc01"]) == {}


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
    drv.retry_attempts = 30
    drv.start_vm(name="room01-pc01", timeout=60)
    drv.power_off_vm(name="room01-pc01", timeout=60)
    sim.error_rate = 0.0
    assert drv.get_vm(name="room01-pc01").state == VmState.STOPPED


def test_sim_one_login_many_threads(drv, sim):
    names = [f"room01-pc{i:02d}" for i in range(1, 7)]
    with ThreadPoolExecutor(6) as ex:
        list(ex.map(lambda n: drv.create_vm(spec=spec(n), owner=OWNER, timeout=60), names))
        list(ex.map(lambda n: drv.create_snapshot(name=n, description="s", timeout=60), names))
    assert len(drv.find_vms(room="room01", names=names)) == 6
    assert sim.sso_logins == 1
