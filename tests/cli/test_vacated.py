"""Between lessons through the CLI on test:///default (issue 26): the occupancy
record, `virtroom-reset --vacated` and `virtroom-shutdown --idle-for`.

Who is at a desk comes from tests/cli/at_desks.py (the real libvirt driver
whose sessions() answers fixed users): test:/// itself cannot tell, which is
tested too. The real detection is tested end to end on QEMU
(tests/integration/test_vacated_on_qemu.py) and the simulators.
"""

from __future__ import annotations

import json
import time

from tests.cli.at_desks import ENV, use_at_desks

STUDENTS = ["lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04"]
ALL = STUDENTS + ["lab1-teacher01"]
ANNA = {"lab1-vd02": [{"kind": "console", "client": "192.0.2.7", "source": "qemu vnc"}]}


def report(result):
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {r["vm"]: r["outcome"] for r in data["results"]}, data.get("left_alone"), data


def vacated(run, grace="1s"):
    return report(run("virtroom-reset", "lab1", "--vacated", "--grace", grace, "-o", "json"))


def test_vacated_resets_only_the_desk_its_user_left_after_the_grace(run, hypervisor,
                                                                   monkeypatch):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    use_at_desks(monkeypatch, ANNA)
    results, left, _ = vacated(run)
    assert results == {}
    assert left == {"in use": 1, "not used since their last reset": 4}

    monkeypatch.setenv(ENV, "{}")          # anna left
    results, left, data = vacated(run)
    assert results == {}                   # seen free just now: within the grace
    assert left == {"vacated within the grace": 1, "not used since their last reset": 4}
    assert "reset --vacated (grace 1s): left alone: 4 not used since their last reset, " \
           "1 vacated within the grace" in data["notes"]

    time.sleep(1.1)
    ids = {vm: hypervisor.dom(vm).ID() for vm in ALL}
    results, left, data = vacated(run)
    assert results == {"lab1-vd02": "ok"}
    steps = data["results"][0]["steps"]
    assert steps[0] == "power off" and steps[1].startswith("restore snapshot")
    assert hypervisor.dom("lab1-vd02").ID() != ids["lab1-vd02"]
    assert {vm: hypervisor.dom(vm).ID() for vm in ALL if vm != "lab1-vd02"} == \
        {vm: ids[vm] for vm in ALL if vm != "lab1-vd02"}

    results, left, _ = vacated(run)        # reset: not used since
    assert results == {} and left == {"not used since their last reset": 5}


def test_vacated_leaves_desks_whose_use_cannot_be_told(run, hypervisor):
    """test:/// cannot tell: nothing is ever picked, however often it runs."""
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    for _ in range(2):
        results, left, _ = vacated(run, grace="0s")
        assert results == {} and left == {"use cannot be told": 5}


def test_a_vacated_run_with_nothing_to_do_is_silent_off_a_terminal(run, hypervisor,
                                                                  monkeypatch):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    use_at_desks(monkeypatch, ANNA)
    result = run("virtroom-reset", "lab1", "--vacated")
    assert (result.exit_code, result.stdout) == (0, "")


def test_grace_without_vacated_and_a_bad_duration_are_one_line(run, hypervisor):
    result = run("virtroom-reset", "lab1", "--grace", "5m")
    assert result.exit_code == 2
    assert "--grace goes with --vacated" in result.stderr
    result = run("virtroom-reset", "lab1", "--vacated", "--grace", "soon")
    assert result.exit_code == 2
    assert "--grace 'soon' is not a duration" in result.stderr
    assert "Traceback" not in result.output


def test_idle_for_shuts_down_only_the_desks_nobody_used_for_that_long(run, hypervisor,
                                                                     monkeypatch):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    use_at_desks(monkeypatch, ANNA)
    results, left, _ = report(run("virtroom-shutdown", "lab1", "--idle-for", "1s", "-o", "json"))
    assert results == {}                   # just started: idle since the start
    assert left == {"in use": 1, "used within the idle time": 4}
    time.sleep(1.1)
    results, left, _ = report(run("virtroom-shutdown", "lab1", "--idle-for", "1s", "-o", "json"))
    assert results == {vm: "ok" for vm in ALL if vm != "lab1-vd02"}
    assert left == {"in use": 1}
    assert hypervisor.running() == ["lab1-vd02"]


def test_idle_for_leaves_desks_whose_use_cannot_be_told_running(run, hypervisor):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    for _ in range(2):
        results, left, _ = report(run("virtroom-shutdown", "lab1", "--idle-for", "0s",
                                      "-o", "json"))
        assert results == {} and left == {"use cannot be told": 5}
    assert sorted(hypervisor.running()) == sorted(ALL)


def test_show_says_when_a_desk_was_last_used(run, hypervisor, monkeypatch):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    use_at_desks(monkeypatch, ANNA)
    before = time.time()
    assert run("virtroom-show", "lab1").exit_code == 0
    monkeypatch.setenv(ENV, "{}")
    data = json.loads(run("virtroom-show", "lab1", "-o", "json").stdout)
    used = {row["vm"]: row["last_used"] for row in data["vms"]}
    assert before <= used["lab1-vd02"] <= time.time()
    assert [used[vm] for vm in ALL if vm != "lab1-vd02"] == [None] * 4
    table = run("virtroom-show", "lab1").stdout.splitlines()
    assert "LAST USED" in table[0]
    column = table[0].index("LAST USED")
    assert table[2][column:column + 5] == time.strftime("%H:%M", time.localtime(
        used["lab1-vd02"]))



