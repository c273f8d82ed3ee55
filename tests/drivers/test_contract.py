"""One contract, every driver: the same checks run against each backend.

Backends: libvirt on the in-process test:///default hypervisor, libvirt on
real QEMU (the private sandbox), and oVirt through the real ovirtsdk4 on the
engine simulator (tests/ovirt_sim). Each backend is a small `Backend` that knows how to
provide a template and a foreign VM; the checks use only the Driver API.
"""

from __future__ import annotations

import dataclasses
import gc
import uuid
from contextlib import contextmanager

import pytest

from vdictl.errors import Conflict, NotFound, NotOwned
from vdictl.model import Owner, VmState
from vdictl.rooms import Connect, VmSpec

libvirt = pytest.importorskip("libvirt")

from vdictl.drivers.libvirt import LibvirtDriver  # noqa: E402

from tests.libvirt_test_hv import TEST_URI, define_test_template  # noqa: E402

OWNER = Owner(room="croom", subsection="desks", tool_version="test")
TIMEOUT = 30.0


class LibvirtTestBackend:
    """libvirt's test:///default: instant, in-process."""

    def __init__(self, request):
        gc.collect()
        self.driver = LibvirtDriver(Connect(driver="libvirt", uri=TEST_URI))
        self.driver.open()
        self.template = define_test_template(self.driver.conn, "ctpl")

    def add_template(self, name):
        return define_test_template(self.driver.conn, name)

    def add_foreign_vm(self, name):
        self.driver.conn.defineXML(f"<domain type='test'><name>{name}</name>"
                                   "<memory unit='KiB'>65536</memory>"
                                   "<os><type arch='x86_64'>hvm</type></os></domain>")

    def close(self):
        self.driver.close()
        gc.collect()


class LibvirtQemuBackend:
    """libvirt with real QEMU on the private sandbox."""

    def __init__(self, request):
        self.sandbox = request.getfixturevalue("libvirt_sandbox")
        self.template = self.sandbox.make_template(f"ctpl-{uuid.uuid4().hex[:6]}", "acpi")
        self.driver = LibvirtDriver(Connect(driver="libvirt", uri=self.sandbox.uri))
        self.driver.open()
        self.made = [self.template]

    def add_template(self, name):
        self.made.append(self.sandbox.make_template(name, "acpi"))
        return name

    def add_foreign_vm(self, name):
        self.sandbox.make_template(name, "acpi")
        self.made.append(name)

    def close(self):
        self.driver.close()
        for name in self.made:
            self.sandbox.remove_domain(name, delete_volumes=True)


class OvirtSimBackend:
    """oVirt through the real ovirtsdk4, over HTTP, on the engine simulator."""

    def __init__(self, request):
        pytest.importorskip("ovirtsdk4")
        from vdictl.drivers.ovirt import OvirtDriver

        self.sim = request.getfixturevalue("ovirt_engine")
        self.template = "tmpl-win10"
        self.driver = OvirtDriver(Connect(driver="ovirt", url=self.sim.url,
                                          username=self.sim.username,
                                          password=self.sim.password, insecure=True))
        self.driver.poll_interval = 0.01
        self.driver.retry_initial = 0.01
        self.driver.retry_maximum = 0.05
        self.driver.open()

    def add_template(self, name):
        self.sim.add_template(name)
        return name

    def add_foreign_vm(self, name):
        self.sim.add_vm(name, template=self.template)

    def close(self):
        self.driver.close()


BACKENDS = {
    "libvirt-test": LibvirtTestBackend,
    "libvirt-qemu": pytest.param(LibvirtQemuBackend, marks=pytest.mark.libvirt_sandbox),
    "ovirt-sim": OvirtSimBackend,
}


@pytest.fixture(params=list(BACKENDS.values()), ids=list(BACKENDS))
def backend(request):
    made = []
    be = request.param(request)
    be.names = made
    yield be
    for name in made:  # leave the backend as it was
        try:
            be.driver.power_off_vm(name=name, timeout=TIMEOUT)
            be.driver.delete_vm(name=name, timeout=TIMEOUT)
        except (NotFound, NotOwned):
            pass
    be.close()


