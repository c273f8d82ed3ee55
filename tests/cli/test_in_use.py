"""Users at their desks (issue 15, the ops and CLI side): virtroom-show's IN USE,
--skip-in-use and skip_in_use = True, the question on a terminal, the counts.

"Cannot tell" is tested on libvirt's own test:/// driver, which answers None.
"In use" needs a backend that reports a session: until the real detection
(QEMU VNC, the engine simulator) has its end-to-end tests, the double in
tests/cli/at_desks.py (the real libvirt driver with a fixed sessions()
answer) stands in for the backend's answer, and only for that.
"""

from __future__ import annotations

import json
import os
import sys
import time

from tests.cli.at_desks import ENV, use_at_desks
from tests.cli.conftest import CONFIG, file_hypervisor
from tests.terminal import open_terminal, read_terminal
from tests.vdictl_cli import earlier_today

#: an hour ago (not before midnight), whole minutes: "since HH:MM" in local time
SINCE = earlier_today(3600)
AT = time.strftime("%H:%M", time.localtime(SINCE))
ANNA = {"lab1-vd02": [{"kind": "console", "client": "192.0.2.7", "since": SINCE,
                       "source": "qemu vnc"}],
        "lab1-vd03": [{"kind": "guest", "user": "anna", "source": "guest agent"}]}


def results(result):
    return {r["vm"]: r for r in json.loads(result.stdout)["results"]}


def rolled_out_and_running(run):
    assert run("virtroom-rollout", "lab1").exit_code == 0
    assert run("virtroom-start", "lab1").exit_code == 0


def test_show_says_question_mark_where_the_backend_cannot_tell(run, hypervisor):
    """test:/// cannot tell: running VMs are "?" (null in JSON); a stopped or
    absent VM has nobody at it ([])."""
    assert run("virtroom-rollout", "lab1").exit_code == 0
    table = run("virtroom-show", "lab1").stdout
    assert "IN USE" not in table        # nothing runs: no column
    assert run("virtroom-start", "lab1", "--vm", "lab1-vd01").exit_code == 0
    table = run("virtroom-show", "lab1").stdout.splitlines()
    assert table[0].split()[:8] == ["ROOM", "SUBSECTION", "VM", "IP", "MAC", "TEMPLATE",
                                    "MEMORY", "STATE"]
    assert "STATE    IN USE  OWNED" in table[0]
    assert " running  ?       yes" in table[1]
    assert " stopped          yes" in table[2]
    data = json.loads(run("virtroom-show", "lab1", "-o", "json").stdout)
    assert [r["in_use"] for r in data["vms"]] == [None, [], [], [], []]


