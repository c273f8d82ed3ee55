"""A whole room on the Proxmox VE simulator, through the real proxmoxer over
HTTPS (API token, the simulator's CA): rollout, show, reset, shutdown and
delete through the `vdictl` command line.

Room `ptest` has three VMs cloned on pve1 into resource pool `lab`, and one
cloned from the shared-storage template onto pve2.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

pytest.importorskip("proxmoxer")

from vdictl.cli import cli  # noqa: E402

from tests.pve_driver import (fast_pve_polls, token_connect_ini,  # noqa: E402,F401
                               token_file)
from tests.pve_sim.clients import token_client, wait_task  # noqa: E402
from tests.pve_sim.fixtures import make_pve  # noqa: E402

PCS = ["ptest-vd01", "ptest-vd02", "ptest-vd03"]
ALL = PCS + ["ptest-far01"]

CONFIG = """\
{connect}    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0.05
    shutdown_timeout = 0.5
    operation_timeout = 30
[room ptest]
    memory = 2GiB
    snapshot_description = "vdictl rollout ${{scripttime}}"
    reset_to_snapshot_regex = "^vdictl rollout"
    template_name = tmpl-win10
    pool = lab
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-vd${{id}}"
    [[far]]
    ids = "1"
    names = "${{roomname}}-far${{id}}"
    template_name = tmpl-shared
    node = pve2
"""


@pytest.fixture
def room(pve_api, fast_pve_polls, tmp_path):
    path = tmp_path / "vdi.conf"
    path.write_text(CONFIG.format(connect=token_connect_ini(pve_api)))

    def run(*args):
        result = CliRunner().invoke(cli, ["--config", str(path), *args, "-o", "json"],
                                    catch_exceptions=False)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    return pve_api, run


def test_a_room_is_rolled_out_reset_and_deleted(room):
    sim, run = room
    code, results = run("virtroom-rollout", "ptest")
    assert code == 0, results
    assert {n: r["steps"] for n, r in results.items()} == {
        **{n: ["create from tmpl-win10", "take snapshot"] for n in PCS},
        "ptest-far01": ["create from tmpl-shared", "take snapshot"]}
    assert sim.vm("ptest-far01").node == "pve2"
    assert all(sim.vm(n).config["memory"] in (2048, "2048") for n in ALL)
    assert all(len(sim.vm(n).snapshots) == 1 for n in ALL)

    code, results = run("virtroom-start", "ptest", "--vm", "ptest-vd01")
    assert code == 0, results
    code, results = run("virtroom-reset", "ptest")
    assert code == 0, results
    assert results["ptest-vd01"]["outcome"] == "ok"
    assert any("start" in step for step in results["ptest-vd01"]["steps"])   # ran before
    assert not any("start" in step for step in results["ptest-vd02"]["steps"])

    code, results = run("virtroom-shutdown", "ptest")
    assert code == 0, results
    code, results = run("virtroom-delete", "ptest", "--yes")
    assert code == 0, results
    assert not [v.name for v in list(sim.vms.values()) if v.name.startswith("ptest-")]


FIRST_BOOT = """\
{connect}    [[throttle]]
    operation_timeout = 30
[room fb]
    template_name = {template}
    cloud_init_user_data = "{user_data}"
    stateless = {stateless}
    [[pcs]]
    ids = "1-2"
    names = "${{roomname}}-pc${{id}}"
