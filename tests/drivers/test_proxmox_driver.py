"""The proxmox driver through the real proxmoxer, over HTTPS, on the Proxmox VE
simulator (tests/pve_sim): logins, TLS, locks, VMID races, shared task polls,
snapshot names and templates. The shared checks are in test_contract.py."""

from __future__ import annotations

import re
import threading

import pytest

pytest.importorskip("proxmoxer")

from vdictl.drivers import get_driver  # noqa: E402
from vdictl.drivers.proxmox.snapshots import VALID_NAME, snapshot_name  # noqa: E402
from vdictl.errors import (AuthError, Busy, DriverError, NotFound, NotOwned,  # noqa: E402
                           TemplateInUse, Unsupported, WrongState)
from vdictl.model import Owner, VmState  # noqa: E402
from vdictl.config.rooms import VmSpec  # noqa: E402

from tests.pve_driver import (fast_pve_polls, ticket_connect,  # noqa: E402,F401
                              token_connect)

OWNER = Owner(room="lab", subsection="pcs", tool_version="test")
TIMEOUT = 30.0


def spec(name, **kw):
    kw.setdefault("template_name", "tmpl-win10")
    return VmSpec(room=OWNER.room, subsection=OWNER.subsection, id=1, id_str="01", name=name,
                  **kw)


@pytest.fixture
def sim(request, pve_api):
    request.getfixturevalue("fast_pve_polls")
    return pve_api


@pytest.fixture
def driver(sim):
    d = get_driver(token_connect(sim))
    d.open()
    yield d
    d.close()


def requests_to(sim, pattern):
    return [(m, p) for m, p, _ in list(sim.requests) if re.search(pattern, p)]


# -- logins and TLS -------------------------------------------------------------------

def test_a_ticket_login_happens_once_per_run(sim):
    d = get_driver(ticket_connect(sim))
    d.open()
    d.create_vm(spec=spec("lab-pc01", memory=512 * 1024 ** 2), owner=OWNER, timeout=TIMEOUT)
    d.start_vm(name="lab-pc01", timeout=TIMEOUT)
    d.find_vms(names=["lab-pc01"])
    d.power_off_vm(name="lab-pc01", timeout=TIMEOUT)
    d.close()
    assert sim.logins == 1


def test_a_token_needs_no_login(sim, driver):
    driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    assert sim.logins == 0


def test_a_wrong_password_is_refused_without_showing_it(sim):
    d = get_driver(ticket_connect(sim).__class__(
        driver="proxmox", url=sim.url, username="root@pam", password="Wr0ng-pw-xyz",
        ca_file=sim.ca_file))
    with pytest.raises(AuthError) as refused:
        d.open()
    text = str(refused.value)
    assert text.startswith(f"proxmox: login to {sim.url} as root@pam refused: ")
    assert "Wr0ng-pw-xyz" not in text


