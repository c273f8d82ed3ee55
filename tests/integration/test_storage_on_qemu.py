"""The storage guard on real QEMU: a dir pool on a small tmpfs, filled on purpose.

The tmpfs is mounted in the mount namespace of the sandbox's libvirtd
(scripts/libvirt-sandbox), so only libvirt sees it; the room's overlays go
there (`pool = stor-small`), the template stays in the sandbox's pool.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess  # nosec B404 - the test mounts a tmpfs in the sandbox's namespace

import pytest
from click.testing import CliRunner

from vdictl.cli import cli

from tests.sandbox import daemon_pid

pytestmark = pytest.mark.libvirt_sandbox

POOL = "stor-small"
TMPFS_SIZE = 16 << 20
VMS = ["stor-vd01", "stor-vd02"]

CONFIG = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"
    pool = {pool}
    [[throttle]]
    min_free_storage = 25%
    operation_timeout = 60

[room stor]
    memory = 32MiB
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "vdictl rollout"
    reset_startvm = Never
    [[vms]]
    ids = "1-2"
    names = "${{roomname}}-vd${{id}}"
    template_name = stor-tmpl
"""


class SmallPool:
    """The pool on the tmpfs, and a filler volume that takes its space."""

    def __init__(self, sandbox, directory):
        self.sandbox = sandbox
        self.directory = directory
        conn = sandbox.conn
        self.pool = conn.storagePoolDefineXML(
            f"<pool type='dir'><name>{POOL}</name><target><path>{directory}</path>"
            "</target></pool>", 0)
        self.pool.create(0)

    def info(self):
        self.pool.refresh(0)
        _, capacity, _, available = self.pool.info()
        return capacity, available

    def fill(self, leave: int) -> None:
        """A preallocated raw volume so that `leave` bytes stay free."""
        self.empty()
        _, available = self.info()
        size = available - leave
        assert size > 0, (available, leave)
        self.pool.createXML(
            f"<volume><name>filler.raw</name><capacity unit='bytes'>{size}</capacity>"
            f"<allocation unit='bytes'>{size}</allocation><target><format type='raw'/>"
            "</target></volume>", 0)
        assert abs(self.info()[1] - leave) < (1 << 20), self.info()

    def empty(self) -> None:
        self.pool.refresh(0)
        if "filler.raw" in self.pool.listVolumes():
            self.pool.storageVolLookupByName("filler.raw").delete(0)

    def volumes(self):
        self.pool.refresh(0)
        return sorted(v for v in self.pool.listVolumes() if v != "filler.raw")


@pytest.fixture(scope="module")
def small(libvirt_sandbox, tmp_path_factory):
    if libvirt_sandbox.dir is None or shutil.which("nsenter") is None:
        pytest.skip("needs a sandbox started here (its libvirtd's mount namespace) and nsenter")
    directory = os.path.join(libvirt_sandbox.dir, "small-pool")
    os.makedirs(directory, exist_ok=True)
    namespace = f"--mount=/proc/{daemon_pid(libvirt_sandbox.dir)}/ns/mnt"
    subprocess.run(["nsenter", namespace, "mount", "-t", "tmpfs", "-o",  # nosec B603 B607
                    f"size={TMPFS_SIZE}", "vdictl-small", directory], check=True)
    libvirt_sandbox.make_template("stor-tmpl", "acpi")
    pool = SmallPool(libvirt_sandbox, directory)
    config = tmp_path_factory.mktemp("storage") / "vdi.conf"
    config.write_text(CONFIG.format(uri=libvirt_sandbox.uri, pool=POOL))
    pool.config = str(config)
    yield pool
    vdictl(pool, "virtroom-delete", "--yes", "stor")
    pool.empty()
    pool.pool.destroy()
    pool.pool.undefine()
    subprocess.run(["nsenter", namespace, "umount", directory], check=False)  # nosec B603 B607
    libvirt_sandbox.remove_domain("stor-tmpl", delete_volumes=True)


def vdictl(pool, *args):
    return CliRunner().invoke(cli, ["--config", pool.config, *args], catch_exceptions=False)


def domains(sandbox):
    return sorted(d.name() for d in sandbox.conn.listAllDomains(0) if d.name() in VMS)


def template_allocation(sandbox) -> int:
    pool = sandbox.conn.storagePoolLookupByName(sandbox.pool)
    return pool.storageVolLookupByName("stor-tmpl.qcow2").info()[2]