"""


def first_boot_room(sim, tmp_path, template="tmpl-win10", stateless=False):
    user_data = tmp_path / "user-data.j2"
    user_data.write_text("#cloud-config\nhostname: {{ name }}\n")
    path = tmp_path / "fb.conf"
    path.write_text(FIRST_BOOT.format(connect=token_connect_ini(sim), template=template,
                                      user_data=user_data, stateless=stateless))
    return CliRunner().invoke(cli, ["--config", str(path), "virtroom-rollout", "fb", "-o",
                                    "json"], catch_exceptions=False)


def test_first_boot_gets_the_cloud_init_cd_once_and_stateless_after(pve_api, fast_pve_polls,
                                                                   tmp_path):
    from vdictl.drivers.seed_image import read_seed_image

    pve_api.firstboot = 300.0   # 0.3 s at the time scale: 15 poll intervals
    result = first_boot_room(pve_api, tmp_path, stateless=True)
    assert result.exit_code == 0, result.stdout
    for name in ("fb-pc01", "fb-pc02"):
        [first, *later] = [s for s in pve_api.starts if s.name == name]
        assert later == []
        [iso] = first.isos.values()
        label, files = read_seed_image(iso)
        assert label == "cidata"
        assert files["user-data"].decode() == f"#cloud-config\nhostname: {name}\n"
        config = pve_api.vm(name).config
        assert not [v for v in config.values() if "iso/" in str(v)]      # the CD is gone
        assert "snapshot=1" in config["scsi0"]                             # stateless now
        assert "snapshot=1" not in first.config["scsi0"]   # not during the first boot
    assert not [volid for (_, volid) in list(pve_api.volumes) if "vdictl-seed-" in volid]
    # the guests' power-offs were watched in the shared cluster poll, not per VM: a
    # VM's own status is asked once per action on it (its lookup), never while waiting
    status = [p for _, p, _ in list(pve_api.requests) if p.endswith("/status/current")]
    # (6 lookups each: 15 polls of the 0.3 s first boot would show here if it were polled)
    assert len(status) <= 6 * 2, status


def test_a_template_with_a_proxmox_cloud_init_drive_is_refused_before_any_clone(
        pve_api, fast_pve_polls, tmp_path):
    result = first_boot_room(pve_api, tmp_path, template="tmpl-linux")
    assert result.exit_code != 0
    data = json.loads(result.stdout)
    reasons = {r["reason"] for r in data["results"]}
    assert reasons == {
        "room fb not rolled out, nothing created: proxmox: fb-pc01: template 'tmpl-linux' has a Proxmox VE cloud-init drive (ide2), "
        "and cloud_init_user_data comes on vdictl's own cloud-init CD: two sources would "
        "compete; remove the drive from the template (qm set 9001 --delete ide2 on pve1) "
        "or use a template without one"}
    assert not [v.name for v in list(pve_api.vms.values()) if v.name.startswith("fb-")]


# -- the whole room, as on oVirt and QEMU -------------------------------------------
#
# Room `proom` has 9 names in two subsections: `students` (vd01-vd04, linked
# clones on the template's local-lvm) and `back_row` (vd05-vd09, full clones
# onto shared-nfs). vd05 and vd06 ignore ACPI. vd09 is a foreign VM somebody made
# by hand with one of the room's computed names: every step must leave it alone
# and say it is not vdictl's. Everything goes through the `vdictl` command line
# with an API token, TLS verified with the simulator's CA.

STUDENTS = [f"proom-vd0{i}" for i in range(1, 5)]
BACK_ROW = [f"proom-vd0{i}" for i in range(5, 9)]
MINE = STUDENTS + BACK_ROW
DEAF = ["proom-vd05", "proom-vd06"]
FOREIGN = "proom-vd09"
NOT_MINE = (f"{FOREIGN}: exists but was not created by vdictl; not touched (use --adopt, or "
            "adopt_unmarked = True in the room to act on it)")

WHOLE_ROOM = """\
{connect}    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 8
    shutdown_timeout = 0.5
    operation_timeout = 30

[room proom]
    template_name = tmpl-win10
    node = pve1
    pool = lab
    ip_addresses = "192.0.2.${{suffix}}"
    netmask_suffix = 24
    memory = 1GiB
    snapshot_description = "vdictl rollout IP=${{ip}}/${{netmask_as_suffix}}, scripttime=${{scripttime}}"
    reset_to_snapshot_regex = "vdictl rollout IP=.*"
    reset_startvm = {startvm}
    [[students]]
    ids = "1-4"
    names = "${{roomname}}-vd${{id}}"
    ip_addresses_suffix = 21
    storage = local-lvm
    [[back_row]]
    ids = "5-9"
    names = "${{roomname}}-vd${{id}}"
    ip_addresses_suffix = 31
    storage = shared-nfs
"""


def ip_of(name):
    number = int(name[-2:])
    return f"192.0.2.{(21 if number <= 4 else 31) + number - 1}"


def cells(line):
    """A table line's cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


