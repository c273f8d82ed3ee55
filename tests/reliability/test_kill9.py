"""kill -9 of vdictl in the middle of a reset, then a rerun: every VM ends in
the configured state with exactly its snapshot.

oVirt: the engine simulator served from this process. libvirt: real QEMU
guests on the private libvirtd (tests/sandbox.py)."""

from __future__ import annotations

import json
import os

import pytest

from tests.sandbox import qemu_pid

from .conftest import vdictl_process
from tests.waiting import wait_until


def restores(sim):
    return [r for r in sim.requests if r["method"] == "POST" and r["path"].endswith("/restore")]


def test_ovirt_reset_after_kill_9_converges(site_factory):
    site = site_factory({"rk": 8}, batch=2, parallel=4, sim_knobs={"time_scale": 0.05})
    vms = site.vms()
    for vm in vms:
        site.sim.set_vm_status(vm, "up")
    # a teacher's later snapshot on every VM: a real restore drops it
    code, _ = site.report("virtroom-shutdown", "rk")
    assert code == 0
    from ovirtsdk4 import Connection, types
    conn = Connection(url=site.sim.url, username=site.sim.username,
                      password=site.sim.password)
    try:
        vms_service = conn.system_service().vms_service()
        for vm in vms:
            v = vms_service.list(search=f"name={vm}")[0]
            vms_service.vm_service(v.id).snapshots_service().add(
                types.Snapshot(description="teacher's experiment"))
        site.sim.settle()
        # one VM was left in preview by an older, interrupted tool
        v = vms_service.list(search="name=rk-pc08")[0]
        snap = [s for s in vms_service.vm_service(v.id).snapshots_service().list()
                if s.description.startswith("vdictl rollout")][0]
        vms_service.vm_service(v.id).preview_snapshot(snapshot=types.Snapshot(id=snap.id))
        site.sim.settle()
    finally:
        conn.close()
    assert [s.status for s in site.sim.vm("rk-pc08").snapshots
            if s.description.startswith("vdictl rollout")] == ["in_preview"]
    for vm in vms[:7]:
        site.sim.set_vm_status(vm, "up")

    proc = site.popen("virtroom-reset", "rk")
    wait_until(lambda: restores(site.sim), what="the first restore")
    proc.kill()
    proc.wait(timeout=10)
    # left behind: a restore in progress (VM locked), VMs stopped but not restored
    states = site.statuses()
    assert "image_locked" in states.values(), states
    assert "up" in states.values(), states

    code, report = site.report("virtroom-reset", "rk")
    assert code == 0, [(r["vm"], r["reason"]) for r in report["results"] if r["outcome"] != "ok"]
    site.sim.settle()
    assert site.statuses() == {vm: "up" for vm in vms}
    for vm in vms:
        assert [s for s in site.user_snapshots(vm)] == [site.user_snapshots(vm)[0]]
        assert site.user_snapshots(vm)[0].startswith("vdictl rollout at ")
        assert not site.sim.vm(vm).locked
        assert {s.status for s in site.sim.vm(vm).snapshots} == {"ok"}


# -- real QEMU ------------------------------------------------------------------
LIBVIRT_CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"
    [[throttle]]
    snapshot_batch_size = 1
    snapshot_batch_pause = 0.3
    parallel = 4
    shutdown_timeout = 4
    operation_timeout = 60
[logging]
    log_file = "{log}"

[room kreset]
    memory = 32MiB
    snapshot_description = "vdictl rollout at ${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout .*"
    reset_startvm = Never
    template_name = kreset-tmpl
    [[pcs]]
    ids = "1-4"
    names = "${{roomname}}-pc${{id}}"
