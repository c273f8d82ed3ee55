# SPDX-License-Identifier: GPL-3.0-or-later
"""The Proxmox VE simulator driven only through proxmoxer: auth, inventory,
config, clone, tasks."""

import re
import time

import pytest
from proxmoxer import ResourceException
from proxmoxer.core import AuthenticationError

from tests.pve_sim.clients import ticket_client, token_client, wait_task


@pytest.fixture
def api(pve_api):
    return ticket_client(pve_api)


def clone(api, vmid=9000, **kw):
    newid = int(api.cluster.nextid.get())
    upid = api.nodes("pve1").qemu(vmid).clone.post(newid=newid, **kw)
    return newid, upid


def test_ticket_login_and_version(pve_api, api):
    assert api.version.get()["version"] == "8.2.4"
    assert pve_api.logins == 1
    assert pve_api.requests[0] == ("POST", "/access/ticket", "login")
    assert pve_api.requests[-1] == ("GET", "/version", "ticket")


def test_wrong_password_is_refused(pve_api):
    with pytest.raises(AuthenticationError) as caught:
        ticket_client(pve_api, password="wrong")
    assert "Couldn't authenticate user: root@pam" in str(caught.value)
    assert pve_api.logins == 0


def test_token_auth_and_its_refusals(pve_api):
    api = token_client(pve_api)
    assert [n["node"] for n in api.nodes.get()] == ["pve1", "pve2"]
    assert pve_api.requests[-1] == ("GET", "/nodes", "token")
    for client in (token_client(pve_api, token_value="nope"),
                   token_client(pve_api, token_name="other")):
        with pytest.raises(ResourceException) as caught:
            client.nodes.get()
        # no body (pve-http-server sends the auth_handler's refusal without content),
        # so proxmoxer adds the raw body it could not parse
        assert str(caught.value) == \
            "401 Unauthorized: Authentication failed! - {'errors': b''}"
    assert pve_api.auth.failures == ["invalid token value!",
                                     "no such token 'other' for user 'root@pam'"]


def test_csrf_token_is_required_for_changes(pve_api, api):
    api._store["session"].auth.csrf_prevention_token = "0000:forged"
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(9000).config.put(description="x")
    assert str(caught.value) == \
        "401 Unauthorized: Permission denied - invalid csrf token - {'errors': b''}"
    assert api.nodes("pve1").qemu(9000).config.get()["name"] == "tmpl-win10"


def test_cluster_resources_and_storages(pve_api, api):
    guests = api.cluster.resources.get(type="vm")
    assert [(g["vmid"], g["name"], g["template"]) for g in guests] == [
        (9000, "tmpl-win10", 1), (9001, "tmpl-linux", 1), (9002, "tmpl-shared", 1)]
    stores = api.cluster.resources.get(type="storage")
    shared = [s for s in stores if s["storage"] == "shared-nfs"]
    assert {s["node"] for s in shared} == {"pve1", "pve2"}
    assert shared[0]["shared"] == 1 and shared[0]["plugintype"] == "nfs"
    assert api.pools.get() == [{"poolid": "lab"}]


def test_nextid_is_a_string_and_checks_a_given_id(api):
    assert api.cluster.nextid.get() == "100"
    with pytest.raises(ResourceException) as caught:
        api.cluster.nextid.get(vmid=9000)
    assert caught.value.status_code == 400
    assert caught.value.errors == {"vmid": "VM 9000 already exists"}


def test_config_get_put_and_missing_vm(api):
    node = api.nodes("pve1")
    node.qemu(9000).config.put(description="golden", tags="vdictl")
    config = node.qemu(9000).config.get()
    assert (config["description"], config["tags"], config["memory"]) == \
        ("golden", "vdictl", 2048)
    node.qemu(9000).config.put(delete="tags")
    assert "tags" not in node.qemu(9000).config.get()
    with pytest.raises(ResourceException) as caught:
        node.qemu(999).config.get()
    assert str(caught.value) == ("500 Internal Server Error: Configuration file "
                                 "'nodes/pve1/qemu-server/999.conf' does not exist")


def test_linked_clone_is_locked_until_its_task_ends(pve_api_factory):
    # a clone takes 1 s; its worker writes the config 0.1 s after the answer
    sim = pve_api_factory(time_scale=0.5, durations={"qmclone-start": 0.2})
    api = ticket_client(sim)
    newid, upid = clone(api, name="lab1-vd01", pool="lab")
    assert upid.startswith("UPID:pve1:") and ":qmclone:9000:root@pam:" in upid
    assert api.cluster.nextid.get() == str(newid)      # no config yet: still offered
    deadline = time.monotonic() + 5
    while api.cluster.nextid.get() == str(newid):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert api.nodes("pve1").qemu(newid).config.get()["lock"] == "clone"
    assert wait_task(api, upid)["exitstatus"] == "OK"
    config = api.nodes("pve1").qemu(newid).config.get()
    assert "lock" not in config
    assert config["scsi0"] == "local-lvm:base-9000-disk-0/vm-%d-disk-0,size=32G" % newid
    assert sim.linked_clones("tmpl-win10") == ["lab1-vd01"]
    guest = [g for g in api.cluster.resources.get(type="vm") if g["vmid"] == newid][0]
    assert guest["pool"] == "lab"


