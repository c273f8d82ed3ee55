"""vdictl preflight on the Proxmox VE simulator over HTTPS (real proxmoxer,
the simulator's CA): an expired or wrong API token, a stale lock, the
account's privileges from /access/permissions, each named with its exit
status."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("proxmoxer")

from vdictl.cli import exit_codes  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_connect_ini  # noqa: E402,F401
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

CONFIG = """\
{connect}    endpoint_timeout = 2
    [[throttle]]
    snapshot_batch_size = 3
    snapshot_batch_pause = 0
    shutdown_timeout = 0.5
    operation_timeout = 30

[room lab]
    template_name = tmpl-win10
    node = pve1
    storage = local-lvm
    pool = lab
    snapshot_description = "vdictl rollout ${{id}}"
    reset_to_snapshot_regex = "^vdictl rollout"
    skip_in_use = {skip_in_use}
    [[pcs]]
    ids = "1-3"
    names = "lab-pc${{id}}"
"""


pytestmark = pytest.mark.usefixtures("fast_pve_polls")


def config(tmp_path, sim, *, secret=None, skip_in_use=False, name="vdi.conf"):
    return write_config(tmp_path, CONFIG.format(
        connect=token_connect_ini(sim, secret=secret), skip_in_use=skip_in_use), name=name)


@pytest.fixture
def rolled_out(tmp_path, pve_api):
    conf = config(tmp_path, pve_api)
    result = vdictl(conf, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.output
    return conf


def problems(conf, *args):
    """The exit status and the problems, but for the warning that the
    simulator's certificate (tests/tls.py: valid for two days) ends soon: the
    status is what it would be without it."""
    result = vdictl(conf, "preflight", "lab", "-o", "json", *args)
    data = json.loads(result.stdout)
    assert data["exit_status"] == result.exit_code and "Traceback" not in result.output
    soon = [p for p in data["problems"] if p["what"].startswith("TLS certificate of ")]
    assert [(p["severity"], p["what"].split(", in ")[1]) for p in soon] in (
        [("warning", "1 days")], [("warning", "2 days")])
    others = [p for p in data["problems"] if p not in soon]
    if result.exit_code == exit_codes.VM_FAILED and not others:
        return exit_codes.OK, []
    return result.exit_code, others


def test_all_well_exits_0_for_a_reset_and_a_rollout(rolled_out):
    assert problems(rolled_out) == (exit_codes.OK, [])
    assert problems(rolled_out, "--for", "rollout") == (exit_codes.OK, [])


def test_an_expired_token_is_named_and_exits_3(tmp_path, pve_api, rolled_out):
    user, _, name = pve_api.token_id.partition("!")
    pve_api.expire_token(user, name, time.time() - 3600)
    code, [found] = problems(rolled_out)
    assert code == exit_codes.UNREACHABLE and found["severity"] == "unreachable"
    assert "Authentication failed" in found["what"]   # all the real API says
    assert found["what_to_do"].startswith(f"check the API token {pve_api.token_id} and its "
                                          "secret: it may be deleted, expired")
    assert pve_api.auth.failures[-1] == f"token '{name}' access expired"
    assert pve_api.token_secret not in json.dumps(found)


def test_a_token_that_expires_later_is_accepted(pve_api, rolled_out):
    user, _, name = pve_api.token_id.partition("!")
    pve_api.expire_token(user, name, time.time() + 86400)
    assert problems(rolled_out) == (exit_codes.OK, [])


def test_a_wrong_token_secret_exits_3(tmp_path, pve_api, rolled_out):
    conf = config(tmp_path, pve_api, secret="00000000-0000-4000-8000-00000000dead",
                  name="wrong.conf")
    code, [found] = problems(conf)
    assert (code, found["severity"]) == (exit_codes.UNREACHABLE, "unreachable")
    assert pve_api.auth.failures[-1] == "invalid token value!"


def test_a_stale_lock_is_named_with_qm_unlock_and_exits_1(pve_api, rolled_out):
    vmid = pve_api.vm("lab-pc02").vmid
    pve_api.leave_lock("lab-pc02", "snapshot")
    code, [found] = problems(rolled_out)
    assert code == exit_codes.VM_FAILED
    assert (found["vm"], found["severity"]) == ("lab-pc02", "error")
    assert found["what"] == (
        f"VM lab-pc02 (vmid {vmid} on node pve1) is locked (snapshot) but no task runs on "
        f"it: a killed run or task left the lock. Check on pve1 that no task still works on "
        f"VM {vmid}, then clear it there with: qm unlock {vmid}")
    assert found["what_to_do"] == f"qm unlock {vmid} on node pve1 once no task works on it"


def test_a_missing_privilege_is_named_from_access_permissions(pve_api, rolled_out):
    pve_api.withhold("root@pam", "VM.PowerMgmt", "VM.Clone")
    code, found = problems(rolled_out)
    assert code == exit_codes.VM_FAILED
    assert [p["what"] for p in found] == [
        f"{pve_api.token_id} lacks VM.PowerMgmt on /vms (a reset needs it)"]
    code, found = problems(rolled_out, "--for", "rollout")
    assert [p["what"] for p in found] == [
        f"{pve_api.token_id} lacks VM.PowerMgmt on /vms (a rollout needs it)",
        f"{pve_api.token_id} lacks VM.Clone on /vms (a rollout needs it)"]
    asked = [r for r in pve_api.requests if r[1] == "/access/permissions"]
    assert len(asked) == 2     # once per endpoint and preflight


def test_a_reset_whose_token_may_not_roll_back_leaves_every_vm_as_it_was(pve_api, rolled_out):
    """Without VM.Snapshot.Rollback (or VM.Snapshot) each desk would be
    stopped and then refused its rollback; the reset's guard asks
    /access/permissions once and leaves them running."""
    assert vdictl(rolled_out, "virtroom-start", "lab").exit_code == 0
    pve_api.withhold("root@pam", "VM.Snapshot.Rollback", "VM.Snapshot")
    asked = len([r for r in pve_api.requests if r[1] == "/access/permissions"])
    result = vdictl(rolled_out, "virtroom-reset", "lab", "-o", "json")
    assert result.exit_code == exit_codes.VM_FAILED, result.output
    reasons = {r["vm"]: r["reason"] for r in json.loads(result.stdout)["results"]}
    assert reasons == {f"lab-pc{i}": f"not touched: {pve_api.token_id} lacks "
                       "VM.Snapshot.Rollback or VM.Snapshot on /vms (a reset needs it) "
                       "(vdictl preflight names it too)" for i in ("01", "02", "03")}
    assert len([r for r in pve_api.requests if r[1] == "/access/permissions"]) == asked + 1
    assert {pve_api.vm(f"lab-pc{i}").status for i in ("01", "02", "03")} == {"running"}


def test_skip_in_use_needs_the_monitor_and_names_who_is_at_a_vm(tmp_path, pve_api, rolled_out):
    conf = config(tmp_path, pve_api, skip_in_use=True, name="guarded.conf")
    assert vdictl(conf, "virtroom-start", "lab", "--vm", "lab-pc01").exit_code == 0
    pve_api.connect_console("lab-pc01")
    code, [found] = problems(conf)
    assert code == exit_codes.VM_FAILED
    assert (found["vm"], found["severity"]) == ("lab-pc01", "warning")
    assert found["what"].startswith("in use: console")
    pve_api.withhold("root@pam", "VM.Monitor")
    code, found = problems(conf)
    assert f"{pve_api.token_id} lacks VM.Monitor on /vms (a reset needs it)" in [
        p["what"] for p in found]


def test_a_missing_template_and_pool_are_named_for_a_rollout(tmp_path, pve_api, rolled_out):
    text = rolled_out.read_text().replace("tmpl-win10", "tmpl-gone").replace(
        "pool = lab", "pool = nowhere")
    conf = write_config(tmp_path, text, name="gone.conf")
    code, [found] = problems(conf, "--for", "rollout")
    assert (code, found["room"], found["vm"]) == (exit_codes.VM_FAILED, "lab", "")
    assert "template 'tmpl-gone' not found" in found["what"]
    assert "nowhere" in found["what"]


def test_a_vm_left_half_made_is_named_with_the_rollout_that_finishes_it(tmp_path, pve_api):
    conf = config(tmp_path, pve_api)
    pve_api.fail("PUT", r"/qemu/\d+/config$", 500, "unable to write config", times=1)
    result = vdictl(conf, "virtroom-rollout", "lab", "-o", "json")
    [half] = [r["vm"] for r in json.loads(result.stdout)["results"] if r["outcome"] == "failed"]
    code, [found] = problems(conf)
    assert (code, found["vm"], found["severity"]) == (exit_codes.VM_FAILED, half, "error")
    assert found["what"] == "left half-made: its rollout stopped during its creation"
    assert found["what_to_do"] == f"vdictl -c {conf} virtroom-rollout lab --vm {half}"
    assert problems(conf, "--for", "rollout") == (exit_codes.OK, [])   # the rollout finishes it


def test_a_full_storage_is_named_with_its_numbers(pve_api, rolled_out):
    """Issue 25: a storage below min_free_storage (10%) is a problem of the
    evening check, named with its numbers; a rebuild's need counts too."""
    GiB = 1 << 30
    total, _, _ = pve_api.storage_status("local-lvm")
    pve_api.fill_storage("local-lvm", int(total * 0.95))   # 5% free: below the line
    code, found = problems(rolled_out)
    assert code == exit_codes.VM_FAILED
    [short] = found
    assert short["severity"] == "error" and short["vm"] == ""
    assert short["what"].startswith("storage 'pve1/local-lvm': ") and "below the line" in short["what"]
    assert "min_free_storage = 10%" in short["what"]
    # virtroom-reset has no --ignore-storage-limit: the evening's line must not offer it
    assert short["what_to_do"] == (
        "free space on it (delete VMs, disks or snapshots nobody needs) or lower "
        "min_free_storage; tonight's reset goes on (a restore frees space), but a rollout or "
        "rebuild onto it is refused")
    code, [short] = problems(rolled_out, "--for", "rebuild")
    assert short["what_to_do"].endswith("; --ignore-storage-limit runs anyway")
    pve_api.fill_storage("local-lvm", 0)
    assert problems(rolled_out) == (exit_codes.OK, [])
    # room for tonight's reset, not for the room made anew by a rebuild
    _, _, avail = pve_api.storage_status("local-lvm")
    pve_api.fill_storage("local-lvm", int(avail - total * 0.10 - GiB))
    assert problems(rolled_out) == (exit_codes.OK, [])
    code, [short] = problems(rolled_out, "--for", "rebuild")
    assert code == exit_codes.VM_FAILED and "the rebuild of lab needs about" in short["what"]


def test_a_node_of_several_in_url_that_does_not_answer_is_a_warning(tmp_path, pve_api,
                                                                     rolled_out):
    """url lists two nodes of the cluster; the second one's pveproxy is
    down. The runs go on through the first, so it is a warning, not a
    night that fails; with both answering there is nothing to say."""
    second = pve_api.add_node_url()
    both = f'url = {pve_api.url}, {second}'
    conf = write_config(tmp_path, rolled_out.read_text().replace(
        f'url = "{pve_api.url}"', both), name="two-nodes.conf")
    assert both in conf.read_text()
    assert problems(conf) == (exit_codes.OK, [])
    pve_api.node_down(second)
    code, [found] = problems(conf)
    assert (code, found["severity"], found["room"], found["vm"]) == (
        exit_codes.VM_FAILED, "warning", "", "")
    assert found["what"].startswith(f"node {second} does not answer (")
    assert "Connection refused" in found["what"]
    assert found["what"].endswith("the runs go on through the other nodes of url")
    assert found["what_to_do"].startswith("bring the node back")
    assert vdictl(conf, "virtroom-reset", "lab").exit_code == 0   # as the warning says
