"""maintenance = True: reset and start leave those VMs alone, with a note,
unless --include-maintenance (on libvirt's test:///default hypervisor)."""

from __future__ import annotations

import json

from tests.cli.conftest import CONFIG

MAINTENANCE = CONFIG.replace("""    [[teacher]]
    ids = "1"
""", """    [[teacher]]
    maintenance = True
    ids = "1"
""")
assert MAINTENANCE != CONFIG


def outcomes(result):
    return {r["vm"]: (r["outcome"], r["reason"]) for r in json.loads(result.stdout)["results"]}


def test_reset_and_start_skip_vms_under_maintenance(run, config_file, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    with open(config_file, "w") as fh:
        fh.write(MAINTENANCE)

    result = run("virtroom-start", "lab1", "-o", "json")
    assert result.exit_code == 0
    teacher = outcomes(result)["lab1-teacher01"]
    assert teacher == ("skipped",
                       "maintenance = True: left alone (--include-maintenance to act on it)")
    assert "lab1-teacher01" not in hypervisor.running()
    assert {o for vm, (o, _) in outcomes(result).items() if vm != "lab1-teacher01"} == {"ok"}

    result = run("virtroom-reset", "lab1", "-o", "json")
    assert result.exit_code == 0
    assert outcomes(result)["lab1-teacher01"][0] == "skipped"

    result = run("virtroom-start", "--include-maintenance", "lab1", "-o", "json")
    assert result.exit_code == 0
    assert outcomes(result)["lab1-teacher01"][0] == "ok"
    assert "lab1-teacher01" in hypervisor.running()

    # shutdown is not held back by maintenance
    result = run("virtroom-shutdown", "lab1", "-o", "json")
    assert outcomes(result)["lab1-teacher01"][0] == "ok"
    assert hypervisor.running() == []


def test_only_reset_and_start_offer_include_maintenance(run):
    assert "--include-maintenance" in run("virtroom-reset", "--help").stdout
    assert "--include-maintenance" in run("virtroom-start", "--help").stdout
    assert "--include-maintenance" not in run("virtroom-shutdown", "--help").stdout


def test_reset_naming_a_room_all_under_maintenance_is_an_error(run, config_file, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    with open(config_file, "w") as fh:
        fh.write(CONFIG.replace("[room lab1]\n", "[room lab1]\n    maintenance = True\n"))
    result = run("virtroom-reset", "lab1")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("Error: room 'lab1' has no VM to reset: every VM is under "
                             "maintenance = True (--include-maintenance resets them)\n")
    result = run("virtroom-reset", "--all", "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["notes"] == [
        "room 'lab1' skipped, no VM to reset: every VM is under maintenance = True "
        "(--include-maintenance resets them)",
        "room 'kiosk' skipped, no VM to reset: it is stateless (its VMs discard their "
        "changes at every power-off)"]
    result = run("virtroom-reset", "--include-maintenance", "lab1", "-o", "json")
    assert result.exit_code == 0
    assert {o for o, _ in outcomes(result).values()} == {"ok"}