class WholeRoom:
    """The room's config files, the CLI, and views of the simulator."""

    def __init__(self, sim, tmp_path):
        self.sim = sim
        self.tmp_path = tmp_path
        self.connect = token_connect_ini(sim)
        self.api = token_client(sim)

    def config(self, startvm):
        path = self.tmp_path / f"vdi-{startvm}.conf"
        path.write_text(WHOLE_ROOM.format(connect=self.connect, startvm=startvm))
        return str(path)

    def vdictl(self, *args, startvm="Auto"):
        result = CliRunner().invoke(cli, ["--config", self.config(startvm), *args],
                                    catch_exceptions=False)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    def table(self, *args, startvm="Auto"):
        """exit code, {vm: (action, result, details)}, and the summary line."""
        result = self.vdictl(*args, "-o", "table", startvm=startvm)
        lines = result.stdout.splitlines()
        assert cells(lines[0]) == ["ROOM", "VM", "ACTION", "RESULT", "DETAILS"], lines
        rows = {c[1]: tuple(c[2:]) for c in map(cells, lines[1:-1])}
        return result.exit_code, rows, lines[-1]

    def report(self, *args, startvm="Auto"):
        result = self.vdictl(*args, "-o", "json", startvm=startvm)
        return result.exit_code, {r["vm"]: r for r in json.loads(result.stdout)["results"]}

    def set_running(self, *names):
        with self.sim.lock:
            for vm in self.sim.vms.values():
                if vm.name.startswith("proom-") and vm.name != FOREIGN:
                    vm.status = "running" if vm.name in names else "stopped"

    def running(self):
        return sorted(v.name for v in self.sim.vms.values()
                      if v.name.startswith("proom-") and v.status == "running")

    def foreign_view(self):
        vm = self.sim.vm(FOREIGN)
        with self.sim.lock:
            return vm.vmid, vm.node, vm.status, dict(vm.config), sorted(vm.snapshots)

    def changes_to(self, vmid):
        """The requests that could have changed guest `vmid` (the monitor's POSTs
        are virtroom-show's "info vnc": a question)."""
        return [(m, p) for m, p, _ in self.sim.requests
                if m != "GET" and re.search(rf"/qemu/{vmid}(/|$)", p)
                and not p.endswith("/monitor")]


@pytest.fixture(scope="module")
def whole_room(tmp_path_factory):
    from vdictl.drivers.proxmox import ProxmoxDriver

    mp = pytest.MonkeyPatch()   # fast_pve_polls, for the whole module's room
    mp.setattr(ProxmoxDriver, "poll_interval", 0.02)
    mp.setattr(ProxmoxDriver, "retry_initial", 0.01)
    mp.setattr(ProxmoxDriver, "retry_maximum", 0.05)
    mp.setattr(ProxmoxDriver, "stop_timeout", 30.0)
    # snapshot and rollback tasks of 0.05 s (2.5 poll intervals, as a rollback of a
    # linked clone takes 1-3 s against the driver's 1 s polls): long enough to overlap
    # if the throttle let them
    sim = make_pve(durations={"qmsnapshot": 50.0, "qmrollback": 50.0})
    sim.add_vm(FOREIGN, template="tmpl-win10", running=True)
    room = WholeRoom(sim, tmp_path_factory.mktemp("pve-room"))
    room.foreign = room.foreign_view()
    try:
        yield room
    finally:
        sim.stop()
        mp.undo()


def assert_foreign_untouched(room):
    assert room.foreign_view() == room.foreign
    assert room.changes_to(room.foreign[0]) == []


def test_rollout_clones_every_vm_with_pool_memory_mark_and_one_snapshot(whole_room):
    room = whole_room
    code, rows, summary = room.table("virtroom-rollout", "proom")
    assert code == 1   # the foreign VM is reported, not touched
    assert summary == "rollout: 9 VM(s): 8 ok, 1 failed (partial)"
    assert rows == {**{n: ("rollout", "ok", "create from tmpl-win10, take snapshot")
                       for n in MINE},
                    FOREIGN: ("rollout", "failed", f"already exists; {NOT_MINE}")}
    for name in MINE:
        vm = room.sim.vm(name)
        assert (vm.node, vm.pool, vm.status) == ("pve1", "lab", "stopped")
        assert int(vm.config["memory"]) == 1024
        assert vm.config["tags"] == "vdictl"
        assert vm.config["description"].startswith("vdictl:room=proom;")
        disk = vm.config["scsi0"]
        if name in STUDENTS:   # linked clone of the template's base volume
            assert disk.startswith(f"local-lvm:base-9000-disk-0/vm-{vm.vmid}-disk-0")
        else:                  # a full clone onto the storage the subsection names
            assert disk.startswith("shared-nfs:")
        [snap] = vm.snapshots.values()
        assert snap.description.startswith(f"vdictl rollout IP={ip_of(name)}/24, scripttime=")
    assert room.sim.logins == 0   # an API token: no ticket login at all
    assert_foreign_untouched(room)


