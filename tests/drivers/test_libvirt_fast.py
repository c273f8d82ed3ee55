"""Fast tests of the libvirt driver: pure XML transforms, and the driver
against libvirt's in-memory test driver (test:///default).

test:///default keeps one shared state per process while a connection is
open and starts fresh once every connection is closed, so each test gets a
clean hypervisor from the `drv` fixture.
"""

from __future__ import annotations

import datetime
import gc
import random
import re
import xml.etree.ElementTree as ET

import pytest

libvirt = pytest.importorskip("libvirt")

from vdictl.drivers.libvirt import (LibvirtDriver, clone_xml, create, domain_xml,  # noqa: E402
                                    owner_mark, snapshot_xml, volume_xml, xmldoc)
from vdictl.drivers.libvirt.create import STATELESS_UNSUPPORTED  # noqa: E402
from vdictl.drivers.libvirt.errors import map_error  # noqa: E402
from vdictl.errors import (AlreadyExists, Busy, Conflict, DriverError, NotFound, NotOwned,  # noqa: E402
                           OperationTimeout, Unreachable, Unsupported)
from vdictl.model import Owner, VmState  # noqa: E402
from vdictl.config.rooms import Connect, VmSpec  # noqa: E402

from tests.libvirt_test_hv import TEST_URI, define_test_template  # noqa: E402

NS = "https://vdictl.example/xmlns/owner/1"
OWNER = Owner(room="room1", subsection="teachers", tool_version="1.2.3")

# A template as `virsh dumpxml --inactive` shows a typical QEMU VDI guest.
TEMPLATE_XML = """<domain type='kvm'>
  <name>win-tpl</name>
  <uuid>0b0e2f4e-9a55-4a7b-8d4f-0123456789ab</uuid>
  <title>Golden image</title>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://microsoft.com/win/10"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/win-tpl_VARS.fd</nvram>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/libvirt/images/win-tpl.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='raw'/>
      <source pool='data' volume='win-tpl-data.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/srv/iso/virtio-win.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg/shared'/>
      <target dev='vdc' bus='virtio'/>
      <shareable/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:aa:bb:cc'/>
      <source network='default'/>
      <target dev='vnet-tpl'/>
      <model type='virtio'/>
    </interface>
    <interface type='bridge'>
      <source bridge='br0'/>
      <model type='e1000e'/>
    </interface>
    <graphics type='spice' port='5901' autoport='no' listen='0.0.0.0'>
      <listen type='address' address='0.0.0.0'/>
    </graphics>
  </devices>
</domain>
"""

MACS = ["52:54:00:00:00:01", "52:54:00:00:00:02"]
OVERLAYS = {"vda": "/pool/pc01-vda.qcow2", "vdb": "/pool/pc01-vdb.qcow2"}
VOLUMES = [owner_mark.OverlayVolume("vdictl", "pc01-vda.qcow2", "/pool/pc01-vda.qcow2"),
           owner_mark.OverlayVolume("vdictl", "pc01-vdb.qcow2", "/pool/pc01-vdb.qcow2")]


def clone(**kw):
    args = dict(name="pc01", overlays=OVERLAYS, macs=MACS, owner=OWNER, volumes=VOLUMES)
    args.update(kw)
    return ET.fromstring(clone_xml.clone_domain_xml(TEMPLATE_XML, **args))


def disk(root, dev):
    for d in root.findall("devices/disk"):
        if d.find("target").get("dev") == dev:
            return d
    raise AssertionError(dev)


# -- owner mark ---------------------------------------------------------------

def test_owner_mark_round_trips_through_metadata_element():
    xml = owner_mark.owner_xml(OWNER, VOLUMES)
    root = ET.fromstring(xml)
    assert root.tag == f"{{{NS}}}owner"
    assert root.attrib == {"room": "room1", "subsection": "teachers", "version": "1.2.3"}
    mark = owner_mark.parse_owner_metadata(xml)
    assert mark == owner_mark.OwnerMark(owner=OWNER, volumes=tuple(VOLUMES))


