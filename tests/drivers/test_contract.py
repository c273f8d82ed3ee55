"""One contract, every driver: the same checks run against each backend.

Backends: libvirt on the in-process test:///default hypervisor, libvirt on
real QEMU (the private sandbox), and oVirt through the real ovirtsdk4 on the
engine simulator (tests/ovirt_sim), and Proxmox VE through the real proxmoxer on its
simulator (tests/pve_sim). Each backend is a small `Backend` that knows how to
provide a template and a foreign VM, and how to look at what a VM's first boot
received; the checks use only the Driver API, and get the driver from the registry.

The optional methods come in groups (TEMPLATES, FIRST_BOOT). A backend names
the groups it `lacks`; the checks of a group then require that it refuses them
with Unsupported and changes nothing, so a lacking backend is checked, never skipped.

Who is at a VM (Driver.sessions) is answered by every backend, but not equally
well: each names in `idle_sessions` what it must answer for a VM of ours that
nobody uses, stopped and running: [] (looked, nobody there) or None (cannot
tell). The base Driver's default is None for both.
"""

from __future__ import annotations

import dataclasses
import gc
import uuid
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from typing import ClassVar, FrozenSet, Tuple

import pytest

from vdictl.drivers import get_driver
from vdictl.errors import (AlreadyExists, Conflict, NotFound, NotOwned, TemplateInUse,
                           Unsupported, WrongState)
from vdictl.model import Owner, Sessions, UserSession, VmState
from vdictl.firstboot.payload import Payload
from vdictl.config.rooms import CLOUD_INIT, SYSPREP, Connect, VmSpec

libvirt = pytest.importorskip("libvirt")

from tests.libvirt_test_hv import TEST_URI, define_test_template  # noqa: E402
from tests.pve_driver import fast_pve_polls  # noqa: E402,F401 - a fixture

OWNER = Owner(room="croom", subsection="desks", tool_version="test")
TIMEOUT = 30.0
#: a first boot on QEMU boots the tiny guest under TCG
FIRST_BOOT_TIMEOUT = 120.0

#: the optional methods, in the groups a backend has or lacks as a whole
TEMPLATES = "templates"        # create_template, template_users, delete_template
FIRST_BOOT = "first boot"      # personalise_vm, finish_vm


class LibvirtBackend:
    """What both libvirt backends share: the test's own connection (`conn`) to
    look at a VM's CD-ROMs, where libvirt attaches the first-boot image."""

    lacks: ClassVar[FrozenSet[str]] = frozenset()
    #: sessions() of an unused VM (stopped, running): a stopped domain has nobody at it
    idle_sessions: ClassVar[Tuple[Sessions, Sessions]]

    def cdroms(self, name):
        root = ET.fromstring(self.conn.lookupByName(name).XMLDesc(0))
        return sorted(d.find("source").get("file") for d in root.findall("devices/disk")
                      if d.get("device") == "cdrom" and d.find("source") is not None)

    def payload_kept(self, spec):
        """First-boot media still attached for later boots: CD-ROMs beyond the template's."""
        return sorted(set(self.cdroms(spec.name)) - set(self.cdroms(spec.template_name)))

    def payload_received(self, spec):
        """The bytes of those CD-ROMs, as text (an ISO image holds its files verbatim)."""
        texts = []
        for path in self.payload_kept(spec):
            with open(path, "rb") as fh:
                texts.append(fh.read().decode("latin-1"))
        return "\n".join(texts)


class LibvirtTestBackend(LibvirtBackend):
    """libvirt's test:///default: instant, in-process. It cannot upload a storage
    volume, so there is no first-boot image: it lacks first boot."""

    lacks = frozenset({FIRST_BOOT})
    #: running: cannot tell, the test driver has no QEMU monitor and no guest agent
    idle_sessions = ([], None)

    def __init__(self, request):
        gc.collect()
        self.conn = libvirt.open(TEST_URI)   # keeps test:///default's state while open
        self.driver = get_driver(Connect(driver="libvirt", uri=TEST_URI))
        self.driver.open()
        self.template = define_test_template(self.conn, "ctpl")

    def add_template(self, name):
        return define_test_template(self.conn, name)

    def add_foreign_vm(self, name):
        self.conn.defineXML(f"<domain type='test'><name>{name}</name>"
                            "<memory unit='KiB'>65536</memory>"
                            "<os><type arch='x86_64'>hvm</type></os></domain>")

    def first_boot_template(self):
        return self.template

    def close(self):
        self.driver.close()
        self.conn.close()
        gc.collect()


