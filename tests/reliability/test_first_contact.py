"""A blip at the run's first contact costs nothing (issue 23, item 5).

The login of a run (oVirt's SSO and first API call, Proxmox VE's ticket or
first GET with a token) that meets a 503 or a refused connection is tried
again with backoff for up to `endpoint_timeout`: an engine restarting behind
its web server, or a simulator started 2 s after the run, costs the nightly
reset nothing (exit 0, every VM reset). An endpoint down for good is still
named within the bound, and the other endpoints' rooms are done.

Each run is the real CLI on the simulators, through the real SDKs.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("ovirtsdk4")
pytest.importorskip("proxmoxer")

from vdictl.cli import exit_codes  # noqa: E402

from tests.ovirt_cli import connect_ini  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402
from tests.pve_driver import GENERAL, fast_pve_polls, token_lines  # noqa: E402,F401
from tests.pve_driver import connect_ini as pve_connect_ini  # noqa: E402
from tests.pve_sim.fixtures import make_pve  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

#: how long the endpoint is out at the run's start
OUTAGE = 2.0
#: what a run of a few VMs on the simulators may take beyond the bound
SLACK = 10.0

THROTTLE = """\
    endpoint_timeout = {bound}
    [[throttle]]
    snapshot_batch_size = 3
    snapshot_batch_pause = 0
    parallel = 3
    shutdown_timeout = 0.5
    operation_timeout = 30
