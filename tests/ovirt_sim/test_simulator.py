# SPDX-License-Identifier: GPL-3.0-or-later
"""The oVirt engine simulator, driven only through the real ovirtsdk4."""

import threading
import time
import urllib.error
import urllib.request

import pytest

sdk = pytest.importorskip("ovirtsdk4")
types = sdk.types

from tests.ovirt_sim.fixtures import sim_connection_args  # noqa: E402


@pytest.fixture
def conn(ovirt_engine):
    c = sdk.Connection(**sim_connection_args(ovirt_engine))
    yield c
    c.close()


@pytest.fixture
def frozen_engine(ovirt_engine_factory):
    """Real-time latencies (seconds): nothing completes unless the test moves
    the simulated clock with advance()/settle()."""
    return ovirt_engine_factory(time_scale=1.0)


@pytest.fixture
def fconn(frozen_engine):
    c = sdk.Connection(**sim_connection_args(frozen_engine))
    yield c
    c.close()


def new_vm(c, name, **kw):
    kw.setdefault("cluster", types.Cluster(name="Default"))
    kw.setdefault("template", types.Template(name="tmpl-win10"))
    return c.system_service().vms_service().add(types.Vm(name=name, **kw))


def vm_svc(c, vm_id):
    return c.system_service().vms_service().vm_service(vm_id)


def status(c, vm_id):
    return vm_svc(c, vm_id).get().status.value


# -- SSO and plumbing -------------------------------------------------------

def test_api_root_and_one_login_per_connection(ovirt_engine):
    c = sdk.Connection(**sim_connection_args(ovirt_engine))
    api = c.system_service().get()
    assert api.product_info.version.major == 4
    c.system_service().vms_service().list()
    c.system_service().clusters_service().list()
    assert ovirt_engine.sso_logins == 1
    c.close()
    assert ovirt_engine.sso_logouts == 1
    assert ("POST", "/ovirt-engine/sso/oauth/token") in ovirt_engine.request_log
    assert ("GET", "/ovirt-engine/api/vms") in ovirt_engine.request_log
    assert ovirt_engine.request_log[-1] == ("POST", "/ovirt-engine/services/sso-logout")


def test_wrong_password_is_an_auth_error(ovirt_engine):
    args = dict(sim_connection_args(ovirt_engine), password="wrong")
    c = sdk.Connection(**args)
    with pytest.raises(sdk.AuthError, match="access_denied.*Cannot authenticate user 'admin@internal'"):
        c.system_service().get()
    c.close(logout=False)
    assert ovirt_engine.sso_logins == 0


def test_requests_without_token_get_401(ovirt_engine):
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(ovirt_engine.url + "/vms", timeout=5)
    assert err.value.code == 401


def test_restart_drops_tokens_and_the_sdk_logs_in_again(conn, ovirt_engine):
    conn.system_service().vms_service().list()
    ovirt_engine.restart()
    conn.system_service().vms_service().list()
    assert ovirt_engine.sso_logins == 2
    statuses = [r["status"] for r in ovirt_engine.requests if r["path"].endswith("/vms")]
    assert statuses == [200, 401, 200]


def test_error_rate_answers_503(ovirt_engine, conn):
    ovirt_engine.error_rate = 1.0
    with pytest.raises(sdk.Error) as err:
        conn.system_service().vms_service().list()
    assert err.value.code == 503
    ovirt_engine.error_rate = 0.3
    failures = 0
    for _ in range(40):
        try:
            conn.system_service().vms_service().list()
        except sdk.Error as exc:
            assert exc.code == 503
            failures += 1
    assert 0 < failures < 40
    assert ovirt_engine.injected_errors == failures + 1


def test_drop_rate_closes_connections(ovirt_engine, conn):
    conn.system_service().get()
    ovirt_engine.drop_rate = 1.0
    with pytest.raises(sdk.Error):
        conn.system_service().vms_service().list()
    assert ovirt_engine.dropped_connections >= 1
    ovirt_engine.drop_rate = 0.0
    assert conn.system_service().vms_service().list() == []


def test_drop_after_processing_acts_but_never_answers(ovirt_engine, conn):
    ovirt_engine.drop_rate = 1.0
    ovirt_engine.drop_after_processing = True
    with pytest.raises(sdk.Error):
        new_vm(conn, "room1-pc01")
    ovirt_engine.drop_rate = 0.0
    assert ovirt_engine.has_vm("room1-pc01")


