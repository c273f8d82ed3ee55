"""Bad input for the proxmox driver through the real CLI, on the Proxmox VE
simulator over HTTPS: a wrong token secret or password, a host that is not
there or hangs, TLS that does not verify, a template/node/storage/pool that
does not exist, and a VM a killed run left locked.

Each is ONE line naming what is wrong, with its documented exit status
(docs/exit-statuses.md), no traceback, and nothing changed on the cluster.
The lines asserted here are the operator's, whole.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

pytest.importorskip("proxmoxer")

from vdictl.cli import exit_codes  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_file  # noqa: E402,F401
from tests.pve_driver import token_lines as token  # noqa: E402
from tests.tls import make_certificates  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

CONFIG = """\
[general]
    [[connect]]
    driver = proxmox
    url = "{url}"
    {credentials}
    {tls}
    {extra}
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    shutdown_timeout = 0.5
    operation_timeout = 30
[logging]
    log_file = "{log_file}"
[room lab]
    template_name = {template}
    node = {node}
    storage = {storage}
    pool = {pool}
    snapshot_description = "vdictl rollout ${{id}}"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Auto
    [[pcs]]
    ids = "1-3"
    names = "lab-pc${{id}}"
"""
WRONG_SECRET = "00000000-0000-4000-8000-00000000dead"
WRONG_PASSWORD = "Wr0ng-Guess-xyzzy"
GOOD = dict(template="tmpl-win10", node="pve1", storage="local-lvm", pool="lab")



@pytest.fixture(autouse=True)
def _fast(fast_pve_polls):
    yield


def ticket(sim, password=None):
    return (f'username = "root@pam"\n    password_file = '
            f'"{token_file(password or sim.password)}"')


def run(tmp_path, sim, *args, url=None, credentials=None, tls=None, extra="", **room):
    log_file = tmp_path / "vdictl.log"
    text = CONFIG.format(url=url or sim.url, log_file=log_file, extra=extra,
                         credentials=token(sim) if credentials is None else credentials,
                         tls=f'ca_file = "{sim.ca_file}"' if tls is None else tls,
                         **dict(GOOD, **room))
    config = write_config(tmp_path, text, mode=0o600)
    result = vdictl(config, *args)
    log_text = log_file.read_text() if log_file.exists() else ""
    assert "Traceback" not in result.stdout + result.stderr + log_text
    return result, str(config), log_text


def changes(sim, since=0):
    """The requests that could have changed something (not GET, not the login)."""
    return [(m, p) for m, p, _ in sim.requests[since:]
            if m != "GET" and p != "/access/ticket"]


def cluster_view(sim):
    """Every guest with its status, lock, config and snapshot names."""
    with sim.lock:
        return {vm.vmid: (vm.status, dict(vm.config), sorted(vm.snapshots))
                for vm in sim.vms.values()}


def error_line(result):
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- credentials ---------------------------------------------------------------

@pytest.mark.parametrize("verbosity", [[], ["--debug"]])
def test_a_wrong_token_secret_is_one_line(tmp_path, pve_api, verbosity):
    before = cluster_view(pve_api)
    result, config, log_text = run(tmp_path, pve_api, *verbosity, "virtroom-reset", "lab",
                                   credentials=token(pve_api, WRONG_SECRET))
    assert result.exit_code == exit_codes.UNREACHABLE == 3
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert line == (f"Error: proxmox: login to {pve_api.url} ({config} [general/connect] url) "
                    f"as root@pam!vdictl refused: Authentication failed! (wrong token id or "
                    "secret, or the token expired or was removed)")
    for secret in (WRONG_SECRET, pve_api.token_secret):
        assert secret not in result.stdout + result.stderr + log_text
    assert changes(pve_api) == [] and cluster_view(pve_api) == before


@pytest.mark.parametrize("wrong_password", [WRONG_PASSWORD, "wrong"])
def test_a_wrong_password_is_one_line(tmp_path, pve_api, wrong_password):
    """A password that is a word of the message (\"wrong\") is kept out of
    what the backend said, not out of vdictl's own hint."""
    result, config, log_text = run(tmp_path, pve_api, "virtroom-rollout", "lab",
                                   credentials=ticket(pve_api, wrong_password))
    assert result.exit_code == exit_codes.UNREACHABLE
    assert error_line(result) == (
        f"Error: proxmox: login to {pve_api.url} ({config} [general/connect] url) as "
        "root@pam refused: authentication failure (wrong user name, realm or password)")
    assert pve_api.logins == 0
    for secret in (WRONG_PASSWORD, pve_api.password):
        assert secret not in result.stdout + result.stderr + log_text
    assert "***" not in result.stderr
    assert changes(pve_api) == [] and not [v for v in pve_api.vms.values()
                                           if v.name.startswith("lab-")]


# -- a host that is not there, or hangs ----------------------------------------

def closed_port():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_closed_port_is_one_line(tmp_path, pve_api):
    url = f"https://127.0.0.1:{closed_port()}"
    result, config, _ = run(tmp_path, pve_api, "virtroom-reset", "lab", url=url,
                            extra="endpoint_timeout = 2")
    assert result.exit_code == exit_codes.UNREACHABLE
    # tried again with backoff for the bound before it is given up (issue 23)
    assert error_line(result) == (f"Error: proxmox: cannot connect to {url} ({config} "
                                  "[general/connect] url): Connection refused "
                                  "(tried for 2s: endpoint_timeout)")
    assert pve_api.requests == []


def test_a_frozen_host_is_given_up_after_endpoint_timeout(tmp_path, pve_api):
    before = cluster_view(pve_api)
    pve_api.freeze()
    try:
        result, config, _ = run(tmp_path, pve_api, "virtroom-reset", "lab",
                                extra="endpoint_timeout = 2")
    finally:
        pve_api.thaw()
    assert result.exit_code == exit_codes.UNREACHABLE
    assert error_line(result) == (f"Error: proxmox: cannot connect to {pve_api.url} ({config} "
                                  "[general/connect] url): Read timed out. (read timeout=2) "
                                  "(tried for 2s: endpoint_timeout)")
    assert changes(pve_api) == [] and cluster_view(pve_api) == before


def test_a_host_that_hangs_mid_reset_fails_the_rest_and_a_rerun_converges(
        tmp_path, pve_api_factory):
    sim = pve_api_factory(durations={"qmrollback": 200.0})
    result, config, _ = run(tmp_path, sim, "virtroom-rollout", "lab",
                            extra="endpoint_timeout = 2")
    assert result.exit_code == 0, result.stdout

    def freeze_at_the_first_rollback():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(p.endswith("/rollback") for _, p, _ in list(sim.requests)):
                sim.freeze()
                return
            time.sleep(0.005)

    freezer = threading.Thread(target=freeze_at_the_first_rollback)
    freezer.start()
    began = time.monotonic()
    try:
        result, config, _ = run(tmp_path, sim, "virtroom-reset", "lab", "-o", "json",
                                extra="endpoint_timeout = 2")
    finally:
        freezer.join()
        sim.thaw()
    took = time.monotonic() - began
    assert result.exit_code == exit_codes.VM_FAILED
    results = json.loads(result.stdout)["results"]
    failed = {r["reason"] for r in results if r["outcome"] == "failed"}
    assert failed == {
        f"proxmox: {r['vm']}: {sim.url} ({config} [general/connect] url) unreachable, given "
        "up for this run after 2s without an answer: Read timed out. (read timeout=2)"
        for r in results if r["outcome"] == "failed"}
    assert len(failed) >= 1 and took < 15, (took, results)
    # the host is back: the next run finishes what this one left
    result, _, _ = run(tmp_path, sim, "virtroom-reset", "lab", "-o", "json")
    assert result.exit_code == 0, result.stdout
    assert {r["outcome"] for r in json.loads(result.stdout)["results"]} == {"ok"}


# -- TLS -----------------------------------------------------------------------

TLS_HINT = ("set ca_file = the cluster's CA certificate (a copy of /etc/pve/pve-root-ca.pem "
            "from a node), or insecure = True for a test system")


def test_no_ca_file_is_one_line_saying_what_to_write(tmp_path, pve_api):
    result, config, _ = run(tmp_path, pve_api, "virtroom-show", "lab", tls="")
    assert result.exit_code == exit_codes.UNREACHABLE
    assert error_line(result) == (
        f"Error: proxmox: cannot connect to {pve_api.url} ({config} [general/connect] url): "
        "TLS certificate not trusted (certificate verify failed: unable to get local issuer "
        f"certificate); {TLS_HINT}")
    assert pve_api.requests == [] and pve_api.logins == 0


def test_a_ca_file_of_another_ca_is_one_line_saying_what_to_write(tmp_path, pve_api):
    other = make_certificates(str(tmp_path / "other-ca"))
    result, config, _ = run(tmp_path, pve_api, "virtroom-rollout", "lab",
                            credentials=ticket(pve_api), tls=f'ca_file = "{other.ca_file}"')
    assert result.exit_code == exit_codes.UNREACHABLE
    assert error_line(result) == (
        f"Error: proxmox: cannot connect to {pve_api.url} ({config} [general/connect] url): "
        "TLS certificate not trusted (certificate verify failed: unable to get local issuer "
        f"certificate); {TLS_HINT}")
    assert pve_api.requests == [] and pve_api.logins == 0  # the password never left


# -- what the room names does not exist ------------------------------------------

@pytest.mark.parametrize("room, missing", [
    (dict(template="tmpl-win11"), "template 'tmpl-win11' not found"),
    (dict(node="pve9"), "node 'pve9' not found"),
    (dict(storage="fast-ssd"), "storage 'fast-ssd' not found on node 'pve1'"),
    (dict(pool="kiosk"), "resource pool 'kiosk' not found"),
    (dict(template="tmpl-win11", node="pve9", storage="fast-ssd", pool="kiosk"),
     "template 'tmpl-win11' not found; node 'pve9' not found; storage 'fast-ssd' not found "
     "on node 'pve9'; resource pool 'kiosk' not found"),
])
def test_missing_template_node_storage_pool_named_in_one_line(tmp_path, pve_api, room,
                                                              missing):
    result, config, _ = run(tmp_path, pve_api, "virtroom-rollout", "lab", "-o", "table",
                            **room)
    assert result.exit_code == exit_codes.VM_FAILED
    reason = f"room lab not rolled out, nothing created: proxmox: {missing}"
    # one cause of the room's three VMs: said once (records/causes.py)
    assert result.stdout.splitlines() == [
        f"{reason}: 3 VMs of 1 room (lab) not rolled out", "rollout: 3 VM(s): 3 failed"]
    data = json.loads(run(tmp_path, pve_api, "virtroom-rollout", "lab", "-o", "json",
                          **room)[0].stdout)
    assert [(r["vm"], r["reason"]) for r in data["results"]] == [
        (f"lab-pc0{i}", reason) for i in (1, 2, 3)]
    assert changes(pve_api) == []
    assert not [v for v in pve_api.vms.values() if v.name.startswith("lab-")]


@pytest.mark.parametrize("room, refused", [
    (dict(node="pve2"),
     "node = pve2: template 'tmpl-win10' has its disks on local-lvm, local storage "
     "of pve1, and Proxmox VE clones onto another node only from shared storage; remove node "
     "(the VMs then go to pve1), or move the template's disks to shared storage, or make a "
     "template on pve2"),
    (dict(template="tmpl-shared", node="pve2", storage="local-lvm"),
     "node = pve2, storage = local-lvm: a clone onto another node than its "
     "template's (pve1) must go to shared storage; choose a shared storage or remove storage"),
])
def test_a_node_the_template_cannot_be_cloned_to_is_refused_before_any_clone(
        tmp_path, pve_api, room, refused):
    """What Proxmox VE would refuse at every clone ("can't clone VM to node 'pve2' (VM
    uses local storage)") is one line for the room, before anything is made."""
    result, _, _ = run(tmp_path, pve_api, "virtroom-rollout", "lab", "--dry-run", **room)
    assert result.exit_code == exit_codes.VM_FAILED
    reason = f"room lab not rolled out, nothing created: proxmox: {refused}"
    assert result.stdout.splitlines()[0] == f"{reason}: 3 VMs of 1 room (lab) not rolled out"
    assert changes(pve_api) == []


# -- a VM a killed run left locked -----------------------------------------------

def test_a_stale_lock_fails_its_vm_naming_the_lock_and_qm_unlock(tmp_path, pve_api):
    result, _, _ = run(tmp_path, pve_api, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.stdout + result.stderr
    vmid = pve_api.vm("lab-pc02").vmid
    pve_api.leave_lock("lab-pc02", "snapshot")
    since = len(pve_api.requests)

    result, _, _ = run(tmp_path, pve_api, "virtroom-reset", "lab", "-o", "table")
    assert result.exit_code == exit_codes.VM_FAILED
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[1:] == [
        "lab   lab-pc01  reset   ok      restore snapshot 'vdictl rollout 01'",
        f"lab   lab-pc02  reset   failed  proxmox: lab-pc02: VM lab-pc02 (vmid {vmid} on node "
        f"pve1) is locked (snapshot) but no task runs on it: a killed run or task left the "
        f"lock. Check on pve1 that no task still works on VM {vmid}, then clear it there "
        f"with: qm unlock {vmid}",
        "lab   lab-pc03  reset   ok      restore snapshot 'vdictl rollout 03'",
        "reset: 3 VM(s): 2 ok, 1 failed (partial)"]
    # the locked VM was only looked at; the others were rolled back
    assert [p for m, p in changes(pve_api, since) if f"/qemu/{vmid}/" in p] == []
    assert len([p for m, p in changes(pve_api, since) if p.endswith("/rollback")]) == 2
    assert pve_api.vm("lab-pc02").lock == "snapshot"


def test_a_running_vm_with_a_stale_lock_is_not_taken_for_stopped(tmp_path, pve_api):
    """A lock on a running VM does not make it "already stopped": shutdown and
    delete reach the driver's lock check, which names the lock; nothing changes."""
    result, _, _ = run(tmp_path, pve_api, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.stdout + result.stderr
    result, _, _ = run(tmp_path, pve_api, "virtroom-start", "lab", "--vm", "lab-pc02")
    assert result.exit_code == 0, result.stdout + result.stderr
    vmid = pve_api.vm("lab-pc02").vmid
    pve_api.leave_lock("lab-pc02", "snapshot")
    stale = (f"proxmox: lab-pc02: VM lab-pc02 (vmid {vmid} on node pve1) is locked (snapshot) "
             f"but no task runs on it: a killed run or task left the lock. Check on pve1 that "
             f"no task still works on VM {vmid}, then clear it there with: qm unlock {vmid}")
    since = len(pve_api.requests)
    for command, action in (("virtroom-shutdown", "shutdown"), ("virtroom-delete", "delete")):
        result, _, _ = run(tmp_path, pve_api, command, "lab", "--vm", "lab-pc02", "--yes",
                           "-o", "table")
        assert result.exit_code == exit_codes.VM_FAILED, result.stdout
        assert result.stdout.splitlines()[1].split(None, 4) == [
            "lab", "lab-pc02", action, "failed", stale]
    assert [p for m, p in changes(pve_api, since)] == []
    assert (pve_api.vm("lab-pc02").status, pve_api.vm("lab-pc02").lock) == ("running",
                                                                             "snapshot")


# -- a [connect NAME] profile of the proxmox driver ---------------------------------

PROFILE = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "test:///default"
[connect pve]
    driver = proxmox
    url = "{url}"
    {key}
    token_id = "{token_id}"
    token_secret_file = "{secret}"
    ca_file = "{ca_file}"
[room lab]
    connect = pve
    template_name = tmpl-win10
    [[pcs]]
    ids = "1-2"
    names = "lab-pc${{id}}"
"""


def profile(tmp_path, sim, secret=None, key=""):
    return write_config(tmp_path, PROFILE.format(url=sim.url, token_id=sim.token_id, key=key,
                                                 secret=token_file(secret or sim.token_secret),
                                                 ca_file=sim.ca_file), name="profile.conf")


def test_a_proxmox_profile_is_used_and_named_where_its_login_fails(tmp_path, pve_api):
    config = profile(tmp_path, pve_api)
    result = vdictl(config, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert sorted(v.name for v in pve_api.vms.values() if v.name.startswith("lab-")) == [
        "lab-pc01", "lab-pc02"]
    config = profile(tmp_path, pve_api, secret=WRONG_SECRET)
    result = vdictl(config, "virtroom-show", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE
    assert error_line(result) == (
        f"Error: proxmox: login to {pve_api.url} ({config} [connect pve] url) as "
        "root@pam!vdictl refused: Authentication failed! (wrong token id or secret, or the "
        "token expired or was removed)")


def test_uri_in_a_proxmox_profile_is_a_config_error(tmp_path, pve_api):
    config = profile(tmp_path, pve_api, key='uri = "qemu:///system"')
    result = vdictl(config, "config", "check")
    assert result.exit_code == exit_codes.USAGE
    assert result.stderr == (f"Error: {config} [connect pve] uri: uri is for the libvirt "
                             "driver; this proxmox profile takes url\n")