def test_owner_mark_parses_libvirts_namespace_less_answer():
    # virDomainGetMetadata(ELEMENT) returns the element without its namespace
    xml = ('<owner room="r" subsection="s" version="0.1">\n'
           '  <volume pool="p" name="v.qcow2" path="/p/v.qcow2"/>\n</owner>')
    assert owner_mark.parse_owner_metadata(xml) == owner_mark.OwnerMark(
        Owner("r", "s", "0.1"), (owner_mark.OverlayVolume("p", "v.qcow2", "/p/v.qcow2"),))


def test_template_has_no_owner_and_clone_has_it():
    assert owner_mark.parse_owner(TEMPLATE_XML) is None
    mark = owner_mark.parse_owner(clone_xml.clone_domain_xml(
        TEMPLATE_XML, name="pc01", overlays=OVERLAYS, macs=MACS, owner=OWNER, volumes=VOLUMES))
    assert mark.owner == OWNER
    assert mark.volumes == tuple(VOLUMES)


def test_clone_replaces_an_existing_owner_mark_and_keeps_foreign_metadata():
    once = clone_xml.clone_domain_xml(TEMPLATE_XML, name="a", overlays=OVERLAYS, macs=MACS,
                               owner=Owner("old", "x", "0.0"))
    twice = clone_xml.clone_domain_xml(once, name="b", overlays=OVERLAYS, macs=MACS, owner=OWNER)
    root = ET.fromstring(twice)
    marks = root.findall(f"metadata/{{{NS}}}owner")
    assert len(marks) == 1 and marks[0].get("room") == "room1"
    osinfo = root.find("metadata/{http://libosinfo.org/xmlns/libvirt/domain/1.0}libosinfo")
    assert osinfo is not None
    assert "libosinfo:os" in twice  # the prefix survives re-serialisation


# -- clone transform ------------------------------------------------------------

def test_clone_gets_new_name_no_uuid_and_new_macs():
    root = clone()
    assert root.findtext("name") == "pc01"
    assert root.find("uuid") is None
    assert [m.get("address") for m in root.findall("devices/interface/mac")] == MACS
    assert root.findall("devices/interface/target") == []
    assert root.findtext("title") == "Golden image"


def test_clone_sets_memory_in_kib_only_when_asked():
    root = clone(memory_kib=1048576)
    for tag in ("memory", "currentMemory"):
        assert root.find(tag).text == "1048576"
        assert root.find(tag).attrib == {"unit": "KiB"}
    root = clone()
    assert root.find("memory").text == "4194304"
    assert root.find("currentMemory").text == "2097152"


def test_clone_sets_description():
    assert clone(description="Room 1, PC 01").findtext("description") == "Room 1, PC 01"
    assert clone().find("description") is None


def test_clone_points_writable_disks_at_their_overlays():
    root = clone()
    vda, vdb = disk(root, "vda"), disk(root, "vdb")
    assert vda.get("type") == "file" and vdb.get("type") == "file"
    assert vda.find("source").attrib == {"file": "/pool/pc01-vda.qcow2"}
    assert vdb.find("source").attrib == {"file": "/pool/pc01-vdb.qcow2"}
    assert vda.find("driver").attrib == {"name": "qemu", "type": "qcow2", "discard": "unmap"}
    assert vdb.find("driver").attrib == {"name": "qemu", "type": "qcow2"}
    # the cdrom and the shared block disk are left as they are
    assert disk(root, "sda").find("source").get("file") == "/srv/iso/virtio-win.iso"
    assert disk(root, "vdc").find("source").get("dev") == "/dev/vg/shared"
    assert domain_xml.disk_sources(ET.tostring(root, encoding="unicode")) == {
        "vda": "/pool/pc01-vda.qcow2", "vdb": "/pool/pc01-vdb.qcow2",
        "sda": "/srv/iso/virtio-win.iso"}
    assert domain_xml.transient_disks(ET.tostring(root, encoding="unicode")) == {}


def test_clone_marks_overlay_disks_transient_with_share_backing():
    xml = clone_xml.clone_domain_xml(TEMPLATE_XML, name="pc01", overlays=OVERLAYS, macs=MACS,
                              owner=OWNER, transient=True)
    assert domain_xml.transient_disks(xml) == {"vda": "yes", "vdb": "yes"}
    tr = disk(ET.fromstring(xml), "vda").find("transient")
    assert tr.attrib == {"shareBacking": "yes"}