def test_clone_refusals(api):
    node = api.nodes("pve1")
    cases = [
        (dict(newid=9001), "500 Internal Server Error: unable to create VM 9001: "
                           "config file already exists"),
        (dict(newid=150, full=0, storage="local-lvm"),
         "500 Internal Server Error: parameter 'storage' not allowed for linked clones"),
        (dict(newid=150, target="pve2"),
         "500 Internal Server Error: can't clone VM to node 'pve2' (VM uses local storage)"),
        (dict(newid=150, full=1, storage="local"),
         "400 Bad Request: Parameter verification failed. - "
         "{'storage': \"storage 'local' does not support vm images\"}"),
        (dict(newid=150, name="bad_name"),
         "400 Bad Request: Parameter verification failed. - "
         "{'name': 'invalid format - value does not look like a valid DNS name\\n'}"),
        (dict(newid=99), "400 Bad Request: Parameter verification failed. - "
                         "{'newid': 'invalid format - value does not look like a valid "
                         "VM ID\\n'}"),
    ]
    for params, message in cases:
        with pytest.raises(ResourceException) as caught:
            node.qemu(9000).clone.post(**params)
        assert str(caught.value) == message


def test_shared_template_clones_to_the_other_node(pve_api, api):
    newid, upid = clone(api, vmid=9002, name="far", target="pve2")
    assert wait_task(api, upid)["exitstatus"] == "OK"
    assert pve_api.vm("far").node == "pve2"
    assert api.nodes("pve2").qemu(newid).config.get()["scsi0"].startswith(
        "shared-nfs:base-9002-disk-0/vm-%d-disk-0" % newid)


def test_tasks_list_filters(api):
    newid, upid = clone(api, name="vd1")
    wait_task(api, upid)
    upid2 = api.nodes("pve1").qemu(newid).status.start.post()
    wait_task(api, upid2)
    tasks = api.nodes("pve1").tasks.get(source="all", vmid=newid)
    assert [(t["type"], t["status"]) for t in tasks] == [("qmstart", "OK")]
    assert tasks[0]["upid"] == upid2 and isinstance(tasks[0]["endtime"], int)
    clones = api.nodes("pve1").tasks.get(typefilter="qmclone", limit=5)
    assert [t["upid"] for t in clones] == [upid]
    assert api.nodes("pve2").tasks.get(source="all") == []


def test_token_tasks_carry_the_token_id(pve_api):
    api = token_client(pve_api)
    upid = api.nodes("pve1").qemu(9000).snapshot.post(snapname="s1")
    assert upid.endswith(":qmsnapshot:9000:root@pam!vdictl:")
    assert wait_task(api, upid)["exitstatus"] == "you can't take a snapshot if it's a template"
    task = api.nodes("pve1").tasks.get(source="all")[0]
    assert (task["user"], task["tokenid"]) == ("root@pam", "vdictl")


def test_skiplock_is_for_root_by_ticket_only(pve_api):
    pve_api.leave_lock("tmpl-win10", "backup")
    with pytest.raises(ResourceException) as caught:
        token_client(pve_api).nodes("pve1").qemu(9000).config.put(delete="lock", skiplock=1)
    assert caught.value.errors == {"skiplock": "Only root may use this option."}
    ticket_client(pve_api).nodes("pve1").qemu(9000).config.put(delete="lock", skiplock=1)
    assert pve_api.vm("tmpl-win10").lock is None


def test_task_status_of_unknown_tasks(api):
    tasks = api.nodes("pve1").tasks
    for upid, message in (("bogus", "unable to parse worker upid"),
                          ("UPID:pve1:00000001:00000002:00000003:qmstart:100:root@pam:",
                           "no such task")):
        with pytest.raises(ResourceException) as caught:
            tasks(upid).status.get()
        assert caught.value.errors == {"upid": message}


def test_node_guest_list_and_storage_config(api):
    assert [g["vmid"] for g in api.nodes("pve1").qemu.get()] == [9000, 9001, 9002]
    assert api.nodes("pve2").qemu.get() == []
    assert [(s["storage"], s["shared"]) for s in api.storage.get()] == [
        ("local", 0), ("local-lvm", 0), ("shared-nfs", 1)]


def test_a_network_device_without_address_gets_one(api):
    api.nodes("pve1").qemu(9000).config.put(net0="virtio,bridge=vmbr1,firewall=1")
    net0 = api.nodes("pve1").qemu(9000).config.get()["net0"]
    assert re.fullmatch(r"virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr1,firewall=1", net0)


def test_unknown_config_keys_and_bad_names_are_refused(api):
    config = api.nodes("pve1").qemu(9000).config
    with pytest.raises(ResourceException) as caught:
        config.put(notes="x", memory=1024)
    assert caught.value.errors == {"notes": "property is not defined in schema and the "
                                            "schema does not allow additional properties"}
    with pytest.raises(ResourceException) as caught:
        config.put(name="lab1-vd01\n")
    assert caught.value.errors == {
        "name": "invalid format - value does not look like a valid DNS name\n"}
    assert config.get()["memory"] == 2048
