"""The libvirt driver against real QEMU (TCG) on the private libvirtd of
scripts/libvirt-sandbox, with the tiny boot-sector guest of
scripts/guest_image.py.

The guest counts its boots in sector 1 of its disk, which is what these
tests look at to see whose writes survived (snapshots, transient disks).
It stores a readiness mark at guest physical address 0x500 once it answers
the ACPI power button ("VDI1"; "VDI0" for the deaf variant).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import uuid

import pytest

libvirt = pytest.importorskip("libvirt")

from vdictl.drivers.libvirt import LibvirtDriver, domain_xml, owner_mark  # noqa: E402
from vdictl.drivers.libvirt.create import STATELESS_UNSUPPORTED  # noqa: E402
from vdictl.errors import Conflict, NotFound, NotOwned, Unsupported  # noqa: E402
from vdictl.model import Owner, VmState  # noqa: E402
from vdictl.config.rooms import Connect, VmSpec  # noqa: E402

from tests.sandbox import READY_ADDR, READY_MARK, read_boot_count  # noqa: E402

pytestmark = pytest.mark.libvirt_sandbox

log = logging.getLogger(__name__)

NS = owner_mark.OWNER_NS
OWNER = Owner(room="itroom", subsection="lab", tool_version="9.9.9")


# -- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="module")
def templates(libvirt_sandbox):
    tag = uuid.uuid4().hex[:6]
    return {variant: libvirt_sandbox.make_template(f"drvtpl-{variant}-{tag}", variant=variant)
            for variant in ("acpi", "deaf")}


@pytest.fixture
def drv(libvirt_sandbox):
    d = LibvirtDriver(Connect(driver="libvirt", uri=libvirt_sandbox.uri,
                              pool=libvirt_sandbox.pool))
    d.open()
    yield d
    d.close()


@pytest.fixture
def new_vm(drv, templates, request):
    """new_vm(variant="acpi", **spec) -> name: creates a VM, removed after the test."""
    names = []

    def make(variant="acpi", **kw):
        name = f"drv-{request.node.name[5:25].replace('_', '-')}-{uuid.uuid4().hex[:4]}"
        names.append(name)
        drv.create_vm(spec=vm_spec(name, templates[variant], **kw), owner=OWNER, timeout=60)
        return name

    yield make
    for name in names:
        try:
            drv.power_off_vm(name=name, timeout=30)
            drv.delete_vm(name=name, timeout=60)
        except NotFound:
            pass


def vm_spec(name, template, **kw):
    return VmSpec(room="itroom", subsection="lab", id=1, id_str="01", name=name,
                  template_name=template, **kw)


def domain(drv, name):
    return drv.conn.lookupByName(name)


def disk_path(drv, name, dev="vda"):
    return domain_xml.disk_sources(domain(drv, name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))[dev]


def wait_ready(drv, name, variant="acpi", timeout=30.0):
    """Until the guest has stored its readiness mark (it then answers ACPI)."""
    dom = domain(drv, name)
    deadline = time.monotonic() + timeout
    while dom.memoryPeek(READY_ADDR, 4, libvirt.VIR_MEMORY_PHYSICAL) != READY_MARK[variant]:
        assert time.monotonic() < deadline, f"{name}: guest not ready after {timeout}s"
        time.sleep(0.05)


def boot(drv, name, variant="acpi"):
    """Start, let the guest count the boot, shut it down gracefully."""
    drv.start_vm(name=name, timeout=60)
    wait_ready(drv, name, variant)
    assert drv.shutdown_vm(name=name, timeout=60) is False


def qemu_img_info(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def timed(label, fn, *args, **kw):
    start = time.monotonic()
    result = fn(*args, **kw)
    log.info("timing: %s %.3fs", label, time.monotonic() - start)
    return result


def pool_volumes(drv, pool):
    p = drv.conn.storagePoolLookupByName(pool)
    p.refresh(0)
    return set(p.listVolumes())


# -- tests ----------------------------------------------------------------------------

def test_create_vm_is_a_linked_clone_with_owner_mark(drv, new_vm, templates, libvirt_sandbox):
    name = new_vm()
    tpl = domain(drv, templates["acpi"])
    tpl_disk = disk_path(drv, templates["acpi"])
    overlay = disk_path(drv, name)

    assert overlay == os.path.join(libvirt_sandbox.images_dir, f"{name}-vda.qcow2")
    info = qemu_img_info(overlay)
    assert info["format"] == "qcow2"
    assert info["backing-filename"] == tpl_disk
    assert info["backing-filename-format"] == qemu_img_info(tpl_disk)["format"]
    assert info["format-specific"]["data"]["compat"] == "1.1"
    vol = drv.conn.storageVolLookupByPath(overlay)
    assert vol.storagePoolLookupByVolume().name() == libvirt_sandbox.pool

    dom = domain(drv, name)
    mark = owner_mark.parse_owner_metadata(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS))
    assert mark == owner_mark.OwnerMark(OWNER, (owner_mark.OverlayVolume(libvirt_sandbox.pool,
                                                          f"{name}-vda.qcow2", overlay),))
    vm = drv.get_vm(name=name)
    assert vm.owner == OWNER and vm.state is VmState.STOPPED
    assert vm.id == dom.UUIDString() != tpl.UUIDString()
    tpl_macs = domain_xml.domain_macs(tpl.XMLDesc(0))
    assert vm.mac and vm.mac.startswith("52:54:00:") and vm.mac not in tpl_macs

    found = drv.find_vms(names=[name, templates["acpi"], "drv-missing"])
    assert sorted(found) == sorted([name, templates["acpi"]])
    assert found[templates["acpi"]].owner is None
    assert found[name].owner == OWNER


def test_create_vm_refuses_existing_and_missing(drv, new_vm, templates):
    name = new_vm()
    with pytest.raises(Conflict, match="already exists"):
        drv.create_vm(spec=vm_spec(name, templates["acpi"]), owner=OWNER, timeout=60)
    with pytest.raises(NotFound, match="template domain 'drv-no-such-template' not found"):
        drv.create_vm(spec=vm_spec("drv-x", "drv-no-such-template"), owner=OWNER, timeout=60)


def test_start_and_graceful_shutdown(drv, new_vm):
    name = new_vm()
    timed("start", drv.start_vm, name=name, timeout=60)
    assert drv.get_vm(name=name).state is VmState.RUNNING
    drv.start_vm(name=name, timeout=60)  # no-op
    wait_ready(drv, name)
    forced = timed("graceful shutdown", drv.shutdown_vm, name=name, timeout=60)
    assert forced is False
    assert drv.get_vm(name=name).state is VmState.STOPPED
    assert read_boot_count(disk_path(drv, name)) == 1
    assert drv.shutdown_vm(name=name, timeout=5) is False  # already off


def test_shutdown_falls_back_to_power_off_for_a_deaf_guest(drv, new_vm):
    name = new_vm("deaf")
    drv.start_vm(name=name, timeout=60)
    wait_ready(drv, name, "deaf")
    start = time.monotonic()
    assert drv.shutdown_vm(name=name, timeout=2) is True
    assert time.monotonic() - start >= 2
    assert drv.get_vm(name=name).state is VmState.STOPPED
    assert not domain(drv, name).isActive()


def test_power_off(drv, new_vm):
    name = new_vm("deaf")
    drv.power_off_vm(name=name, timeout=30)  # no-op when off
    drv.start_vm(name=name, timeout=60)
    timed("destroy", drv.power_off_vm, name=name, timeout=30)
    assert drv.get_vm(name=name).state is VmState.STOPPED


def test_revert_to_a_chosen_snapshot(drv, new_vm, libvirt_sandbox):
    name = new_vm()
    overlay = disk_path(drv, name)
    a = timed("snapshot (off)", drv.create_snapshot, name=name,
              description="Room itroom, clean", timeout=60)
    boot(drv, name)
    assert read_boot_count(overlay) == 1
    b = drv.create_snapshot(name=name, description="after one boot", timeout=60)
    boot(drv, name)
    assert read_boot_count(overlay) == 2

    listed = drv.list_snapshots(name=name)
    assert [(s.id, s.description) for s in listed] == [(a.id, "Room itroom, clean"),
                                                       (b.id, "after one boot")]
    assert listed[0].created <= listed[1].created
    assert listed[1].extra["parent"] == a.id

    timed("revert (off snapshot)", drv.revert_snapshot, name=name, snapshot=a, timeout=60)
    assert read_boot_count(overlay) == 0
    vm = drv.get_vm(name=name)
    assert vm.state is VmState.STOPPED and vm.owner == OWNER
    meta = domain(drv, name).metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS)
    assert owner_mark.parse_owner_metadata(meta).owner == OWNER
    assert [s.id for s in drv.list_snapshots(name=name)] == [a.id, b.id]

    drv.revert_snapshot(name=name, snapshot=b, timeout=60)
    assert read_boot_count(overlay) == 1
    boot(drv, name)
    assert read_boot_count(overlay) == 2


def test_revert_of_a_running_snapshot_leaves_the_vm_off(drv, new_vm):
    name = new_vm()
    drv.start_vm(name=name, timeout=60)
    wait_ready(drv, name)
    snap = timed("snapshot (running)", drv.create_snapshot, name=name, description="live",
                 timeout=60)
    assert snap.extra["state"] == "running"
    with pytest.raises(Conflict, match="stop it before reverting"):
        drv.revert_snapshot(name=name, snapshot=snap, timeout=60)
    drv.power_off_vm(name=name, timeout=30)
    timed("revert (running snapshot)", drv.revert_snapshot, name=name, snapshot=snap,
          timeout=60)
    assert drv.get_vm(name=name).state is VmState.STOPPED
    assert read_boot_count(disk_path(drv, name)) == 1
    with pytest.raises(NotFound, match="snapshot 'nope'"):
        drv.revert_snapshot(name=name, snapshot=type(snap)(id="nope", description=""),
                            timeout=60)


def test_delete_removes_domain_and_exactly_its_overlays(drv, new_vm, templates,
                                                       libvirt_sandbox):
    pool_name = libvirt_sandbox.pool
    pool = drv.conn.storagePoolLookupByName(pool_name)
    foreign = f"drv-foreign-{uuid.uuid4().hex[:6]}.qcow2"
    pool.createXML(f"<volume><name>{foreign}</name><capacity unit='MiB'>1</capacity>"
                   "<target><format type='qcow2'/></target></volume>", 0)
    try:
        doomed, kept = new_vm(), new_vm()
        tpl_disk = disk_path(drv, templates["acpi"])
        drv.create_snapshot(name=doomed, description="x", timeout=60)
        before = pool_volumes(drv, pool_name)
        assert {f"{doomed}-vda.qcow2", f"{kept}-vda.qcow2", foreign} <= before

        drv.start_vm(name=doomed, timeout=60)
        with pytest.raises(Conflict, match="running"):
            drv.delete_vm(name=doomed, timeout=60)
        drv.power_off_vm(name=doomed, timeout=30)

        timed("delete", drv.delete_vm, name=doomed, timeout=60)
        with pytest.raises(NotFound):
            drv.get_vm(name=doomed)
        assert pool_volumes(drv, pool_name) == before - {f"{doomed}-vda.qcow2"}
        assert os.path.exists(tpl_disk)
        assert drv.get_vm(name=templates["acpi"]).owner is None
        assert drv.get_vm(name=kept).owner == OWNER
    finally:
        pool.storageVolLookupByName(foreign).delete(0)


def test_delete_refuses_a_domain_vdictl_did_not_create(drv, templates):
    with pytest.raises(NotOwned):
        drv.delete_vm(name=templates["deaf"], timeout=60)
    assert drv.get_vm(name=templates["deaf"]).name == templates["deaf"]


def test_stateless_vm_has_transient_share_backing_disks(drv, new_vm, templates):
    if drv.conn.getLibVersion() < 8_010_000:
        with pytest.raises(Unsupported, match=STATELESS_UNSUPPORTED):
            new_vm(stateless=True)
        return
    # libvirt >= 8.10 with QEMU: works (verified with libvirt 9.0 / QEMU 7.2)
    name = new_vm(stateless=True)
    xml = domain(drv, name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert domain_xml.transient_disks(xml) == {"vda": "yes"}
    overlay = disk_path(drv, name)
    scratch = f"{overlay}.TRANSIENT-{name}"
    for _ in range(2):
        drv.start_vm(name=name, timeout=60)
        wait_ready(drv, name)
        # the guest writes into libvirt's throw-away overlay, not into ours
        assert os.path.exists(scratch)
        assert read_boot_count(scratch) == 1
        assert drv.shutdown_vm(name=name, timeout=60) is False
        assert not os.path.exists(scratch)
        assert read_boot_count(overlay) == 0