def test_clone_frees_fixed_graphics_ports_and_nvram_path():
    root = clone()
    g = root.find("devices/graphics")
    assert g.get("autoport") == "yes" and g.get("port") is None
    assert g.get("listen") == "0.0.0.0"
    nvram = root.find("os/nvram")
    assert nvram.text is None
    assert nvram.get("template") == "/usr/share/OVMF/OVMF_VARS_4M.fd"


def test_clone_needs_a_mac_per_interface_and_every_overlay_target():
    with pytest.raises(xmldoc.XmlError, match="2 interfaces but only 1"):
        clone(macs=MACS[:1])
    with pytest.raises(xmldoc.XmlError, match="no disk with target vdz"):
        clone(overlays={"vdz": "/x"})


def test_template_disks_lists_only_writable_unshared_disks():
    xml = TEMPLATE_XML.replace("<source dev='/dev/vg/shared'/>", "<source dev='/dev/x'/>")
    assert domain_xml.template_disks(TEMPLATE_XML) == [
        domain_xml.TemplateDisk(target="vda", source_type="file",
                        path="/var/lib/libvirt/images/win-tpl.qcow2", format="qcow2"),
        domain_xml.TemplateDisk(target="vdb", source_type="volume", pool="data",
                        volume="win-tpl-data.img", format="raw"),
    ]
    assert len(domain_xml.template_disks(xml)) == 2


def test_template_disks_refuses_writable_disks_it_cannot_overlay():
    block = TEMPLATE_XML.replace("<shareable/>", "")
    with pytest.raises(xmldoc.XmlError, match="vdc is of type 'block'"):
        domain_xml.template_disks(block)
    vmdk = TEMPLATE_XML.replace("type='qcow2' discard", "type='vmdk' discard")
    with pytest.raises(xmldoc.XmlError, match="vda has format 'vmdk'"):
        domain_xml.template_disks(vmdk)


def test_overlay_volume_xml():
    xml = volume_xml.overlay_volume_xml("pc01-vda.qcow2", "/pool/tpl.qcow2", "raw", 1073741824)
    assert xml == ("<volume><name>pc01-vda.qcow2</name>"
                   "<capacity unit=\"bytes\">1073741824</capacity>"
                   "<target><format type=\"qcow2\" /><compat>1.1</compat></target>"
                   "<backingStore><path>/pool/tpl.qcow2</path><format type=\"raw\" />"
                   "</backingStore></volume>")
    assert "<capacity" not in volume_xml.overlay_volume_xml("v", "/b", "qcow2")
    assert volume_xml.overlay_volume_name("pc01", "vda") == "pc01-vda.qcow2"


def test_random_macs_are_local_qemu_macs_and_unique():
    used = {"52:54:00:00:00:00"}
    rng = random.Random(0)
    macs = [domain_xml.random_mac(used, rng) for _ in range(200)]
    assert len(set(macs)) == 200
    assert used == set(macs) | {"52:54:00:00:00:00"}
    for mac in macs:
        assert re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", mac)
    first = int(macs[0].split(":")[0], 16)
    assert first & 0b10 and not first & 0b01  # locally administered, unicast


def test_random_mac_skips_used_addresses():
    class Fixed(random.Random):
        seq = iter([0, 0, 1, 0, 0, 2])

        def randrange(self, *_):
            return next(self.seq)

    used = {"52:54:00:00:00:01"}
    assert domain_xml.random_mac(used, Fixed()) == "52:54:00:00:00:02"


# -- snapshot XML -------------------------------------------------------------------

def test_snapshot_name_is_timestamped():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert re.fullmatch(r"vdictl-20260102T030405Z-[0-9a-f]{6}", snapshot_xml.snapshot_name(when))
    assert snapshot_xml.snapshot_name(when) != snapshot_xml.snapshot_name(when)