class LibvirtQemuBackend(LibvirtBackend):
    """libvirt with real QEMU on the private sandbox."""

    #: running: QEMU's monitor answers query-vnc (no display, no client)
    idle_sessions = ([], [])

    def __init__(self, request):
        self.sandbox = request.getfixturevalue("libvirt_sandbox")
        self.conn = self.sandbox.conn
        self.template = self.sandbox.make_template(f"ctpl-{uuid.uuid4().hex[:6]}", "acpi")
        self.driver = get_driver(Connect(driver="libvirt", uri=self.sandbox.uri))
        self.driver.open()
        self.made = [self.template]

    def add_template(self, name, variant="acpi"):
        self.made.append(self.sandbox.make_template(name, variant))
        return name

    def add_foreign_vm(self, name):
        self.sandbox.make_template(name, "acpi")
        self.made.append(name)

    def first_boot_template(self):
        """A guest that powers itself off right after booting, as after sysprep."""
        return self.add_template(f"ctpl-selfoff-{uuid.uuid4().hex[:6]}", variant="selfoff")

    def close(self):
        self.driver.close()
        for name in self.made:
            self.sandbox.remove_domain(name, delete_volumes=True)


class OvirtSimBackend:
    """oVirt through the real ovirtsdk4, over HTTP, on the engine simulator. The
    simulator records each start's run-once initialization, and plays the guest
    that powers itself off after its first boot."""

    lacks: ClassVar[FrozenSet[str]] = frozenset()
    #: the engine reports console connects and guest users itself: a VM that
    #: is down or up with nobody at it has no sessions
    idle_sessions: ClassVar[Tuple[Sessions, Sessions]] = ([], [])

    def __init__(self, request):
        pytest.importorskip("ovirtsdk4")
        request.getfixturevalue("fast_polls")
        self.sim = request.getfixturevalue("ovirt_engine")
        self.template = "tmpl-win10"
        self.driver = get_driver(Connect(driver="ovirt", url=self.sim.url,
                                         username=self.sim.username,
                                         password=self.sim.password, insecure=True))
        self.driver.open()

    def add_template(self, name):
        self.sim.add_template(name)
        return name

    def add_foreign_vm(self, name):
        self.sim.add_vm(name, template=self.template)

    def first_boot_template(self):
        return self.template

    def payload_received(self, spec):
        """The initialization of the VM's first-boot starts, as text."""
        return "\n".join(text for start in self.sim.starts
                         if start.vm == spec.name and (start.use_sysprep or start.use_cloud_init)
                         for text in start.initialization.values() if text)

    def payload_kept(self, spec):
        """An initialization in the VM's own configuration would serve every later boot."""
        return [xml for tag, xml in self.sim.vm(spec.name).extra.items()
                if tag == "initialization"]

    def close(self):
        self.driver.close()


class ProxmoxSimBackend:
    """Proxmox VE through the real proxmoxer, over HTTPS with its API token, on
    the simulator (tests/pve_sim). The simulator records each start's uploaded
    CDs, and plays the guest that powers itself off after its first boot."""

    lacks: ClassVar[FrozenSet[str]] = frozenset()
    #: a stopped VM has nobody at it; a running one: QEMU's monitor ("info vnc")
    #: lists no console client
    idle_sessions: ClassVar[Tuple[Sessions, Sessions]] = ([], [])

    def __init__(self, request):
        pytest.importorskip("proxmoxer")
        from tests.pve_driver import token_connect

        request.getfixturevalue("fast_pve_polls")
        self.sim = request.getfixturevalue("pve_api")
        self.template = "tmpl-win10"
        self.driver = get_driver(token_connect(self.sim))
        self.driver.open()

    def add_template(self, name):
        self.sim.add_template(name)
        return name

    def add_foreign_vm(self, name):
        self.sim.add_vm(name, template=self.template)

    def first_boot_template(self):
        return self.template

    def payload_received(self, spec):
        """The files of the CDs the VM's starts had, as text."""
        from vdictl.drivers.seed_image import read_seed_image

        return "\n".join(data.decode("utf-8", "replace") for start in self.sim.starts
                         if start.name == spec.name for iso in start.isos.values()
                         for data in read_seed_image(iso)[1].values())

    def payload_kept(self, spec):
        """First-boot media left in the VM's config, or its ISO on the storage."""
        config = self.sim.vm(spec.name).config
        kept = [v for v in config.values() if "iso/" in str(v)]
        return kept + [volid for (_, volid) in list(self.sim.volumes)
                       if f"vdictl-seed-{spec.name}" in volid]

    def close(self):
        self.driver.close()


