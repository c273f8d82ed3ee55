"""A whole room on the oVirt engine simulator, through the real ovirtsdk4.

The same scenario as test_room_on_qemu.py: room `otest` has 6 VMs in two
subsections, four whose guests answer the ACPI power button and two that
ignore it. Everything goes through the `vdictl` command line.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("ovirtsdk4")

from vdictl.cli import cli  # noqa: E402

from tests.ovirt_cli import connect_ini, password_file  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402

ACPI_VMS = ["otest-vd01", "otest-vd02", "otest-vd03", "otest-vd04"]
DEAF_VMS = ["otest-deaf01", "otest-deaf02"]
ALL_VMS = ACPI_VMS + DEAF_VMS

CONFIG = """\
{connect}    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0.05
    parallel = 3
    shutdown_timeout = 0.5
    operation_timeout = 30

[room otest]
    cluster = Default
    network_name = vdi-net
    tc_user = thinclient@internal
    ip_addresses = "192.0.2.${{suffix}}"
    netmask_suffix = 24
    memory = 2GiB
    snapshot_description = "vdictl rollout IP=${{ip}}/${{netmask_as_suffix}}, scripttime=${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout IP=.*"
    reset_startvm = {startvm}
    [[acpi_vms]]
    ids = "1-4"
    names = "${{roomname}}-vd${{id}}"
    ip_addresses_suffix = 21
    template_name = tmpl-win10
    [[deaf_vms]]
    ids = "1-2"
    names = "${{roomname}}-deaf${{id}}"
    ip_addresses_suffix = 31
    template_name = tmpl-win10

[room other]
    [[vms]]
    ids = "1"
    names = "otest-foreign${{id}}"
    template_name = tmpl-win10