def test_snapshot_xml_asks_for_internal_snapshots():
    xml = snapshot_xml.snapshot_xml("s1", "Clean <state> & more", running=False,
                          internal_disks=["vda"], other_disks=["sda"])
    root = ET.fromstring(xml)
    assert root.findtext("name") == "s1"
    assert root.findtext("description") == "Clean <state> & more"
    assert root.find("memory").attrib == {"snapshot": "no"}
    assert [(d.get("name"), d.get("snapshot")) for d in root.findall("disks/disk")] == [
        ("vda", "internal"), ("sda", "no")]
    running = ET.fromstring(snapshot_xml.snapshot_xml("s2", "", running=True))
    assert running.find("memory").attrib == {"snapshot": "internal"}
    assert running.find("disks") is None


def test_snapshot_disk_split():
    assert snapshot_xml.snapshot_disk_split(TEMPLATE_XML) == (["vda", "vdb"], ["sda", "vdc"])


def test_parse_and_order_snapshots_oldest_first():
    def snap(name, created, parent=None, state="shutoff"):
        par = f"<parent><name>{parent}</name></parent>" if parent else ""
        return snapshot_xml.parse_snapshot(
            f"<domainsnapshot><name>{name}</name><description>d-{name}</description>"
            f"<state>{state}</state>{par}<creationTime>{created}</creationTime>"
            f"<domain type='kvm'><name>x</name><description>not me</description></domain>"
            f"</domainsnapshot>")

    a = snap("z-first", 100)
    b = snap("a-second", 100, parent="z-first")   # same second: parent first
    c = snap("m-third", 101, parent="a-second", state="running")
    assert a == snapshot_xml.SnapshotInfo("z-first", "d-z-first", 100.0, "shutoff", None)
    assert c.parent == "a-second" and c.state == "running"
    assert [i.name for i in snapshot_xml.order_snapshots([c, b, a])] == [
        "z-first", "a-second", "m-third"]


# -- driver on the test driver --------------------------------------------------------



@pytest.fixture
def drv():
    gc.collect()
    d = LibvirtDriver(Connect(driver="libvirt", uri=TEST_URI))
    d.open()
    # a fresh hypervisor: only the driver's built-in domain, no volumes
    assert [x.name() for x in d.conn.listAllDomains()] == ["test"]
    assert volumes(d) == []
    yield d
    d.close()
    # domain/volume objects (kept e.g. by mocks) hold the connection open;
    # free them so the next test starts from a fresh test:///default
    gc.collect()


def make_template(drv, name="tpl", fmt="qcow2", extra_devices=""):
    return define_test_template(drv.conn, name, fmt=fmt, extra_devices=extra_devices)


def spec(name="pc01", template="tpl", **kw):
    return VmSpec(room="room1", subsection="teachers", id=1, id_str="01", name=name,
                  template_name=template, **kw)


def volumes(drv):
    return sorted(drv.conn.storagePoolLookupByName("default-pool").listVolumes())


def test_state_map():
    m = LibvirtDriver.STATE_MAP
    assert m[libvirt.VIR_DOMAIN_RUNNING] is VmState.RUNNING
    assert m[libvirt.VIR_DOMAIN_BLOCKED] is VmState.RUNNING
    assert m[libvirt.VIR_DOMAIN_PAUSED] is VmState.PAUSED
    assert m[libvirt.VIR_DOMAIN_SHUTDOWN] is VmState.STOPPING
    assert m[libvirt.VIR_DOMAIN_SHUTOFF] is VmState.STOPPED
    assert m[libvirt.VIR_DOMAIN_CRASHED] is VmState.STOPPED
    assert m[libvirt.VIR_DOMAIN_PMSUSPENDED] is VmState.SUSPENDED
    assert m[libvirt.VIR_DOMAIN_NOSTATE] is VmState.UNKNOWN
    assert m.get(99, VmState.UNKNOWN) is VmState.UNKNOWN


def test_uri_override_and_endpoint():
    c = Connect(driver="libvirt", uri="qemu:///system")
    assert LibvirtDriver(c).endpoint == "qemu:///system"
    assert LibvirtDriver(c, uri="qemu+ssh://h2/system").endpoint == "qemu+ssh://h2/system"


def test_open_failure_is_unreachable_naming_the_uri(tmp_path):
    uri = f"test://{tmp_path}/missing.xml"
    d = LibvirtDriver(Connect(driver="libvirt", uri=uri))
    with pytest.raises(Unreachable) as info:
        d.open()
    assert uri in str(info.value)
    assert "missing.xml" in info.value.message.split(": ", 1)[1]
    d.close()
    d.close()


