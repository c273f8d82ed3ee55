"""A whole room on real QEMU (the private libvirtd of scripts/libvirt-sandbox).

Room `itest` has 6 VMs in two subsections: four guests that answer the ACPI
power button and two that ignore it. Everything goes through the `vdictl`
command line, as an operator would use it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time

import pytest
from click.testing import CliRunner

from vdictl.cli import cli
from vdictl.config.load import load_config
from vdictl.drivers.libvirt import LibvirtDriver
from vdictl.ops import reset as reset_op
from vdictl.ops.session import Session

from tests.sandbox import read_boot_count

pytestmark = pytest.mark.libvirt_sandbox

ACPI_VMS = ["itest-vd01", "itest-vd02", "itest-vd03", "itest-vd04"]
DEAF_VMS = ["itest-deaf01", "itest-deaf02"]
ALL_VMS = ACPI_VMS + DEAF_VMS

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0.2
    parallel = 3
    shutdown_timeout = 4
    operation_timeout = 60

[room itest]
    ip_addresses = "192.0.2.${{suffix}}"
    netmask_suffix = 24
    memory = 32MiB
    snapshot_description = "vdictl rollout IP=${{ip}}/${{netmask_as_suffix}}, scripttime=${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout IP=.*"
    reset_startvm = {startvm}
    [[acpi_vms]]
    ids = "1-4"
    names = "${{roomname}}-vd${{id}}"
    ip_addresses_suffix = 21
    template_name = itest-tmpl
    [[deaf_vms]]
    ids = "1-2"
    names = "${{roomname}}-deaf${{id}}"
    ip_addresses_suffix = 31
    template_name = itest-tmpl-deaf

[room other]
    [[vms]]
    ids = "1"
    names = "itest-foreign${{id}}"
    template_name = itest-tmpl
"""


class Room:
    """The room under test: config files, CLI runner and a view of the hypervisor."""

    def __init__(self, sandbox, tmp_path):
        self.sandbox = sandbox
        self.tmp_path = tmp_path

    def config(self, startvm="Auto"):
        path = self.tmp_path / f"vdi-{startvm}.conf"
        path.write_text(CONFIG.format(uri=self.sandbox.uri, startvm=startvm))
        return str(path)

    def vdictl(self, *args, startvm="Auto"):
        result = CliRunner().invoke(cli, ["--config", self.config(startvm), *args],
                                    catch_exceptions=False)
        return result

    def report(self, *args, startvm="Auto"):
        result = self.vdictl(*args, "-o", "json", startvm=startvm)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    def dom(self, name):
        return self.sandbox.conn.lookupByName(name)

    def running(self):
        return sorted(d.name() for d in self.sandbox.conn.listAllDomains()
                      if d.isActive() and d.name().startswith("itest-"))

    def domains(self):
        """Domains of this module (other tests share the sandbox)."""
        return sorted(d.name() for d in self.sandbox.conn.listAllDomains()
                      if d.name().startswith("itest-"))

    def volumes(self):
        pool = self.sandbox.conn.storagePoolLookupByName(self.sandbox.pool)
        pool.refresh(0)
        return sorted(v for v in pool.listVolumes() if v.startswith("itest-"))

    def disk(self, name):
        return f"{self.sandbox.images_dir}/{name}-vda.qcow2"

    def stop_all(self):
        for d in self.sandbox.conn.listAllDomains():
            if d.isActive():
                d.destroy()


@pytest.fixture(scope="module")
def room(libvirt_sandbox, tmp_path_factory):
    libvirt_sandbox.make_template("itest-tmpl", "acpi")
    libvirt_sandbox.make_template("itest-tmpl-deaf", "deaf")
    r = Room(libvirt_sandbox, tmp_path_factory.mktemp("room"))
    code, results = r.report("virtroom-rollout", "itest")
    assert code == 0, results
    yield r
    r.stop_all()
    r.vdictl("virtroom-delete", "--yes", "itest", "other")
    for name in ("itest-tmpl", "itest-tmpl-deaf", "itest-foreign01"):
        libvirt_sandbox.remove_domain(name, delete_volumes=True)


def test_rollout_made_linked_clones_with_one_snapshot_each(room):
    assert set(ALL_VMS) <= set(room.domains())
    for name in ALL_VMS:
        snapshots = room.dom(name).listAllSnapshots()
        assert len(snapshots) == 1
    assert room.running() == []
    # a rerun is idempotent: nothing created, no second snapshot
    code, results = room.report("virtroom-rollout", "itest")
    assert code == 0
    assert {r["steps"][0] for r in results.values()} == {"already exists"}
    assert [len(room.dom(n).listAllSnapshots()) for n in ALL_VMS] == [1] * 6


def test_show_lists_every_vm_with_its_reset_snapshot(room):
    data = json.loads(room.vdictl("virtroom-show", "itest", "-o", "json").stdout)
    rows = {row["vm"]: row for row in data["vms"]}
    assert sorted(rows) == sorted(ALL_VMS)
    assert rows["itest-vd03"]["ip"] == "192.0.2.23"
    assert rows["itest-deaf02"]["ip"] == "192.0.2.32"
    assert rows["itest-vd03"]["reset_snapshot"].startswith("vdictl rollout IP=192.0.2.23/24, ")
    assert {row["owned"] for row in rows.values()} == {True}


