"""CLI tests on libvirt's in-process test:///default hypervisor.

test:///default keeps its state while at least one connection is open, so
the `hypervisor` fixture holds one connection for the whole test while each
`vdictl` invocation opens and closes its own, as in real use.
"""

from __future__ import annotations

import gc

import pytest

libvirt = pytest.importorskip("libvirt")

from tests.libvirt_test_hv import TEST_URI, define_test_template, node_document  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

TEMPLATE = "tmpl"

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "test:///default"
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 3
    shutdown_timeout = 5
    operation_timeout = 30

[room lab1]
    template_name = tmpl
    ip_addresses = "192.0.2.${suffix}"
    netmask_suffix = 24
    snapshot_description = "vdictl rollout IP=${ip}/${netmask_as_suffix} at ${scripttime}"
    reset_to_snapshot_regex = "vdictl rollout .*"
    reset_startvm = Auto
    [[students]]
    ids = "1-4"
    names = "${roomname}-vd${id}"
    ip_addresses_suffix = 11
    [[teacher]]
    ids = "1"
    names = "${roomname}-teacher${id}"
    ip_addresses_suffix = 10
    reset_startvm = Always

[room kiosk]
    [[terminals]]
    ids = "1-2"
    names = "kiosk-${id}"
    template_name = tmpl
    stateless = True
"""


class Hypervisor:
    def __init__(self):
        gc.collect()
        libvirt.registerErrorHandler(lambda *args: None, None)
        self.conn = libvirt.open(TEST_URI)
        define_test_template(self.conn, TEMPLATE, volume=f"{TEMPLATE}.qcow2")

    def domains(self):
        return sorted(d.name() for d in self.conn.listAllDomains())

    def volumes(self):
        pool = self.conn.storagePoolLookupByName("default-pool")
        pool.refresh()
        return sorted(pool.listVolumes())

    def dom(self, name):
        return self.conn.lookupByName(name)

    def running(self):
        return sorted(d.name() for d in self.conn.listAllDomains()
                      if d.isActive() and d.name() != "test")

    def snapshot_descriptions(self, name):
        import xml.etree.ElementTree as ET
        return [ET.fromstring(s.getXMLDesc()).findtext("description")
                for s in self.dom(name).listAllSnapshots()]

    def close(self):
        self.conn.close()
        self.conn = None
        gc.collect()


@pytest.fixture
def hypervisor():
    hv = Hypervisor()
    yield hv
    hv.close()


@pytest.fixture
def config_file(tmp_path):
    return str(write_config(tmp_path, CONFIG, name="vdi-rollout.conf"))


@pytest.fixture
def run(config_file):
    """Invoke vdictl with the test config; returns click's Result."""

    def invoke(*args, input=None):
        return vdictl(config_file, *args, input=input)

    return invoke


def file_hypervisor(hypervisor, tmp_path, *setup):
    """Run each command of `setup` (argument lists) on test:///default, then give
    a config whose hypervisor is a test:///FILE copy of it that each vdictl
    process loads afresh (a subprocess sees what the earlier runs made), with
    an audit log."""
    config = write_config(tmp_path, CONFIG, name="vdi-rollout.conf")
    for args in setup:
        assert vdictl(config, *args).exit_code == 0
    node = tmp_path / "node.xml"
    node.write_text(node_document(hypervisor.conn))
    return write_config(tmp_path, CONFIG.replace("test:///default", f"test://{node}")
                        + f'[logging]\nlog_file = "{tmp_path / "audit.log"}"\n',
                        name="vdi-rollout.conf")