def spec(backend, name, **kw):
    backend.names.append(name)
    return VmSpec(room=OWNER.room, subsection=OWNER.subsection, id=1, id_str="01", name=name,
                  template_name=backend.template, memory=32 * 1024 * 1024, **kw)


def create(backend, name):
    return backend.driver.create_vm(spec=spec(backend, name), owner=OWNER, timeout=TIMEOUT)


def test_create_gives_a_stopped_vm_with_the_owner_mark(backend):
    vm = create(backend, "c-vd01")
    assert (vm.name, vm.state, vm.owner) == ("c-vd01", VmState.STOPPED, OWNER)
    again = backend.driver.get_vm(name="c-vd01")
    assert (again.id, again.state, again.owner) == (vm.id, VmState.STOPPED, OWNER)


def test_find_vms_returns_exactly_the_existing_names(backend):
    create(backend, "c-vd01")
    create(backend, "c-vd02")
    backend.add_foreign_vm("c-vd03")
    found = backend.driver.find_vms(names=["c-vd01", "c-vd02", "c-vd03",
                                                          "c-vd04"])
    assert sorted(found) == ["c-vd01", "c-vd02", "c-vd03"]
    assert found["c-vd01"].owner == OWNER
    assert found["c-vd03"].owner is None


def test_the_rollout_phase_set_is_what_find_vms_reports(backend):
    create(backend, "c-vd01")
    backend.add_foreign_vm("c-vd02")
    found = backend.driver.find_vms(names=["c-vd01", "c-vd02"])
    assert (found["c-vd01"].phase, found["c-vd02"].phase) == (None, None)
    backend.driver.set_phase(name="c-vd01", phase="personalising")
    assert backend.driver.find_vms(names=["c-vd01"])["c-vd01"].phase == \
        "personalising"
    assert backend.driver.get_vm(name="c-vd01").phase == "personalising"


def test_create_refuses_an_existing_name(backend):
    create(backend, "c-vd01")
    with pytest.raises(Conflict):
        create(backend, "c-vd01")


def test_missing_vm_and_template_are_not_found_by_name(backend):
    with pytest.raises(NotFound, match="c-nosuchvm"):
        backend.driver.get_vm(name="c-nosuchvm")
    with pytest.raises(NotFound, match="no-such-template"):
        backend.driver.create_vm(
            spec=VmSpec(room="r", subsection="s", id=1, id_str="01", name="c-never",
                        template_name="no-such-template"), owner=OWNER, timeout=TIMEOUT)


def test_check_create_names_every_missing_template_and_changes_nothing(backend):
    def want(name, template):
        return VmSpec(room="r", subsection="s", id=1, id_str="01", name=name,
                      template_name=template)

    backend.driver.check_create(specs=[want("c-ok1", backend.template),
                                       want("c-ok2", backend.template)])
    with pytest.raises(NotFound) as caught:
        backend.driver.check_create(specs=[want("c-a", "no-such-template"),
                                           want("c-b", backend.template),
                                           want("c-c", "gone-template"),
                                           want("c-d", "no-such-template")])
    message = caught.value.message
    assert "no-such-template" in message and "gone-template" in message
    assert message.count("no-such-template") == 1
    assert backend.driver.find_vms(names=["c-ok1", "c-a", "c-b"]) == {}


def test_power_operations_are_idempotent_and_wait(backend):
    d = backend.driver
    create(backend, "c-vd01")
    d.start_vm(name="c-vd01", timeout=TIMEOUT)
    assert d.get_vm(name="c-vd01").state == VmState.RUNNING
    d.start_vm(name="c-vd01", timeout=TIMEOUT)  # no-op
    d.power_off_vm(name="c-vd01", timeout=TIMEOUT)
    assert d.get_vm(name="c-vd01").state == VmState.STOPPED
    d.power_off_vm(name="c-vd01", timeout=TIMEOUT)  # no-op
    assert d.shutdown_vm(name="c-vd01", timeout=TIMEOUT) is False  # already off