@pytest.mark.parametrize("startvm, expected", [
    ("Always", ALL_VMS),
    ("Auto", ["itest-deaf01", "itest-vd02"]),
    ("Never", []),
])
def test_reset_starts_vms_per_reset_startvm(room, startvm, expected):
    room.stop_all()
    room.dom("itest-vd02").create()
    room.dom("itest-deaf01").create()
    code, results = room.report("virtroom-reset", "itest", startvm=startvm)
    assert code == 0, results
    assert room.running() == sorted(expected)
    assert {r["outcome"] for r in results.values()} == {"ok"}
    room.stop_all()


def test_reset_restores_the_snapshot_the_regex_picks(room):
    room.stop_all()
    vm = "itest-vd01"
    assert read_boot_count(room.disk(vm)) == 0
    room.dom(vm).create()
    room.sandbox.wait_ready(vm)
    room.dom(vm).destroy()
    assert read_boot_count(room.disk(vm)) == 1
    # a later snapshot that the regex does not match, holding the booted disk
    room.dom(vm).snapshotCreateXML(
        "<domainsnapshot><description>teacher's experiment</description></domainsnapshot>", 0)
    code, results = room.report("virtroom-reset", "itest", startvm="Never")
    assert code == 0
    assert results[vm]["steps"][0].startswith("restore snapshot 'vdictl rollout IP=192.0.2.21/24")
    assert read_boot_count(room.disk(vm)) == 0
    assert len(room.dom(vm).listAllSnapshots()) == 2
    # the ownership mark survived the revert
    data = json.loads(room.vdictl("virtroom-show", "itest", "-o", "json").stdout)
    assert {r["vm"]: r["owned"] for r in data["vms"]}[vm] is True
    room.dom(vm).snapshotLookupByName(
        [s.getName() for s in room.dom(vm).listAllSnapshots()
         if "experiment" in s.getXMLDesc()][0]).delete()


def test_shutdown_is_graceful_and_falls_back_to_power_off(room):
    room.stop_all()
    code, _ = room.report("virtroom-start", "itest")
    assert code == 0
    assert room.running() == sorted(ALL_VMS)
    for name in ACPI_VMS:
        room.sandbox.wait_ready(name)
    for name in DEAF_VMS:
        room.sandbox.wait_ready(name, "deaf")
    code, results = room.report("virtroom-shutdown", "itest")
    assert code == 0
    assert room.running() == []
    for name in ACPI_VMS:
        assert results[name]["steps"] == ["shut down"]
    for name in DEAF_VMS:
        assert results[name]["steps"] == ["shut down",
                                          "guest ignored ACPI for 4s: powered off"]


def test_throttle_never_exceeds_its_limits(room):
    """Counts concurrent backend calls in a real LibvirtDriver subclass."""

    class CountingDriver(LibvirtDriver):
        lock = threading.Lock()
        now = {"snapshot": 0, "power": 0}
        peak = {"snapshot": 0, "power": 0}

        @contextlib.contextmanager
        def _counting(self, kind):
            with self.lock:
                self.now[kind] += 1
                self.peak[kind] = max(self.peak[kind], self.now[kind])
            try:
                yield
            finally:
                with self.lock:
                    self.now[kind] -= 1

        def _count(self, kind, call, **kwargs):
            with self._counting(kind):
                return call(**kwargs)

        def revert_snapshot(self, *, slot, **kw):
            @contextlib.contextmanager
            def counted():  # the revert itself runs inside the caller's slot
                with slot(), self._counting("snapshot"):
                    yield
            return super().revert_snapshot(slot=counted, **kw)

        def start_vm(self, **kw):
            return self._count("power", super().start_vm, **kw)

        def power_off_vm(self, **kw):
            return self._count("power", super().power_off_vm, **kw)

    room.stop_all()
    config = load_config(room.config("Always"))
    started = time.monotonic()
    with Session(config, driver_factory=lambda c, uri: CountingDriver(c.connect, uri=uri)) as s:
        report = reset_op.reset(s, [config.rooms["itest"]])
        assert s.snapshots.batches == 3
    elapsed = time.monotonic() - started
    assert [r.outcome.value for r in report.results] == ["ok"] * 6
    assert CountingDriver.peak["snapshot"] == 2
    assert 2 <= CountingDriver.peak["power"] <= 3
    assert elapsed >= 2 * 0.2  # two pauses between three snapshot batches
    room.stop_all()


def test_shutdown_right_after_start_is_still_graceful(room):
    """A press that arrives while the guest boots is lost; vdictl presses again."""
    room.stop_all()
    vm = "itest-vd03"
    room.dom(vm).create()  # no wait for the guest to be ready
    code, results = room.report("virtroom-shutdown", "itest")
    assert code == 0
    assert results[vm]["steps"] == ["shut down"]
    assert room.running() == []


def test_delete_removes_everything_it_made_and_nothing_else(room):
    # a VM vdictl did not create, with a name that room "other" computes
    room.sandbox.make_template("itest-foreign01", "acpi")
    room.stop_all()
    volumes_before = room.volumes()
    code, results = room.report("virtroom-delete", "--yes", "itest", "other")
    assert code == 1
    assert results["itest-foreign01"]["outcome"] == "failed"
    assert "not created by vdictl" in results["itest-foreign01"]["reason"]
    assert {results[n]["outcome"] for n in ALL_VMS} == {"ok"}
    assert room.domains() == ["itest-foreign01", "itest-tmpl", "itest-tmpl-deaf"]
    assert room.volumes() == sorted(v for v in volumes_before
                                    if not any(v.startswith(n + "-") for n in ALL_VMS))
    assert room.volumes() == ["itest-foreign01.qcow2", "itest-tmpl-deaf.qcow2",
                              "itest-tmpl.qcow2"]

