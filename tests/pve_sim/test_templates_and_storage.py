# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's templates, destroy, full clones, ISO uploads and first
boots, driven only through proxmoxer."""

import io

import pytest
from proxmoxer import ResourceException

from tests.pve_sim.clients import ticket_client, wait_task


@pytest.fixture
def api(pve_api):
    return ticket_client(pve_api)


def run(api, upid, node="pve1"):
    return wait_task(api, upid, node)["exitstatus"]


def full_clone(api, name, template=9000, **kw):
    newid = int(api.cluster.nextid.get())
    upid = api.nodes("pve1").qemu(template).clone.post(newid=newid, name=name, full=1, **kw)
    assert run(api, upid) == "OK"
    return api.nodes("pve1").qemu(newid), newid


def test_template_conversion_and_its_refusals(pve_api, api):
    vm, newid = full_clone(api, "golden")
    assert vm.config.get()["scsi0"] == "local-lvm:vm-%d-disk-0,size=32G" % newid
    assert run(api, vm.status.start.post()) == "OK"
    with pytest.raises(ResourceException) as caught:
        vm.template.post()
    assert str(caught.value) == ("500 Internal Server Error: you can't convert a VM to "
                                 "template if VM is running")
    assert run(api, vm.status.stop.post()) == "OK"
    assert run(api, vm.template.post()) == "OK"
    config = vm.config.get()
    assert config["template"] == 1
    assert config["scsi0"] == "local-lvm:base-%d-disk-0,size=32G" % newid
    assert run(api, vm.status.start.post()) == "you can't start a vm if it's a template"
    with pytest.raises(ResourceException) as caught:
        vm.template.post()
    assert caught.value.content == "you can't convert a template to a template"


def test_destroy_and_the_template_in_use(pve_api, api):
    node = api.nodes("pve1")
    child = int(api.cluster.nextid.get())
    assert run(api, node.qemu(9000).clone.post(newid=child, name="child")) == "OK"
    assert run(api, node.qemu(9000).delete()) == \
        "base volume 'local-lvm:base-9000-disk-0' is still in use by linked cloned"
    assert run(api, node.qemu(child).status.start.post()) == "OK"
    with pytest.raises(ResourceException) as caught:
        node.qemu(child).delete(purge=1)
    assert caught.value.content == "VM %d is running - destroy failed" % child
    assert run(api, node.qemu(child).status.stop.post()) == "OK"
    assert run(api, node.qemu(child).delete(purge=1, **{"destroy-unreferenced-disks": 1})) \
        == "OK"
    assert pve_api.linked_clones("tmpl-win10") == []
    assert run(api, node.qemu(9000).delete()) == "OK"
    assert [g["vmid"] for g in api.cluster.resources.get(type="vm")] == [9001, 9002]


def test_full_clone_to_another_storage_and_a_cloudinit_copy(api):
    vm, newid = full_clone(api, "nfs-copy", template=9001, storage="shared-nfs")
    config = vm.config.get()
    assert config["scsi0"] == "shared-nfs:vm-%d-disk-0,size=32G" % newid
    assert config["ide2"] == "shared-nfs:vm-%d-cloudinit,media=cdrom" % newid
    volids = [c["volid"] for c in
              api.nodes("pve1").storage("shared-nfs").content.get(content="images")]
    assert "shared-nfs:vm-%d-disk-0" % newid in volids


def test_upload_iso_list_and_delete(pve_api, api):
    store = api.nodes("pve1").storage("local")
    payload = io.BytesIO(b"unattend: VDICTL-PAYLOAD-42")
    payload.name = "seed.iso"
    upid = store.upload.post(content="iso", filename=payload)
    assert ":imgcopy::root@pam:" in upid and run(api, upid) == "OK"
    assert [(c["volid"], c["size"]) for c in store.content.get(content="iso")] == \
        [("local:iso/seed.iso", 27)]
    assert api.nodes("pve2").storage("local").content.get(content="iso") == []
    bad = io.BytesIO(b"x")
    bad.name = "seed.iso"
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").storage("local-lvm").upload.post(content="iso", filename=bad)
    assert caught.value.content == "storage 'local-lvm' does not support 'iso' content"
    upid = store.content("local:iso/seed.iso").delete()
    assert ":imgdel:local:root@pam:" in upid and run(api, upid) == "OK"
    assert store.content.get(content="iso") == []


def test_first_boot_with_an_uploaded_iso_powers_off(pve_api, api):
    payload = io.BytesIO(b"VDICTL-PAYLOAD-42")
    payload.name = "answers.iso"
    run(api, api.nodes("pve1").storage("local").upload.post(content="iso", filename=payload))
    vm, _ = full_clone(api, "win1")
    vm.config.put(ide3="local:iso/answers.iso,media=cdrom")
    assert run(api, vm.status.start.post()) == "OK"
    start = pve_api.starts[-1]
    assert start.name == "win1" and b"VDICTL-PAYLOAD-42" in start.isos["ide3"]
    assert start.config["ide3"] == "local:iso/answers.iso,media=cdrom"
    with pve_api.lock:
        assert pve_api.wait_until(lambda: pve_api.vm("win1").status == "stopped", 50)
    assert run(api, vm.status.start.post()) == "OK"      # no first boot again
    with pve_api.lock:
        assert not pve_api.wait_until(lambda: pve_api.vm("win1").status == "stopped", 5)


def test_first_boot_with_cloud_init(pve_api, api):
    vm, _ = full_clone(api, "lin1", template=9001)
    vm.config.put(ciuser="student", ipconfig0="ip=dhcp")
    assert run(api, vm.status.start.post()) == "OK"
    assert pve_api.starts[-1].config["ciuser"] == "student"
    with pve_api.lock:
        assert pve_api.wait_until(lambda: pve_api.vm("lin1").status == "stopped", 50)


def test_foreign_guests(pve_api, api):
    pve_api.add_template("tmpl-other", node="pve2")
    pve_api.add_vm("someone-elses", node="pve2", running=True)
    pve_api.add_vm("their-clone", template="tmpl-win10")
    guests = {g["name"]: g for g in api.cluster.resources.get(type="vm")}
    assert guests["tmpl-other"]["vmid"] == 9003 and guests["tmpl-other"]["node"] == "pve2"
    assert guests["someone-elses"]["status"] == "running"
    assert pve_api.linked_clones("tmpl-win10") == ["their-clone"]


def test_linked_clones_only_of_templates_and_of_templates_made_of_clones(pve_api, api):
    node = api.nodes("pve1")
    child = int(api.cluster.nextid.get())
    assert run(api, node.qemu(9000).clone.post(newid=child, name="child")) == "OK"
    with pytest.raises(ResourceException) as caught:
        node.qemu(child).clone.post(newid=child + 1, full=0)
    assert caught.value.content == ("Linked clone feature is not supported for "
                                    "'local-lvm:base-9000-disk-0/vm-%d-disk-0' (scsi0)" % child)
    assert run(api, node.qemu(child).template.post()) == "OK"
    base = "local-lvm:base-9000-disk-0/base-%d-disk-0" % child
    assert node.qemu(child).config.get()["scsi0"] == base + ",size=32G"
    grandchild = child + 1
    assert run(api, node.qemu(child).clone.post(newid=grandchild, name="grandchild")) == "OK"
    assert node.qemu(grandchild).config.get()["scsi0"] == \
        "local-lvm:base-%d-disk-0/vm-%d-disk-0,size=32G" % (child, grandchild)
    assert pve_api.linked_clones("child") == ["grandchild"]
    assert run(api, node.qemu(child).delete()) == \
        "base volume '%s' is still in use by linked cloned" % base


def test_rollback_to_a_snapshot_from_before_the_first_boot_boots_first_again(pve_api, api):
    vm, _ = full_clone(api, "lin2", template=9001)
    assert run(api, vm.snapshot.post(snapname="fresh")) == "OK"
    for _ in range(2):
        assert run(api, vm.status.start.post()) == "OK"
        with pve_api.lock:
            assert pve_api.wait_until(lambda: pve_api.vm("lin2").status == "stopped", 50)
        assert run(api, vm.snapshot("fresh").rollback.post()) == "OK"


@pytest.mark.parametrize("sent", [
    "local:iso/seed.iso",            # raw: the rest of the path joined (fragmentDelimiter '')
    "local%3Aiso%2Fseed.iso",        # encodeURIComponent, as the web UI sends it
    "local%3Aiso%2F%2Fseed.iso",     # unescaped before the split on /+: // is one /
    "iso%2Fseed.iso",                # no storage: the path's storage is put in front
])
def test_a_volume_id_in_the_path_is_routed_as_pveproxy_routes_it(pve_api, api, sent):
    store = api.nodes("pve1").storage("local")
    payload = io.BytesIO(b"seed")
    payload.name = "seed.iso"
    run(api, store.upload.post(content="iso", filename=payload))
    assert run(api, store.content(sent).delete()) == "OK"
    assert store.content.get(content="iso") == []


@pytest.mark.parametrize("sent, error", [
    ("shared-nfs%3Aiso%2Fseed.iso", "storage ID mismatch (shared-nfs != local)\n"),
    ("1x%3Aiso%2Fseed.iso", "unable to parse volume ID '1x:iso/seed.iso'\n"),
])
def test_a_volume_id_of_another_or_no_storage_is_refused(pve_api, api, sent, error):
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").storage("local").content(sent).delete()
    assert caught.value.status_code == 400
    assert caught.value.errors == {"volume": error}


def test_sshkeys_must_come_urlencoded_and_be_keys(pve_api, api):
    vm, _ = full_clone(api, "ci1", template=9001)
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1x teacher@lab"
    with pytest.raises(ResourceException) as caught:
        vm.config.put(sshkeys=key)
    assert caught.value.status_code == 400
    assert caught.value.errors == {
        "sshkeys": "invalid format - invalid urlencoded string: %s\n" % key}
    with pytest.raises(ResourceException) as caught:
        vm.config.put(sshkeys="not%20a%20key")
    assert str(caught.value) == "500 Internal Server Error: SSH public key validation error"
    vm.config.put(sshkeys=key.replace(" ", "%20").replace("@", "%40"))
    assert vm.config.get()["sshkeys"] == \
        "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIE1x%20teacher%40lab"
