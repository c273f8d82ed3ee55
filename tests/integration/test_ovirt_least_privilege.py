"""An engine account that is not the superuser (docs/guide.md, "Least
privilege on oVirt"), on the engine simulator through the real CLI.

The engine lists its jobs to admins only: to an account without an admin
role, and to anyone on the user API (`Filter: true`), `GET /jobs` answers
"Query execution failed due to insufficient permissions." (a 400; a proxy
or another version may say 403 or 404). A reset must not depend on it.
"""

from __future__ import annotations


import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.cli import exit_codes  # noqa: E402

from tests.ovirt_sim.fixtures import make_engine  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

ROBOT, ROBOT_PASSWORD = "vdi-robot@internal", "R0bot-Only-Resets"
VMS = ["lab-pc01", "lab-pc02", "lab-pc03", "lab-pc04"]
DENIED = "Query execution failed due to insufficient permissions."

CONFIG = """\
[general]
    [[connect]]
    url = "{url}"
    username = "{username}"
    password_file = "{password_file}"
    {extra}
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 4
    shutdown_timeout = 0.5
    operation_timeout = 30

[room lab]
    template_name = tmpl-win10
    cluster = Default
    network_name = vdi-net
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "vdictl rollout"
    reset_startvm = {startvm}
    [[pcs]]
    ids = "1-4"
    names = "lab-pc${{id}}"
"""



@pytest.fixture
def engine(fast_polls):
    """An engine with the admin and a robot account without admin roles, and
    room lab rolled out by the robot (a rollout reads no jobs)."""
    sim = make_engine()
    sim.add_account(ROBOT, ROBOT_PASSWORD, admin=False)
    try:
        yield sim
    finally:
        sim.stop()


def config(tmp_path, engine, *, username=ROBOT, password=ROBOT_PASSWORD, startvm="Always",
           extra=""):
    password_file = tmp_path / f"{username}.pass"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return write_config(tmp_path, CONFIG.format(
        url=engine.url, username=username, password_file=password_file, startvm=startvm,
        extra=extra), name=f"vdi-{startvm}.conf")


def warnings(result):
    return [line for line in result.stderr.splitlines() if " WARNING " in line]


def jobs_asked(engine):
    return [r["status"] for r in engine.requests if r["path"].endswith("/api/jobs")]


def rolled_out(tmp_path, engine, **kw):
    conf = config(tmp_path, engine, **kw)
    result = vdictl(conf, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.output
    return conf


@pytest.mark.parametrize("startvm, running", [
    ("Always", VMS), ("Auto", ["lab-pc02", "lab-pc03"]), ("Never", [])])
def test_reset_without_jobs_completes_and_starts_per_reset_startvm_with_one_warning(
        tmp_path, engine, startvm, running):
    rolled_out(tmp_path, engine)
    for name in VMS:
        engine.set_vm_status(name, "up" if name in ("lab-pc02", "lab-pc03") else "down")
    engine.denied_status = 403
    result = vdictl(config(tmp_path, engine, startvm=startvm), "virtroom-reset", "lab")
    assert result.exit_code == exit_codes.OK, result.output
    assert sorted(v.name for v in engine.vms() if v.status == "up") == running
    assert [v.status for v in engine.vms() if v.name not in running] == ["down"] * (
        len(VMS) - len(running))
    [line] = warnings(result)
    assert line.endswith(
        f" WARNING vdictl.drivers.ovirt.connection: {engine.url} does not let {ROBOT} read "
        "its jobs, so restores are checked by the VMs' and snapshots' states instead "
        "(docs/guide.md, \"Least privilege on oVirt\"): Fault reason is \"Operation "
        f"Failed\". Fault detail is \"{DENIED}\". HTTP response code is 403.")
    assert "Traceback" not in result.stderr
    # a refusal is remembered: the VMs after the first ones do not ask again
    assert 1 <= len(jobs_asked(engine)) <= 4 and set(jobs_asked(engine)) == {403}
    restores = [r for r in engine.requests if r["path"].endswith("/restore")]
    assert len(restores) == len(VMS)


@pytest.mark.parametrize("status", [400, 404])
def test_any_refusal_of_jobs_is_a_fallback_and_each_run_warns_once(tmp_path, engine, status):
    conf = rolled_out(tmp_path, engine)
    engine.denied_status = status
    for run in range(2):  # once per run, not once per process
        result = vdictl(conf, "virtroom-reset", "lab")
        assert result.exit_code == exit_codes.OK, result.output
        [line] = warnings(result)
        assert line.endswith(f"HTTP response code is {status}.")
        assert sorted(v.name for v in engine.vms() if v.status == "up") == VMS


def test_the_admin_still_checks_the_restores_job_and_is_not_warned(tmp_path, engine):
    conf = rolled_out(tmp_path, engine, username=engine.username, password=engine.password)
    result = vdictl(conf, "virtroom-reset", "lab")
    assert result.exit_code == exit_codes.OK, result.output
    assert warnings(result) == []
    assert jobs_asked(engine) == [200] * len(VMS)


def api_requests(engine):
    return [r for r in engine.requests if r["path"].startswith("/ovirt-engine/api")]


def test_filter_sends_the_user_api_header_on_every_request(tmp_path, engine):
    conf = rolled_out(tmp_path, engine, extra="filter = True")
    result = vdictl(conf, "virtroom-reset", "lab")
    assert result.exit_code == exit_codes.OK, result.output
    assert {r["headers"].get("Filter") for r in api_requests(engine)} == {"true"}
    # the user API lists jobs to nobody: not asked, nothing to warn about
    assert jobs_asked(engine) == [] and warnings(result) == []
    assert sorted(v.name for v in engine.vms() if v.status == "up") == VMS


def test_no_filter_header_unless_configured(tmp_path, engine):
    for extra in ("", "filter = False"):
        engine.requests.clear()
        conf = config(tmp_path, engine, extra=extra)
        result = vdictl(conf, "virtroom-show", "lab")
        assert result.exit_code == exit_codes.OK, result.output
        assert api_requests(engine)
        assert all("Filter" not in r["headers"] for r in api_requests(engine))


def test_config_check_accepts_filter_and_lists_it_as_used(tmp_path, engine):
    result = vdictl(config(tmp_path, engine, extra="filter = yes"), "config", "check")
    assert result.exit_code == exit_codes.OK, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines()[0].endswith(f"driver ovirt at {engine.url}; "
                                                  "1 room(s), 4 VM(s)")


def test_a_wrong_filter_value_is_one_config_line(tmp_path, engine):
    conf = config(tmp_path, engine, extra="filter = sometimes")
    result = vdictl(conf, "config", "check")
    assert result.exit_code == exit_codes.USAGE
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {conf} [general/connect] filter: ")
    assert result.stderr.count("\n") == 1


def test_filter_on_libvirt_is_refused(tmp_path):
    conf = write_config(tmp_path, '[general]\n[[connect]]\nuri = "test:///default"\n'
                        'filter = True\n[room r]\n[[s]]\nids = 1\nnames = "r-${id}"\n'
                        'template_name = t\n')
    result = vdictl(conf, "config", "check")
    assert result.exit_code == exit_codes.USAGE
    assert result.stderr == (f"Error: {conf} [general/connect] filter: filter (the oVirt "
                             "engine's user API) means nothing to the libvirt driver; "
                             "remove it\n")