"""

OVIRT_ROOM = """\
[room {room}]
    {connect}
    cluster = Default
    network_name = vdi-net
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-pc${{id}}"
"""

PVE_ROOM = """\
[room {room}]
    {connect}
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-vd${{id}}"
"""


def pve_connect(sim, section=GENERAL, *, ticket=False):
    """Connect lines for the Proxmox VE simulator: a ticket login (root@pam and
    its password) or its API token; TLS verified with its CA."""
    login = (f'username = "root@pam"\n    password = "{sim.password}"' if ticket else
             token_lines(sim))
    return pve_connect_ini(sim, login, section=section)


def later(seconds, action):
    """action() in `seconds`, in a thread of its own (the endpoint coming back)."""
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
    return timer


def run(config, *args):
    """(exit status, {vm: result}, stderr, seconds) of one run."""
    started = time.monotonic()
    result = vdictl(config, *args, "-o", "json")
    took = time.monotonic() - started
    results = {r["vm"]: r for r in json.loads(result.stdout)["results"]} if result.stdout \
        else {}
    return result.exit_code, results, result.stderr, took


def reset_with_one_endpoint_down(config, up, down, down_sim, up_vms):
    """Roll out rooms `up` and `down`, stop `down_sim` for good and reset both:
    the run is partial and each VM of `up_vms` is reset. (results, seconds)."""
    assert vdictl(config, "virtroom-rollout", up, down).exit_code == 0
    down_sim.stop()
    code, results, err, took = run(config, "virtroom-reset", up, down)
    assert code == exit_codes.VM_FAILED, (results, err)
    for name in up_vms:
        assert results[name]["outcome"] == "ok", results[name]
    return results, took


def assert_all_reset(code, results, err, vms):
    assert code == exit_codes.OK, (results, err)
    assert sorted(results) == sorted(vms)
    assert {r["outcome"] for r in results.values()} == {"ok"}, results
    for r in results.values():
        assert any(step.startswith("restore snapshot") for step in r["steps"]), r


# -- oVirt ---------------------------------------------------------------------

@pytest.fixture
def engine(fast_polls, tmp_path):
    """Room lab of three VMs rolled out on an engine simulator; bound 15 s."""
    sim = make_engine()
    config = write_config(tmp_path, connect_ini(sim) + THROTTLE.format(bound=15)
                          + OVIRT_ROOM.format(room="lab", connect=""), mode=0o600)
    try:
        assert vdictl(config, "virtroom-rollout", "lab").exit_code == 0
        yield sim, config
    finally:
        sim.stop()


LAB = ["lab-pc01", "lab-pc02", "lab-pc03"]


def answered_503(sim, since, sso):
    return [r for r in sim.requests[since:]
            if r.get("status") == 503 and ("/sso/" in r["path"]) == sso]


def test_ovirt_engine_restarting_behind_httpd_at_the_login(engine):
    """httpd answers its 503 page to /sso (and the API) while the engine
    behind it restarts; it is back 2 s into the run."""
    sim, config = engine
    since = len(sim.requests)
    sim.engine_down = True
    later(OUTAGE, lambda: setattr(sim, "engine_down", False))
    code, results, err, took = run(config, "virtroom-reset", "lab")
    assert_all_reset(code, results, err, LAB)
    assert len(answered_503(sim, since, sso=True)) >= 2   # the login met the outage
    assert took >= OUTAGE


def test_ovirt_503_on_the_first_api_call(engine):
    """The SSO token is issued, the API answers 503 for 2 s."""
    sim, config = engine
    since = len(sim.requests)
    sim.error_rate = 1.0                                  # not on /sso (faults_on_sso)
    later(OUTAGE, lambda: setattr(sim, "error_rate", 0.0))
    code, results, err, _ = run(config, "virtroom-reset", "lab")
    assert_all_reset(code, results, err, LAB)
    assert answered_503(sim, since, sso=False)
    assert not answered_503(sim, since, sso=True)


def test_ovirt_engine_not_listening_yet(engine):
    """Nothing listens at the engine's port when the run starts (connection
    refused); the engine starts 2 s later on that port."""
    sim, config = engine
    sim.stop()
    logins = sim.sso_logins
    later(OUTAGE, sim.start)
    code, results, err, took = run(config, "virtroom-reset", "lab")
    assert_all_reset(code, results, err, LAB)
    assert sim.sso_logins == logins + 1                   # one login, once it was up
    assert took >= OUTAGE


def test_ovirt_engine_down_for_good_is_named_within_the_bound(fast_polls, tmp_path):
    """Two engines: west never comes up. West's VMs fail naming its URL and how
    long it was tried, within the bound; east's room is reset meanwhile."""
    east, west = make_engine(), make_engine()
    config = write_config(
        tmp_path, connect_ini(east) + THROTTLE.format(bound=3)
        + connect_ini(west, section="[connect west]")
        + "    endpoint_timeout = 3\n"
        + OVIRT_ROOM.format(room="east", connect="")
        + OVIRT_ROOM.format(room="west", connect="connect = west"), mode=0o600)
    try:
        results, took = reset_with_one_endpoint_down(
            config, "east", "west", west, ["east-pc01", "east-pc02", "east-pc03"])
        for name in ("west-pc01", "west-pc02", "west-pc03"):
            reason = results[name]["reason"]
            assert results[name]["outcome"] == "failed"
            assert reason.startswith(f"ovirt: cannot connect to {west.url} ({config} "
                                     "[connect west] url): "), reason
            assert reason.endswith("Could not connect to server "
                                   "(tried for 3s: endpoint_timeout)"), reason
        assert took < 3 + SLACK, took

        # west alone: nothing could be reached, exit 3, one line, within the bound
        started = time.monotonic()
        result = vdictl(config, "virtroom-reset", "west")
        assert result.exit_code == exit_codes.UNREACHABLE, result.output
        [line] = result.stderr.splitlines()
        assert line.endswith("(tried for 3s: endpoint_timeout)"), line
        assert 3 <= time.monotonic() - started < 3 + SLACK
    finally:
        east.stop()
        west.stop()