def test_pool_space_is_what_libvirt_reports_of_the_tmpfs(small, libvirt_sandbox):
    from vdictl.config.load import load_config
    from vdictl.ops.session import Session

    config = load_config(small.config)
    spec = config.rooms["stor"].vms[0]
    with Session(config) as session:
        driver = session.driver_for(spec)
        spaces = {s.name: s for s in driver.storage_space(specs=[spec])}
        needs = driver.space_needed(spec=spec)
    capacity, available = small.info()
    assert spaces[POOL].total == capacity == TMPFS_SIZE
    assert abs(spaces[POOL].free - available) < (64 << 10)
    assert [(n.storage, n.clone) for n in needs] == [(POOL, template_allocation(libvirt_sandbox))]


def test_refused_rollout_leaves_nothing_and_succeeds_once_space_is_freed(small, libvirt_sandbox):
    need = 2 * template_allocation(libvirt_sandbox)
    floor = TMPFS_SIZE // 4
    small.fill(leave=floor + need // 2)  # enough for one clone, not for two

    refused = vdictl(small, "virtroom-rollout", "stor")
    assert refused.exit_code == 1, refused.output
    lines = [line for line in refused.output.splitlines()
             if line.startswith("note: refused: storage 'stor-small'")]
    assert len(lines) == 1, refused.output
    assert re.search(r"MiB free of 16 MiB \(\d+\.\d%\); the rollout of stor needs about "
                     r"[\d.]+ [KM]iB; min_free_storage = 25%$", lines[0]), lines[0]
    assert refused.output.count("room stor not rolled out, nothing created: storage") == 2
    assert domains(libvirt_sandbox) == [] and small.volumes() == []

    small.empty()
    done = vdictl(small, "virtroom-rollout", "stor")
    assert done.exit_code == 0, done.output
    assert domains(libvirt_sandbox) == VMS
    assert len(small.volumes()) == 2


def test_reset_below_the_line_warns_once_and_goes_on(small, libvirt_sandbox):
    assert vdictl(small, "virtroom-rollout", "stor").exit_code == 0
    small.fill(leave=TMPFS_SIZE // 8)  # 12.5% free, min_free_storage = 25%
    try:
        result = vdictl(small, "virtroom-reset", "stor")
    finally:
        small.empty()
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines()
                if "WARNING" in line and "storage 'stor-small'" in line]
    assert len(warnings) == 1, result.output
    assert "below the line; min_free_storage = 25%; the reset goes on" in warnings[0]


def test_ignore_storage_limit_rolls_out_anyway(small, libvirt_sandbox):
    assert vdictl(small, "virtroom-delete", "--yes", "stor").exit_code == 0
    small.fill(leave=TMPFS_SIZE // 8)
    try:
        refused = vdictl(small, "virtroom-rollout", "stor")
        assert refused.exit_code == 1 and domains(libvirt_sandbox) == []
        result = vdictl(small, "virtroom-rollout", "--ignore-storage-limit", "stor")
    finally:
        small.empty()
    assert result.exit_code == 0, result.output
    assert domains(libvirt_sandbox) == VMS


def test_template_create_is_refused_below_the_line(small, libvirt_sandbox):
    if not domains(libvirt_sandbox):
        assert vdictl(small, "virtroom-rollout", "stor").exit_code == 0
    small.fill(leave=TMPFS_SIZE // 8)
    try:
        refused = vdictl(small, "template-create", "stor-vd01", "stor-golden")
        assert refused.exit_code == 1, refused.output
        assert re.search(r"^Error: refused: storage 'stor-small': [\d.]+ MiB free of 16 MiB "
                         r"\(1\d\.\d%\); the copy of template stor-golden needs about "
                         r"[\d.]+ [KM]iB; min_free_storage = 25%$", refused.output, re.M), \
            refused.output
        assert "stor-golden" not in [d.name() for d in libvirt_sandbox.conn.listAllDomains(0)]
        assert not [v for v in small.volumes() if v.startswith("stor-golden")]
        done = vdictl(small, "template-create", "--ignore-storage-limit", "stor-vd01",
                      "stor-golden")
        assert done.exit_code == 0, done.output
        assert "stor-golden" in [d.name() for d in libvirt_sandbox.conn.listAllDomains(0)]
        assert [v for v in small.volumes() if v.startswith("stor-golden")]  # the copy is here
    finally:
        libvirt_sandbox.remove_domain("stor-golden", delete_volumes=True)
        small.empty()