BACKENDS = {
    "libvirt-test": LibvirtTestBackend,
    "libvirt-qemu": pytest.param(LibvirtQemuBackend, marks=pytest.mark.libvirt_sandbox),
    "ovirt-sim": OvirtSimBackend,
    "proxmox-sim": ProxmoxSimBackend,
}


@pytest.fixture(params=list(BACKENDS.values()), ids=list(BACKENDS))
def backend(request):
    be = request.param(request)
    be.names, be.templates = [], []
    yield be
    for name in be.names:  # leave the backend as it was
        try:
            be.driver.power_off_vm(name=name, timeout=TIMEOUT)
            be.driver.delete_vm(name=name, timeout=TIMEOUT)
        except (NotFound, NotOwned):
            pass
    for name in be.templates:
        try:
            be.driver.delete_template(name=name, adopt=False, timeout=TIMEOUT)
        except (NotFound, Unsupported):
            pass
    be.close()


def spec(backend, name, **kw):
    backend.names.append(name)
    kw.setdefault("template_name", backend.template)
    return VmSpec(room=OWNER.room, subsection=OWNER.subsection, id=1, id_str="01", name=name,
                  memory=32 * 1024 * 1024, **kw)


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


def test_sessions_answers_for_each_vm_what_the_backend_can_tell(backend):
    d = backend.driver
    create(backend, "c-vd01")
    create(backend, "c-vd02")
    backend.add_foreign_vm("c-foreign")
    d.start_vm(name="c-vd02", timeout=TIMEOUT)
    answer = d.sessions(names=["c-vd01", "c-vd02", "c-foreign", "c-nosuchvm"])
    stopped, running = backend.idle_sessions
    assert (answer["c-vd01"], answer["c-vd02"]) == (stopped, running)
    assert answer["c-foreign"] == stopped           # not ours: still answered
    assert answer.get("c-nosuchvm") is None         # left out, or cannot tell
    assert set(answer) <= {"c-vd01", "c-vd02", "c-foreign", "c-nosuchvm"}
    assert all(found is None or all(isinstance(s, UserSession) for s in found)
               for found in answer.values())
    assert d.sessions(names=[]) == {}
    d.power_off_vm(name="c-vd02", timeout=TIMEOUT)
    assert d.sessions(names=["c-vd02"]) == {"c-vd02": stopped}


# -- templates (optional) ------------------------------------------------------------

def new_template_name(backend):
    """A template name no backend has yet; the fixture deletes it afterwards."""
    name = f"ctpl-made-{uuid.uuid4().hex[:6]}"
    backend.templates.append(name)
    return name


def refuses_templates(backend, vm, name):
    """A backend without templates refuses each template method with Unsupported
    and changes nothing."""
    d = backend.driver
    with pytest.raises(Unsupported):
        d.create_template(vm=vm, name=name, seal=False, timeout=TIMEOUT)
    with pytest.raises(Unsupported):
        d.template_users(name=backend.template)
    with pytest.raises(Unsupported):
        d.delete_template(name=backend.template, adopt=True, timeout=TIMEOUT)
    with pytest.raises(NotFound, match=name):
        d.check_create(specs=[spec(backend, "c-never", template_name=name)])
    d.check_create(specs=[spec(backend, "c-never")])   # its template is still there


def test_a_template_made_from_a_vm_serves_clones_and_is_deleted_once_unused(backend):
    d = backend.driver
    create(backend, "c-gold")
    made = new_template_name(backend)
    if TEMPLATES in backend.lacks:
        return refuses_templates(backend, "c-gold", made)
    d.create_template(vm="c-gold", name=made, seal=False, timeout=TIMEOUT)
    assert d.template_users(name=made) == []      # a full copy: c-gold is no user
    clone = spec(backend, "c-vd01", template_name=made)
    vm = d.create_vm(spec=clone, owner=OWNER, timeout=TIMEOUT)
    assert (vm.state, vm.owner) == (VmState.STOPPED, OWNER)
    assert d.uses_template(spec=clone) is True
    assert d.template_users(name=made) == ["c-vd01"]
    assert d.template_running(name=made) is False

    with pytest.raises(TemplateInUse) as in_use:
        d.delete_template(name=made, adopt=False, timeout=TIMEOUT)
    assert in_use.value.users == ["c-vd01"]
    assert d.template_users(name=made) == ["c-vd01"]   # refused: nothing removed

    d.delete_vm(name="c-vd01", timeout=TIMEOUT)
    assert d.delete_template(name=made, adopt=False, timeout=TIMEOUT) == []
    with pytest.raises(NotFound, match=made):
        d.template_users(name=made)
    assert d.get_vm(name="c-gold").state == VmState.STOPPED  # the source stays


