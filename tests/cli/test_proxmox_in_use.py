"""Users at their desks on Proxmox VE, through the real CLI and proxmoxer on the
simulator (tests/pve_sim): a console client that QEMU's monitor lists (the web
interface's noVNC, through the node's vncproxy) and a user the guest agent
lists are shown in virtroom-show's IN USE column and JSON, and
virtroom-reset --skip-in-use leaves those VMs alone, as on the other backends
(tests/cli/test_in_use.py, tests/integration/test_in_use_on_ovirt.py)."""

from __future__ import annotations

import json
import re
import time

import pytest

pytest.importorskip("proxmoxer")

from tests.pve_driver import fast_pve_polls, token_connect_ini  # noqa: E402,F401
from tests.vdictl_cli import earlier_today, vdictl, write_config  # noqa: E402

#: an hour ago (not before midnight), whole minutes: "since HH:MM" in local time
SINCE = earlier_today(3600)
AT = time.strftime("%H:%M", time.localtime(SINCE))
VMS = ["plab-vd01", "plab-vd02", "plab-vd03"]

CONFIG = """\
{connect}    {extra}
    [[throttle]]
    shutdown_timeout = 0.5
    operation_timeout = 30
[room plab]
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-vd${{id}}"
"""


@pytest.fixture
def lab(request, pve_api, tmp_path):
    """Room plab rolled out from a template whose agent is enabled, and running."""
    def config(extra=""):
        return write_config(tmp_path, CONFIG.format(connect=token_connect_ini(pve_api),
                                                    extra=extra))

    request.getfixturevalue("fast_pve_polls")
    pve_api.vm("tmpl-win10").config["agent"] = "1"
    path = config()
    assert vdictl(path, "virtroom-rollout", "plab").exit_code == 0
    assert vdictl(path, "virtroom-start", "plab").exit_code == 0
    return pve_api, path, config


def at_desks(sim):
    sim.connect_console("plab-vd01")
    sim.log_in("plab-vd02", "anna", since=SINCE)


def test_show_names_a_console_client_and_a_guest_user(lab):
    sim, config, _ = lab
    table = vdictl(config, "virtroom-show", "plab").stdout.splitlines()
    assert "IN USE" not in table[0]          # running, nobody there: no column
    at_desks(sim)
    result = vdictl(config, "virtroom-show", "plab")
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert "  STATE    IN USE                  LAST USED  OWNED  " in table[0]
    assert "  running  console                 now        yes    " in table[1]
    assert f"  running  guest anna since {AT}  now        yes    " in table[2]
    assert "  running                                     yes    " in table[3]

    data = json.loads(vdictl(config, "virtroom-show", "plab", "-o", "json").stdout)
    in_use = {vm["vm"]: vm["in_use"] for vm in data["vms"]}
    assert in_use == {
        "plab-vd01": [{"kind": "console", "user": None, "client": None, "since": None,
                       "source": "qemu vnc (through pve1's vncproxy)"}],
        "plab-vd02": [{"kind": "guest", "user": "anna", "client": None, "since": SINCE,
                       "source": "guest agent"}],
        "plab-vd03": []}


def test_reset_skip_in_use_leaves_the_vms_in_use_alone(lab):
    sim, config, _ = lab
    at_desks(sim)
    rollbacks = sum(p.endswith("/rollback") for _, p, _ in sim.requests)
    result = vdictl(config, "virtroom-reset", "plab", "--skip-in-use", "-o", "table")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "reset: 3 VM(s): 1 ok, 2 skipped (2 in use)"
    assert ("plab  plab-vd01  reset   skipped  in use: console (left alone: --skip-in-use)"
            in result.stdout)
    assert (f"plab  plab-vd02  reset   skipped  in use: guest anna since {AT} (left alone: "
            "--skip-in-use)" in result.stdout)
    assert sum(p.endswith("/rollback") for _, p, _ in sim.requests) - rollbacks == 1
    assert [sim.vm(n).status for n in VMS] == ["running"] * 3
    assert [len(sim.vm(n).consoles) + len(sim.vm(n).logins) for n in VMS] == [1, 1, 0]

    data = json.loads(vdictl(config, "virtroom-reset", "plab", "--skip-in-use",
                             "-o", "json").stdout)
    assert data["status"] == "success" and data["skipped_in_use"] == 2
    vd01 = {r["vm"]: r for r in data["results"]}["plab-vd01"]
    assert (vd01["outcome"], vd01["reason"]) == (
        "skipped", "in use: console (left alone: --skip-in-use)")

    sim.disconnect_console("plab-vd01")
    sim.log_out("plab-vd02")
    data = json.loads(vdictl(config, "virtroom-reset", "plab", "--skip-in-use",
                             "-o", "json").stdout)
    assert data["skipped_in_use"] == 0
    assert {r["vm"]: r["outcome"] for r in data["results"]} == {vm: "ok" for vm in VMS}