def test_keep_alive_without_nagle_delay(ovirt_engine, conn):
    vms = conn.system_service().vms_service()
    vms.list()
    opened = ovirt_engine.connections_opened
    t0 = time.monotonic()
    for _ in range(100):
        vms.list(search="name=x*")
    # ~1 ms each on one connection; Nagle + delayed ACK would cost ~44 ms.
    assert time.monotonic() - t0 < 2.0
    assert ovirt_engine.connections_opened == opened


def test_concurrent_clients(ovirt_engine):
    errors = []

    def work(i):
        try:
            c = sdk.Connection(**sim_connection_args(ovirt_engine))
            vm = new_vm(c, "room9-pc%02d" % i)
            for _ in range(10):
                vm_svc(c, vm.id).get()
            c.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(ovirt_engine.vms()) == 8
    assert ovirt_engine.sso_logins == 8


# -- VMs ---------------------------------------------------------------------

def test_add_vm_round_trip_and_image_locked_until_done(fconn, frozen_engine):
    vm = new_vm(
        fconn, "room01-pc01", comment="vdictl:room01", description="PC 1",
        memory=2 << 30, stateless=True,
        os=types.OperatingSystem(type="windows_10x64"),
        time_zone=types.TimeZone(name="W. Europe Standard Time"),
        usb=types.Usb(enabled=True),
        high_availability=types.HighAvailability(enabled=False),
    )
    assert vm.status == types.VmStatus.IMAGE_LOCKED
    assert vm.href == "/ovirt-engine/api/vms/" + vm.id
    got = vm_svc(fconn, vm.id).get()
    assert (got.name, got.comment, got.description) == ("room01-pc01", "vdictl:room01", "PC 1")
    assert got.memory == 2 << 30 and got.stateless is True
    assert got.os.type == "windows_10x64"
    assert got.time_zone.name == "W. Europe Standard Time"
    assert got.usb.enabled is True
    assert got.high_availability.enabled is False       # echoed unknown field
    cluster = fconn.follow_link(got.cluster)
    template = fconn.follow_link(got.template)
    assert (cluster.name, template.name) == ("Default", "tmpl-win10")

    frozen_engine.advance(4.9)
    assert status(fconn, vm.id) == "image_locked"
    frozen_engine.advance(0.2)
    assert status(fconn, vm.id) == "down"
    state = frozen_engine.vm("room01-pc01")
    assert state.status == "down" and state.comment == "vdictl:room01"
    assert state.timezone == "W. Europe Standard Time" and state.usb is True
    assert [(s.description, s.type) for s in state.snapshots] == [("Active VM", "active")]


def test_add_vm_faults(conn):
    with pytest.raises(sdk.NotFoundError, match="Template: name=nope"):
        new_vm(conn, "x", template=types.Template(name="nope"))
    with pytest.raises(sdk.NotFoundError, match="Cluster: name=nope"):
        new_vm(conn, "x", cluster=types.Cluster(name="nope"))
    with pytest.raises(sdk.Error, match=r"Vm \[cluster.id\|name\] required") as err:
        conn.system_service().vms_service().add(types.Vm(name="x"))
    assert err.value.code == 400
    new_vm(conn, "dup")
    with pytest.raises(sdk.Error, match="VM name is already in use") as err:
        new_vm(conn, "dup")
    assert err.value.code == 409


def test_search(conn, ovirt_engine):
    for name in ("room1-pc01", "room1-pc02", "Room1-PC03", "room10-pc01"):
        ovirt_engine.add_vm(name, template="tmpl-win10")
    ovirt_engine.add_vm("foreign", comment="not ours")
    ovirt_engine.set_vm_status("room1-pc02", "up")
    vms = conn.system_service().vms_service()
    names = sorted(v.name for v in vms.list(search="name=room1-*"))
    assert names == ["Room1-PC03", "room1-pc01", "room1-pc02"]
    assert [v.name for v in vms.list(search="name=room1-* and status=up")] == ["room1-pc02"]
    assert [v.name for v in vms.list(search="comment=not*")] == ["foreign"]
    assert vms.list(search="name=nothing-*") == []
    assert len(vms.list(search="name=room1*", max=2)) == 2
    assert len(vms.list()) == 5

    system = conn.system_service()
    [tmpl] = system.templates_service().list(search="name=tmpl-win10")
    assert tmpl.memory == 4 << 30
    assert [c.name for c in system.clusters_service().list(search="name=Default")] == ["Default"]
    [user] = system.users_service().list(search="usrname=thinclient@internal")
    assert user.user_name == "thinclient@internal" and user.principal == "thinclient"
    [profile] = system.vnic_profiles_service().list()
    assert conn.follow_link(profile.network).name == "vdi-net"