def test_snapshots_are_listed_oldest_first_and_revert_needs_a_stopped_vm(backend):
    d = backend.driver
    create(backend, "c-vd01")
    first = d.create_snapshot(name="c-vd01", description="rollout A", timeout=TIMEOUT)
    second = d.create_snapshot(name="c-vd01", description="later B", timeout=TIMEOUT)
    listed = d.list_snapshots(name="c-vd01")
    assert [s.description for s in listed] == ["rollout A", "later B"]
    assert [s.id for s in listed] == [first.id, second.id]
    d.start_vm(name="c-vd01", timeout=TIMEOUT)
    with pytest.raises(Conflict):
        d.revert_snapshot(name="c-vd01", snapshot=first, timeout=TIMEOUT)
    d.power_off_vm(name="c-vd01", timeout=TIMEOUT)
    d.revert_snapshot(name="c-vd01", snapshot=first, timeout=TIMEOUT)
    vm = d.get_vm(name="c-vd01")
    assert (vm.state, vm.owner) == (VmState.STOPPED, OWNER)
    # the restored snapshot stays; oVirt (as its engine does) drops the newer ones
    assert [s.description for s in d.list_snapshots(name="c-vd01")][0] == "rollout A"


class Slot:
    """A caller's throttle slot that records when the driver holds it."""

    def __init__(self, on_enter=lambda: None, on_exit=lambda: None):
        self.entries, self.held = 0, False
        self.on_enter, self.on_exit = on_enter, on_exit

    @contextmanager
    def __call__(self):
        self.entries += 1
        self.held = True
        self.on_enter()
        try:
            yield
        finally:
            self.on_exit()
            self.held = False


def test_snapshot_work_holds_the_callers_slot_once_and_only_around_the_work(backend):
    d = backend.driver
    create(backend, "c-vd01")
    seen = {}

    def described():
        return [s.description for s in d.list_snapshots(name="c-vd01")]

    slot = Slot(on_enter=lambda: seen.update(enter=described()),
                on_exit=lambda: seen.update(exit=described()))
    first = d.create_snapshot(name="c-vd01", description="rollout A", timeout=TIMEOUT,
                              slot=slot)
    assert (slot.entries, slot.held) == (1, False)
    assert seen == {"enter": [], "exit": ["rollout A"]}  # the snapshot is made inside it

    d.start_vm(name="c-vd01", timeout=TIMEOUT)
    refused = Slot()
    with pytest.raises(Conflict):  # checked before the slot is taken
        d.revert_snapshot(name="c-vd01", snapshot=first, timeout=TIMEOUT, slot=refused)
    assert refused.entries == 0
    d.power_off_vm(name="c-vd01", timeout=TIMEOUT)
    slot = Slot()
    assert d.revert_snapshot(name="c-vd01", snapshot=first, timeout=TIMEOUT, slot=slot) == []
    assert (slot.entries, slot.held) == (1, False)
    assert d.get_vm(name="c-vd01").state == VmState.STOPPED


def test_uses_template_tells_the_vms_template_from_another(backend):
    other = backend.add_template(f"ctpl-other-{uuid.uuid4().hex[:6]}")
    made = spec(backend, "c-vd01")
    backend.driver.create_vm(spec=made, owner=OWNER, timeout=TIMEOUT)
    assert backend.driver.uses_template(spec=made) is True
    assert backend.driver.uses_template(spec=dataclasses.replace(made, template_name=other)) \
        is False


def test_delete_removes_owned_vms_and_refuses_foreign_ones(backend):
    d = backend.driver
    create(backend, "c-vd01")
    backend.add_foreign_vm("c-foreign")
    with pytest.raises(NotOwned):
        d.delete_vm(name="c-foreign", timeout=TIMEOUT)
    d.delete_vm(name="c-vd01", timeout=TIMEOUT)
    assert d.find_vms(names=["c-vd01", "c-foreign"]).keys() == {"c-foreign"}


def test_open_and_close_twice_are_safe(backend):
    backend.driver.close()
    backend.driver.close()
    backend.driver.open()
    assert backend.driver.find_vms(names=["c-none"]) == {}
