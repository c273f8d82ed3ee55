# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's clone as qemu-server's clone_vm has it (PVE/API2/Qemu.pm):
the answer comes before the worker writes the config, two clones of one
VMID fail the second inside its task, and a worker killed outright leaves
``lock: clone``; /cluster/nextid as pve-manager's PVE/API2/Cluster.pm."""

import pytest
from proxmoxer import ResourceException

from tests.pve_sim.clients import ticket_client, wait_task


def late(pve_api_factory, start=4.0, copy=2.0):
    """A simulator whose clone workers take the lock files `start` simulated
    seconds after the answer and copy for `copy` (time scale 0.05)."""
    sim = pve_api_factory(time_scale=0.05, durations={"qmclone-start": start,
                                                      "qmclone": copy})
    return sim, ticket_client(sim)


def test_nextid_offers_a_vmid_until_the_worker_wrote_its_config(pve_api_factory):
    sim, api = late(pve_api_factory)
    newid = int(api.cluster.nextid.get())
    upid = api.nodes("pve1").qemu(9000).clone.post(newid=newid, name="a")
    assert api.cluster.nextid.get() == str(newid)
    assert api.cluster.nextid.get(vmid=newid) == str(newid)
    assert wait_task(api, upid)["exitstatus"] == "OK"
    with pytest.raises(ResourceException) as caught:
        api.cluster.nextid.get(vmid=newid)
    assert caught.value.status_code == 400
    assert caught.value.errors == {"vmid": "VM %d already exists" % newid}


def test_two_clones_of_one_vmid_fail_the_second_inside_its_task(pve_api_factory):
    # the winner holds lock-100.conf for its whole copy (2 s), longer than the
    # loser's 1 s wait (qemu-server: lock_config_full($newid, 1, ...))
    sim, api = late(pve_api_factory)
    first = api.nodes("pve1").qemu(9000).clone.post(newid=100, name="a")
    second = api.nodes("pve1").qemu(9001).clone.post(newid=100, name="b")
    assert wait_task(api, second)["exitstatus"] == \
        "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
    assert wait_task(api, first)["exitstatus"] == "OK"
    assert api.nodes("pve1").qemu(100).config.get()["name"] == "a"    # the winner's, kept


def test_a_quick_winner_leaves_the_loser_config_file_already_exists(pve_api_factory):
    sim, api = late(pve_api_factory, copy=0.2)
    first = api.nodes("pve1").qemu(9000).clone.post(newid=100, name="a")
    second = api.nodes("pve1").qemu(9000).clone.post(newid=100, name="b")
    assert wait_task(api, second)["exitstatus"] == \
        "unable to create VM 100: config file already exists"
    assert wait_task(api, first)["exitstatus"] == "OK"
    assert sim.vm("a").vmid == 100 and sim.linked_clones("tmpl-win10") == ["a"]


@pytest.mark.parametrize("at, config", [
    ("copy", {"lock": "clone"}),
    ("config", {"lock": "clone", "name": "a", "description": "mine"}),
])
def test_a_killed_clone_worker_leaves_lock_clone(pve_api_factory, at, config):
    sim, api = late(pve_api_factory, start=0.0, copy=0.2)
    sim.kill_clone(9000, at=at)
    upid = api.nodes("pve1").qemu(9000).clone.post(newid=100, name="a", description="mine")
    assert wait_task(api, upid)["exitstatus"] == "unexpected status"
    left = api.nodes("pve1").qemu(100).config.get()
    assert {k: left[k] for k in config if k in left} == config
    assert ("scsi0" in left) == (at == "config")
    assert not [line for line in api.nodes("pve1").tasks(upid).log.get()
                if line["t"].startswith("TASK")]
    assert api.cluster.nextid.get() == "101"
