"""First-boot personalisation on real QEMU (the private libvirtd of the sandbox).

The guests are the tiny test guest: `selfoff` powers itself off right after
booting, as a guest does after sysprep or cloud-init's first boot; `deaf`
never does, which leaves the first-boot image attached for the test to read.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from vdictl.cli import cli
from vdictl.drivers.seed_image import read_seed_image

from tests.sandbox import read_boot_count

pytestmark = pytest.mark.libvirt_sandbox

USER_DATA = "#cloud-config\nhostname: {{ name }}\nwrite_files:\n  - content: {{ motd }}\n"
NETWORK = "version: 2\nethernets:\n  eth0:\n    addresses: [{{ ip }}/{{ netmask_as_suffix }}]\n"
ANSWER = ('<unattend xmlns="urn:schemas-microsoft-com:unattend">'
          "<ComputerName>$ComputerName</ComputerName></unattend>\n")

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 2
    operation_timeout = {timeout}

[room plin]
    memory = 32MiB
    ip_addresses = "192.0.2.${{suffix}}"
    ip_addresses_suffix = 51
    netmask_suffix = 24
    snapshot_description = "rollout ${{ip}}"
    reset_to_snapshot_regex = "rollout .*"
    cloud_init_user_data = user-data.j2
    cloud_init_network_config = network.j2
    [[pcs]]
    ids = "1-2"
    names = "plin-pc${{id}}"
    template_name = {template}
        [[[vars]]]
        motd = hello

[room pwin]
    memory = 32MiB
    snapshot_description = "rollout"
    [[pcs]]
    ids = "1"
    names = "pwin-pc${{id}}"
    template_name = ptest-tmpl-selfoff
    autounattend_templatefile = answer.xml.j2
"""


class Site:
    def __init__(self, sandbox, tmp_path):
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        (tmp_path / "user-data.j2").write_text(USER_DATA)
        (tmp_path / "network.j2").write_text(NETWORK)
        (tmp_path / "answer.xml.j2").write_text(ANSWER)

    def vdictl(self, *args, timeout=60, template="ptest-tmpl-selfoff"):
        path = self.tmp_path / "vdi.conf"
        path.write_text(CONFIG.format(uri=self.sandbox.uri, timeout=timeout, template=template))
        return CliRunner().invoke(cli, ["--config", str(path), *args], catch_exceptions=False)

    def rollout(self, *rooms, **kw):
        result = self.vdictl("virtroom-rollout", *rooms, "-o", "json", **kw)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    def cdroms(self, name):
        xml = self.sandbox.conn.lookupByName(name).XMLDesc(0)
        return [d.find("source").get("file") for d in ET.fromstring(xml).findall("devices/disk")
                if d.get("device") == "cdrom"]

    def volumes(self, prefix):
        pool = self.sandbox.conn.storagePoolLookupByName(self.sandbox.pool)
        pool.refresh(0)
        return sorted(v for v in pool.listVolumes() if v.startswith(prefix))


@pytest.fixture(scope="module")
def site(libvirt_sandbox, tmp_path_factory):
    libvirt_sandbox.make_template("ptest-tmpl-selfoff", "selfoff")
    libvirt_sandbox.make_template("ptest-tmpl-deaf", "deaf")
    s = Site(libvirt_sandbox, tmp_path_factory.mktemp("personalise"))
    yield s
    for dom in libvirt_sandbox.conn.listAllDomains():
        if dom.name().startswith(("plin-", "pwin-")) and dom.isActive():
            dom.destroy()
    s.vdictl("virtroom-delete", "--yes", "plin", "pwin")
    for name in ("ptest-tmpl-selfoff", "ptest-tmpl-deaf"):
        libvirt_sandbox.remove_domain(name, delete_volumes=True)


def test_windows_vm_boots_once_with_its_answer_file_then_loses_the_cd(site):
    code, results = site.rollout("pwin")
    assert code == 0, results
    assert results["pwin-pc01"]["steps"] == [
        "create from ptest-tmpl-selfoff",
        "personalise (sysprep) and wait for the guest's power-off",
        "post-process", "take snapshot"]
    dom = site.sandbox.conn.lookupByName("pwin-pc01")
    assert not dom.isActive()
    assert read_boot_count(f"{site.sandbox.images_dir}/pwin-pc01-vda.qcow2") == 1
    assert site.cdroms("pwin-pc01") == []
    assert site.volumes("pwin-") == ["pwin-pc01-vda.qcow2"]
    (snap,) = dom.listAllSnapshots(0)
    assert "cdrom" not in snap.getXMLDesc(0)


def test_cloud_init_seed_is_read_back_byte_for_byte_and_a_rerun_finishes(site):
    # the deaf guest never powers off: the seed stays attached, the run times out
    code, results = site.rollout("plin", timeout=3, template="ptest-tmpl-deaf")
    assert code != 0
    for n in (1, 2):
        name = f"plin-pc0{n}"
        assert "power itself off after cloud-init" in results[name]["reason"]
        (seed,) = site.cdroms(name)
        with open(seed, "rb") as fh:
            label, files = read_seed_image(fh.read())
        assert label == "cidata"
        assert files == {
            "user-data": f"#cloud-config\nhostname: {name}\nwrite_files:\n"
                         "  - content: hello\n".encode(),
            "meta-data": f"instance-id: vdictl-{name}\nlocal-hostname: {name}\n".encode(),
            "network-config": ("version: 2\nethernets:\n  eth0:\n"
                               f"    addresses: [192.0.2.{50 + n}/24]\n").encode(),
        }
    show = json.loads(site.vdictl("virtroom-show", "plin", "-o", "json").stdout)
    assert [r["phase"] for r in show["vms"]] == ["personalising", "personalising"]

    # the guests finish their first boot; the rerun neither boots them again
    # nor creates anything: it detaches the seed and takes the snapshot
    for n in (1, 2):
        site.sandbox.conn.lookupByName(f"plin-pc0{n}").destroy()
    code, results = site.rollout("plin", template="ptest-tmpl-deaf")
    assert code == 0, results
    for n in (1, 2):
        name = f"plin-pc0{n}"
        assert results[name]["steps"] == [
            "already exists", "the guest powered itself off after its first boot",
            "post-process", "take snapshot"]
        assert site.cdroms(name) == []
    assert site.volumes("plin-") == ["plin-pc01-vda.qcow2", "plin-pc02-vda.qcow2"]
    show = json.loads(site.vdictl("virtroom-show", "plin", "-o", "json").stdout)
    assert [r["phase"] for r in show["vms"]] == ["snapshot taken", "snapshot taken"]


def test_rebuild_dry_run_tells_vms_on_the_configured_template_from_the_others(site):
    # plin was rolled out from the deaf template, pwin from the selfoff one
    result = site.vdictl("virtroom-rebuild", "--dry-run", "plin", "pwin", "-o", "json")
    steps = {r["vm"]: r["steps"] for r in json.loads(result.stdout)["results"]}
    assert steps["pwin-pc01"][0] == "already on template ptest-tmpl-selfoff"
    assert steps["plin-pc01"][:2] == ["would delete", "would create from ptest-tmpl-selfoff"]
