"""A room on a remote hypervisor: real QEMU behind libvirt's ssh transport.

The session's sandbox libvirtd (tests/sandbox.py) is reached only through
``qemu+ssh://root@127.0.0.1:PORT/system?socket=…&keyfile=…`` and the session's
own sshd (tests/sshd.py), as an admin host reaches its KVM hosts. Every
vdictl command below goes over ssh; the test looks behind it through the
sandbox's local connection. Room `sshr` has two desks and one kiosk whose
first-boot seed image goes up through the storage API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from vdictl.cli import cli

from tests.sandbox import read_boot_count

pytestmark = pytest.mark.libvirt_sandbox

DESKS = ["sshr-desk01", "sshr-desk02"]
KIOSK = "sshr-kiosk01"
ALL_VMS = DESKS + [KIOSK]
TEMPLATE = "sshr-tmpl"
TEMPLATE_SELFOFF = "sshr-tmpl-selfoff"

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"
    [[throttle]]
    snapshot_batch_size = {batch}
    snapshot_batch_pause = {pause}
    parallel = 2
    shutdown_timeout = 5
    operation_timeout = 60

[room sshr]
    memory = 32MiB
    ip_addresses = "192.0.2.${{suffix}}"
    netmask_suffix = 24
    snapshot_description = "vdictl rollout IP=${{ip}}"
    reset_to_snapshot_regex = "vdictl rollout .*"
    [[desks]]
    ids = "1-2"
    names = "${{roomname}}-desk${{id}}"
    ip_addresses_suffix = 60
    template_name = sshr-tmpl
    reset_startvm = Always
    [[kiosk]]
    ids = "1"
    names = "${{roomname}}-kiosk${{id}}"
    ip_addresses_suffix = 70
    template_name = sshr-tmpl-selfoff
    cloud_init_user_data = user-data.j2
    reset_startvm = Never
"""

USER_DATA = "#cloud-config\nhostname: {{ name }}\n"


class RemoteSite:
    """The room's config (URI over ssh) and the sandbox behind it."""

    def __init__(self, sandbox, sshd, tmp_path):
        self.sandbox = sandbox
        self.sshd = sshd
        self.uri = sshd.libvirt_uri(sandbox.uri)
        (tmp_path / "user-data.j2").write_text(USER_DATA)
        self.config = tmp_path / "vdi.conf"
        self.config.write_text(CONFIG.format(uri=self.uri, batch=2, pause=0))
        #: one VM per snapshot batch, 3 s apart: a run long enough to interrupt
        self.slow_config = tmp_path / "vdi-slow.conf"
        self.slow_config.write_text(CONFIG.format(uri=self.uri, batch=1, pause=3))

    def vdictl(self, *args, options=()):
        return CliRunner().invoke(cli, [*options, "--config", str(self.config), *args],
                                  catch_exceptions=False)

    def report(self, *args):
        result = self.vdictl(*args, "-o", "json")
        data = json.loads(result.stdout)
        assert "results" in data, result.output
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    def dom(self, name):
        return self.sandbox.conn.lookupByName(name)

    def domains(self):
        return sorted(d.name() for d in self.sandbox.conn.listAllDomains()
                      if d.name().startswith("sshr-"))

    def running(self):
        return sorted(d.name() for d in self.sandbox.conn.listAllDomains()
                      if d.isActive() and d.name().startswith("sshr-"))

    def volumes(self):
        pool = self.sandbox.conn.storagePoolLookupByName(self.sandbox.pool)
        pool.refresh(0)
        return sorted(v for v in pool.listVolumes() if v.startswith("sshr-"))

    def disk(self, name):
        return f"{self.sandbox.images_dir}/{name}-vda.qcow2"

    def stop_all(self):
        for dom in self.sandbox.conn.listAllDomains():
            if dom.isActive() and dom.name().startswith("sshr-"):
                dom.destroy()


@pytest.fixture(scope="module")
def site(libvirt_sandbox, sshd, tmp_path_factory):
    libvirt_sandbox.make_template(TEMPLATE, "acpi")
    libvirt_sandbox.make_template(TEMPLATE_SELFOFF, "selfoff")
    s = RemoteSite(libvirt_sandbox, sshd, tmp_path_factory.mktemp("ssh-room"))
    yield s
    s.stop_all()
    s.vdictl("virtroom-delete", "--yes", "sshr")
    for name in s.domains():
        libvirt_sandbox.remove_domain(name, delete_volumes=True)


def test_rollout_over_ssh_clones_personalises_and_snapshots(site):
    code, results = site.report("virtroom-rollout", "sshr")
    assert code == 0, results
    assert "Accepted publickey for root from 127.0.0.1" in site.sshd.log_text()
    assert {r["outcome"] for r in results.values()} == {"ok"}
    assert results[KIOSK]["steps"] == [
        f"create from {TEMPLATE_SELFOFF}",
        "personalise (cloud-init) and wait for the guest's power-off",
        "post-process", "take snapshot"]
    assert site.domains() == sorted(ALL_VMS + [TEMPLATE, TEMPLATE_SELFOFF])
    for name in ALL_VMS:
        assert len(site.dom(name).listAllSnapshots()) == 1
    # the seed image went up over ssh and is gone again; the kiosk booted once
    assert site.volumes() == sorted(f"{n}-vda.qcow2" for n in ALL_VMS) + [
        f"{TEMPLATE_SELFOFF}.qcow2", f"{TEMPLATE}.qcow2"]
    assert read_boot_count(site.disk(KIOSK)) == 1
    assert site.running() == []


