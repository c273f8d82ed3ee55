"""First-boot personalisation on the oVirt engine simulator, through the real ovirtsdk4.

The simulator records the initialization each start carried, byte for byte,
and plays the guest: started with use_sysprep/use_cloud_init, it powers
itself off a little later (or never, for `first_boot_hangs`).
"""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

pytest.importorskip("ovirtsdk4")

from vdictl.cli import cli  # noqa: E402

from tests.ovirt_cli import connect_ini, password_file  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402

ANSWER_FILE = """\
<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="specialize">
    <ComputerName>${ComputerName}</ComputerName>
    <Ip>{{ ip }}/{{ netmask_as_suffix }} via {{ default_gateway }}</Ip>
    <JoinDomain>{{ domain }}</JoinDomain>
  </settings>
</unattend>
"""

USER_DATA = """\
#cloud-config
hostname: {{ name }}
runcmd:
  - echo "$HOME {{ roomname }}-{{ id }}" > /etc/motd
"""

CONFIG = """\
{connect}    [[throttle]]
    snapshot_batch_size = 2
    snapshot_batch_pause = 0
    parallel = 2
    operation_timeout = {timeout}

[room win]
    cluster = Default
    tc_user = thinclient@internal
    ip_addresses = "192.0.2.${{suffix}}"
    ip_addresses_suffix = 11
    netmask_suffix = 24
    default_gateway = 192.0.2.1
    snapshot_description = "rollout ${{ip}}"
    reset_to_snapshot_regex = "rollout .*"
    [[pcs]]
    ids = "1-2"
    names = "win-pc${{id}}"
    template_name = tmpl-win10
    autounattend_templatefile = answer.xml.j2
        [[[vars]]]
        domain = school.example

[room lin]
    stateless = True
    tc_user = thinclient@internal
    [[pcs]]
    ids = "1"
    names = "lin-pc${{id}}"
    template_name = tmpl-win10
    cloud_init_user_data = user-data.j2

[room broken]
    [[pcs]]
    ids = "1"
    names = "broken-pc${{id}}"
    template_name = tmpl-win10
    {broken_key} = {broken_file}
"""




@pytest.fixture
def site(fast_polls, tmp_path):
    engine = make_engine()
    password_file(tmp_path, engine.password, mode=None)
    (tmp_path / "answer.xml.j2").write_text(ANSWER_FILE)
    (tmp_path / "user-data.j2").write_text(USER_DATA)
    yield Site(engine, tmp_path)
    engine.stop()


class Site:
    def __init__(self, engine, tmp_path):
        self.engine = engine
        self.tmp_path = tmp_path

    def config(self, timeout=30, broken_key="cloud_init_user_data",
               broken_file="missing.j2"):
        path = self.tmp_path / "vdi.conf"
        secret = self.tmp_path / "engine.pass"
        path.write_text(CONFIG.format(connect=connect_ini(self.engine, password_file=secret),
                                      timeout=timeout, broken_key=broken_key,
                                      broken_file=broken_file))
        return str(path)

    def vdictl(self, *args, **config):
        result = CliRunner().invoke(cli, ["--config", self.config(**config), *args],
                                    catch_exceptions=False)
        return result

    def rollout(self, *rooms, **config):
        result = self.vdictl("virtroom-rollout", *rooms, "-o", "json", **config)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    def starts(self, name):
        return [s for s in self.engine.starts if s.vm == name]