def test_a_deleted_template_is_no_longer_found_for_new_vms(backend):
    d = backend.driver
    create(backend, "c-gold")
    made = new_template_name(backend)
    if TEMPLATES in backend.lacks:
        return refuses_templates(backend, "c-gold", made)
    d.create_template(vm="c-gold", name=made, seal=False, timeout=TIMEOUT)
    clone = spec(backend, "c-vd01", template_name=made)
    d.check_create(specs=[clone])
    d.delete_template(name=made, adopt=False, timeout=TIMEOUT)
    with pytest.raises(NotFound, match=made):
        d.check_create(specs=[clone])
    with pytest.raises(NotFound, match=made):
        d.create_vm(spec=clone, owner=OWNER, timeout=TIMEOUT)


def test_template_create_refuses_a_taken_name_and_a_running_vm(backend):
    d = backend.driver
    create(backend, "c-gold")
    made = new_template_name(backend)
    if TEMPLATES in backend.lacks:
        return refuses_templates(backend, "c-gold", made)
    with pytest.raises(AlreadyExists):
        d.create_template(vm="c-gold", name=backend.template, seal=False, timeout=TIMEOUT)
    d.start_vm(name="c-gold", timeout=TIMEOUT)
    with pytest.raises(WrongState):
        d.create_template(vm="c-gold", name=made, seal=False, timeout=TIMEOUT)
    with pytest.raises(NotFound, match=made):   # nothing half made
        d.template_users(name=made)


def test_template_users_names_the_clones_and_a_foreign_template_is_not_deleted(backend):
    d = backend.driver
    create(backend, "c-vd02")
    create(backend, "c-vd01")
    if TEMPLATES in backend.lacks:
        return refuses_templates(backend, "c-vd01", new_template_name(backend))
    assert d.template_users(name=backend.template) == ["c-vd01", "c-vd02"]
    with pytest.raises(NotOwned):
        d.delete_template(name=backend.template, adopt=False, timeout=TIMEOUT)
    with pytest.raises(TemplateInUse) as in_use:   # --adopt still spares its users
        d.delete_template(name=backend.template, adopt=True, timeout=TIMEOUT)
    assert in_use.value.users == ["c-vd01", "c-vd02"]
    assert d.template_users(name=backend.template) == ["c-vd01", "c-vd02"]


# -- first boot (optional) -----------------------------------------------------------

TOKEN = uuid.uuid4().hex
PAYLOADS = {
    CLOUD_INIT: lambda name: Payload(kind=CLOUD_INIT, host_name=name,
                                     user_data=f"#cloud-config\n# contract {TOKEN}\n"),
    SYSPREP: lambda name: Payload(kind=SYSPREP, host_name=name, autounattend=(
        '<unattend xmlns="urn:schemas-microsoft-com:unattend">'
        f"<ComputerName>{name}</ComputerName><!-- contract {TOKEN} --></unattend>\n")),
}


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_first_boot_payload_reaches_the_guest_once_and_is_gone_after_finish(backend, kind):
    d = backend.driver
    made = spec(backend, "c-fb01", template_name=backend.first_boot_template())
    d.create_vm(spec=made, owner=OWNER, timeout=TIMEOUT)
    payload = PAYLOADS[kind](made.name)
    text = payload.user_data or payload.autounattend
    if FIRST_BOOT in backend.lacks:
        with pytest.raises(Unsupported):
            d.personalise_vm(spec=made, payload=payload, timeout=TIMEOUT)
        assert d.get_vm(name=made.name).state == VmState.STOPPED   # not booted
        assert backend.payload_kept(made) == []                     # nothing attached
        return

    d.personalise_vm(spec=made, payload=payload, timeout=FIRST_BOOT_TIMEOUT)
    assert d.get_vm(name=made.name).state == VmState.STOPPED   # the guest powered off
    received = backend.payload_received(made)
    assert text in received
    assert made.name in received                                # its host name

    d.finish_vm(spec=made, timeout=TIMEOUT)
    d.finish_vm(spec=made, timeout=TIMEOUT)    # idempotent
    assert backend.payload_kept(made) == []    # a later boot gets no first-boot payload
    vm = d.get_vm(name=made.name)
    assert (vm.state, vm.owner) == (VmState.STOPPED, OWNER)
