"""A night's restore failures that a second try saves (issue 23, item 4):
the oVirt driver's revert_snapshot through ovirtsdk4 on the engine simulator,
one engine mechanism at a time. Every test asserts on the engine's state."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402
from vdictl.model import Owner  # noqa: E402
from vdictl.config.rooms import Connect, VmSpec  # noqa: E402

from tests.waiting import wait_until  # noqa: E402

OWNER = Owner(room="room01", subsection="students", tool_version="0.1.0")
VM = "room01-pc01"


@pytest.fixture
def sim(ovirt_engine_factory):
    # a restore takes 1 s: long enough to restart the engine in its middle
    return ovirt_engine_factory(time_scale=0.05)


@pytest.fixture
def drv(sim):
    d = OvirtDriver(Connect(driver="ovirt", url=sim.url, username=sim.username,
                            password=sim.password, endpoint_timeout=30))
    d.poll_interval, d.retry_initial, d.retry_maximum = 0.02, 0.02, 0.1
    d.open()
    yield d
    d.close()


@pytest.fixture
def clean(drv, sim):
    """VM room01-pc01 with its snapshot 'clean' taken; then changed (comment
    'dirty') and a newer snapshot taken: a restore undoes both."""
    drv.create_vm(spec=VmSpec(room="room01", subsection="students", id=1, id_str="01",
                              name=VM, template_name="tmpl-win10", cluster="Default",
                              network_name="vdi-net"), owner=OWNER, timeout=60)
    snap = drv.create_snapshot(name=VM, description="clean", timeout=60)
    sim.settle()
    with sim.lock:
        sim.inventory.vm_by_name(VM).comment = "dirty"
    sim.add_snapshot(VM, "newer")
    return snap


def assert_restored(sim, comment_before):
    sim.settle()
    state = sim.vm(VM)
    assert [(s.description, s.status) for s in state.snapshots] == [
        ("clean", "ok"), ("Active VM", "ok")]
    assert state.status == "down" and not state.locked
    assert state.comment == comment_before


def comment_of_clean(sim):
    return sim.vm(VM).comment


def restore_posts(sim):
    return [r for r in sim.requests if r["path"].endswith("/restore")]


@pytest.fixture
def before(sim, clean):
    with sim.lock:
        vm = sim.inventory.vm_by_name(VM)
        return next(s for s in vm.snapshots if s.description == "clean").config["comment"]


def test_a_restore_sent_again_is_judged_by_its_own_job(drv, sim, clean, before):
    """The first restore's answer is lost after the engine took it: the
    request sent again is refused (the VM is locked by the first) and its
    job FAILED. The first restore worked; the VM is not named failed."""
    sim.drop_answer_to.append("/restore")
    assert drv.revert_snapshot(name=VM, snapshot=clean, timeout=30) == []
    assert sim.dropped_connections == 1
    # sent again with a correlation id of its own (libcurl may also resend the
    # very same request once on a connection found dead)
    assert len({r["query"].get("correlation_id") for r in restore_posts(sim)}) >= 2
    assert_restored(sim, before)


def test_a_restore_whose_tasks_failed_is_tried_again(drv, sim, clean, before):
    sim.fail_restores[VM] = 1
    assert drv.revert_snapshot(name=VM, snapshot=clean, timeout=30) == []
    assert any("Failed to restore VM %s" % VM in e for e in sim.events)
    assert len(restore_posts(sim)) == 2
    assert_restored(sim, before)


def test_restore_tasks_failing_every_time_name_the_vm_after_three_tries(drv, sim, clean):
    from vdictl.errors import DriverError
    sim.fail_restores[VM] = 5
    with pytest.raises(DriverError, match=r"restore of snapshot 'clean' failed \(3 of 3"):
        drv.revert_snapshot(name=VM, snapshot=clean, timeout=30)
    assert len(restore_posts(sim)) == 3
    sim.settle()
    assert not sim.vm(VM).locked and sim.vm(VM).status == "down"


def restart_at_first_restore(sim, down_for):
    def restart():
        wait_until(lambda: restore_posts(sim), timeout=30)
        sim.restart(down_for=down_for)
    thread = threading.Thread(target=restart)
    thread.start()
    return thread


def test_a_preview_the_engine_ended_after_its_restart_is_committed(drv, sim, clean, before):
    """The engine restarts while the restore's preview runs and ends the
    preview at startup; nobody commits it. The driver finds the VM in
    preview of the snapshot it wants and commits it."""
    sim.restart_compensates = 0.0
    thread = restart_at_first_restore(sim, down_for=0.3)
    steps = drv.revert_snapshot(name=VM, snapshot=clean, timeout=10)
    thread.join(timeout=30)
    assert sim.restarts == 1
    assert steps == ["commit snapshot preview"]
    assert any("not committed" in e for e in sim.events)
    assert_restored(sim, before)


def test_a_preview_the_engine_compensated_at_its_restart_is_restored_again(drv, sim, clean,
                                                                          before):
    sim.restart_compensates = 1.0
    thread = restart_at_first_restore(sim, down_for=0.3)
    assert drv.revert_snapshot(name=VM, snapshot=clean, timeout=10) == []
    thread.join(timeout=30)
    assert len(restore_posts(sim)) >= 2
    assert_restored(sim, before)


def test_a_restore_an_engine_restart_cut_short_is_not_one_of_the_three_attempts(
        drv, sim, clean, before):
    """The engine's start ends the jobs it finds running UNKNOWN
    (JobRepositoryImpl.finalizeJobs). The first restore is cut short so; the
    next two fail their tasks; the fourth request restores: the interrupted
    one is sent again without counting as a failure."""
    sim.restart_compensates = 1.0
    sim.fail_restores[VM] = 3  # the interrupted one draws the first
    thread = restart_at_first_restore(sim, down_for=0.3)
    assert drv.revert_snapshot(name=VM, snapshot=clean, timeout=10) == []
    thread.join(timeout=30)
    assert sim.restarts == 1
    statuses = sorted(j.status for j in sim.inventory.jobs.values()
                      if j.description.startswith("Preview VM Snapshot clean"))
    assert statuses == ["failed", "failed", "finished", "unknown"]
    assert len(restore_posts(sim)) == 4
    assert_restored(sim, before)


def test_a_preview_of_another_snapshot_is_undone_and_the_restore_done(drv, sim, clean, before):
    sim.preview_snapshot(VM, "newer")
    steps = drv.revert_snapshot(name=VM, snapshot=clean, timeout=10)
    assert steps == ["undo snapshot preview"]
    assert_restored(sim, before)


def test_the_engines_related_operation_refusal_is_tried_again(drv, sim, clean, before):
    sim.lock_conflicts[VM] = 2
    assert drv.revert_snapshot(name=VM, snapshot=clean, timeout=30) == []
    statuses = [r["status"] for r in restore_posts(sim)]
    assert statuses == [409, 409, 202]
    assert_restored(sim, before)


def test_a_proxys_html_503_while_the_engine_restarts_is_tried_again(drv, sim, clean, before):
    """The proxy answers its HTML 503 page (text/html) while the engine
    restarts; the restore is sent once the engine is back."""
    sim.restart(down_for=0.5)
    assert drv.revert_snapshot(name=VM, snapshot=clean, timeout=30) == []
    html = [r for r in sim.requests if r["status"] == 503]
    assert html, "the proxy answered nothing"
    assert_restored(sim, before)