def test_without_the_probe_a_console_cannot_be_told_and_is_not_skipped(lab):
    sim, _, config = lab
    sim.vm("plab-vd01").config["agent"] = "0"         # no agent: only the probe could tell
    at_desks(sim)
    path = config("console_probe = False")
    table = vdictl(path, "virtroom-show", "plab").stdout.splitlines()
    assert "  running  ?                                  yes    " in table[1]
    assert f"  running  guest anna since {AT}  now        yes    " in table[2]
    assert "  running                                     yes    " in table[3]  # agent: nobody
    assert not [p for _, p, _ in sim.requests if p.endswith("/monitor")]
    result = vdictl(path, "virtroom-reset", "plab", "--skip-in-use", "-o", "table")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "reset: 3 VM(s): 2 ok, 1 skipped (1 in use)"


def test_an_account_without_vm_monitor_is_warned_once_and_nothing_fails(lab):
    sim, config, _ = lab
    sim.vm("plab-vd03").config["agent"] = "0"         # nothing else could tell there
    at_desks(sim)
    sim.withhold("root@pam", "VM.Monitor")
    result = vdictl(config, "virtroom-show", "plab")
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert [line.split("  running  ")[1].split()[0] for line in table[1:4]] == ["?"] * 3
    # whichever VM is asked first names its VMID
    assert "".join(re.sub(r"/vms/\d+", "/vms/N",
                          line.split(" vdictl.drivers.proxmox.sessions: ")[1]) + "\n"
                   for line in result.stderr.splitlines()) == (
        f"{sim.url} refuses this account the QEMU monitor (Permission check failed "
        "(/vms/N, VM.Monitor)): who is at a VM cannot be told "
        "from it; give the account VM.Monitor on the VMs (Proxmox VE 8; Sys.Audit on "
        "Proxmox VE 9), or set console_probe = False\n"
        f"{sim.url} refuses this account the guest agent (Permission check failed "
        "(/vms/N, VM.Monitor)): who is at a VM cannot be told "
        "from it; give the account VM.Monitor on the VMs (Proxmox VE 8; "
        "VM.GuestAgent.Audit on Proxmox VE 9)\n")


EXAM = """\
{connect}    [[throttle]]
    operation_timeout = 30
[room exam]
    template_name = tmpl-win10
    [[theirs]]
    ids = "1"
    names = "${{roomname}}-vd${{id}}"
    [[adopted]]
    ids = "2"
    names = "${{roomname}}-vd${{id}}"
    adopt_unmarked = True
"""