def test_update_vm(conn, ovirt_engine):
    ovirt_engine.add_vm("pc", template="tmpl-win10", comment="old")
    vm_id = ovirt_engine.vm("pc").id
    updated = vm_svc(conn, vm_id).update(types.Vm(comment="new", memory=1 << 30))
    assert updated.comment == "new"
    assert ovirt_engine.vm("pc").memory == 1 << 30


def test_power_cycle_and_engine_wording(fconn, frozen_engine):
    frozen_engine.add_vm("pc", template="tmpl-win10")
    vm_id = frozen_engine.vm("pc").id
    svc = vm_svc(fconn, vm_id)
    with pytest.raises(sdk.Error, match=r"\[Cannot stop VM. VM is not running.\]") as err:
        svc.stop()
    assert err.value.code == 409
    with pytest.raises(sdk.Error, match=r"\[Cannot shutdown VM. VM is not running.\]"):
        svc.shutdown()

    svc.start()
    assert status(fconn, vm_id) == "wait_for_launch"
    frozen_engine.advance(4)
    assert status(fconn, vm_id) == "powering_up"
    with pytest.raises(sdk.Error, match=r"\[Cannot run VM. VM is running.\]") as err:
        svc.start()
    assert err.value.code == 409
    with pytest.raises(sdk.Error, match=r"\[Cannot remove VM. VM is running.\]"):
        svc.remove()
    frozen_engine.advance(6)
    assert status(fconn, vm_id) == "up"

    svc.shutdown()
    assert status(fconn, vm_id) == "powering_down"
    frozen_engine.advance(5)
    assert status(fconn, vm_id) == "down"

    svc.start()
    frozen_engine.advance(10)
    svc.stop()
    frozen_engine.advance(3)
    assert status(fconn, vm_id) == "down"


def test_ignore_acpi_keeps_vm_up(fconn, frozen_engine):
    frozen_engine.add_vm("stubborn", template="tmpl-win10", status="up")
    frozen_engine.ignore_acpi.add("stubborn")
    svc = vm_svc(fconn, frozen_engine.vm("stubborn").id)
    svc.shutdown()
    frozen_engine.advance(60)
    assert svc.get().status == types.VmStatus.UP
    svc.stop()
    frozen_engine.settle()
    assert svc.get().status == types.VmStatus.DOWN


def test_remove_vm(fconn, frozen_engine):
    vm = new_vm(fconn, "pc")
    svc = vm_svc(fconn, vm.id)
    with pytest.raises(sdk.Error, match=r"\[Cannot remove VM: VM is locked. Please try again in a few minutes.\]"):
        svc.remove()
    with pytest.raises(sdk.Error, match=r"\[Cannot run VM: VM is locked."):
        svc.start()
    frozen_engine.settle()
    svc.remove()
    assert frozen_engine.vm("pc").status == "image_locked"
    frozen_engine.advance(2)
    assert not frozen_engine.has_vm("pc")
    with pytest.raises(sdk.NotFoundError):
        svc.get()


# -- snapshots ---------------------------------------------------------------