def expected_answer(n):
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="utf-8"?>
        <unattend xmlns="urn:schemas-microsoft-com:unattend">
          <settings pass="specialize">
            <ComputerName>win-pc0{n}</ComputerName>
            <Ip>192.0.2.{10 + n}/24 via 192.0.2.1</Ip>
            <JoinDomain>school.example</JoinDomain>
          </settings>
        </unattend>
        """)


def test_windows_vms_get_their_answer_file_via_sysprep_then_role_then_snapshot(site):
    code, results = site.rollout("win")
    assert code == 0, results
    for n in (1, 2):
        name = f"win-pc0{n}"
        (start,) = site.starts(name)
        assert start.use_sysprep and not start.use_cloud_init
        assert start.initialization["custom_script"] == expected_answer(n)
        assert start.initialization["host_name"] == name
        vm = site.engine.vm(name)
        assert vm.status == "down"
        assert vm.comment.endswith(";phase=post-processed")
        assert [(p.role, p.user) for p in vm.permissions] == [
            ("UserRole", "thinclient@internal")]
        assert [s.description for s in vm.snapshots if s.type != "active"] == [
            f"rollout 192.0.2.{10 + n}"]
        # the thin-client user gets the VM only after its first boot
        log = site.engine.request_log
        vm_path = f"/vms/{vm.id}/"
        start_at = next(i for i, (m, p) in enumerate(log) if m == "POST"
                        and p.endswith(vm_path + "start"))
        grant_at = next(i for i, (m, p) in enumerate(log) if m == "POST"
                        and p.endswith(vm_path + "permissions"))
        assert start_at < grant_at
        assert results[name]["steps"][1] == \
            "personalise (sysprep) and wait for the guest's power-off"

    show = json.loads(site.vdictl("virtroom-show", "win", "-o", "json").stdout)
    assert {r["vm"]: r["phase"] for r in show["vms"]} == {
        "win-pc01": "snapshot taken", "win-pc02": "snapshot taken"}

    # a rerun does nothing twice
    code, results = site.rollout("win")
    assert code == 0
    assert len(site.engine.starts) == 2
    assert results["win-pc01"]["steps"] == ["already exists", "snapshot already taken"]


def test_linux_stateless_vm_gets_user_data_via_cloud_init_and_becomes_stateless_after(site):
    code, results = site.rollout("lin")
    assert code == 0, results
    (start,) = site.starts("lin-pc01")
    assert start.use_cloud_init and not start.use_sysprep
    assert start.initialization["custom_script"] == (
        '#cloud-config\nhostname: lin-pc01\nruncmd:\n'
        '  - echo "$HOME lin-01" > /etc/motd\n')
    vm = site.engine.vm("lin-pc01")
    assert vm.stateless and vm.status == "down"
    assert [s for s in vm.snapshots if s.type != "active"] == []
    # stateless was switched on after the first boot, not at creation
    log = site.engine.request_log
    start_at = next(i for i, (m, p) in enumerate(log) if p.endswith("/start"))
    assert any(m == "PUT" and p.endswith(f"/vms/{vm.id}") for m, p in log[start_at:])


def test_a_rerun_continues_after_an_interrupted_first_boot(site):
    site.engine.first_boot_hangs.add("win-pc02")
    code, results = site.rollout("win", timeout=2)
    assert code != 0
    assert results["win-pc01"]["outcome"] == "ok"
    assert results["win-pc02"]["outcome"] == "failed"
    assert "power itself off after sysprep" in results["win-pc02"]["reason"]
    assert site.engine.vm("win-pc02").comment.endswith(";phase=personalising")
    show = json.loads(site.vdictl("virtroom-show", "win", "-o", "json").stdout)
    assert {r["vm"]: r["phase"] for r in show["vms"]}["win-pc02"] == "personalising"

    # the guest finishes later; the rerun does not boot it with the payload again
    site.engine.set_vm_status("win-pc02", "down")
    code, results = site.rollout("win")
    assert code == 0, results
    assert len(site.starts("win-pc02")) == 1
    assert results["win-pc02"]["steps"] == [
        "already exists", "the guest powered itself off after its first boot", "post-process",
        "take snapshot"]
    vm = site.engine.vm("win-pc02")
    assert vm.comment.endswith(";phase=post-processed") and len(vm.snapshots) == 2


@pytest.mark.parametrize("key, content, message", [
    ("cloud_init_user_data", None, "missing.j2 [room broken/pcs] cloud_init_user_data: VM broken-pc01: cannot read the file"),
    ("cloud_init_user_data", "#cloud-config\n{% if %}\n",
     "bad.j2:2 [room broken/pcs] cloud_init_user_data: VM broken-pc01: syntax error"),
    ("cloud_init_user_data", "#cloud-config\nruncmd: {{ nosuchvar }}\n",
     "bad.j2:2 [room broken/pcs] cloud_init_user_data: VM broken-pc01: undefined: "
     "'nosuchvar' is undefined"),
    ("cloud_init_user_data", "packages: [git]\n",
     "user-data without the #cloud-config header (line 1 of the rendered text)"),
    ("cloud_init_user_data", "#cloud-config\nruncmd: [a\nb: c\n",
     "renders to invalid YAML (line 3 of the rendered text)"),
    ("autounattend_templatefile", "<unattend><settings></unattend>\n",
     "renders to invalid XML (line 1 of the rendered text): mismatched tag"),
])
def test_bad_input_fails_only_its_room_before_anything_is_created(site, key, content, message):
    broken_file = "missing.j2"
    if content is not None:
        (site.tmp_path / "bad.j2").write_text(content)
        broken_file = "bad.j2"
    code, results = site.rollout("broken", "lin", broken_key=key, broken_file=broken_file)
    assert code != 0
    assert results["lin-pc01"]["outcome"] == "ok"
    reason = results["broken-pc01"]["reason"]
    assert reason.startswith("room broken not rolled out, nothing created: ")
    assert message in reason and "VM broken-pc01" in reason
    assert "\n" not in reason
    assert not site.engine.has_vm("broken-pc01")
