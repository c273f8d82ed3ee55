"""vdictl preflight on the oVirt engine simulator, through the real ovirtsdk4
and the CLI: each problem made on purpose, named, with its exit status; and
what the preflight costs in requests against virtroom-show."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.cli import exit_codes  # noqa: E402

from tests.ovirt_cli import connect_ini, password_file  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

VMS = ["lab-pc01", "lab-pc02", "lab-pc03", "lab-pc04"]

CONFIG = """\
{connect}    endpoint_timeout = 2
    {extra}
    [[throttle]]
    snapshot_batch_size = 4
    snapshot_batch_pause = 0
    parallel = 4
    shutdown_timeout = 0.5
    operation_timeout = 30

[room lab]
    template_name = {template}
    cluster = Default
    network_name = vdi-net
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Never
    [[pcs]]
    ids = "1-{count}"
    names = "lab-pc${{id}}"
"""



@pytest.fixture
def engine(fast_polls):
    sim = make_engine()
    try:
        yield sim
    finally:
        sim.stop()


def config(tmp_path, engine, *, password=None, template="tmpl-win10", count=4, extra="",
           url=None, name="vdi.conf", username=None):
    secret = password_file(tmp_path, engine.password if password is None else password)
    return write_config(tmp_path, CONFIG.format(
        connect=connect_ini(engine, password_file=secret, url=url, username=username),
        template=template, count=count, extra=extra), name=name)


@pytest.fixture
def rolled_out(tmp_path, engine):
    conf = config(tmp_path, engine)
    result = vdictl(conf, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.output
    return conf


def problems(conf, *args):
    result = vdictl(conf, "preflight", "lab", "-o", "json", *args)
    data = json.loads(result.stdout)
    assert data["exit_status"] == result.exit_code
    assert "Traceback" not in result.output
    return result.exit_code, data["problems"]


def test_all_well_prints_nothing_off_a_terminal_and_exits_0(rolled_out):
    result = vdictl(rolled_out, "preflight", "lab")
    assert (result.exit_code, result.stdout) == (exit_codes.OK, "")
    code, found = problems(rolled_out)
    assert (code, found) == (0, [])


def test_all_well_is_recorded_beside_the_reset_in_status(rolled_out):
    assert vdictl(rolled_out, "preflight", "lab").exit_code == 0
    result = vdictl(rolled_out, "status", "lab", "-o", "json")
    runs = {run["command"]: run for run in json.loads(result.stdout)["rooms"][0]["runs"]}
    assert runs["preflight"]["result"] == "ok"
    assert runs["preflight"]["counts"]["ok"] == len(VMS)


def test_a_wrong_password_is_named_and_exits_3(tmp_path, engine, rolled_out):
    conf = config(tmp_path, engine, password="not-the-password", name="wrong.conf")
    code, [found] = problems(conf)
    assert code == exit_codes.UNREACHABLE
    assert found["severity"] == "unreachable" and found["room"] == "" and found["vm"] == ""
    assert found["what"].startswith(f"ovirt: login to {engine.url} (")
    assert f"as {engine.username} refused" in found["what"]
    assert "The username or password is incorrect" in found["what"]
    assert "password" in found["what_to_do"]
    assert "not-the-password" not in json.dumps(found)


def test_an_endpoint_down_is_named_and_exits_3(tmp_path, engine, rolled_out):
    url = engine.url
    engine.stop()
    code, [found] = problems(rolled_out)
    assert code == exit_codes.UNREACHABLE
    assert found["endpoint"] == url and found["severity"] == "unreachable"
    assert f"cannot connect to {url}" in found["what"]
    assert "answers from this machine" in found["what_to_do"]


def account(tmp_path, engine, name, roles):
    """A config for a new account of the engine holding `roles` on the system."""
    engine.add_account(name, "its-password", roles=roles)
    return config(tmp_path, engine, password="its-password", username=name,
                  name=f"{name.partition('@')[0]}.conf")


def test_an_account_that_may_not_restore_snapshots_is_named_and_the_reset_touches_nothing(
        tmp_path, engine, rolled_out):
    """UserVmRunTimeManager: "any operations on VMs except snapshot
    manipulation" (ovirt-engine 00500_insert_roles.sql). The preflight says
    the reset would fail; the reset then leaves every desk running as it was
    (ops/account_guard.py), rather than powered off and not restored."""
    conf = account(tmp_path, engine, "night@internal", ("UserVmRunTimeManager",))
    code, found = problems(conf)
    assert code == exit_codes.VM_FAILED
    assert [(p["severity"], p["room"], p["vm"], p["what"]) for p in found] == [
        ("error", "", "", "night@internal lacks the permit manipulate_vm_snapshots (a reset "
         "needs it on every VM; UserVmManager holds it)")]
    assert "give the account a role" in found[0]["what_to_do"]
    for vm in VMS:
        engine.set_vm_status(vm, "up")
    before = len(engine.requests)
    result = vdictl(conf, "virtroom-reset", "lab", "-o", "json")
    assert result.exit_code == exit_codes.VM_FAILED, result.output
    reasons = {r["vm"]: r["reason"] for r in json.loads(result.stdout)["results"]}
    assert reasons == {vm: "not touched: night@internal lacks the permit "
                       "manipulate_vm_snapshots (a reset needs it on every VM; UserVmManager "
                       "holds it) (vdictl preflight names it too)" for vm in VMS}
    assert [r for r in engine.requests[before:]
            if r["method"] != "GET" and "/vms/" in r["path"]] == []   # nothing sent to a VM
    assert {engine.vm(vm).status for vm in VMS} == {"up"}


def test_an_account_whose_rights_come_vm_by_vm_is_judged_vm_by_vm(tmp_path, engine):
    """VmCreator only: the engine makes the creator of each VM its
    UserVmManager (AddVmCommand.addVmPermission), so the rollout works and
    the reset of those VMs is allowed; a VM whose permission was taken
    away is named."""
    conf = account(tmp_path, engine, "creator@internal", ("VmCreator",))
    assert problems(conf, "--for", "rollout") == (0, [])
    result = vdictl(conf, "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.output
    assert problems(conf) == (0, [])
    with engine.lock:
        engine.inventory.vm_by_name("lab-pc03").permissions.clear()
    code, found = problems(conf)
    assert code == exit_codes.VM_FAILED
    lines = [f"creator@internal lacks the permit {permit} on 1 VM(s) (lab-pc03): it holds it "
             "only VM by VM (a reset needs it on every VM; UserVmManager on the cluster holds "
             "it)" for permit in ("shut_down_vm", "stop_vm", "manipulate_vm_snapshots")]
    assert [p["what"] for p in found] == lines
    # the reset's guard stops that VM only; the others are reset
    result = vdictl(conf, "virtroom-reset", "lab", "-o", "json")
    assert result.exit_code == exit_codes.VM_FAILED, result.output
    outcomes = {r["vm"]: (r["outcome"], r["reason"]) for r in json.loads(result.stdout)["results"]}
    assert outcomes.pop("lab-pc03") == (
        "failed", f"not touched: {'; '.join(lines)} (vdictl preflight names it too)")
    assert {outcome for outcome, _ in outcomes.values()} == {"ok"}


def test_an_account_that_may_not_create_vms_is_named_for_a_rollout(tmp_path, engine,
                                                                   rolled_out):
    conf = account(tmp_path, engine, "desk@internal", ("UserRole",))
    code, found = problems(conf, "--for", "rollout")
    assert code == exit_codes.VM_FAILED
    assert [p["what"] for p in found] == [
        "desk@internal lacks the permit create_vm (a rollout creates VMs; VmCreator, "
        "PowerUserRole and UserVmManager hold it)"]


def test_a_missing_template_is_named_for_a_rollout_or_rebuild_and_exits_1(tmp_path, engine,
                                                                          rolled_out):
    conf = config(tmp_path, engine, template="tmpl-renamed", name="renamed.conf")
    for purpose in ("rollout", "rebuild"):
        code, [found] = problems(conf, "--for", purpose)
        assert code == exit_codes.VM_FAILED
        assert (found["room"], found["vm"], found["severity"]) == ("lab", "", "error")
        assert "template 'tmpl-renamed'" in found["what"] and "not found" in found["what"]
        assert found["what_to_do"].endswith(f"the {purpose} of lab fails without it")
    assert problems(conf) == (exit_codes.OK, [])   # tonight's reset does not need it


def delete_snapshot(engine, vm, description):
    from tests.ovirt_sim.state import snapshot_ops

    with engine.lock:
        state = engine.inventory.vm_by_name(vm)
        snap = next(s for s in state.snapshots if s.description == description)
        snapshot_ops.remove(engine, state, snap)
    engine.settle()


def test_a_deleted_snapshot_is_named_and_exits_1(engine, rolled_out):
    delete_snapshot(engine, "lab-pc02", "vdictl rollout")
    code, [found] = problems(rolled_out)
    assert code == exit_codes.VM_FAILED
    assert (found["vm"], found["severity"]) == ("lab-pc02", "error")
    assert found["what"].startswith("no snapshot matches reset_to_snapshot_regex "
                                    "'^vdictl rollout' (0 snapshot(s))")
    assert "virtroom-rebuild --force --vm lab-pc02" in found["what_to_do"]


def test_two_matching_snapshots_are_named_and_exit_1(engine, rolled_out):
    engine.add_snapshot("lab-pc03", "vdictl rollout again")
    code, [found] = problems(rolled_out)
    assert code == exit_codes.VM_FAILED
    assert found["vm"] == "lab-pc03"
    assert found["what"] == ("2 snapshots match reset_to_snapshot_regex '^vdictl rollout': "
                             "'vdictl rollout'; 'vdictl rollout again'")


def test_a_vm_left_in_preview_is_named_and_exits_1(engine, rolled_out):
    engine.add_snapshot("lab-pc04", "before the exam")
    engine.preview_snapshot("lab-pc04", "before the exam")
    code, found = problems(rolled_out)
    assert code == exit_codes.VM_FAILED
    assert [(p["vm"], p["what"], p["severity"]) for p in found] == [
        ("lab-pc04", "snapshot 'before the exam' is in preview", "warning")]
    assert "undoes the preview" in found[0]["what_to_do"]


def test_a_vm_that_is_gone_or_foreign_is_named(engine, rolled_out):
    from tests.ovirt_sim.state import vm_ops

    with engine.lock:
        vm_ops.remove_vm(engine, engine.inventory.vm_by_name("lab-pc01"))
    engine.settle()
    engine.add_vm("lab-pc01", template="tmpl-win10")   # someone else's, same name
    code, [found] = problems(rolled_out)
    assert (code, found["vm"]) == (exit_codes.VM_FAILED, "lab-pc01")
    assert found["what"].startswith("exists but was not created by vdictl")


def test_the_table_names_each_problem_with_what_to_do(engine, rolled_out):
    delete_snapshot(engine, "lab-pc02", "vdictl rollout")
    result = vdictl(rolled_out, "preflight", "lab")
    assert result.exit_code == exit_codes.VM_FAILED
    header, row, total = result.stdout.splitlines()
    assert header.split() == ["ENDPOINT", "ROOM", "VM", "SEVERITY", "WHAT", "WHAT", "TO", "DO"]
    assert row.startswith(f"{engine.url}  lab   lab-pc02  error     no snapshot matches")
    assert total == "preflight (reset): 4 VM(s) in 1 room(s): 1 problem(s)"


# -- TLS certificates -------------------------------------------------------------
@pytest.fixture
def expired_engine(fast_polls, engine_certificates, tmp_path):
    from tests.tls import make_expired_certificate

    expired = make_expired_certificate(engine_certificates, str(tmp_path / "expired"))
    sim = make_engine(tls=expired.server_context())
    try:
        yield sim
    finally:
        sim.stop()


def test_an_expired_certificate_is_named_with_its_date_and_exits_3(tmp_path, expired_engine,
                                                                   engine_certificates):
    conf = config(tmp_path, expired_engine, extra=f'ca_file = "{engine_certificates.ca_file}"')
    code, [found] = problems(conf)
    assert code == exit_codes.UNREACHABLE
    assert found["severity"] == "unreachable"
    assert found["what"].startswith(f"TLS certificate of 127.0.0.1:{expired_engine.port} "
                                    "expired on 2024-02-01 00:00 UTC (")
    assert found["what_to_do"].startswith("renew the endpoint's certificate")


def test_an_expired_certificate_under_insecure_still_is_an_error(tmp_path, expired_engine):
    conf = config(tmp_path, expired_engine, extra="insecure = True")
    code, found = problems(conf)
    assert code == exit_codes.VM_FAILED      # the engine is used, but it must be renewed
    assert [(p["severity"], p["what"].split(" expired on ")[1][:10]) for p in found
            if not p["room"]] == [("error", "2024-02-01")]
    assert {p["what"] for p in found if p["room"]} == {"does not exist"}  # not rolled out


def test_a_certificate_that_ends_within_30_days_is_a_warning(tmp_path, fast_polls,
                                                             engine_certificates):
    sim = make_engine(tls=engine_certificates.server_context())   # valid for 2 days
    try:
        conf = config(tmp_path, sim, extra=f'ca_file = "{engine_certificates.ca_file}"')
        assert vdictl(conf, "virtroom-rollout", "lab").exit_code == 0
        code, [found] = problems(conf)
    finally:
        sim.stop()
    assert (code, found["severity"]) == (exit_codes.VM_FAILED, "warning")
    assert found["what"].startswith(f"TLS certificate of 127.0.0.1:{sim.port} ends on ")
    assert found["what"].endswith(" in 2 days") or found["what"].endswith(" in 1 days")


def test_a_certificate_not_signed_by_ca_file_is_named(tmp_path, fast_polls, engine_certificates):
    from tests.tls import make_certificates

    other = make_certificates(str(tmp_path / "other"))
    sim = make_engine(tls=engine_certificates.server_context())
    try:
        conf = config(tmp_path, sim, extra=f'ca_file = "{other.ca_file}"')
        code, [found] = problems(conf)
    finally:
        sim.stop()
    assert (code, found["severity"]) == (exit_codes.UNREACHABLE, "unreachable")
    assert f"is not trusted (ca_file {other.ca_file}): " in found["what"]
    assert found["what_to_do"] == "set ca_file to the CA that signs it"


# -- the cost: requests ---------------------------------------------------------------
def seeded_room(engine, count):
    """`count` VMs of room lab as a rollout leaves them (vdictl's mark, one snapshot),
    made directly in the engine's state: a rollout of 250 would only take longer."""
    from vdictl import __version__
    from vdictl.drivers.owner_text import owner_comment
    from vdictl.model import Owner

    comment = owner_comment(Owner("lab", "pcs", __version__))
    for i in range(1, count + 1):
        name = f"lab-pc{i:0{max(2, len(str(count)))}d}"   # as config/vms.py pads ids
        engine.add_vm(name, template="tmpl-win10", comment=comment)
        engine.add_snapshot(name, "vdictl rollout")


def api_requests(engine):
    return len(engine.requests)


def paths(engine, since):
    import collections
    import re

    return collections.Counter(re.sub(r"/vms/[^/]+", "/vms/ID", r["path"])
                               for r in engine.requests[since:])


def test_a_preflight_of_250_vms_costs_no_more_requests_than_virtroom_show(tmp_path, engine):
    seeded_room(engine, 250)   # all stopped: virtroom-show asks nobody's sessions either
    conf = config(tmp_path, engine, count=250)
    before = api_requests(engine)
    shown = vdictl(conf, "virtroom-show", "lab", "-o", "json")
    assert shown.exit_code == 0, shown.output
    show_cost = api_requests(engine) - before
    before = api_requests(engine)
    code, found = problems(conf)
    preflight_cost = api_requests(engine) - before
    assert (code, found) == (0, [])
    asked = paths(engine, before)
    # the snapshots come inline with one search of the room (follow=snapshots),
    # not one listing per VM as virtroom-show asks
    assert asked["/ovirt-engine/api/vms/ID/snapshots"] == 0
    assert asked["/ovirt-engine/api/vms"] == 2   # the room's inventory, its snapshots
    storages = 1   # data1
    print(f"requests for 250 VMs on one engine: virtroom-show {show_cost}, "
          f"preflight {preflight_cost}: {dict(asked)}")
    assert preflight_cost <= show_cost + storages, (preflight_cost, show_cost)
    assert show_cost >= 250   # one snapshot listing per VM: the measure is not empty