def test_snapshot_operations_never_exceed_the_throttle(whole_room):
    """Measured on the simulator: snapshot tasks running at once over the rollout."""
    assert room_peak(whole_room) == 2


def room_peak(room):
    with room.sim.lock:
        return room.sim.peak_snapshot_ops


def test_show_lists_node_state_owner_and_the_snapshot_a_reset_restores(whole_room):
    room = whole_room
    # the teacher's later snapshot, which reset_to_snapshot_regex does not match
    vd01 = room.sim.vm("proom-vd01")
    upid = room.api.nodes("pve1").qemu(vd01.vmid).snapshot.post(
        snapname="teacher", description="teacher's experiment")
    assert wait_task(room.api, upid)["exitstatus"] == "OK"

    result = room.vdictl("virtroom-show", "proom", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["vm"]: r for r in json.loads(result.stdout)["vms"]}
    assert sorted(rows) == sorted(MINE + [FOREIGN])
    for name in MINE:
        row = rows[name]
        net0 = room.sim.vm(name).config["net0"]
        assert (row["subsection"], row["ip"], row["state"], row["owned"], row["template"],
                row["memory"], row["endpoint"]) == (
            "students" if name in STUDENTS else "back_row", ip_of(name), "stopped", True,
            "tmpl-win10", 1 << 30, room.sim.url)
        assert row["mac"] and row["mac"] in net0
        guest = room.sim.vm(name)   # where a qm command on a node finds it
        assert row["location"] == f"{guest.node}/{guest.vmid}"
        assert row["reset_snapshot"].startswith(
            f"vdictl rollout IP={ip_of(name)}/24, scripttime=")
    assert rows[FOREIGN]["owned"] is False and rows[FOREIGN]["state"] == "running"
    assert rows[FOREIGN]["note"].startswith("not created by vdictl")

    table = room.vdictl("virtroom-show", "proom").stdout.splitlines()
    # no IN USE column: the foreign VM runs, but its monitor is not asked (not ours)
    assert cells(table[0]) == ["ROOM", "SUBSECTION", "VM", "NODE/VMID", "IP", "MAC",
                               "TEMPLATE", "MEMORY", "STATE", "OWNED", "PHASE",
                               "RESET SNAPSHOT", "NOTE"]
    vd01_row = cells(next(line for line in table if " proom-vd01 " in line))
    assert vd01_row[:5] == ["proom", "students", "proom-vd01", f"pve1/{vd01.vmid}",
                            "192.0.2.21"]
    assert vd01_row[7:10] == ["1GiB", "stopped", "yes"]
    assert vd01_row[-1].startswith("vdictl rollout IP=192.0.2.21/24, scripttime=")
    assert_foreign_untouched(room)


def test_reset_rolls_back_to_the_regex_snapshot_and_restores_the_config(whole_room):
    room = whole_room
    room.set_running()
    vd01, vd02 = room.sim.vm("proom-vd01"), room.sim.vm("proom-vd02")
    mark = vd02.config["description"]
    # a teacher changed a VM between resets: more memory, a line in its notes
    room.api.nodes("pve1").qemu(vd02.vmid).config.put(
        memory=4096, description=mark + "\nteacher was here")
    vdictl_snap = next(n for n in vd01.snapshots if n != "teacher")

    code, rows, summary = room.table("virtroom-reset", "proom", startvm="Never")
    assert code == 1 and summary == "reset: 9 VM(s): 8 ok, 1 failed (partial)"
    for name in MINE:
        action, outcome, details = rows[name]
        assert (action, outcome) == ("reset", "ok")
        assert details.startswith(f"restore snapshot 'vdictl rollout IP={ip_of(name)}/24, ")
        assert "start" not in details and "power off" not in details
    assert rows[FOREIGN] == ("reset", "failed", NOT_MINE)
    assert room.running() == [FOREIGN]
    assert (int(vd02.config["memory"]), vd02.config["description"]) == (1024, mark)
    # vd01 went back to the rollout's snapshot, not to the teacher's newer one
    assert sorted(vd01.snapshots) == sorted(["teacher", vdictl_snap])
    assert ("POST", f"/nodes/pve1/qemu/{vd01.vmid}/snapshot/{vdictl_snap}/rollback") in [
        (m, p) for m, p, _ in room.sim.requests]
    assert not [p for m, p, _ in room.sim.requests if p.endswith("/snapshot/teacher/rollback")]
    assert_foreign_untouched(room)