def test_missing_domain_is_not_found_naming_the_vm(drv):
    with pytest.raises(NotFound) as info:
        drv.get_vm(name="nope")
    assert info.value.vm == "nope" and info.value.driver == "libvirt"
    assert "domain 'nope' not found" in str(info.value)
    for call in (lambda: drv.start_vm(name="nope", timeout=1),
                 lambda: drv.list_snapshots(name="nope"),
                 lambda: drv.delete_vm(name="nope", timeout=1)):
        with pytest.raises(NotFound):
            call()


def test_error_mapping_by_code(drv):
    def err(code, msg, domain=libvirt.VIR_FROM_QEMU):
        e = libvirt.libvirtError(msg)
        e.err = (code, domain, msg, 2, None, None, None, 0, 0)
        return e

    cases = [
        (libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT, "no snapshot", NotFound),
        (libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running", Busy),
        (libvirt.VIR_ERR_OPERATION_FAILED, "operation failed: job 'snapshot' in progress",
         Busy),
        (libvirt.VIR_ERR_OPERATION_TIMEOUT, "cannot acquire state change lock", Busy),
        (libvirt.VIR_ERR_DOM_EXIST, "domain 'pc01' already exists", AlreadyExists),
        (libvirt.VIR_ERR_STORAGE_VOL_EXIST, "storage volume 'pc01.qcow2' exists already",
         AlreadyExists),
        (libvirt.VIR_ERR_AUTH_FAILED, "authentication failed", DriverError),
        (libvirt.VIR_ERR_CONFIG_UNSUPPORTED, "unsupported configuration", Unsupported),
        (libvirt.VIR_ERR_INTERNAL_ERROR, "boom", DriverError),
    ]
    for code, msg, cls in cases:
        mapped = map_error(err(code, msg), vm="pc01")
        assert type(mapped) is cls or (cls is DriverError and isinstance(mapped, cls)), msg
        assert mapped.vm == "pc01" and msg in str(mapped)
    assert map_error(err(1, "client socket is closed", libvirt.VIR_FROM_RPC)).transient
    assert map_error(err(libvirt.VIR_ERR_AUTH_FAILED, "x")).__class__.__name__ == "AuthError"


def test_find_vms_uses_one_listing(drv, mocker):
    make_template(drv)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    drv.create_vm(spec=spec("pc02"), owner=OWNER, timeout=10)
    listing = mocker.spy(drv.conn, "listAllDomains")
    lookup = mocker.spy(drv.conn, "lookupByName")
    found = drv.find_vms(names=["pc01", "pc02", "pc03", "test"])
    assert listing.call_count == 1 and lookup.call_count == 0
    assert sorted(found) == ["pc01", "pc02", "test"]
    assert found["pc01"].owner == OWNER and found["pc01"].owned
    assert found["test"].owner is None
    assert found["test"].state is VmState.RUNNING
    assert found["pc01"].state is VmState.STOPPED
    assert found["test"].mac == "aa:bb:cc:dd:ee:ff"


def test_create_vm_makes_a_linked_clone_with_owner_mark(drv):
    make_template(drv)
    vm = drv.create_vm(spec=spec("pc01", memory=512 * 1024 * 1024, description="PC 01"),
                       owner=OWNER, timeout=10)
    other = drv.create_vm(spec=spec("pc02"), owner=OWNER, timeout=10)
    assert vm.name == "pc01" and vm.state is VmState.STOPPED and vm.owner == OWNER
    assert vm.extra["volumes"] == [("default-pool", "pc01-vda.qcow2")]
    tpl = drv.get_vm(name="tpl")
    assert len({vm.id, other.id, tpl.id}) == 3
    assert len({vm.mac, other.mac, tpl.mac}) == 3
    assert vm.mac.startswith("52:54:00:")
    assert volumes(drv) == ["pc01-vda.qcow2", "pc02-vda.qcow2", "tpl.img"]

    vol = drv.conn.storageVolLookupByPath("/default-pool/pc01-vda.qcow2")
    vxml = ET.fromstring(vol.XMLDesc(0))
    assert vxml.find("target/format").get("type") == "qcow2"
    assert vxml.findtext("backingStore/path") == "/default-pool/tpl.img"
    assert vxml.find("backingStore/format").get("type") == "qcow2"
    assert vol.info()[1] == 64 * 1024 * 1024

    dxml = drv.conn.lookupByName("pc01").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    root = ET.fromstring(dxml)
    assert root.findtext("memory") == "524288"
    assert root.findtext("description") == "PC 01"
    assert domain_xml.disk_sources(dxml) == {"vda": "/default-pool/pc01-vda.qcow2",
                                     "hdc": "/srv/tools.iso"}
    meta = drv.conn.lookupByName("pc01").metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS)
    assert owner_mark.parse_owner_metadata(meta) == owner_mark.OwnerMark(OWNER, (
        owner_mark.OverlayVolume("default-pool", "pc01-vda.qcow2",
                                 "/default-pool/pc01-vda.qcow2"),))
    # the template is untouched
    assert drv.conn.lookupByName("tpl").XMLDesc(0).count("/default-pool/tpl.img") == 1


