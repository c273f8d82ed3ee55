"""--vm: every room command acts on single VMs ("pc03 is broken" needs no room shutdown)."""

from __future__ import annotations

import json

import pytest

LAB1 = ["lab1-teacher01", "lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04"]


def state(hypervisor):
    return hypervisor.domains(), {vm: hypervisor.dom(vm).ID() for vm in LAB1}


def results(result):
    data = json.loads(result.stdout)
    return {r["vm"]: (r["outcome"], r["steps"]) for r in data["results"]}


def test_reset_of_one_vm_leaves_the_rest_of_the_room_alone(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    hypervisor.dom("lab1-vd02").create()
    hypervisor.dom("lab1-vd03").create()
    vd02 = hypervisor.dom("lab1-vd02").ID()  # a new id at every start
    result = run("virtroom-reset", "lab1", "--vm", "lab1-vd03", "-o", "json")
    assert result.exit_code == 0, result.output
    outcome, steps = results(result)["lab1-vd03"]
    assert list(results(result)) == ["lab1-vd03"]
    assert (outcome, steps[0], steps[-1]) == ("ok", "power off", "start")
    assert hypervisor.running() == ["lab1-vd02", "lab1-vd03"]
    assert hypervisor.dom("lab1-vd02").ID() == vd02   # never touched


COMMANDS = [
    ("virtroom-rollout",), ("virtroom-reset",), ("virtroom-start",), ("virtroom-shutdown",),
    ("virtroom-delete", "--yes"), ("virtroom-rebuild", "--yes", "--force"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize("room", [(), ("lab1",)], ids=["room inferred", "room named"])
def test_every_room_command_takes_single_vms(run, hypervisor, command, room):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    result = run(*command, *room, "--vm", "lab1-vd02", "--vm", "lab1-teacher01", "-o", "json")
    assert result.exit_code == 0, result.output
    assert sorted(results(result)) == ["lab1-teacher01", "lab1-vd02"]
    if command[0] == "virtroom-delete":
        assert hypervisor.domains() == sorted(set(LAB1) - {"lab1-teacher01", "lab1-vd02"}
                                              | {"test", "tmpl"})
    show = json.loads(run("virtroom-show", *room, "--vm", "lab1-vd04", "-o", "json").stdout)
    assert [row["vm"] for row in show["vms"]] == ["lab1-vd04"]


@pytest.mark.parametrize("args, message", [
    (("virtroom-reset", "lab1", "--vm", "lab1-vd3"),
     "unknown VM 'lab1-vd3' in {config}; did you mean lab1-vd03, lab1-vd04, lab1-vd02?"),
    (("virtroom-start", "--vm", "pc03"),
     "unknown VM 'pc03' in {config}; vdictl config check lists every VM"),
    (("virtroom-shutdown", "kiosk", "--vm", "lab1-vd03"),
     "VM 'lab1-vd03' is in room lab1, not in kiosk"),
    (("virtroom-delete", "--yes", "lab1", "kiosk", "--vm", "lab1-vd03"),
     "room kiosk has none of the VMs given with --vm (lab1-vd03)"),
    (("virtroom-reset",),
     "no room given; name one or more rooms or use --all (or VMs with --vm)"),
])
def test_a_vm_outside_the_rooms_is_a_usage_error(run, hypervisor, config_file, args, message):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    hypervisor.dom("lab1-vd03").create()
    before = state(hypervisor)
    result = run(*args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {message.format(config=config_file)}\n"
    assert state(hypervisor) == before


def test_the_rollout_hint_says_the_current_disk_becomes_the_reset_point(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    vd01 = hypervisor.dom("lab1-vd01")
    for snapshot in vd01.listAllSnapshots():
        snapshot.delete()
    vd01.create()
    result = run("virtroom-rollout", "--vm", "lab1-vd01")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].split(None, 4)[4] == (
        "already exists; VM lab1-vd01 runs but has no rollout snapshot; shut it down and "
        "rerun the rollout, but know that its current disk then becomes what every reset "
        "returns to (a fresh copy of the template instead: virtroom-rebuild --force "
        "--vm lab1-vd01)")
    assert vd01.listAllSnapshots() == []