"""


class Room:
    """The room under test: config files, CLI runner and a view of the engine."""

    def __init__(self, engine, tmp_path):
        self.engine = engine
        self.tmp_path = tmp_path
        self.password_file = password_file(tmp_path, engine.password)

    def config(self, startvm="Auto"):
        path = self.tmp_path / f"vdi-{startvm}.conf"
        path.write_text(CONFIG.format(
            connect=connect_ini(self.engine, password_file=self.password_file),
            startvm=startvm))
        return str(path)

    def vdictl(self, *args, startvm="Auto"):
        return CliRunner().invoke(cli, ["--config", self.config(startvm), *args],
                                  catch_exceptions=False)

    def report(self, *args, startvm="Auto"):
        result = self.vdictl(*args, "-o", "json", startvm=startvm)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    def status(self, name):
        return self.engine.vm(name).status

    def running(self):
        return sorted(v.name for v in self.engine.vms()
                      if v.status == "up" and v.name.startswith("otest-"))

    def set_running(self, *names):
        for vm in self.engine.vms():
            if vm.name.startswith("otest-"):
                self.engine.set_vm_status(vm.name, "up" if vm.name in names else "down")




@pytest.fixture(scope="module")
def room(fast_polls, tmp_path_factory):
    engine = make_engine(ignore_acpi=DEAF_VMS)
    r = Room(engine, tmp_path_factory.mktemp("ovirt-room"))
    code, results = r.report("virtroom-rollout", "otest")
    assert code == 0, results
    yield r
    engine.stop()


def test_rollout_made_each_vm_with_nic_role_and_one_snapshot(room):
    assert sorted(n for n in room.engine.vm_names() if n.startswith("otest-")) == sorted(ALL_VMS)
    for name in ALL_VMS:
        vm = room.engine.vm(name)
        assert vm.status == "down"
        assert vm.comment.startswith("vdictl:room=otest;")
        assert vm.memory == 2 << 30
        assert [(n.name, n.network) for n in vm.nics] == [("nic1", "vdi-net")]
        assert [(p.role, p.user) for p in vm.permissions] == [
            ("UserRole", "thinclient@internal")]
        user = [s for s in vm.snapshots if s.type != "active"]
        assert len(user) == 1 and user[0].status == "ok"
        assert user[0].description.startswith(f"vdictl rollout IP={name_ip(name)}/24, ")
    # one SSO login for the whole run, and the run logged out
    assert room.engine.sso_logins == 1 and room.engine.sso_logouts == 1
    # a rerun is idempotent: nothing created, no second snapshot
    code, results = room.report("virtroom-rollout", "otest")
    assert code == 0
    assert {r["steps"][0] for r in results.values()} == {"already exists"}
    assert [len(room.engine.vm(n).snapshots) for n in ALL_VMS] == [2] * 6  # + active


def name_ip(name):
    number = int(name[-2:])
    return f"192.0.2.{(21 if '-vd' in name else 31) + number - 1}"


def test_snapshot_throttle_held_on_the_engine(room):
    """The engine itself saw at most snapshot_batch_size snapshot operations at once."""
    assert room.engine.max_snapshot_ops_in_flight == 2


def test_show_lists_every_vm_with_its_reset_snapshot(room):
    data = json.loads(room.vdictl("virtroom-show", "otest", "-o", "json").stdout)
    rows = {row["vm"]: row for row in data["vms"]}
    assert sorted(rows) == sorted(ALL_VMS)
    assert rows["otest-vd03"]["ip"] == "192.0.2.23"
    assert rows["otest-vd03"]["mac"] == room.engine.vm("otest-vd03").nics[0].mac
    assert rows["otest-deaf02"]["reset_snapshot"].startswith("vdictl rollout IP=192.0.2.32/24, ")
    assert {row["owned"] for row in rows.values()} == {True}
    assert {row["state"] for row in rows.values()} == {"stopped"}


@pytest.mark.parametrize("startvm, expected", [
    ("Always", ALL_VMS),
    ("Auto", ["otest-deaf01", "otest-vd02"]),
    ("Never", []),
])
def test_reset_starts_vms_per_reset_startvm(room, startvm, expected):
    room.set_running("otest-vd02", "otest-deaf01")
    restores_before = count(room, "restore")
    code, results = room.report("virtroom-reset", "otest", startvm=startvm)
    assert code == 0, results
    assert room.running() == sorted(expected)
    assert {r["outcome"] for r in results.values()} == {"ok"}
    assert count(room, "restore") - restores_before == 6
    assert results["otest-vd02"]["steps"][0] == "power off"


def count(room, action):
    return sum(1 for method, path in room.engine.request_log
               if method == "POST" and path.endswith("/" + action))


def test_reset_restores_the_snapshot_the_regex_picks(room):
    room.set_running()
    vm = "otest-vd01"
    # the teacher's later snapshot, which the regex does not match
    room.engine.add_snapshot(vm, "teacher's experiment")
    code, results = room.report("virtroom-reset", "otest", startvm="Never")
    assert code == 0
    assert results[vm]["steps"][0].startswith("restore snapshot 'vdictl rollout IP=192.0.2.21/24")
    rollout_snapshot = [s for s in room.engine.vm(vm).snapshots if s.type == "regular"]
    assert [s.description for s in rollout_snapshot] == [results[vm]["steps"][0][18:-1]]
    assert ("POST", f"/ovirt-engine/api/vms/{room.engine.vm(vm).id}/snapshots/"
                    f"{rollout_snapshot[0].id}/restore") in room.engine.request_log


def test_reset_undoes_a_snapshot_preview_first_and_says_so(room):
    room.set_running()
    vm = "otest-vd04"
    room.engine.add_snapshot(vm, "teacher's experiment")
    room.engine.preview_snapshot(vm, "teacher's experiment")
    code, results = room.report("virtroom-reset", "otest", startvm="Never")
    assert code == 0, results
    assert results[vm]["steps"][:2] == ["undo snapshot preview",
                                        results[vm]["steps"][1]]
    assert results[vm]["steps"][1].startswith("restore snapshot 'vdictl rollout")
    assert all(s.status == "ok" for s in room.engine.vm(vm).snapshots)


def test_shutdown_is_graceful_and_falls_back_to_power_off(room):
    room.set_running()
    code, _ = room.report("virtroom-start", "otest")
    assert code == 0
    assert room.running() == sorted(ALL_VMS)
    code, results = room.report("virtroom-shutdown", "otest")
    assert code == 0
    assert room.running() == []
    for name in ACPI_VMS:
        assert results[name]["steps"] == ["shut down"]
    for name in DEAF_VMS:
        assert results[name]["steps"] == ["shut down",
                                          "guest ignored ACPI for 0.5s: powered off"]


def test_delete_removes_everything_it_made_and_nothing_else(room):
    room.engine.add_vm("otest-foreign01", template="tmpl-win10", comment="golden image")
    room.set_running("otest-vd01")
    code, results = room.report("virtroom-delete", "--yes", "otest", "other")
    assert code == 1
    assert results["otest-foreign01"]["outcome"] == "failed"
    assert "not created by vdictl" in results["otest-foreign01"]["reason"]
    assert {results[n]["outcome"] for n in ALL_VMS} == {"ok"}
    assert results["otest-vd01"]["steps"] == ["power off", "delete"]
    assert sorted(n for n in room.engine.vm_names() if n.startswith("otest-")) == [
        "otest-foreign01"]


AMOOTHEI_CONFIG = """\
[general]
    [[connect]]
    url = "{url}"
    username = "{username}"
    password_file = "{password_file}"
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    shutdown_timeout = 0.5