def test_status_and_the_status_page_count_the_desks_in_use_vacated_and_idle(
        run, hypervisor, monkeypatch, tmp_path):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    data = json.loads(run("status", "lab1", "-o", "json").stdout)
    assert data["desks"] == {"lab1": {"in use": 0, "vacated": 0, "idle": 0, "probed": None}}
    use_at_desks(monkeypatch, {**ANNA, "lab1-vd03": ANNA["lab1-vd02"]})
    assert run("virtroom-show", "lab1").exit_code == 0
    monkeypatch.setenv(ENV, json.dumps(ANNA))         # vd03's user left
    assert run("virtroom-show", "lab1").exit_code == 0
    data = json.loads(run("status", "lab1", "-o", "json").stdout)
    counts = data["desks"]["lab1"]
    assert (counts["in use"], counts["vacated"], counts["idle"]) == (1, 1, 3)
    table = run("status", "lab1", "-o", "table").stdout.splitlines()
    header = [line for line in table if line.startswith("ROOM  IN USE")]
    assert header == ["ROOM  IN USE  VACATED (NOT YET RESET)  IDLE  LAST PROBED"]
    assert table[table.index(header[0]) + 1].split()[:4] == ["lab1", "1", "1", "3"]

    page = tmp_path / "status.html"
    assert run("report", "--html", str(page), "lab1").exit_code == 0
    assert "Desks now: 1 in use, 1 vacated (not yet reset), 3 idle." in page.read_text()


def test_a_user_who_sits_down_after_the_pick_keeps_their_desk(run, hypervisor, monkeypatch):
    """The pick finds vd02 vacated; asked again right before its reset, it is in
    use again: left alone, the VM untouched."""
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    calls = use_at_desks(monkeypatch, [ANNA, {}, ANNA])   # in use, the pick, before its reset
    assert vacated(run)[0] == {}
    vm_id = hypervisor.dom("lab1-vd02").ID()
    results, left, data = vacated(run, grace="0s")
    assert results == {"lab1-vd02": "skipped"}
    assert data["results"][0]["reason"] == ("in use again: console 192.0.2.7 (left alone: "
                                            "reset --vacated (grace 0s))")
    assert data["results"][0]["steps"] == []
    assert hypervisor.dom("lab1-vd02").ID() == vm_id
    assert calls[-1] == ["lab1-vd02"]                       # asked about that desk alone


def test_the_status_page_shows_a_desk_reset_by_a_vacated_run(run, hypervisor, monkeypatch,
                                                             tmp_path):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    assert run("virtroom-reset", "lab1").exit_code == 0     # the nightly run
    use_at_desks(monkeypatch, [ANNA, {}])
    assert vacated(run)[0] == {}
    time.sleep(1.1)
    assert vacated(run, grace="0s")[0] == {"lab1-vd02": "ok"}
    page = tmp_path / "status.html"
    assert run("report", "--html", str(page), "lab1").exit_code == 0
    # the desks' table: VM, state, in use, IP, last reset (HH:MM:SS today), result
    cells = [[cell.split("<")[0].strip() for cell in row.split("<td>")[1:]]
             for row in page.read_text().split("<tr")[1:]]
    when = {row[0]: row[4] for row in cells if len(row) > 4}
    assert when["lab1-vd02"] > when["lab1-vd01"]            # the later, --vacated reset


def test_the_question_on_a_terminal_is_a_probe_and_is_recorded(hypervisor, tmp_path):
    """Answering "n" changes no VM, but what the question asked the backend is
    remembered: a later --vacated run knows vd02 was in use."""
    import os
    import sys

    from vdictl.records.history import default_state_dir
    from vdictl.records.occupancy import all_desks, occupancy_dir

    from tests.cli.test_in_use import at_a_terminal, running_node

    config = running_node(hypervisor, tmp_path)
    env = dict(os.environ, VDICTL_CONFIG=str(config), **{ENV: json.dumps(ANNA)},
               PYTHONPATH=os.pathsep.join(sys.path))
    before = time.time()
    code, screen = at_a_terminal(["virtroom-shutdown", "lab1"], env, answer="n")
    assert code == 1 and "In use: lab1-vd02" in screen, screen
    desks = all_desks(occupancy_dir(default_state_dir()))
    assert desks[("lab1", "lab1-vd02")].last_used >= before
    assert desks[("lab1", "lab1-vd01")].in_use is False


def test_idle_time_starts_again_when_virtroom_start_starts_a_desk(run, hypervisor, monkeypatch):
    """vd01 was seen free long ago, then went off unseen (powered off inside);
    a virtroom-start for the lesson starts its idle time again."""
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0
    use_at_desks(monkeypatch, {})
    assert run("virtroom-show", "lab1").exit_code == 0      # free since now
    time.sleep(1.1)
    hypervisor.dom("lab1-vd01").destroy()                    # off, and nobody probed it
    assert run("virtroom-start", "lab1", "--vm", "lab1-vd01").exit_code == 0
    results, left, _ = report(run("virtroom-shutdown", "lab1", "--idle-for", "1s", "-o", "json"))
    assert results == {vm: "ok" for vm in ALL if vm != "lab1-vd01"}
    assert left == {"used within the idle time": 1}


def test_a_duration_without_a_unit_is_refused_not_read_as_seconds(run, hypervisor):
    """`--idle-for 45` meant as 45 minutes once shut desks down after 45 seconds."""
    result = run("virtroom-shutdown", "lab1", "--idle-for", "45")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --idle-for '45' is not a duration: write a number and s, m, h or d "
        "(45m for minutes, 45s for seconds)"]
    result = run("virtroom-reset", "lab1", "--vacated", "--grace", "5")
    assert result.exit_code == 2
    assert "--grace '5' is not a duration" in result.stderr