def test_show_asks_no_monitor_or_agent_about_another_teams_vm(pve_api, tmp_path):
    """exam-vd01 and exam-vd02 run, and vdictl created neither (another team's
    exam VMs whose names match desks); exam-vd02's subsection adopts unmarked
    VMs. No request reaches exam-vd01's VMID beyond the listing: not its
    status, not QEMU's monitor ("info vnc"), not its guest agent. The adopted
    one is asked, as a VM of ours."""
    theirs = pve_api.add_vm("exam-vd01", template="tmpl-win10", running=True)
    adopted = pve_api.add_vm("exam-vd02", template="tmpl-win10", running=True)
    for vm in (theirs, adopted):
        vm.config["agent"] = "1"
    pve_api.connect_console("exam-vd01")
    config = write_config(tmp_path, EXAM.format(connect=token_connect_ini(pve_api)))
    before = len(pve_api.requests)
    result = vdictl(config, "virtroom-show", "exam", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = {vm["vm"]: vm for vm in json.loads(result.stdout)["vms"]}
    assert rows["exam-vd01"]["in_use"] is None            # not ours: never asked
    assert rows["exam-vd01"]["note"].startswith("not created by vdictl")
    assert rows["exam-vd02"]["in_use"] == []              # adopted: asked, nobody there

    def asked(vm):
        prefix = f"/nodes/{vm.node}/qemu/{vm.vmid}/"
        return sorted({path[len(prefix):] for _, path, _ in pve_api.requests[before:]
                       if path.startswith(prefix)})

    # exam-vd01: only what every VM gets (its config for the owner mark, its
    # snapshots for the show); exam-vd02 also its monitor and agent
    assert not [p for p in asked(theirs) if p.startswith(("monitor", "agent", "status"))], \
        asked(theirs)
    assert "monitor" in asked(adopted) and "agent/get-users" in asked(adopted), asked(adopted)


def test_the_night_mails_which_desks_it_left_dirty(lab):
    """Off a terminal (cron: no -o, stdout not a tty), a run whose other VMs
    all succeeded still names the desk it left alone, with the user and since
    when, and exits 0 (issue 26 item 5): with --skip-in-use and with the room's
    skip_in_use = True, as the nightly script runs it."""
    sim, config, make_config = lab
    sim.log_in("plab-vd02", "anna", since=SINCE)
    expected = ["ROOM  VM         ACTION  RESULT   DETAILS",
                f"plab  plab-vd02  reset   skipped  in use: guest anna since {AT} "
                "(left alone: {why})",
                "reset: 3 VM(s): 2 ok, 1 skipped (1 in use)"]
    result = vdictl(config, "virtroom-reset", "plab", "--skip-in-use")
    assert (result.exit_code, result.stdout.splitlines()) == (
        0, [line.replace("{why}", "--skip-in-use") for line in expected])
    keyed = write_config(config.parent, config.read_text().replace(
        "[room plab]\n", "[room plab]\n    skip_in_use = True\n"))
    result = vdictl(keyed, "virtroom-reset", "plab")
    assert (result.exit_code, result.stdout.splitlines()) == (
        0, [line.replace("{why}", "skip_in_use = True") for line in expected])
    sim.log_out("plab-vd02")
    result = vdictl(keyed, "virtroom-reset", "plab")    # nobody left: nothing to mail
    assert (result.exit_code, result.stdout) == (0, "")


def test_the_cron_job_itself_mails_the_desk_it_left_dirty(lab):
    """The shipped cron.d job's command, run as cron runs it (sh -c, stdout a
    pipe, the config from $VDICTL_CONFIG) in a process of its own."""
    import os
    import subprocess

    from tests.cli.test_cron import cron_entry, env_with_venv

    sim, config, _ = lab
    sim.log_in("plab-vd02", "anna", since=SINCE)
    keyed = write_config(config.parent, config.read_text().replace(
        "[room plab]\n", "[room plab]\n    skip_in_use = True\n"), name="cron.conf", mode=0o600)
    (_, _, command), variables = cron_entry()
    env = env_with_venv(VDICTL_CONFIG=str(keyed))
    env["PATH"] = f"{env['PATH'].split(os.pathsep)[0]}{os.pathsep}{variables['PATH']}"
    result = subprocess.run([variables["SHELL"], "-c", command], capture_output=True,
                            text=True, env=env, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "ROOM  VM         ACTION  RESULT   DETAILS",
        f"plab  plab-vd02  reset   skipped  in use: guest anna since {AT} "
        "(left alone: skip_in_use = True)",
        "reset: 3 VM(s): 2 ok, 1 skipped (1 in use)"]
    assert [len(sim.vm(n).logins) for n in VMS] == [0, 1, 0]