[room legacy]
    template_name = tmpl-win10
    snapshot_description = "Amoothei rollout"
    reset_to_snapshot_regex = "Amoothei rollout"
    reset_startvm = Always
    {adopt}
    [[pcs]]
    ids = "range(1,3+1)"
    names = "${{roomname}}-pc${{id}}"
"""
LEGACY_VMS = ["legacy-pc01", "legacy-pc02", "legacy-pc03"]


@pytest.fixture
def legacy(fast_polls, tmp_path):
    """A room rolled out by Amoothei: same names, a snapshot each, no vdictl mark."""
    engine = make_engine()
    for name in LEGACY_VMS:
        engine.add_vm(name, template="tmpl-win10", comment="")
        engine.add_snapshot(name, "Amoothei rollout")
    password_file = tmp_path / "pass"
    password_file.write_text(engine.password)
    password_file.chmod(0o600)

    def vdictl(*args, adopt=""):
        path = tmp_path / "amoothei.conf"
        path.write_text(AMOOTHEI_CONFIG.format(url=engine.url, username=engine.username,
                                               password_file=password_file, adopt=adopt))
        result = CliRunner().invoke(cli, ["--config", str(path), *args, "-o", "json"],
                                    catch_exceptions=False)
        return result.exit_code, {r["vm"]: r for r in json.loads(result.stdout)["results"]}

    yield engine, vdictl
    engine.stop()


def test_unmarked_vms_are_refused_without_adoption(legacy):
    engine, vdictl = legacy
    code, results = vdictl("virtroom-reset", "legacy")
    assert code == 1
    for name in LEGACY_VMS:
        assert results[name]["outcome"] == "failed"
        assert "adopt_unmarked = True" in results[name]["reason"]
    assert not [p for m, p in engine.request_log if m == "POST" and "/vms/" in p]


def test_adopt_unmarked_lets_reset_start_and_shutdown_act_but_not_delete(legacy):
    engine, vdictl = legacy
    adopt = "adopt_unmarked = True"
    code, results = vdictl("virtroom-reset", "legacy", adopt=adopt)
    assert code == 0, results
    for name in LEGACY_VMS:
        assert results[name]["steps"][0] == "adopted (no vdictl mark; adopt_unmarked = True)"
        assert results[name]["steps"][1:] == ["restore snapshot 'Amoothei rollout'", "start"]
        assert engine.vm(name).status == "up"
    code, results = vdictl("virtroom-shutdown", "legacy", adopt=adopt)
    assert code == 0 and {engine.vm(n).status for n in LEGACY_VMS} == {"down"}
    code, results = vdictl("virtroom-start", "legacy", adopt=adopt)
    assert code == 0 and {engine.vm(n).status for n in LEGACY_VMS} == {"up"}
    # the comment is left as it was: adoption does not rewrite the VM
    assert {engine.vm(n).comment for n in LEGACY_VMS} == {""}

    code, results = vdictl("virtroom-delete", "--yes", "legacy", adopt=adopt)
    assert code == 1
    assert {r["outcome"] for r in results.values()} == {"failed"}
    assert all("use --adopt to act on it" in r["reason"] for r in results.values())
    assert sorted(engine.vm_names()) == LEGACY_VMS


BROKEN_ROOMS = """\
[general]
    [[connect]]
    url = "{url}"
    username = "{username}"
    password_file = "{password_file}"

