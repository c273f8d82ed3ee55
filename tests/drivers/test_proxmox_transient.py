"""Transient errors of Proxmox VE through the real proxmoxer on the simulator:
a pmxcfs lock timeout (`cfs-lock 'storage-X' error: got lock request
timeout`, pve-cluster PVE::Cluster $cfs_lock) or a lock-file timeout
(`can't lock file '...' - got timeout`, pve-common PVE::Tools::lock_file_full,
taken by PVE::AbstractConfig::lock_config) as the answer of the request or
as the exit status of its task, and a connection dropped before or after
the node acted. Each call is retried; one that took effect is not repeated."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("proxmoxer")

from vdictl.drivers import get_driver  # noqa: E402
from vdictl.model import Owner, VmState  # noqa: E402
from vdictl.config.rooms import VmSpec  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_connect  # noqa: E402,F401
from tests.pve_sim.server.faults import CFS_LOCK_TIMEOUT  # noqa: E402

OWNER = Owner(room="lab", subsection="pcs", tool_version="test")
TIMEOUT = 30.0
CFS = CFS_LOCK_TIMEOUT % "shared-nfs"     # pmxcfs locks shared storage only
NAME = "lab-pc01"


@pytest.fixture
def sim(request, pve_api):
    request.getfixturevalue("fast_pve_polls")
    return pve_api


@pytest.fixture
def driver(sim):
    d = get_driver(token_connect(sim))
    d.open()
    d.create_vm(spec=VmSpec(room="lab", subsection="pcs", id=1, id_str="01", name=NAME,
                            template_name="tmpl-win10"), owner=OWNER, timeout=TIMEOUT)
    yield d
    d.close()


def _snapshot(driver):
    return driver.create_snapshot(name=NAME, description="rollout", timeout=TIMEOUT)


def _running(sim, driver):
    driver.start_vm(name=NAME, timeout=TIMEOUT)


def _with_snapshot(sim, driver):
    _snapshot(driver)


def _rollback(driver):
    [snap] = driver.list_snapshots(name=NAME)
    driver.revert_snapshot(name=NAME, snapshot=snap, timeout=TIMEOUT)


#: kind -> (setup, the call, its request (method, path), its task type, done(sim))
CALLS = {
    "config": (None, lambda d: d.set_phase(name=NAME, phase="ready"),
               ("PUT", r"/qemu/\d+/config$"), None,
               lambda s: "phase=ready" in s.vm(NAME).config["description"]),
    "snapshot": (None, _snapshot, ("POST", r"/snapshot$"), "qmsnapshot",
                 lambda s: len(s.vm(NAME).snapshots) == 1),
    "rollback": (_with_snapshot, _rollback, ("POST", r"/rollback$"), "qmrollback",
                 lambda s: True),
    "start": (None, lambda d: d.start_vm(name=NAME, timeout=TIMEOUT),
              ("POST", r"/status/start$"), "qmstart",
              lambda s: s.vm(NAME).status == "running"),
    "shutdown": (_running, lambda d: d.shutdown_vm(name=NAME, timeout=TIMEOUT),
                 ("POST", r"/status/shutdown$"), "qmshutdown",
                 lambda s: s.vm(NAME).status == "stopped"),
    "stop": (_running, lambda d: d.power_off_vm(name=NAME, timeout=TIMEOUT),
             ("POST", r"/status/stop$"), "qmstop", lambda s: s.vm(NAME).status == "stopped"),
    "delete": (None, lambda d: d.delete_vm(name=NAME, timeout=TIMEOUT),
               ("DELETE", r"/qemu/\d+$"), "qmdestroy",
               lambda s: not [v for v in list(s.vms.values()) if v.name == NAME]),
}


def sent(sim, method, pattern):
    return [p for m, p, _ in list(sim.requests) if m == method and re.search(pattern, p)]


def ok_tasks(sim, type_):
    return [t for t in list(sim.tasks) if t.type == type_ and t.exitstatus == "OK"]


def lock_text(sim):
    return "can't lock file '/var/lock/qemu-server/lock-%d.conf' - got timeout" % \
        sim.vm(NAME).vmid


def prepare(sim, driver, kind):
    setup = CALLS[kind][0]
    if setup is not None:
        setup(sim, driver)
    sim.wait_tasks()


@pytest.mark.parametrize("kind", sorted(CALLS))
@pytest.mark.parametrize("fault", ["cfs-lock answer", "lock timeout", "cfs-lock in the task"])
def test_a_lock_timeout_is_retried_and_the_call_succeeds(sim, driver, kind, fault):
    prepare(sim, driver, kind)
    _, call, (method, path), task, done = CALLS[kind]
    if fault == "cfs-lock in the task" and task is None:
        pytest.skip("a config PUT is synchronous: it has no task")
    before = len(sent(sim, method, path))
    if fault == "cfs-lock answer":
        sim.fail(method, path, 500, CFS, times=2)
    elif fault == "lock timeout":   # a 500 for the sync PUT, the task's exit status otherwise
        sim.fail_lock(NAME, times=2)
    else:
        sim.fail_task(task, sim.vm(NAME).vmid, CFS)
    call(driver)
    assert done(sim)
    tries = 3 if fault != "cfs-lock in the task" else 2
    assert len(sent(sim, method, path)) - before == tries
    if task is not None:
        assert len(ok_tasks(sim, task)) == 1


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_a_change_whose_answer_was_lost_is_not_repeated(sim, driver, kind):
    prepare(sim, driver, kind)
    _, call, (method, path), task, done = CALLS[kind]
    before = len(sent(sim, method, path))
    sim.fail(method, path, drop="after")
    call(driver)
    assert done(sim)
    assert len(sent(sim, method, path)) - before == 1      # the node saw it once
    if task is not None:
        assert len([t for t in list(sim.tasks) if t.type == task]) == 1
    vm = [v for v in list(sim.vms.values()) if v.name == NAME]
    assert not vm or vm[0].lock is None


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_a_request_dropped_before_the_node_acted_is_sent_again(sim, driver, kind):
    prepare(sim, driver, kind)
    _, call, (method, path), task, done = CALLS[kind]
    before = len(sent(sim, method, path))
    sim.fail(method, path, drop="before")
    call(driver)
    assert done(sim)
    assert len(sent(sim, method, path)) - before == 2
    if task is not None:
        assert len(ok_tasks(sim, task)) == 1


def test_the_rollback_really_restored_the_snapshot_after_a_lost_answer(sim, driver):
    _snapshot(driver)
    driver.set_phase(name=NAME, phase="changed")
    sim.fail("POST", r"/rollback$", drop="after")
    _rollback(driver)
    assert "phase=changed" not in sim.vm(NAME).config["description"]
    assert driver.get_vm(name=NAME).state == VmState.STOPPED