def test_ovirt_wrong_password_is_named_at_once(engine):
    """AuthError is not retried: the bound (15 s) is not waited for."""
    sim, config = engine
    sim.accounts[sim.username] = "changed"
    since = len(sim.requests)
    started = time.monotonic()
    result = vdictl(config, "virtroom-reset", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE, result.output
    assert " refused: " in result.stderr
    assert time.monotonic() - started < 5
    assert sum(r["path"].endswith("/sso/oauth/token") for r in sim.requests[since:]) == 1


# -- Proxmox VE ------------------------------------------------------------------

@pytest.fixture
def pve(request, tmp_path):
    """factory(ticket=False): room plab of three VMs rolled out on a Proxmox VE
    simulator, logging in with a ticket or the API token; bound 15 s."""
    request.getfixturevalue("fast_pve_polls")
    sims = []

    def factory(ticket=False):
        sim = make_pve()
        sims.append(sim)
        config = write_config(tmp_path, pve_connect(sim, ticket=ticket)
                              + THROTTLE.format(bound=15)
                              + PVE_ROOM.format(room="plab", connect=""), mode=0o600)
        assert vdictl(config, "virtroom-rollout", "plab").exit_code == 0
        return sim, config

    yield factory
    for sim in sims:
        sim.stop()


PLAB = ["plab-vd01", "plab-vd02", "plab-vd03"]


def answered(sim, method, path, since):
    return [r for r in sim.requests[since:] if r[0] == method and r[1] == path]


@pytest.mark.parametrize("ticket,method,path", [
    (True, "POST", "/access/ticket"),   # pveproxy cannot reach pvedaemon, restarting
    (False, "GET", "/version"),         # the token's first request
])
def test_pve_503_on_the_login(pve, ticket, method, path):
    sim, config = pve(ticket=ticket)
    since = len(sim.requests)
    sim.fail(method, f"^{path}$", 503, "Service Unavailable", times=3)
    code, results, err, _ = run(config, "virtroom-reset", "plab")
    assert_all_reset(code, results, err, PLAB)
    # three refusals, then the one that worked
    assert len(answered(sim, method, path, since)) == 4


@pytest.mark.parametrize("ticket", [True, False], ids=["ticket", "token"])
def test_pve_node_not_listening_yet(pve, ticket):
    sim, config = pve(ticket=ticket)
    sim.stop()
    later(OUTAGE, sim.start)
    code, results, err, took = run(config, "virtroom-reset", "plab")
    assert_all_reset(code, results, err, PLAB)
    assert took >= OUTAGE


@pytest.mark.usefixtures("fast_pve_polls")
def test_pve_node_down_for_good_is_named_within_the_bound(tmp_path):
    """Two nodes' endpoints: far never comes up; near's room is reset."""
    near, far = make_pve(), make_pve()
    config = write_config(
        tmp_path, pve_connect(near) + THROTTLE.format(bound=3)
        + pve_connect(far, "[connect far]") + "    endpoint_timeout = 3\n"
        + PVE_ROOM.format(room="near", connect="")
        + PVE_ROOM.format(room="far", connect="connect = far"))
    try:
        results, took = reset_with_one_endpoint_down(
            config, "near", "far", far, ["near-vd01", "near-vd02", "near-vd03"])
        for name in ("far-vd01", "far-vd02", "far-vd03"):
            reason = results[name]["reason"]
            assert reason.startswith(f"proxmox: cannot connect to {far.url} ({config} "
                                     "[connect far] url): Connection refused"), reason
            assert reason.endswith("(tried for 3s: endpoint_timeout)"), reason
        assert took < 3 + SLACK, took
    finally:
        near.stop()
        far.stop()


def test_pve_certificate_not_trusted_is_named_at_once(pve):
    """A TLS trust failure is not a blip: no retry, the bound is not waited for."""
    sim, config = pve()
    config.write_text(config.read_text().replace(f'ca_file = "{sim.ca_file}"', ""))
    started = time.monotonic()
    result = vdictl(config, "virtroom-reset", "plab")
    assert result.exit_code == exit_codes.UNREACHABLE, result.output
    assert "TLS certificate not trusted" in result.stderr
    assert "tried for" not in result.stderr
    assert time.monotonic() - started < 5