[room good]
    template_name = tmpl-win10
    network_name = vdi-net
    [[pcs]]
    ids = "1-2"
    names = "good-pc${{id}}"

[room typo]
    template_name = tmpl-win10
    network_name = vdi-net
    [[pcs]]
    ids = "1-2"
    names = "typo-pc${{id}}"
    [[teacher]]
    ids = "1"
    names = "typo-teacher${{id}}"
    template_name = tmpl-win11
    cluster = Nowhere
    network_name = no-such-net
"""


def test_unknown_template_cluster_or_network_fails_the_room_before_anything_is_created(
        fast_polls, tmp_path, ovirt_engine):
    password_file = tmp_path / "pass"
    password_file.write_text(ovirt_engine.password)
    path = tmp_path / "rooms.conf"
    path.write_text(BROKEN_ROOMS.format(url=ovirt_engine.url, username=ovirt_engine.username,
                                        password_file=password_file))
    result = CliRunner().invoke(cli, ["--config", str(path), "virtroom-rollout", "good", "typo",
                                      "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 1
    results = {r["vm"]: r for r in json.loads(result.stdout)["results"]}
    assert {results[n]["outcome"] for n in ("good-pc01", "good-pc02")} == {"ok"}
    typo = [results[n] for n in ("typo-pc01", "typo-pc02", "typo-teacher01")]
    assert {r["outcome"] for r in typo} == {"failed"}
    reason = typo[0]["reason"]
    assert reason.startswith("room typo not rolled out, nothing created: ovirt: ")
    for missing in ("template 'tmpl-win11' not found", "cluster 'Nowhere' not found",
                    "network 'no-such-net' not found"):
        assert missing in reason
    assert sorted(ovirt_engine.vm_names()) == ["good-pc01", "good-pc02"]


def test_a_failed_snapshot_fails_only_its_vm_and_a_rerun_converges(fast_polls, tmp_path,
                                                                  ovirt_engine):
    ovirt_engine.fail_snapshots = {"otest-vd02"}
    r = Room(ovirt_engine, tmp_path)
    code, results = r.report("virtroom-rollout", "otest")
    assert code == 1
    assert results["otest-vd02"]["outcome"] == "failed"
    assert "snapshot failed" in results["otest-vd02"]["reason"]
    assert {results[n]["outcome"] for n in ALL_VMS if n != "otest-vd02"} == {"ok"}

    ovirt_engine.fail_snapshots = set()
    code, results = r.report("virtroom-rollout", "otest")
    assert code == 0, results
    assert results["otest-vd02"]["steps"] == ["already exists", "take snapshot"]
    assert results["otest-vd01"]["steps"] == ["already exists", "snapshot already taken"]
    for name in ALL_VMS:
        assert len([s for s in ovirt_engine.vm(name).snapshots if s.type == "regular"]) == 1


def test_a_restore_the_engine_fails_is_reported_not_taken_for_done(fast_polls, tmp_path,
                                                                   ovirt_engine):
    r = Room(ovirt_engine, tmp_path)
    assert r.report("virtroom-rollout", "otest")[0] == 0
    ovirt_engine.fail_snapshots = {"otest-vd03"}
    code, results = r.report("virtroom-reset", "otest", startvm="Always")
    assert code == 1
    assert results["otest-vd03"]["outcome"] == "failed"
    assert results["otest-vd03"]["reason"].startswith(
        "ovirt: otest-vd03: the engine reports that the restore of snapshot "
        "'vdictl rollout IP=192.0.2.23/24, scripttime=")
    assert results["otest-vd03"]["reason"].endswith("' failed (3 of 3 attempts)")
    assert ovirt_engine.vm("otest-vd03").status == "down"  # not started on a bad disk
    assert {results[n]["outcome"] for n in ALL_VMS if n != "otest-vd03"} == {"ok"}
    ovirt_engine.fail_snapshots = set()
    code, results = r.report("virtroom-reset", "otest", startvm="Always")
    assert code == 0 and r.running() == sorted(ALL_VMS)
