"""Templates on libvirt's in-process test:///default hypervisor, for fast tests."""

from __future__ import annotations

TEST_URI = "test:///default"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


def define_test_template(conn, name: str = "tpl", *, fmt: str = "qcow2",
                         volume: str = "", extra_devices: str = "") -> str:
    """Define a shut-off template domain whose disk is a new volume of
    test:///default's default-pool (named `volume`, default `<name>.img`).

    Like a typical QEMU VDI guest, it also has a CD-ROM and a network NIC.
    Returns the domain name.
    """
    volume = volume or f"{name}.img"
    pool = conn.storagePoolLookupByName("default-pool")
    pool.createXML(f"<volume><name>{volume}</name><capacity unit='MiB'>64</capacity>"
                   f"<target><format type='{fmt}'/></target></volume>", 0)
    conn.defineXML(f"""<domain type='test'>
      <name>{name}</name>
      <memory unit='KiB'>2097152</memory>
      <os><type arch='x86_64'>hvm</type></os>
      <devices>
        <disk type='file' device='disk'>
          <driver name='qemu' type='{fmt}'/>
          <source file='/default-pool/{volume}'/>
          <target dev='vda' bus='virtio'/>
        </disk>
        <disk type='file' device='cdrom'>
          <source file='/srv/tools.iso'/><target dev='hdc' bus='ide'/><readonly/>
        </disk>
        <interface type='network'><mac address='52:54:00:12:34:56'/>
          <source network='default'/></interface>
        {extra_devices}
      </devices>
    </domain>""")
    return name


def node_document(conn, names=None) -> str:
    """test:///FILE XML holding the hypervisor's domains (those named in `names`,
    if given), their snapshots, and the volumes."""
    parts = ["<node>"]
    for dom in conn.listAllDomains():
        if dom.name() == "test" or (names is not None and dom.name() not in names):
            continue
        snapshots = "".join(
            snap.getXMLDesc().replace("<domainsnapshot>", "<test:domainsnapshot>")
            .replace("</domainsnapshot>", "<active>0</active></test:domainsnapshot>")
            for snap in dom.listAllSnapshots())
        xml = dom.XMLDesc(2)  # VIR_DOMAIN_XML_INACTIVE
        xml = xml.replace("<domain type='test'>", f"<domain type='test' xmlns:test='{TEST_NS}'>", 1)
        parts.append(xml.replace("</domain>", snapshots + "</domain>"))
    pool = conn.storagePoolLookupByName("default-pool")
    volumes = "".join(pool.storageVolLookupByName(v).XMLDesc() for v in pool.listVolumes())
    parts.append(pool.XMLDesc().replace("</pool>", volumes + "</pool>"))
    parts.append("</node>")
    return "\n".join(parts)