def test_snapshot_create_and_restore(fconn, frozen_engine):
    frozen_engine.add_vm("pc", template="tmpl-win10", comment="before")
    vm_id = frozen_engine.vm("pc").id
    svc = vm_svc(fconn, vm_id)
    snaps = svc.snapshots_service()
    snap = snaps.add(types.Snapshot(description="clean", persist_memorystate=False))
    assert snap.snapshot_status == types.SnapshotStatus.LOCKED
    listed = {s.description: s for s in snaps.list()}
    assert listed["Active VM"].snapshot_type == types.SnapshotType.ACTIVE
    assert listed["clean"].snapshot_type == types.SnapshotType.REGULAR
    assert listed["clean"].date is not None
    assert status(fconn, vm_id) == "down"      # status kept, VM locked
    with pytest.raises(sdk.Error, match="The VM is performing an operation on a Snapshot") as err:
        svc.start()
    assert err.value.code == 409
    frozen_engine.advance(15)
    assert snaps.snapshot_service(snap.id).get().snapshot_status == types.SnapshotStatus.OK

    # Changes after the snapshot, and a newer snapshot, are undone by restore.
    svc.update(types.Vm(comment="after"))
    newer = snaps.add(types.Snapshot(description="newer", persist_memorystate=False))
    frozen_engine.settle()
    svc.start()
    with pytest.raises(sdk.Error, match=r"\[Cannot revert to Snapshot. VM is running.\]") as err:
        snaps.snapshot_service(snap.id).restore(restore_memory=False)
    assert err.value.code == 409
    svc.stop()
    frozen_engine.settle()

    snaps.snapshot_service(snap.id).restore(restore_memory=False)
    assert status(fconn, vm_id) == "image_locked"
    assert snaps.snapshot_service(snap.id).get().snapshot_status == types.SnapshotStatus.LOCKED
    assert frozen_engine.snapshot_ops_in_flight == 1
    frozen_engine.advance(20)
    state = frozen_engine.vm("pc")
    assert state.status == "down" and state.comment == "before"
    assert [s.description for s in state.snapshots] == ["clean", "Active VM"]
    assert newer.id not in [s.id for s in state.snapshots]
    assert frozen_engine.snapshot_ops_in_flight == 0


def test_snapshot_remove(fconn, frozen_engine):
    frozen_engine.add_vm("pc", template="tmpl-win10")
    snaps = vm_svc(fconn, frozen_engine.vm("pc").id).snapshots_service()
    snap = snaps.add(types.Snapshot(description="s1"))
    frozen_engine.settle()
    active = [s for s in snaps.list() if s.snapshot_type == types.SnapshotType.ACTIVE][0]
    with pytest.raises(sdk.Error, match="Removing the VM active Snapshot is not allowed"):
        snaps.snapshot_service(active.id).remove()
    snaps.snapshot_service(snap.id).remove()
    assert frozen_engine.vm("pc").snapshots[0].status == "locked"
    frozen_engine.settle()
    assert [s.description for s in frozen_engine.vm("pc").snapshots] == ["Active VM"]


def test_failing_snapshots(fconn, frozen_engine):
    frozen_engine.add_vm("bad", template="tmpl-win10")
    frozen_engine.fail_snapshots.add("bad")
    snaps = vm_svc(fconn, frozen_engine.vm("bad").id).snapshots_service()
    snaps.add(types.Snapshot(description="doomed"))
    frozen_engine.settle()
    assert [s.description for s in snaps.list()] == ["Active VM"]
    assert any("Failed to complete snapshot 'doomed'" in e for e in frozen_engine.events)


def test_max_snapshot_ops_in_flight(fconn, frozen_engine):
    ids = []
    for i in range(3):
        frozen_engine.add_vm("pc%d" % i, template="tmpl-win10")
        ids.append(frozen_engine.vm("pc%d" % i).id)
    for vm_id in ids:
        vm_svc(fconn, vm_id).snapshots_service().add(types.Snapshot(description="s"))
    assert frozen_engine.snapshot_ops_in_flight == 3
    frozen_engine.settle()
    assert frozen_engine.snapshot_ops_in_flight == 0
    # One at a time: the peak stays 3 from before, a new sim would say 1.
    vm_svc(fconn, ids[0]).snapshots_service().add(types.Snapshot(description="t"))
    assert frozen_engine.max_snapshot_ops_in_flight == 3


def test_preview_commit_undo(fconn, frozen_engine):
    frozen_engine.add_vm("pc", template="tmpl-win10", comment="v1")
    vm_id = frozen_engine.vm("pc").id
    svc = vm_svc(fconn, vm_id)
    snap = svc.snapshots_service().add(types.Snapshot(description="base"))
    frozen_engine.settle()
    svc.update(types.Vm(comment="v2"))
    svc.preview_snapshot(snapshot=types.Snapshot(id=snap.id), restore_memory=False)
    frozen_engine.settle()
    assert frozen_engine.vm("pc").comment == "v1"
    svc.undo_snapshot()
    frozen_engine.settle()
    assert frozen_engine.vm("pc").comment == "v2"
    svc.preview_snapshot(snapshot=types.Snapshot(id=snap.id))
    frozen_engine.settle()
    svc.commit_snapshot()
    frozen_engine.settle()
    state = frozen_engine.vm("pc")
    assert state.comment == "v1"
    assert [(s.description, s.status) for s in state.snapshots] == [("base", "ok"), ("Active VM", "ok")]