def test_create_vm_uses_the_configured_pool(drv):
    make_template(drv)
    drv.conn.storagePoolCreateXML(
        "<pool type='dir'><name>vdictl</name><target><path>/vdictl</path></target></pool>", 0)
    pooled = LibvirtDriver(Connect(driver="libvirt", uri=TEST_URI, pool="vdictl"))
    with pooled:
        vm = pooled.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    assert vm.extra["volumes"] == [("vdictl", "pc01-vda.qcow2")]
    assert drv.conn.storagePoolLookupByName("vdictl").listVolumes() == ["pc01-vda.qcow2"]
    assert volumes(drv) == ["tpl.img"]


def test_create_vm_raw_template(drv):
    make_template(drv, fmt="raw")
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    vol = drv.conn.storageVolLookupByPath("/default-pool/pc01-vda.qcow2")
    assert ET.fromstring(vol.XMLDesc(0)).find("backingStore/format").get("type") == "raw"


def test_create_vm_missing_template_is_not_found_naming_it(drv):
    with pytest.raises(NotFound) as info:
        drv.create_vm(spec=spec("pc01", template="gone"), owner=OWNER, timeout=10)
    assert "template domain 'gone' not found" in str(info.value)
    assert info.value.vm == "pc01"


def test_create_vm_refuses_an_existing_domain(drv):
    make_template(drv)
    with pytest.raises(Conflict, match="domain already exists"):
        drv.create_vm(spec=spec("test"), owner=OWNER, timeout=10)
    assert volumes(drv) == ["tpl.img"]


def test_create_vm_leaves_a_foreign_volume_alone(drv):
    make_template(drv)
    pool = drv.conn.storagePoolLookupByName("default-pool")
    pool.createXML("<volume><name>pc01-vda.qcow2</name><capacity>1</capacity></volume>", 0)
    with pytest.raises(Conflict, match="'pc01-vda.qcow2' already exists"):
        drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    assert volumes(drv) == ["pc01-vda.qcow2", "tpl.img"]
    assert "pc01" not in [d.name() for d in drv.conn.listAllDomains()]


def test_create_vm_cleans_up_volumes_when_define_fails(drv, mocker):
    make_template(drv)
    mocker.patch.object(drv.conn, "defineXML",
                        side_effect=libvirt.libvirtError("XML error: boom"))
    with pytest.raises(DriverError):
        drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    assert volumes(drv) == ["tpl.img"]


def test_create_vm_refuses_templates_with_unclonable_disks(drv):
    make_template(drv, extra_devices="<disk type='block' device='disk'><source dev='/dev/sdz'/>"
                                     "<target dev='vdz' bus='virtio'/></disk>")
    with pytest.raises(Unsupported, match="vdz is of type 'block'"):
        drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    assert volumes(drv) == ["tpl.img"]


def test_stateless_vm_gets_transient_share_backing_disks(drv):
    make_template(drv)
    drv.create_vm(spec=spec("pc01", stateless=True), owner=OWNER, timeout=10)
    xml = drv.conn.lookupByName("pc01").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert domain_xml.transient_disks(xml) == {"vda": "yes"}