def test_skip_in_use_does_not_skip_vms_whose_use_cannot_be_told(run, hypervisor):
    rolled_out_and_running(run)
    result = run("virtroom-reset", "lab1", "--skip-in-use", "-o", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert {r["outcome"] for r in data["results"]} == {"ok"}
    assert data["skipped_in_use"] == 0
    assert {r["in_use"] for r in data["results"]} == {None}


def test_show_names_the_users(run, hypervisor, monkeypatch):
    rolled_out_and_running(run)
    calls = use_at_desks(monkeypatch, ANNA)
    table = run("virtroom-show", "lab1").stdout.splitlines()
    assert "STATE    IN USE                         LAST USED  OWNED" in table[0]
    assert f" running  console 192.0.2.7 since {AT}  now        yes" in table[2]
    assert " running  guest anna                     now        yes" in table[3]
    assert calls == [["lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04",
                      "lab1-teacher01"]]      # one question per room and endpoint
    data = json.loads(run("virtroom-show", "lab1", "-o", "json").stdout)
    assert data["vms"][1]["in_use"] == [{"kind": "console", "user": None,
                                         "client": "192.0.2.7", "since": SINCE,
                                         "source": "qemu vnc"}]
    assert data["vms"][0]["in_use"] == []


def test_reset_skip_in_use_leaves_the_vms_in_use_alone(run, hypervisor, monkeypatch):
    rolled_out_and_running(run)
    calls = use_at_desks(monkeypatch, ANNA)
    ids = {name: hypervisor.dom(name).ID() for name in ("lab1-vd01", "lab1-vd02")}
    result = run("virtroom-reset", "lab1", "--skip-in-use", "-o", "table")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "reset: 5 VM(s): 3 ok, 2 skipped (2 in use)"
    assert (f"lab1  lab1-vd02       reset   skipped  in use: console 192.0.2.7 since {AT} "
            "(left alone: --skip-in-use)") in result.stdout
    assert hypervisor.dom("lab1-vd02").ID() == ids["lab1-vd02"]   # never stopped
    assert hypervisor.dom("lab1-vd01").ID() != ids["lab1-vd01"]   # reset, started again
    assert len(calls) == 1   # one question for the room (one endpoint)

    data = json.loads(run("virtroom-reset", "lab1", "--skip-in-use", "-o", "json").stdout)
    assert data["status"] == "success" and data["skipped_in_use"] == 2
    vd03 = {r["vm"]: r for r in data["results"]}["lab1-vd03"]
    assert (vd03["outcome"], vd03["reason"]) == (
        "skipped", "in use: guest anna (left alone: --skip-in-use)")
    assert vd03["in_use"] == [{"kind": "guest", "user": "anna", "client": None,
                               "since": None, "source": "guest agent"}]


def test_without_the_flag_or_key_nothing_is_asked_and_nothing_skipped(run, hypervisor,
                                                                      monkeypatch):
    """Cron's nightly run, off a terminal: Amoothei's semantics, no sessions() call."""
    rolled_out_and_running(run)
    calls = use_at_desks(monkeypatch, ANNA)
    for command in (["virtroom-reset", "lab1"], ["virtroom-shutdown", "lab1"]):
        result = run(*command, "-o", "json")
        assert result.exit_code == 0
        assert {r["outcome"] for r in json.loads(result.stdout)["results"]} == {"ok"}
    assert calls == []
    assert hypervisor.running() == []


def test_skip_in_use_key_guards_the_cron_run(run, hypervisor, monkeypatch, config_file):
    rolled_out_and_running(run)
    with open(config_file, "w") as fh:
        fh.write(CONFIG.replace("[room lab1]\n", "[room lab1]\n    skip_in_use = True\n"))
    use_at_desks(monkeypatch, ANNA)
    result = run("virtroom-shutdown", "lab1")      # off a terminal, as cron runs it
    # the mail names the desks left running, who is there and since when (issue 26)
    assert (result.exit_code, result.stdout.splitlines()) == (0, [
        "ROOM  VM         ACTION    RESULT   DETAILS",
        f"lab1  lab1-vd02  shutdown  skipped  in use: console 192.0.2.7 since {AT} "
        "(left alone: skip_in_use = True)",
        "lab1  lab1-vd03  shutdown  skipped  in use: guest anna (left alone: skip_in_use = True)",
        "shutdown: 5 VM(s): 3 ok, 2 skipped (2 in use)"])
    assert hypervisor.running() == ["lab1-vd02", "lab1-vd03"]
    result = run("virtroom-delete", "lab1", "--yes", "-o", "json")
    outcomes = {vm: (r["outcome"], r["reason"]) for vm, r in results(result).items()}
    assert outcomes["lab1-vd02"] == (
        "skipped", f"in use: console 192.0.2.7 since {AT} (left alone: skip_in_use = True)")
    assert outcomes["lab1-vd01"] == ("ok", "")
    assert "lab1-vd02" in hypervisor.domains() and "lab1-vd01" not in hypervisor.domains()


def test_shutdown_delete_and_rebuild_take_skip_in_use(run, hypervisor, monkeypatch):
    rolled_out_and_running(run)
    use_at_desks(monkeypatch, ANNA)
    result = run("virtroom-shutdown", "lab1", "--skip-in-use", "-o", "table")
    assert result.stdout.splitlines()[-1] == "shutdown: 5 VM(s): 3 ok, 2 skipped (2 in use)"
    assert hypervisor.running() == ["lab1-vd02", "lab1-vd03"]
    result = run("virtroom-rebuild", "lab1", "--force", "--skip-in-use", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {vm: r["outcome"] for vm, r in results(result).items()} == {
        "lab1-vd01": "ok", "lab1-vd02": "skipped", "lab1-vd03": "skipped", "lab1-vd04": "ok",
        "lab1-teacher01": "ok"}
    result = run("virtroom-delete", "lab1", "--skip-in-use", "--yes", "-o", "table")
    assert result.stdout.splitlines()[-1] == "delete: 5 VM(s): 3 ok, 2 skipped (2 in use)"
    assert [d for d in hypervisor.domains() if d.startswith("lab1")] == [
        "lab1-vd02", "lab1-vd03"]


def running_node(hypervisor, tmp_path):
    """lab1 rolled out and running, on a test:///FILE hypervisor each process loads."""
    return file_hypervisor(hypervisor, tmp_path, ["virtroom-rollout", "lab1"],
                           ["virtroom-start", "lab1"])


def at_a_terminal(args, env, answer=None):
    """python -m tests.cli.at_desks ARGS with stdin, stdout and stderr on a terminal;
    `answer` typed at the [y/N] question: (exit status, the screen)."""
    import subprocess

    controller, terminal = open_terminal()
    pending = [answer]

    def reply(shown: bytes) -> None:
        if pending[0] is not None and b"[y/N]: " in shown:
            os.write(controller, pending[0].encode() + b"\n")
            pending[0] = None

    proc = subprocess.Popen([sys.executable, "-m", "tests.cli.at_desks", *args],
                            stdin=terminal, stdout=terminal, stderr=terminal, env=env,
                            close_fds=True)
    os.close(terminal)
    try:
        shown = read_terminal(controller, proc, timeout=60, on_output=reply)
    finally:
        os.close(controller)
    return proc.wait(10), shown.decode(errors="replace").replace("\r\n", "\n")


def test_a_terminal_is_asked_before_a_daytime_run_acts_on_a_vm_in_use(hypervisor, tmp_path):
    config = running_node(hypervisor, tmp_path)
    env = dict(os.environ, VDICTL_CONFIG=str(config), **{ENV: json.dumps(ANNA)},
               PYTHONPATH=os.pathsep.join(sys.path))
    in_use = (f"In use: lab1-vd02 (console 192.0.2.7 since {AT}); lab1-vd03 (guest anna); "
              "--skip-in-use leaves them alone. ")
    code, screen = at_a_terminal(["virtroom-shutdown", "lab1"], env, answer="n")
    assert (code, screen) == (
        1, f"{in_use}Shut down up to 5 VM(s) of lab1? [y/N]: n\nAborted!\n")
    code, screen = at_a_terminal(["virtroom-reset", "lab1", "--vm", "lab1-vd03"], env,
                                 answer="n")
    assert (code, screen) == (
        1, "In use: lab1-vd03 (guest anna); --skip-in-use leaves it alone. "
           "Reset up to 1 VM(s) of lab1 (lab1-vd03)? [y/N]: n\nAborted!\n")
    code, screen = at_a_terminal(["virtroom-delete", "lab1"], env, answer="n")
    assert (code, screen) == (
        1, f"{in_use}Delete up to 5 VM(s) of lab1? [y/N]: n\nAborted!\n")
    code, screen = at_a_terminal(["virtroom-rebuild", "lab1"], env, answer="n")
    assert code == 1 and screen.startswith(f"{in_use}Delete and roll out again"), screen
    assert (tmp_path / "audit.log").read_text() == ""   # nothing was done

    # a nightly-style reset of whole rooms is not asked; --yes answers; "y" goes on
    code, screen = at_a_terminal(["virtroom-reset", "lab1"], env)
    assert code == 0 and screen.splitlines()[-1] == "reset: 5 VM(s): 5 ok", screen
    code, screen = at_a_terminal(["virtroom-shutdown", "lab1", "--vm", "lab1-vd01",
                                  "--yes"], env)
    assert code == 0 and screen.splitlines()[-1] == "shutdown: 1 VM(s): 1 ok", screen
    code, screen = at_a_terminal(["virtroom-shutdown", "lab1", "--vm", "lab1-vd02"], env,
                                 answer="y")
    assert code == 0 and screen.splitlines()[-1] == "shutdown: 1 VM(s): 1 ok", screen


def test_skip_in_use_needs_no_question(hypervisor, tmp_path):
    config = running_node(hypervisor, tmp_path)
    env = dict(os.environ, VDICTL_CONFIG=str(config), **{ENV: json.dumps(ANNA)},
               PYTHONPATH=os.pathsep.join(sys.path))
    code, screen = at_a_terminal(["virtroom-shutdown", "lab1", "--skip-in-use"], env)
    assert code == 0 and "[y/N]" not in screen
    assert screen.splitlines()[-1] == "shutdown: 5 VM(s): 3 ok, 2 skipped (2 in use)", screen