"""


@pytest.fixture
def qemu_room(libvirt_sandbox, tmp_path):
    libvirt_sandbox.make_template("kreset-tmpl", "acpi")
    path = tmp_path / "kreset.conf"
    log = tmp_path / "audit.log"
    path.write_text(LIBVIRT_CONFIG.format(uri=libvirt_sandbox.uri, log=log))

    vdictl = vdictl_process(path)
    code, out, err = vdictl("virtroom-rollout", "kreset")
    assert code == 0, out + err
    vdictl.log = log
    yield vdictl
    for d in libvirt_sandbox.conn.listAllDomains():
        if d.name().startswith("kreset-pc") and d.isActive():
            d.destroy()
    vdictl("virtroom-delete", "--yes", "kreset")
    libvirt_sandbox.remove_domain("kreset-tmpl", delete_volumes=True)


def start_room(sb):
    """Start the room's four guests and wait until each has booted; their
    names and disk paths."""
    vms = [f"kreset-pc{i:02d}" for i in range(1, 5)]
    for vm in vms:
        sb.conn.lookupByName(vm).create()
    for vm in vms:
        sb.wait_ready(vm)
    return vms, {vm: f"{sb.images_dir}/{vm}-vda.qcow2" for vm in vms}


def test_qemu_reset_after_kill_9_converges(libvirt_sandbox, qemu_room):
    from tests.sandbox import read_boot_count

    sb = libvirt_sandbox
    vms, disk = start_room(sb)
    proc = qemu_room("virtroom-reset", "kreset", wait=False)
    # snapshot batches of one with a pause: kill once the first VM is done
    wait_until(lambda: "action=reset outcome=ok" in qemu_room.log.read_text(),
               timeout=120, interval=0.02, what="the first VM to be reset")
    proc.kill()
    proc.wait(timeout=10)
    left = {vm: read_boot_count(disk[vm]) for vm in vms}
    assert sorted(left.values()) != [0, 0, 0, 0], left  # killed mid-run, not after

    code, out, err = qemu_room("virtroom-reset", "kreset", "-o", "json")
    assert code == 0, out + err
    assert {r["outcome"] for r in json.loads(out)["results"]} == {"ok"}
    for vm in vms:
        dom = sb.conn.lookupByName(vm)
        assert not dom.isActive()
        assert len(dom.listAllSnapshots()) == 1
        assert read_boot_count(disk[vm]) == 0  # the disk is the snapshot's again


def test_qemu_killed_under_a_running_reset(libvirt_sandbox, qemu_room):
    """A guest's QEMU dies (kill -9) just as the reset starts on the room, racing
    vdictl's power-off ("domain is not running"): the run still ends, the other
    VMs are reset, the victim is reset or named with a reason, and a rerun
    converges."""
    from tests.sandbox import read_boot_count

    sb = libvirt_sandbox
    vms, disk = start_room(sb)
    victim = qemu_pid("kreset-pc04")
    assert victim, "no QEMU process found for kreset-pc04"
    proc = qemu_room("virtroom-reset", "kreset", "-o", "json", wait=False)
    wait_until(lambda: "started (pid" in qemu_room.log.read_text(),
               timeout=60, interval=0.005, what="the reset to start")
    os.kill(victim, 9)
    out, err = proc.communicate(timeout=300)
    results = {r["vm"]: r for r in json.loads(out)["results"]}
    assert {results[vm]["outcome"] for vm in vms[:3]} == {"ok"}, results
    victim_result = results["kreset-pc04"]
    assert victim_result["outcome"] in ("ok", "failed"), victim_result
    if victim_result["outcome"] == "failed":
        assert proc.returncode == 1 and victim_result["reason"]
    else:
        assert proc.returncode == 0

    code, out, err = qemu_room("virtroom-reset", "kreset", "-o", "json")
    assert code == 0, out + err
    for vm in vms:
        dom = sb.conn.lookupByName(vm)
        assert not dom.isActive()
        assert len(dom.listAllSnapshots()) == 1
        assert read_boot_count(disk[vm]) == 0
    assert not sb.conn.lookupByName("kreset-tmpl").isActive()  # the template untouched


# -- reset_startvm = Auto: a rerun starts what ran before the killed reset ------
def killed_auto_reset(site_factory):
    """Room `ra` (Auto): four of six VMs run; a reset is killed during its first
    restores, leaving running VMs powered off. Returns (site, vms, running)."""
    site = site_factory({"ra": 6}, startvm="Auto", batch=2, parallel=4,
                        sim_knobs={"time_scale": 0.05})
    vms = site.vms()
    running = vms[:4]
    for vm in running:
        site.sim.set_vm_status(vm, "up")
    proc = site.popen("virtroom-reset", "ra")
    wait_until(lambda: restores(site.sim), what="the first restore")
    proc.kill()
    proc.wait(timeout=10)
    assert [vm for vm in running if site.sim.vm(vm).status == "up"] != running
    return site, vms, running


def owed_files():
    return [f for f in os.listdir(os.environ["VDICTL_LOCK_DIR"]) if f.endswith(".to-start")]


def test_ovirt_auto_reset_after_kill_9_starts_what_ran_before(site_factory):
    site, vms, running = killed_auto_reset(site_factory)
    assert owed_files() == ["room-ra.to-start"]
    code, report = site.report("virtroom-reset", "ra")
    assert code == 0, [(r["vm"], r["reason"]) for r in report["results"] if r["outcome"] != "ok"]
    site.sim.settle()
    assert site.statuses() == {vm: "up" if vm in running else "down" for vm in vms}
    resumed = [r["vm"] for r in report["results"]
               if "start (it ran before an unfinished reset)" in r["steps"]]
    assert resumed and set(resumed) <= set(running)
    assert owed_files() == []


def test_a_shutdown_after_the_killed_reset_means_off(site_factory):
    site, vms, running = killed_auto_reset(site_factory)
    assert site.report("virtroom-shutdown", "ra")[0] == 0
    code, _ = site.report("virtroom-reset", "ra")
    assert code == 0
    site.sim.settle()
    assert site.statuses() == {vm: "down" for vm in vms}
    assert owed_files() == []