def test_stateless_refused_when_libvirt_drops_share_backing(drv, mocker):
    make_template(drv)
    # what create reads back from the defined domain: the element dropped
    mocker.patch.object(create, "transient_disks", return_value={"vda": None})
    with pytest.raises(Unsupported) as info:
        drv.create_vm(spec=spec("pc01", stateless=True), owner=OWNER, timeout=10)
    assert STATELESS_UNSUPPORTED in str(info.value)
    assert volumes(drv) == ["tpl.img"]
    assert "pc01" not in [d.name() for d in drv.conn.listAllDomains()]


def test_power_cycle(drv):
    make_template(drv)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    drv.start_vm(name="pc01", timeout=5)
    assert drv.get_vm(name="pc01").state is VmState.RUNNING
    drv.start_vm(name="pc01", timeout=5)  # no-op
    # the test driver has no ACPI flag: the driver falls back to plain shutdown
    assert drv.shutdown_vm(name="pc01", timeout=5) is False
    assert drv.get_vm(name="pc01").state is VmState.STOPPED
    assert drv.shutdown_vm(name="pc01", timeout=5) is False
    drv.power_off_vm(name="pc01", timeout=5)  # no-op when off
    drv.start_vm(name="pc01", timeout=5)
    drv.power_off_vm(name="pc01", timeout=5)
    assert drv.get_vm(name="pc01").state is VmState.STOPPED


def test_start_resumes_a_paused_vm(drv):
    drv.conn.lookupByName("test").suspend()
    assert drv.get_vm(name="test").state is VmState.PAUSED
    drv.start_vm(name="test", timeout=5)
    assert drv.get_vm(name="test").state is VmState.RUNNING


def test_shutdown_falls_back_to_power_off(drv, mocker):
    ignored = mocker.patch.object(libvirt.virDomain, "shutdownFlags", return_value=0)
    assert drv.shutdown_vm(name="test", timeout=0.5) is True
    assert ignored.call_args.args[-1] == libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN
    assert drv.get_vm(name="test").state is VmState.STOPPED


def test_shutdown_race_with_a_stopping_domain_is_success(drv, mocker):
    def stop_first(dom, _flags):
        dom.destroy()
        raise_error = libvirt.libvirtError("Requested operation is not valid: "
                                           "domain is not running")
        raise_error.err = (libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_DOMAIN,
                           "Requested operation is not valid: domain is not running",
                           2, None, None, None, 0, 0)
        raise raise_error

    mocker.patch.object(libvirt.virDomain, "shutdownFlags", autospec=True,
                        side_effect=stop_first)
    assert drv.shutdown_vm(name="test", timeout=5) is False


def test_start_timeout(drv, mocker):
    make_template(drv)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    mocker.patch.object(libvirt.virDomain, "create", return_value=0)
    with pytest.raises(OperationTimeout) as info:
        drv.start_vm(name="pc01", timeout=0.3)
    assert info.value.vm == "pc01"


def test_snapshots_create_list_revert(drv):
    make_template(drv)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    a = drv.create_snapshot(name="pc01", description="Clean room 1", timeout=10)
    drv.start_vm(name="pc01", timeout=5)
    b = drv.create_snapshot(name="pc01", description="Running", timeout=10)
    drv.power_off_vm(name="pc01", timeout=5)
    assert re.fullmatch(r"vdictl-\d{8}T\d{6}Z-[0-9a-f]{6}", a.id)
    assert a.description == "Clean room 1" and a.extra["state"] == "shutoff"
    assert b.extra == {"state": "running", "parent": a.id}
    assert isinstance(a.created, float) and a.created <= b.created

    listed = drv.list_snapshots(name="pc01")
    assert [(s.id, s.description) for s in listed] == [(a.id, "Clean room 1"),
                                                       (b.id, "Running")]

    drv.revert_snapshot(name="pc01", snapshot=b, timeout=10)  # running snapshot
    assert drv.get_vm(name="pc01").state is VmState.STOPPED
    drv.revert_snapshot(name="pc01", snapshot=a, timeout=10)
    vm = drv.get_vm(name="pc01")
    assert vm.state is VmState.STOPPED and vm.owner == OWNER
    cur = drv.conn.lookupByName("pc01").snapshotCurrent(0).getName()
    assert cur == a.id