# -- NICs and permissions ------------------------------------------------------

def test_nics_and_permissions(conn, ovirt_engine):
    ovirt_engine.add_vm("pc", template="tmpl-win10")
    svc = vm_svc(conn, ovirt_engine.vm("pc").id)
    system = conn.system_service()
    [profile] = system.vnic_profiles_service().list()
    nic = svc.nics_service().add(types.Nic(name="nic1", vnic_profile=types.VnicProfile(id=profile.id)))
    assert nic.vnic_profile.id == profile.id
    assert [n.name for n in svc.nics_service().list()] == ["nic1"]
    with pytest.raises(sdk.NotFoundError):
        svc.nics_service().add(types.Nic(name="nic2", vnic_profile=types.VnicProfile(id="nope")))

    [user] = system.users_service().list(search="usrname=thinclient@internal")
    perm = svc.permissions_service().add(
        types.Permission(role=types.Role(name="UserRole"), user=types.User(id=user.id)))
    assert conn.follow_link(perm.role).name == "UserRole"
    assert perm.user.id == user.id
    state = ovirt_engine.vm("pc")
    assert [(n.name, n.network) for n in state.nics] == [("nic1", "vdi-net")]
    assert [(p.role, p.user) for p in state.permissions] == [("UserRole", "thinclient@internal")]


def test_template_nics_are_copied(conn, ovirt_engine):
    ovirt_engine.add_template("tmpl-net", nics=["vdi-net"])
    vm = new_vm(conn, "pc", template=types.Template(name="tmpl-net"))
    nics = vm_svc(conn, vm.id).nics_service().list()
    assert [n.name for n in nics] == ["nic1"]


def test_request_latency(ovirt_engine, conn):
    ovirt_engine.request_latency = 0.05
    t0 = time.monotonic()
    conn.system_service().vms_service().list()
    assert time.monotonic() - t0 >= 0.05


def test_seeded_snapshot_restores_the_configuration(conn, ovirt_engine):
    ovirt_engine.add_vm("seeded", template="tmpl-win10", comment="before")
    sid = ovirt_engine.add_snapshot("seeded", "golden")
    vm_service = conn.system_service().vms_service()
    [vm] = vm_service.list(search="name=seeded")
    vm_service.vm_service(vm.id).update(types.Vm(comment="after"))
    snaps = vm_service.vm_service(vm.id).snapshots_service()
    assert [(s.description, s.snapshot_status) for s in snaps.list()
            if s.snapshot_type == types.SnapshotType.REGULAR] == [
        ("golden", types.SnapshotStatus.OK)]
    snaps.snapshot_service(sid).restore()
    ovirt_engine.settle()
    assert ovirt_engine.vm("seeded").comment == "before"


def test_a_restore_without_a_correlation_id_tags_its_two_jobs_restoresnapshot(conn,
                                                                              ovirt_engine):
    # BackendSnapshotResource.restore: RESTORE_SNAPSHOT_CORRELATION_ID on the preview
    # and its commit; ExecutionMessages.properties words the jobs
    ovirt_engine.add_vm("tagged", template="tmpl-win10")
    sid = ovirt_engine.add_snapshot("tagged", "golden")
    [vm] = conn.system_service().vms_service().list(search="name=tagged")
    conn.system_service().vms_service().vm_service(vm.id).snapshots_service() \
        .snapshot_service(sid).restore()
    ovirt_engine.settle()
    jobs = conn.system_service().jobs_service().list(search="correlation_id=RestoreSnapshot")
    assert sorted((j.description, j.status) for j in jobs) == [
        ("Preview VM Snapshot golden of VM tagged", types.JobStatus.FINISHED),
        ("Restoring VM Snapshot golden of VM tagged", types.JobStatus.FINISHED)]


