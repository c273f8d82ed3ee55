"""Two engines in one run, through two connect profiles (engine simulators).

Room `east` lives on the engine of [general] [[connect]], room `west` on a
second engine chosen with `connect = west`, whose account and password are
its own. One vdictl run rolls both out, resets both and shows both; each
engine sees one login of its own account per run.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ovirtsdk4")

from tests.ovirt_cli import connect_ini, password_file  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

CONFIG = """\
{east}    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 4
    parallel_per_host = 2
    shutdown_timeout = 0.5
    operation_timeout = 30

{west}
[room east]
    cluster = Default
    network_name = vdi-net
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[vms]]
    ids = "1-3"
    names = "east-${{id}}"

[room west]
    connect = west
    cluster = Default
    network_name = vdi-net
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[vms]]
    ids = "1-3"
    names = "west-${{id}}"
"""


@pytest.fixture
def engines(fast_polls, tmp_path):
    east = make_engine()
    west = make_engine(username="vdi@west", password="west-secret")
    try:
        east_pw = password_file(tmp_path, east.password, name="east.pw")
        west_pw = password_file(tmp_path, west.password, name="west.pw")
        config = write_config(tmp_path, CONFIG.format(
            east=connect_ini(east, password_file=east_pw),
            west=connect_ini(west, password_file=west_pw, section="[connect west]")))
        yield config, east, west
    finally:
        east.stop()
        west.stop()


def token_requests(engine):
    return sum(r["path"].endswith("/sso/oauth/token") for r in engine.requests)


def names(engine):
    return sorted(n for n in engine.vm_names() if n.startswith(("east-", "west-")))


def test_two_engines_one_run_each_with_its_own_login(engines):
    config, east, west = engines
    result = vdictl(config, "virtroom-rollout", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    assert names(east) == ["east-01", "east-02", "east-03"]
    assert names(west) == ["west-01", "west-02", "west-03"]
    assert (east.sso_logins, west.sso_logins) == (1, 1)

    result = vdictl(config, "virtroom-reset", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {r["outcome"] for r in json.loads(result.stdout)["results"]} == {"ok"}
    assert {east.vm(n).status for n in names(east)} == {"up"}
    assert {west.vm(n).status for n in names(west)} == {"up"}
    assert (east.sso_logins, west.sso_logins) == (2, 2)

    shown = json.loads(vdictl(config, "virtroom-show", "--all", "-o", "json").stdout)
    assert {(vm["vm"][:4], vm["endpoint"]) for vm in shown["vms"]} == {
        ("east", east.url), ("west", west.url)}


def test_a_wrong_password_on_one_engine_is_named_with_its_profile(engines, tmp_path):
    config, east, west = engines
    (tmp_path / "west.pw").write_text("wrong\n")
    result = vdictl(config, "virtroom-show", "west")
    assert result.exit_code == 3, result.output  # UNREACHABLE: no backend to work on
    assert result.stderr.startswith(f"Error: ovirt: login to {west.url} ({config} [connect "
                                    "west] url) as vdi@west refused: ")
    assert result.stderr.count("\n") == 1
    assert west.sso_logins == 0


def test_one_engine_refusing_its_login_does_not_stop_the_others_reset(engines, tmp_path):
    """West's password is changed under vdictl: west's VMs fail naming the
    engine and its profile, east's are reset and running, the run is partial;
    with the password right again a rerun converges."""
    config, east, west = engines
    assert vdictl(config, "virtroom-rollout", "--all").exit_code == 0
    (tmp_path / "west.pw").write_text("wrong\n")
    asked_before = token_requests(west)
    result = vdictl(config, "virtroom-reset", "--all", "-o", "json")
    assert result.exit_code == 1, result.output   # VM_FAILED: partial
    report = json.loads(result.stdout)
    assert report["status"] == "partial"
    outcomes = {r["vm"]: (r["outcome"], r["reason"]) for r in report["results"]}
    for name in ("east-01", "east-02", "east-03"):
        assert outcomes[name][0] == "ok", outcomes[name]
        assert east.vm(name).status == "up"
    for name in ("west-01", "west-02", "west-03"):
        outcome, reason = outcomes[name]
        assert outcome == "failed"
        assert reason.startswith(f"ovirt: login to {west.url} ({config} [connect west] url) "
                                 "as vdi@west refused: "), reason
    # the refused login is asked once per run, not once per VM
    assert token_requests(west) - asked_before == 1

    (tmp_path / "west.pw").write_text(west.password + "\n")
    result = vdictl(config, "virtroom-reset", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {west.vm(n).status for n in names(west)} == {"up"}