def test_revert_needs_a_stopped_vm_and_an_existing_snapshot(drv):
    make_template(drv)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    a = drv.create_snapshot(name="pc01", description="x", timeout=10)
    with pytest.raises(NotFound, match="snapshot 'nope'"):
        drv.revert_snapshot(name="pc01", snapshot=type(a)(id="nope", description=""),
                            timeout=5)
    drv.start_vm(name="pc01", timeout=5)
    with pytest.raises(Conflict, match="stop it before reverting"):
        drv.revert_snapshot(name="pc01", snapshot=a, timeout=5)


def test_delete_removes_domain_and_exactly_its_overlays(drv):
    make_template(drv)
    pool = drv.conn.storagePoolLookupByName("default-pool")
    pool.createXML("<volume><name>foreign.qcow2</name><capacity>1</capacity></volume>", 0)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    drv.create_vm(spec=spec("pc02"), owner=OWNER, timeout=10)
    drv.create_snapshot(name="pc01", description="x", timeout=10)
    drv.delete_vm(name="pc01", timeout=10)
    assert sorted(d.name() for d in drv.conn.listAllDomains()) == ["pc02", "test", "tpl"]
    assert volumes(drv) == ["foreign.qcow2", "pc02-vda.qcow2", "tpl.img"]


def test_delete_refuses_unowned_and_running_vms(drv):
    make_template(drv)
    with pytest.raises(NotOwned):
        drv.delete_vm(name="tpl", timeout=5)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    drv.start_vm(name="pc01", timeout=5)
    with pytest.raises(Conflict, match="running"):
        drv.delete_vm(name="pc01", timeout=5)
    assert "pc01-vda.qcow2" in volumes(drv)


def test_delete_tolerates_an_already_deleted_overlay(drv):
    make_template(drv)
    drv.create_vm(spec=spec("pc01"), owner=OWNER, timeout=10)
    drv.conn.storageVolLookupByPath("/default-pool/pc01-vda.qcow2").delete(0)
    drv.delete_vm(name="pc01", timeout=5)
    assert volumes(drv) == ["tpl.img"]


def test_parallel_creates_share_one_connection(drv):
    from concurrent.futures import ThreadPoolExecutor

    make_template(drv)
    names = [f"pc{i:02d}" for i in range(1, 13)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        vms = list(pool.map(
            lambda n: drv.create_vm(spec=spec(n), owner=OWNER, timeout=10), names))
    assert [vm.name for vm in vms] == names
    assert len({vm.mac for vm in vms} | {"52:54:00:12:34:56"}) == 13
    assert len({vm.id for vm in vms}) == 12
    found = drv.find_vms(names=names)
    assert sorted(found) == names and all(vm.owner == OWNER for vm in found.values())
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda n: drv.delete_vm(name=n, timeout=10), names))
    assert volumes(drv) == ["tpl.img"]


def test_repeatable_calls_reconnect_when_the_connection_is_lost(drv):
    """libvirtd restarting under a run: the driver's connection dies. Calls that
    are safe to repeat reconnect and go on; creating is not repeated."""
    keeper = libvirt.open(TEST_URI)  # test:///default keeps its state while one is open
    try:
        make_template(drv)
        drv.create_vm(spec=spec(), owner=OWNER, timeout=10)
        first = drv.create_snapshot(name="pc01", description="rollout", timeout=10)

        def lose_connection():
            drv.conn.close()

        lose_connection()
        drv.start_vm(name="pc01", timeout=10)
        assert drv.get_vm(name="pc01").state == VmState.RUNNING
        lose_connection()
        drv.power_off_vm(name="pc01", timeout=10)
        lose_connection()
        assert drv.revert_snapshot(name="pc01", snapshot=first, timeout=10) == []
        lose_connection()
        assert [s.id for s in drv.list_snapshots(name="pc01")] == [first.id]
        lose_connection()
        assert sorted(drv.find_vms(names=["pc01", "pc02"])) == ["pc01"]
        lose_connection()
        with pytest.raises(Unreachable):
            drv.create_vm(spec=spec("pc02"), owner=OWNER, timeout=10)
        assert "pc02" not in [d.name() for d in keeper.listAllDomains()]
    finally:
        keeper.close()