@pytest.mark.parametrize("startvm, expected", [
    ("Always", MINE),
    ("Auto", ["proom-vd02", "proom-vd05"]),   # what ran comes back up, the rest stays down
    ("Never", []),
])
def test_reset_starts_vms_per_reset_startvm(whole_room, startvm, expected):
    room = whole_room
    room.set_running("proom-vd02", "proom-vd05")
    code, results = room.report("virtroom-reset", "proom", startvm=startvm)
    assert code == 1
    assert {n: results[n]["outcome"] for n in MINE} == {n: "ok" for n in MINE}
    assert results[FOREIGN]["outcome"] == "failed" and results[FOREIGN]["reason"] == NOT_MINE
    assert room.running() == sorted(expected + [FOREIGN])
    steps = results["proom-vd02"]["steps"]
    assert steps[0] == "power off" and steps[1].startswith("restore snapshot 'vdictl rollout")
    assert (steps[2:] == ["start"]) == (startvm != "Never")
    assert ("start" in results["proom-vd01"]["steps"]) == (startvm == "Always")
    assert_foreign_untouched(room)


def test_reset_requests_per_vm_and_throttle(whole_room):
    """Measured: every request of one reset of 8 running VMs, task polls included.

    A VM's own requests are 8: its config (the owner mark; the run's one cluster
    listing found it), its snapshot list (to pick by the regex), and for each of
    stop, rollback and start its status (state, lock, still this VM) and the
    action. Per run: GET /version, the listing and the account guard's GET
    /access/permissions (ops/account_guard.py). Task polls are per node, one
    GET /tasks per poll interval for every task open on it: with 2 rollbacks
    at a time lasting 2.5 intervals, about 3 per batch of 2 VMs and one per
    stop and start wave, so 1.5-2 per VM. Bound: 8 per VM without polls, 12 with
    (slack for polls of a loaded machine, where the tasks take longer). The
    room's foreign VM costs its config (read for the owner mark). The storage
    check (ops/storage.py) costs per run, not per VM: each template's config
    (where its clones' disks are) and one status per storage.
    """
    room = whole_room
    room.set_running(*MINE)
    with room.sim.lock:
        room.sim.peak_snapshot_ops = 0
    before = len(room.sim.requests)
    code, results = room.report("virtroom-reset", "proom", startvm="Always")
    made = room.sim.requests[before:]
    assert code == 1 and {results[n]["outcome"] for n in MINE} == {"ok"}
    kinds = {}
    for m, p, _ in made:
        key = m + " " + re.sub(r"/[0-9]+(/|$)", r"/N\1", p.split("?")[0])
        kinds[key] = kinds.get(key, 0) + 1
    polls = kinds.get("GET /nodes/pve1/tasks", 0)
    # the foreign VM's config is read too: it has no vdictl tag, but a VM vdictl
    # cloned and never configured has none either (its mark comes with the clone)
    foreign = [p for m, p, _ in made
               if p == "/nodes/pve1/qemu/%d/config" % room.sim.vm(FOREIGN).vmid]
    assert len(foreign) == 1
    guard = kinds.get("GET /access/permissions", 0)
    assert guard == 1, kinds   # the account's permissions, once per run
    own = len(made) - polls - kinds.get("GET /version", 0) - kinds.get("GET /cluster/resources", 0)
    own -= len(foreign) + guard
    templates = {room.sim.by_name(t).vmid for t in ("tmpl-win10", "tmpl-shared")}
    storage_check = [p for m, p, _ in made if p.endswith("/status") and "/storage/" in p
                     or any(p == "/nodes/pve1/qemu/%d/config" % t for t in templates)]
    assert 1 <= len(storage_check) <= 4, storage_check  # 1-2 template configs, 1-2 storages
    own -= len(storage_check)
    said = (f"reset of {len(MINE)} VMs: {len(made)} requests, {len(made) / len(MINE):.2f} per VM "
            f"({own / len(MINE):.2f} of their own, {polls} task polls): {kinds}")
    print(said)
    assert own / len(MINE) <= 8, said
    # per VM, polls included; what the run pays once (login check, listing,
    # the foreign VM's config, the storage check) is not the VMs'
    per_run = kinds.get("GET /version", 0) + kinds.get("GET /cluster/resources", 0) + \
        len(foreign) + len(storage_check) + guard
    assert (len(made) - per_run) / len(MINE) <= 12, said
    assert kinds.get("GET /cluster/resources") == 1, said   # one listing per run
    assert room_peak(room) == 2, "the rollbacks ran more (or fewer) than 2 at once"
    assert_foreign_untouched(room)