def test_show_over_ssh_names_every_vm_and_its_snapshot(site):
    result = site.vdictl("virtroom-show", "sshr", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = {row["vm"]: row for row in json.loads(result.stdout)["vms"]}
    assert sorted(rows) == sorted(ALL_VMS)
    assert rows["sshr-desk02"]["ip"] == "192.0.2.61"
    assert rows[KIOSK]["reset_snapshot"] == "vdictl rollout IP=192.0.2.70"
    assert {row["owned"] for row in rows.values()} == {True}


def test_reset_over_ssh_restores_the_snapshot_and_starts_per_reset_startvm(site):
    for _ in range(2):  # the second reset powers the running desks off first
        code, results = site.report("virtroom-reset", "sshr")
        assert code == 0, results
        assert {r["outcome"] for r in results.values()} == {"ok"}
        assert site.running() == DESKS
    for name in DESKS:
        site.sandbox.wait_ready(name)
    code, results = site.report("virtroom-shutdown", "sshr")
    assert code == 0, results
    assert [results[n]["steps"] for n in DESKS] == [["shut down"]] * 2
    assert site.running() == []
    # restored before each start: one boot since the snapshot, not two
    assert [read_boot_count(site.disk(n)) for n in DESKS] == [1, 1]
    assert read_boot_count(site.disk(KIOSK)) == 1


def test_template_create_seal_over_ssh_is_refused_before_anything_is_copied(site):
    before = (site.domains(), site.volumes())
    result = site.vdictl("template-create", TEMPLATE, "sshr-gold", "--seal")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: libvirt: sshr-gold: --seal is refused on the remote hypervisor {site.uri}: "
        "virt-sysprep opens the disk copies as files, and they are not on this machine; "
        "run template-create --seal on the hypervisor itself (uri = qemu:///system), or "
        "leave out --seal and run virt-sysprep -d sshr-gold there before any room uses the "
        "template\n")
    assert (site.domains(), site.volumes()) == before


def test_template_create_and_delete_without_seal_work_over_ssh(site):
    result = site.vdictl("template-create", TEMPLATE, "sshr-gold", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "status": "success", "action": "template-create", "template": "sshr-gold",
        "source": TEMPLATE, "sealed": False, "left": []}
    assert "sshr-gold-vda.qcow2" in site.volumes()
    assert not site.dom("sshr-gold").isActive()
    result = site.vdictl("template-delete", "--yes", "sshr-gold")
    assert result.exit_code == 0, result.output
    assert "sshr-gold" not in site.domains()
    assert "sshr-gold-vda.qcow2" not in site.volumes()


def test_a_refused_key_is_one_line_naming_the_uri(site):
    wrong_key = site.sshd.libvirt_uri(site.sandbox.uri, key=f"{site.sshd.dir}/host_key")
    result = site.vdictl("virtroom-show", "sshr", options=["--uri", wrong_key])
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: libvirt: cannot connect to {wrong_key} (--uri): Cannot recv data: "
        "root@127.0.0.1: Permission denied (publickey).: Connection reset by peer\n")


def test_ctrl_c_also_kills_libvirts_ssh_and_the_reset_still_finishes_what_is_under_way(site):
    """Ctrl-C on a terminal signals the whole foreground process group, so the
    ssh that libvirt started gets SIGINT too and the connection drops. The VMs
    under way finish anyway: their calls reconnect (a new ssh) and go on."""
    code, _ = site.report("virtroom-start", "sshr", "--vm", DESKS[0], "--vm", DESKS[1])
    assert code == 0
    for name in DESKS:
        site.sandbox.wait_ready(name)
    assert site.running() == DESKS
    logins = site.sshd.log_text().count("Accepted publickey")
    env = dict(os.environ, VDICTL_SYSLOG="off")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from vdictl.cli import main; main()", "--config",
         str(site.slow_config), "virtroom-reset", "sshr", "-o", "json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, start_new_session=True)   # its own process group, as on a terminal
    try:
        deadline = time.monotonic() + 30
        while site.running() == DESKS and time.monotonic() < deadline:
            time.sleep(0.05)   # until the reset powered the first desk off
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    outcomes = {r["vm"]: r["outcome"] for r in json.loads(out)["results"]}
    assert set(outcomes.values()) <= {"ok", "not-started"}, outcomes
    assert "ok" in [outcomes[n] for n in DESKS], outcomes
    assert site.running() == DESKS   # the desk under way was started again, the other untouched
    assert site.sshd.log_text().count("Accepted publickey") - logins >= 2   # it reconnected


def test_delete_over_ssh_removes_the_vms_and_their_disks(site):
    code, results = site.report("virtroom-delete", "--yes", "sshr")
    assert code == 0, results
    assert site.domains() == [TEMPLATE, TEMPLATE_SELFOFF]
    assert site.volumes() == [f"{TEMPLATE_SELFOFF}.qcow2", f"{TEMPLATE}.qcow2"]
