"""Creating VMs on Proxmox VE where the clone's worker writes the new config
only after the request has answered (qemu-server's clone_vm), through the
real CLI on the simulator: parallel clones each get a VMID of their own and
run at once, a VMID another client takes is given up for another, VMIDs keep
to vmid_range, and a VM an earlier run cloned and did not finish is finished
by the next rollout."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("proxmoxer")
pytestmark = pytest.mark.usefixtures("fast_pve_polls")

from tests.pve_driver import fast_pve_polls, token_connect_ini  # noqa: E402,F401
from tests.pve_sim.clients import ticket_client, token_client, wait_task  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

HEAD = """\
{connect}    [[throttle]]
    operation_timeout = 60
    parallel = {parallel}
"""

ROOM = """\
[room race]
    template_name = tmpl-linux
    snapshot_description = "clean"
    reset_to_snapshot_regex = "^clean$"
    {extra}
    [[pcs]]
    ids = "1-{count}"
    names = "race-pc${{id}}"
"""

#: the clone's worker takes its lock files and writes the config 3 simulated
#: seconds after the answer, and copies for 4 (qemu-server waits 1 s for a lock)
LATE = {"qmclone-start": 3.0, "qmclone": 4.0}


def config(sim, tmp_path, count, parallel=4, extra=""):
    text = HEAD.format(connect=token_connect_ini(sim), parallel=parallel) + \
        ROOM.format(count=count, extra=extra)
    return write_config(tmp_path, text, mode=0o600)


def run(path, *args):
    result = vdictl(path, *args, "-o", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result


def results(data):
    return {r["vm"]: r for r in data["results"]}


def vmids(sim, count):
    return sorted(sim.vm(f"race-pc{i:02d}").vmid for i in range(1, count + 1))


def test_a_parallel_rollout_clones_every_vm_at_once_each_to_its_own_vmid(
        pve_api_factory, tmp_path):
    # before: the run asked nextid before each clone and got the same VMID
    # again until the first worker wrote its config; the later clones failed
    # in their tasks with "can't lock file '/var/lock/qemu-server/lock-100.conf'"
    sim = pve_api_factory(time_scale=0.02, durations=LATE)
    code, data, result = run(config(sim, tmp_path, 8), "virtroom-rollout", "race")
    assert code == 0, result.stdout + result.stderr
    assert {r["outcome"] for r in data["results"]} == {"ok"}
    ids = vmids(sim, 8)
    assert len(set(ids)) == 8
    assert sim.peak_tasks["qmclone"] == 4                 # parallel = 4, all at once
    clones = [t for t in sim.tasks if t.type == "qmclone"]
    assert [t.exitstatus for t in clones] == ["OK"] * 8
    assert all(sim.vm(f"race-pc{i:02d}").lock is None for i in range(1, 9))


def test_a_vmid_another_client_takes_first_is_given_up_for_another(pve_api_factory,
                                                                    tmp_path):
    sim = pve_api_factory(time_scale=0.02, durations=LATE)
    other = token_client(sim)
    taken = []

    def intruder(params):
        # another client clones to the VMID vdictl is about to clone to; its
        # worker starts first and holds that VMID's lock file through its copy
        taken.append(int(params["newid"]))
        other.nodes("pve1").qemu(9000).clone.post(newid=params["newid"], name="intruder")

    sim.before("POST", r"/qemu/9001/clone$", intruder)
    code, data, result = run(config(sim, tmp_path, 2), "virtroom-rollout", "race")
    assert code == 0, result.stdout + result.stderr
    assert sim.wait_tasks()
    assert sim.vm("intruder").vmid == taken[0]
    ids = vmids(sim, 2)
    assert taken[0] not in ids and len(set(ids)) == 2
    lost = [t.exitstatus for t in sim.tasks if t.type == "qmclone" and t.id == "9001"
            and t.exitstatus != "OK"]
    assert lost in (
        [f"can't lock file '/var/lock/qemu-server/lock-{taken[0]}.conf' - got timeout"],
        [f"unable to create VM {taken[0]}: config file already exists"])


def test_vmids_keep_to_the_rooms_vmid_range(pve_api_factory, tmp_path):
    sim = pve_api_factory(time_scale=0.02, durations=LATE)
    sim.add_vm("squatter", vmid=5001)
    path = config(sim, tmp_path, 3, extra="vmid_range = 5000-5003")
    code, data, result = run(path, "virtroom-rollout", "race")
    assert code == 0, result.stdout + result.stderr
    assert vmids(sim, 3) == [5000, 5002, 5003]


def test_a_full_vmid_range_is_named_in_one_line(pve_api_factory, tmp_path):
    sim = pve_api_factory(time_scale=0.02, durations=LATE)
    sim.add_vm("squatter", vmid=5001)
    path = config(sim, tmp_path, 2, extra="vmid_range = 5000-5001")
    code, data, result = run(path, "virtroom-rollout", "race")
    assert code != 0
    by_vm = results(data)
    # the two clones run side by side: whichever asks first gets 5000
    [made] = [vm for vm, r in by_vm.items() if r["outcome"] == "ok"]
    [left] = [vm for vm in by_vm if vm != made]
    assert sim.vm(made).vmid == 5000, by_vm
    error = by_vm[left]["reason"]
    assert "\n" not in error
    assert error.endswith(
        "no free VMID left in vmid_range = 5000-5001: every one is taken (by guests of the "
        "cluster or clones under way); widen the room's vmid_range or remove guests from it")


def test_a_clone_whose_config_change_failed_is_finished_by_the_next_rollout(
        pve_api_factory, tmp_path):
    # before: the mark was only read from VMs tagged vdictl, and the tag came
    # with the config change: "exists but was not created by vdictl" for ever
    sim = pve_api_factory(time_scale=0.02)
    path = config(sim, tmp_path, 2, extra="memory = 1GiB")
    sim.fail("PUT", r"/qemu/\d+/config$", 500, "unable to write config", times=1)
    code, data, result = run(path, "virtroom-rollout", "race")
    assert code != 0
    half = [vm for vm, r in results(data).items() if r["outcome"] == "failed"]
    assert len(half) == 1
    assert "tags" not in sim.vm(half[0]).config
    code, data, result = run(path, "virtroom-show", "race")
    assert [vm["phase"] for vm in data["vms"] if vm["vm"] == half[0]] == ["creating"]

    code, data, result = run(path, "virtroom-reset", "race")
    assert code != 0
    error = results(data)[half[0]]["reason"]
    assert error.endswith(f"VM {half[0]}: its rollout stopped during its creation and it "
                          "has no snapshot to reset to; finish it with: vdictl "
                          f"virtroom-rollout race --vm {half[0]}")

    code, data, result = run(path, "virtroom-rollout", "race")
    assert code == 0, result.stdout + result.stderr
    steps = results(data)[half[0]]["steps"]
    assert "finish its creation" in steps and "take snapshot" in steps
    finished = sim.vm(half[0]).config
    assert finished["tags"] == "vdictl" and finished["memory"] == 1024
    assert finished["description"].startswith("vdictl:room=race;subsection=pcs;")
    assert "phase=" not in finished["description"]
    code, data, result = run(path, "virtroom-reset", "race")
    assert code == 0, result.stdout + result.stderr
    assert {r["outcome"] for r in data["results"]} == {"ok"}


def test_a_clone_its_killed_task_left_locked_is_named_with_what_to_do(pve_api_factory,
                                                                       tmp_path):
    sim = pve_api_factory(time_scale=0.02)
    sim.kill_clone(9001, at="config")
    path = config(sim, tmp_path, 1)
    code, data, result = run(path, "virtroom-rollout", "race")
    assert code != 0
    vmid = sim.vm("race-pc01").vmid
    assert sim.vm("race-pc01").lock == "clone"
    code, data, result = run(path, "virtroom-rollout", "race")
    assert code != 0
    error = results(data)["race-pc01"]["reason"]
    assert "not created by vdictl" not in error and "\n" not in error
    assert error.endswith(
        f"VM race-pc01 (vmid {vmid} on node pve1) is locked (clone) but no task runs on it: "
        "its clone task was killed before it finished, and its disks may be incomplete. "
        f"Remove it on pve1 with: qm unlock {vmid} && qm destroy {vmid} --purge; the next "
        "rollout makes it again")

    # the operator does what it says (through the API: qm unlock, qm destroy)
    api = ticket_client(sim)
    api.nodes("pve1").qemu(vmid).config.put(delete="lock", skiplock=1)
    wait_task(api, api.nodes("pve1").qemu(vmid).delete(purge=1))
    code, data, result = run(path, "virtroom-rollout", "race")
    assert code == 0, result.stdout + result.stderr
    assert sim.vm("race-pc01").lock is None