def test_shutdown_falls_back_to_a_stop_for_guests_that_ignore_acpi(whole_room):
    room = whole_room
    room.set_running()
    code, rows, summary = room.table("virtroom-start", "proom")
    assert code == 1 and summary == "start: 9 VM(s): 8 ok, 1 failed (partial)"
    assert rows == {**{n: ("start", "ok", "start") for n in MINE},
                    FOREIGN: ("start", "failed", NOT_MINE)}
    assert room.running() == sorted(MINE + [FOREIGN])
    for name in DEAF:
        room.sim.vm(name).ignores_acpi = True
    try:
        code, rows, summary = room.table("virtroom-shutdown", "proom")
    finally:
        for name in DEAF:
            room.sim.vm(name).ignores_acpi = False
    assert code == 1 and summary == "shutdown: 9 VM(s): 8 ok, 1 failed (partial)"
    assert rows == {
        **{n: ("shutdown", "ok", "shut down") for n in MINE if n not in DEAF},
        **{n: ("shutdown", "ok", "shut down, guest ignored ACPI for 0.5s: powered off")
           for n in DEAF},
        FOREIGN: ("shutdown", "failed", NOT_MINE)}
    assert room.running() == [FOREIGN]
    stops = {p for m, p, _ in room.sim.requests if p.endswith("/status/stop")}
    assert {f"/nodes/pve1/qemu/{room.sim.vm(n).vmid}/status/stop" for n in DEAF} <= stops
    assert_foreign_untouched(room)


def test_delete_removes_the_room_and_leaves_the_foreign_vm(whole_room):
    room = whole_room
    room.set_running("proom-vd03")
    code, rows, summary = room.table("virtroom-delete", "--yes", "proom")
    assert code == 1 and summary == "delete: 9 VM(s): 8 ok, 1 failed (partial)"
    assert rows == {**{n: ("delete", "ok", "delete") for n in MINE if n != "proom-vd03"},
                    "proom-vd03": ("delete", "ok", "power off, delete"),
                    FOREIGN: ("delete", "failed",
                              f"{FOREIGN}: exists but was not created by vdictl; not touched "
                              "(use --adopt to act on it)")}
    assert sorted(v.name for v in room.sim.vms.values() if v.name.startswith("proom-")) == [
        FOREIGN]
    assert_foreign_untouched(room)


# -- one login per run ------------------------------------------------------------

TWO_ROOMS = """\
[general]
    [[connect]]
    driver = proxmox
    url = "{url}"
    username = "root@pam"
    password_file = "{password_file}"
    ca_file = "{ca_file}"
    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    shutdown_timeout = 0.5
    parallel = 4
[room lab1]
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-pc${{id}}"
[room lab2]
    template_name = tmpl-linux
    node = pve1
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    [[pcs]]
    ids = "1-3"
    names = "${{roomname}}-pc${{id}}"
"""


def test_a_ticket_login_happens_once_per_run_over_two_rooms(pve_api, fast_pve_polls,
                                                            tmp_path):
    path = tmp_path / "vdi.conf"
    path.write_text(TWO_ROOMS.format(url=pve_api.url, ca_file=pve_api.ca_file,
                                     password_file=token_file(pve_api.password)))
    logins = []
    for command in ("virtroom-rollout", "virtroom-reset", "virtroom-show"):
        before = pve_api.logins
        result = CliRunner().invoke(cli, ["--config", str(path), command, "lab1", "lab2"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr
        logins.append(pve_api.logins - before)
    assert logins == [1, 1, 1]
    assert len([v for v in pve_api.vms.values() if v.name.startswith("lab")]) == 6
    # every request after each login used the ticket: nothing fell back to a second login
    assert {kind for _, p, kind in pve_api.requests if p != "/access/ticket"} == {"ticket"}
