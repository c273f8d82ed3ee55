# SPDX-License-Identifier: GPL-3.0-or-later
"""Guests made outside the API: templates and foreign VMs, and the seed the
fixtures provide (see /work/briefs/pve-api.md, "Simulator seed")."""

from __future__ import annotations

from tests.pve_sim.wire.drives import parse_drive

DISK_SIZE = 32 << 30
#: what a template's disk holds of its DISK_SIZE (an installed guest)
DISK_USED = 6 << 30


def _free_from(cluster, first):
    vmid = first
    while vmid in cluster.vms:
        vmid += 1
    return vmid


def add_template(cluster, name, node="pve1", storage="local-lvm", vmid=None, memory=2048,
                 cloudinit=False):
    with cluster.lock:
        vmid = vmid or _free_from(cluster, 9000)
        volid = "%s:base-%d-disk-0" % (storage, vmid)
        cluster.put_volume(volid, node, size=DISK_SIZE, used=DISK_USED)
        config = {"name": name, "memory": memory, "cores": 2, "ostype": "l26",
                  "net0": "virtio=%s,bridge=vmbr0" % cluster.new_mac(),
                  "scsi0": "%s,size=32G" % volid, "scsihw": "virtio-scsi-single",
                  "boot": "order=scsi0", "template": 1}
        if cloudinit:
            ci = "%s:vm-%d-cloudinit" % (storage, vmid)
            cluster.put_volume(ci, node, size=4 << 20)
            config["ide2"] = "%s,media=cdrom" % ci
        vm = cluster.new_guest(vmid, node, config)
        vm.booted = True
        return vm


def add_vm(cluster, name, node="pve1", template=None, running=False, vmid=None,
           storage="local-lvm", memory=2048, ignores_acpi=False):
    """A guest; with ``template`` (a name) a linked clone of it."""
    with cluster.lock:
        vmid = vmid or cluster.free_vmid()
        config = {"name": name, "memory": memory, "cores": 2, "ostype": "l26",
                  "net0": "virtio=%s,bridge=vmbr0" % cluster.new_mac(),
                  "scsihw": "virtio-scsi-single", "boot": "order=scsi0"}
        base = None
        if template is not None:
            source = cluster.by_name(template)
            base = parse_drive(source.config["scsi0"])[0]
            node = source.node
            store = base.split(":")[0]
            volid = "%s:%s/vm-%d-disk-0" % (store, base.split("/")[-1].split(":")[-1], vmid)
        else:
            volid = "%s:vm-%d-disk-0" % (storage, vmid)
        cluster.put_volume(volid, node, size=DISK_SIZE, base=base,
                           used=0 if base else DISK_USED)
        config["scsi0"] = "%s,size=32G" % volid
        vm = cluster.new_guest(vmid, node, config)
        vm.booted = True
        vm.ignores_acpi = ignores_acpi
        if running:
            vm.status = "running"
        return vm


STUDENT = "student@pve"


def seed(cluster, password, token_secret, student_password):
    for node in ("pve1", "pve2"):
        cluster.add_node(node)
    cluster.add_storage("local", "dir", "iso,vztmpl,backup")
    cluster.add_storage("local-lvm", "lvmthin", "images,rootdir")
    cluster.add_storage("shared-nfs", "nfs", "images,iso", shared=True)
    cluster.add_pool("lab")
    root = cluster.add_account("root@pam", password, admin=True)
    root.tokens["vdictl"] = token_secret
    cluster.add_account(STUDENT, student_password)
    add_template(cluster, "tmpl-win10", vmid=9000)
    add_template(cluster, "tmpl-linux", vmid=9001, cloudinit=True)
    add_template(cluster, "tmpl-shared", vmid=9002, storage="shared-nfs")