def test_a_wrong_token_secret_is_refused_without_showing_it(sim, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("00000000-1111-2222-3333-444444444444\n")
    connect = token_connect(sim)
    d = get_driver(connect.__class__(**{**connect.__dict__, "token_secret_file": str(secret)}))
    with pytest.raises(AuthError) as refused:
        d.open()
    assert str(refused.value).startswith(f"proxmox: login to {sim.url} as root@pam!vdictl "
                                         "refused: ")
    assert "00000000-1111" not in str(refused.value)


def test_tls_is_verified_with_ca_file_and_fails_without_it(sim):
    d = get_driver(token_connect(sim, ca_file=None))
    with pytest.raises(DriverError) as failed:
        d.open()
    message = str(failed.value)
    assert message.startswith(f"proxmox: cannot connect to {sim.url}: TLS certificate not "
                              "trusted (")
    assert message.endswith("set ca_file = the cluster's CA certificate (a copy of "
                            "/etc/pve/pve-root-ca.pem from a node), or insecure = True for "
                            "a test system")
    assert sim.token_secret not in message
    ok = get_driver(token_connect(sim))       # the simulator's CA: verified
    ok.open()
    assert ok.find_vms(names=["nobody"]) == {}


# -- create ------------------------------------------------------------------------

def test_create_is_a_linked_clone_with_a_new_mac_the_mark_and_the_tag(sim, driver):
    vm = driver.create_vm(spec=spec("lab-pc01", memory=1024 ** 3, pool="lab"), owner=OWNER,
                          timeout=TIMEOUT)
    assert (vm.state, vm.owner) == (VmState.STOPPED, OWNER)
    config = sim.vm("lab-pc01").config
    template = sim.vm("tmpl-win10").config
    assert config["scsi0"].startswith("local-lvm:base-9000-disk-0/")
    assert config["memory"] in (1024, "1024")
    assert "vdictl" in config["tags"].split(";")
    assert config["description"].startswith("vdictl:room=lab;subsection=pcs;version=test")
    assert vm.mac and vm.mac not in template["net0"]
    assert sim.linked_clones("tmpl-win10") == ["lab-pc01"]


def test_two_drivers_cloning_at_once_both_get_a_vmid(sim):
    """Two processes (two drivers, no shared lock) take VMIDs from nextid at once."""
    drivers = [get_driver(token_connect(sim)) for _ in range(2)]
    errors = []

    def clone(d, name):
        try:
            d.create_vm(spec=spec(name), owner=OWNER, timeout=TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=clone, args=(d, f"lab-pc0{i}"))
               for i, d in enumerate(drivers, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    found = drivers[0].find_vms(names=["lab-pc01", "lab-pc02"])
    assert sorted(found) == ["lab-pc01", "lab-pc02"]
    assert found["lab-pc01"].id != found["lab-pc02"].id


# -- locks -------------------------------------------------------------------------

def test_a_lock_left_by_a_killed_task_fails_at_once_with_the_unlock_hint(sim, driver):
    made = driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    sim.leave_lock("lab-pc01", "snapshot")
    before = len(sim.requests)
    with pytest.raises(WrongState) as stale:
        driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    assert str(stale.value) == (
        f"proxmox: lab-pc01: VM lab-pc01 (vmid {made.id} on node pve1) is locked (snapshot) "
        "but no task runs on it: a killed run or task left the lock. Check on pve1 that no "
        f"task still works on VM {made.id}, then clear it there with: qm unlock {made.id}")
    changed = [r for r in list(sim.requests)[before:] if r[0] != "GET"]
    assert changed == []                           # nothing was asked to change
    assert sim.vm("lab-pc01").config["lock"] == "snapshot"   # vdictl never unlocks


def test_a_lock_refusal_while_a_task_holds_it_is_retried(sim, driver):
    driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    sim.fail("POST", r"/status/start$", 500, "VM is locked (snapshot)", times=2)
    driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    assert driver.get_vm(name="lab-pc01").state == VmState.RUNNING
    assert len(requests_to(sim, r"/status/start$")) == 3


def test_a_running_task_lock_is_waited_for(pve_api_factory, request):
    request.getfixturevalue("fast_pve_polls")
    sim = pve_api_factory(durations={"qmsnapshot": 400.0})   # 0.4 s at the time scale
    driver = get_driver(token_connect(sim))
    driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    other = get_driver(token_connect(sim))
    snap = threading.Thread(target=other.create_snapshot,
                            kwargs=dict(name="lab-pc01", description="x", timeout=TIMEOUT))
    snap.start()
    try:
        while sim.vm("lab-pc01").config.get("lock") != "snapshot":
            pass
        driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    finally:
        snap.join()
    assert driver.get_vm(name="lab-pc01").state == VmState.RUNNING
    assert [s.description for s in driver.list_snapshots(name="lab-pc01")] == ["x"]
    assert requests_to(sim, r"/tasks$")        # it looked for the task holding the lock


def test_a_busy_error_that_outlasts_the_retries_is_busy(sim, driver):
    driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    driver.connection.tuning.retry_attempts = 2
    sim.fail("POST", r"/status/start$", 500,
             "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout", times=5)
    with pytest.raises(Busy):
        driver.start_vm(name="lab-pc01", timeout=TIMEOUT)


# -- tasks -------------------------------------------------------------------------

def test_waiting_tasks_share_one_task_list_poll_per_node(sim, driver):
    names = [f"lab-pc{i:02d}" for i in range(1, 7)]
    for name in names:
        driver.create_vm(spec=spec(name), owner=OWNER, timeout=TIMEOUT)
    before = len(sim.requests)
    threads = [threading.Thread(target=driver.start_vm, kwargs=dict(name=n, timeout=TIMEOUT))
               for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    polls = [p for m, p, _ in list(sim.requests)[before:] if p.endswith("/tasks")]
    per_task = [p for m, p, _ in list(sim.requests)[before:] if "/tasks/UPID" in p]
    assert polls and all(p == "/nodes/pve1/tasks" for p in polls)
    assert per_task == []                      # no request per waiting task
    assert len(polls) < 3 * len(names)
    assert all(driver.get_vm(name=n).state == VmState.RUNNING for n in names)


# -- snapshots ---------------------------------------------------------------------

def test_snapshot_names_are_valid_proxmox_ids():
    first = snapshot_name(set(), now=0)
    assert first == "vdictl_19700101_000000"
    assert snapshot_name({first}, now=0) == "vdictl_19700101_000000_2"
    assert snapshot_name({first, first + "_2"}, now=0) == "vdictl_19700101_000000_3"
    assert all(VALID_NAME.match(n) for n in (first, first + "_2"))


def test_snapshot_keeps_the_description_and_rollback_does_not_start(sim, driver):
    driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    snap = driver.create_snapshot(name="lab-pc01", description="vdictl rollout 2024-03-05",
                                  timeout=TIMEOUT)
    assert VALID_NAME.match(snap.id)
    driver.set_phase(name="lab-pc01", phase="post-processed")
    driver.revert_snapshot(name="lab-pc01", snapshot=snap, timeout=TIMEOUT)
    vm = driver.get_vm(name="lab-pc01")
    assert (vm.state, vm.owner, vm.phase) == (VmState.STOPPED, OWNER, None)  # mark kept
    rollbacks = [p for m, p, _ in sim.requests if p.endswith("/rollback")]
    assert len(rollbacks) == 1


# -- shutdown ----------------------------------------------------------------------

def test_shutdown_reports_whether_it_had_to_stop(sim, driver):
    driver.create_vm(spec=spec("lab-pc01"), owner=OWNER, timeout=TIMEOUT)
    driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    assert driver.shutdown_vm(name="lab-pc01", timeout=TIMEOUT) is False
    driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    sim.fail_task("qmshutdown", driver.get_vm(name="lab-pc01").id,
                  "VM quit/powerdown failed - got timeout")
    assert driver.shutdown_vm(name="lab-pc01", timeout=1) is True
    assert driver.get_vm(name="lab-pc01").state == VmState.STOPPED


# -- templates ---------------------------------------------------------------------

def test_seal_is_refused_before_anything_changes(sim, driver):
    driver.create_vm(spec=spec("lab-gold"), owner=OWNER, timeout=TIMEOUT)
    before = len(sim.requests)
    with pytest.raises(Unsupported) as refused:
        driver.create_template(vm="lab-gold", name="tmpl-new", seal=True, timeout=TIMEOUT)
    assert str(refused.value) == (
        "proxmox: tmpl-new: Proxmox VE cannot seal a template; seal the guest itself "
        "(Windows: sysprep /generalize /oobe /shutdown; Linux: virt-sysprep on the stopped "
        "VM, or cloud-init clean and truncate /etc/machine-id), then run template-create "
        "without --seal")
    assert len(sim.requests) == before


def test_a_template_with_linked_clones_is_not_deleted(sim, driver):
    driver.create_vm(spec=spec("lab-gold"), owner=OWNER, timeout=TIMEOUT)
    driver.create_template(vm="lab-gold", name="tmpl-new", seal=False, timeout=TIMEOUT)
    driver.create_vm(spec=spec("lab-pc01", template_name="tmpl-new"), owner=OWNER,
                     timeout=TIMEOUT)
    with pytest.raises(TemplateInUse) as in_use:
        driver.delete_template(name="tmpl-new", adopt=False, timeout=TIMEOUT)
    assert in_use.value.users == ["lab-pc01"]
    assert sim.linked_clones("tmpl-new") == ["lab-pc01"]
    with pytest.raises(NotOwned):
        driver.delete_template(name="tmpl-win10", adopt=False, timeout=TIMEOUT)


def test_a_foreign_vm_is_never_deleted(sim, driver):
    sim.add_vm("lab-pc01", template="tmpl-win10")
    with pytest.raises(NotOwned):
        driver.delete_vm(name="lab-pc01", timeout=TIMEOUT)
    assert driver.find_vms(names=["lab-pc01"])["lab-pc01"].owner is None


def test_keys_the_driver_does_not_apply_are_refused_before_anything_is_made(sim, driver):
    with pytest.raises(Unsupported) as refused:
        driver.check_create(specs=[spec("lab-pc01", tc_user="student@pve", usb=True)])
    assert str(refused.value) == (
        "proxmox: lab-pc01: tc_user, usb: not used by the proxmox driver; remove them (VM "
        "settings come from the template; a thin-client account gets access through a "
        "resource pool: pool = NAME and a permission on /pool/NAME)")
    assert driver.find_vms(names=["lab-pc01"]) == {}


def test_check_create_names_every_missing_node_storage_and_pool(sim, driver):
    with pytest.raises(NotFound) as missing:
        driver.check_create(specs=[spec("lab-pc01", node="pve9", storage="fast-ssd",
                                        pool="nolab"),
                                   spec("lab-pc02", template_name="tmpl-gone")])
    assert missing.value.message == (
        "node 'pve9' not found; storage 'fast-ssd' not found on node 'pve9'; resource pool "
        "'nolab' not found; template 'tmpl-gone' not found")


def test_another_storage_makes_a_full_clone(sim, driver):
    driver.create_vm(spec=spec("lab-pc01", storage="shared-nfs"), owner=OWNER, timeout=TIMEOUT)
    assert sim.vm("lab-pc01").config["scsi0"].startswith("shared-nfs:")
    assert sim.linked_clones("tmpl-win10") == []