def _jobs(sim, username, password, headers=None):
    c = sdk.Connection(**dict(sim_connection_args(sim), username=username, password=password),
                       headers=headers)
    try:
        return c.system_service().jobs_service().list()
    finally:
        c.close()


def test_jobs_are_listed_to_admins_only_and_never_on_the_user_api(ovirt_engine):
    sim = ovirt_engine
    sim.add_account("robot@internal", "pw", admin=False)
    assert _jobs(sim, sim.username, sim.password) == []
    for user, pw, headers in [("robot@internal", "pw", None),
                              (sim.username, sim.password, {"Filter": "true"})]:
        with pytest.raises(sdk.Error) as caught:
            _jobs(sim, user, pw, headers)
        assert caught.value.code == 400
        assert 'Fault detail is "Query execution failed due to insufficient permissions."' \
            in str(caught.value)
    sim.denied_status = 403
    with pytest.raises(sdk.AuthError):
        _jobs(sim, "robot@internal", "pw")


def test_request_headers_are_recorded_without_the_token(ovirt_engine):
    _jobs(ovirt_engine, ovirt_engine.username, ovirt_engine.password, {"Filter": "false"})
    [jobs] = [r for r in ovirt_engine.requests if r["path"].endswith("/jobs")]
    assert jobs["headers"]["Filter"] == "false"
    assert "Authorization" not in jobs["headers"]
    assert jobs["headers"]["Version"] == "4"


# -- who may do what ------------------------------------------------------------

def account_connection(engine, name, roles):
    engine.add_account(name, "pw", roles=roles)
    return sdk.Connection(**dict(sim_connection_args(engine), username=name, password="pw"))


def own_permits(c):
    """(role, the object it is on, its permits) of the connection's account."""
    me = c.system_service().get().authenticated_user
    perms = c.system_service().users_service().user_service(me.id).permissions_service().list(
        follow="role.permits")
    return sorted((p.role.name,   # inline with its permits (follow=role.permits)
                   "vm" if p.vm else "cluster" if p.cluster else "system",
                   frozenset(x.name for x in p.role.permits or []))
                  for p in perms)


def test_a_command_the_account_may_not_run_is_refused_403_in_the_engines_words(ovirt_engine):
    """UserVmRunTimeManager holds everything on VMs but snapshots
    (00700_insert_roles_groups.sql): the restore is refused as the engine
    refuses it (USER_NOT_AUTHORIZED_TO_PERFORM_ACTION, ErrorType NO_PERMISSION)."""
    ovirt_engine.add_vm("pc", template="tmpl-win10")
    snap = ovirt_engine.add_snapshot("pc", "base")
    c = account_connection(ovirt_engine, "night@internal", ("UserVmRunTimeManager",))
    try:
        svc = vm_svc(c, ovirt_engine.vm("pc").id)
        svc.start()   # run_vm: held
        with pytest.raises(sdk.Error) as caught:
            svc.snapshots_service().snapshot_service(snap).restore()
        assert caught.value.code == 403
        assert 'Fault detail is "[User is not authorized to perform this action.]"' \
            in str(caught.value)
        [(role, on, held)] = own_permits(c)
        assert (role, on) == ("UserVmRunTimeManager", "system")
        assert "run_vm" in held and "manipulate_vm_snapshots" not in held
    finally:
        c.close()


def test_the_creator_of_a_vm_becomes_its_user_vm_manager(ovirt_engine, conn):
    """AddVmCommand.addVmPermission: an account that may not manipulate
    permissions on the new VM gets UserVmManager on it; an admin does not."""
    c = account_connection(ovirt_engine, "creator@internal", ("VmCreator",))
    try:
        vm = new_vm(c, "pc-by-creator")
        ovirt_engine.settle()   # the disks copied
        vm_svc(c, vm.id).snapshots_service().add(types.Snapshot(description="base"))
        assert [r[:2] for r in own_permits(c)] == [("UserVmManager", "vm"),
                                                   ("VmCreator", "system")]
    finally:
        c.close()
    new_vm(conn, "pc-by-admin")
    assert ovirt_engine.vm("pc-by-admin").permissions == ()
    assert [(p.role, p.user) for p in ovirt_engine.vm("pc-by-creator").permissions] == [
        ("UserVmManager", "creator@internal")]
