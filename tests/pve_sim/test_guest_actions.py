# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's snapshots, rollbacks, power actions and locks, driven
only through proxmoxer."""

import pytest
from proxmoxer import ResourceException

from tests.pve_sim.clients import ticket_client, wait_task


@pytest.fixture
def api(pve_api):
    return ticket_client(pve_api)


def make_vm(api, name="vd1", template=9000):
    newid = int(api.cluster.nextid.get())
    wait_task(api, api.nodes("pve1").qemu(template).clone.post(newid=newid, name=name))
    return api.nodes("pve1").qemu(newid), newid


def run(api, upid):
    return wait_task(api, upid)["exitstatus"]


def test_snapshot_list_and_rollback_restore_the_config(pve_api, api):
    vm, newid = make_vm(api)
    vm.config.put(description="before", tags="vdictl", memory=4096)
    assert run(api, vm.snapshot.post(snapname="clean", description="base")) == "OK"
    vm.config.put(description="after", memory=1024, delete="tags")
    assert run(api, vm.status.start.post()) == "OK"
    snaps = vm.snapshot.get()
    assert [s["name"] for s in snaps] == ["clean", "current"]
    assert snaps[0]["description"] == "base" and snaps[0]["vmstate"] == 0
    assert snaps[1]["parent"] == "clean" and snaps[1]["running"] == 1
    assert run(api, vm.snapshot("clean").rollback.post()) == "OK"
    config = vm.config.get()
    assert (config["description"], config["tags"], config["memory"]) == \
        ("before", "vdictl", 4096)
    assert vm.status.current.get()["status"] == "stopped"   # rollback stops it
    assert pve_api.peak_snapshot_ops == 1 and pve_api.snapshot_ops_in_flight == 0


def test_snapshot_name_rules(api):
    vm, _ = make_vm(api)
    assert run(api, vm.snapshot.post(snapname="s1")) == "OK"
    assert run(api, vm.snapshot.post(snapname="s1")) == "snapshot name 's1' already used"
    for bad in ("1st", "a", "with space"):
        with pytest.raises(ResourceException) as caught:
            vm.snapshot.post(snapname=bad)
        assert caught.value.errors == {
            "snapname": "invalid format - invalid configuration ID '%s'\n" % bad}
    assert run(api, vm.snapshot("nope").rollback.post()) == "snapshot 'nope' does not exist"
    assert run(api, vm.snapshot("s1").delete()) == "OK"
    assert [s["name"] for s in vm.snapshot.get()] == ["current"]


def test_a_config_lock_refuses_actions_until_unlocked(pve_api, api):
    vm, _ = make_vm(api)
    pve_api.leave_lock("vd1", "snapshot")
    with pytest.raises(ResourceException) as caught:
        vm.config.put(description="x")
    assert str(caught.value) == "500 Internal Server Error: VM is locked (snapshot)"
    assert run(api, vm.status.start.post()) == "VM is locked (snapshot)"
    assert run(api, vm.snapshot.post(snapname="s2")) == "VM is locked (snapshot)"
    resource = [g for g in api.cluster.resources.get(type="vm") if g["name"] == "vd1"][0]
    assert resource["lock"] == "snapshot"
    assert vm.status.current.get()["lock"] == "snapshot"
    vm.config.put(delete="lock", skiplock=1)
    assert pve_api.vm("vd1").lock is None
    assert run(api, vm.status.start.post()) == "OK"


def test_the_lock_file_times_out(pve_api_factory):
    # a shutdown that the guest ignores holds the lock file for its timeout
    sim = pve_api_factory(time_scale=0.01, lock_wait=2.0)
    api = ticket_client(sim)
    vm, newid = make_vm(api)
    assert run(api, vm.status.start.post()) == "OK"
    sim.vm("vd1").ignores_acpi = True
    shutdown = vm.status.shutdown.post(timeout=50)
    snapshot = vm.snapshot.post(snapname="s1")
    assert run(api, snapshot) == \
        "can't lock file '/var/lock/qemu-server/lock-%d.conf' - got timeout" % newid
    assert run(api, shutdown) == "VM quit/powerdown failed - got timeout"
    assert vm.status.current.get()["status"] == "running"


def test_power_actions(pve_api, api):
    vm, newid = make_vm(api)
    assert run(api, vm.status.start.post()) == "OK"
    assert run(api, vm.status.start.post()) == "VM %d already running" % newid
    assert run(api, vm.status.shutdown.post()) == "OK"
    assert vm.status.current.get()["status"] == "stopped"
    assert run(api, vm.status.start.post()) == "OK"
    pve_api.vm("vd1").ignores_acpi = True
    upid = vm.status.shutdown.post(timeout=5, forceStop=1)
    assert run(api, upid) == "WARNINGS: 1"
    assert vm.status.current.get()["status"] == "stopped"
    assert [line["t"] for line in api.nodes("pve1").tasks(upid).log.get()] == [
        "VM still running - terminating now with SIGTERM", "TASK WARNINGS: 1"]
    assert [s.name for s in pve_api.starts] == ["vd1", "vd1"]
