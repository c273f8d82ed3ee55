# SPDX-License-Identifier: GPL-3.0-or-later
"""The test infrastructure itself: the tiny guest image, plain QEMU, and the
private libvirtd of scripts/libvirt-sandbox (fixture ``libvirt_sandbox``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from tests.sandbox import (READY_MARK, SANDBOX_SCRIPT, build_guest_image, domain_xml,
                           guest_image, in_ci, read_boot_count, require_sandbox_requirements,
                           start_sandbox, stop_sandbox)

QEMU = shutil.which("qemu-system-x86_64")


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the guest image (no QEMU needed beyond qemu-img) ----------------------------------

@pytest.mark.parametrize("variant", guest_image.VARIANTS)
def test_boot_sector_is_a_valid_512_byte_mbr(variant):
    sector = guest_image.boot_sector(variant)
    assert len(sector) == 512
    assert sector[510:] == b"\x55\xaa"
    assert f"{guest_image.BANNER} ({variant})".encode() in sector
    assert READY_MARK[variant] in sector


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="unknown guest variant"):
        guest_image.boot_sector("chatty")


def _need_qemu_img():
    if not shutil.which("qemu-img"):
        if in_ci():
            pytest.fail("qemu-img missing (qemu-utils); run scripts/install-deps")
        pytest.skip("qemu-img missing (qemu-utils)")


def test_build_guest_image_qcow2_and_raw(tmp_path):
    _need_qemu_img()
    q = build_guest_image(tmp_path / "g.qcow2", "deaf")
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", q], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == guest_image.DEFAULT_SIZE
    assert read_boot_count(q) == 0
    r = build_guest_image(tmp_path / "g.raw", fmt="raw")
    with open(r, "rb") as f:
        assert f.read(512) == guest_image.boot_sector("acpi")
    assert read_boot_count(r, "raw") == 0
    assert sorted(os.listdir(tmp_path)) == ["g.qcow2", "g.raw"]  # no temp files left


def test_build_guest_image_cli(tmp_path):
    _need_qemu_img()
    out = tmp_path / "cli.qcow2"
    script = os.path.join(os.path.dirname(SANDBOX_SCRIPT), "build-guest-image")
    subprocess.run([sys.executable, script, str(out), "--deaf"], check=True)
    res = subprocess.run([sys.executable, script, "--count", str(out)], check=True,
                         capture_output=True, text=True)
    assert res.stdout.strip() == "0"


# -- plain QEMU with QMP ----------------------------------------------------------------

class _Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "return" in reply or "error" in reply:
                return reply

    def peek_ready_mark(self):
        out = self.cmd("human-monitor-command",
                       **{"command-line": f"xp /4bx {guest_image.READY_ADDR:#x}"})["return"]
        return bytes(int(tok, 16) for tok in out.split(":", 1)[1].split())

    def close(self):
        self.sock.close()


def test_plain_qemu_selfoff_guest_powers_itself_off(tmp_path):
    """selfoff: QEMU exits on its own after one boot, as after sysprep."""
    if not QEMU:
        if in_ci():
            pytest.fail("qemu-system-x86_64 missing; run scripts/install-deps")
        pytest.skip("qemu-system-x86_64 missing")
    img = build_guest_image(tmp_path / "g.qcow2", "selfoff")
    serial = tmp_path / "serial.log"
    proc = subprocess.run(
        [QEMU, "-machine", "pc", "-accel", "tcg", "-m", "32", "-nodefaults", "-display", "none",
         "-serial", f"file:{serial}", "-drive", f"file={img},format=qcow2,if=ide"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
    assert serial.read_text().startswith("vdictl-guest up (selfoff)")
    assert read_boot_count(img) == 1


@pytest.mark.parametrize("variant", ("acpi", "deaf"))
def test_plain_qemu_system_powerdown(tmp_path, variant):
    """acpi: QMP system_powerdown makes QEMU exit within 2 s; deaf: it does not."""
    if not QEMU:
        if in_ci():
            pytest.fail("qemu-system-x86_64 missing; run scripts/install-deps")
        pytest.skip("qemu-system-x86_64 missing")
    img = build_guest_image(tmp_path / "g.qcow2", variant)
    qmp_path = str(tmp_path / "qmp.sock")
    serial = tmp_path / "serial.log"
    proc = subprocess.Popen(
        [QEMU, "-machine", "pc", "-accel", "tcg", "-m", "32", "-nodefaults", "-display", "none",
         "-serial", f"file:{serial}", "-qmp", f"unix:{qmp_path},server=on,wait=off",
         "-drive", f"file={img},format=qcow2,if=ide"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    qmp = None
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(qmp_path):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no QMP socket"
            time.sleep(0.05)
        qmp = _Qmp(qmp_path)
        while qmp.peek_ready_mark() != READY_MARK[variant]:
            assert time.monotonic() < deadline, "guest never became ready"
            time.sleep(0.05)
        qmp.cmd("system_powerdown")
        if variant == "acpi":
            assert proc.wait(timeout=2) == 0
        else:
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=2.5)
            qmp.cmd("quit")
            proc.wait(timeout=10)
    finally:
        if qmp:
            qmp.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert serial.read_text().startswith(f"vdictl-guest up ({variant})")
    assert read_boot_count(img) == 1


# -- the sandbox ----------------------------------------------------------------------

@pytest.mark.libvirt_sandbox
def test_sandbox_is_up(libvirt_sandbox):
    sb = libvirt_sandbox
    conn = sb.conn
    assert conn.getType() == "QEMU"
    assert conn.getLibVersion() >= 7_004_000
    pool = conn.storagePoolLookupByName(sb.pool)
    assert sb.pool == "vdictl" and pool.isActive() and pool.autostart()
    assert os.path.isdir(sb.images_dir)
    if sb.dir is not None:
        assert sb.uri == f"qemu:///system?socket={sb.dir}/run/libvirt-sock"
        assert sb.images_dir == os.path.join(sb.dir, "images")
        for action, expected in (("status", 0), ("uri", 0)):
            res = subprocess.run([sys.executable, SANDBOX_SCRIPT, action, sb.dir],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL)
            assert res.returncode == expected, res.stderr
        assert res.stdout.strip() == sb.uri
        # up again is idempotent and prints only the URI
        res = subprocess.run([sys.executable, SANDBOX_SCRIPT, "up", sb.dir],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        assert res.stdout == sb.uri + "\n"


@pytest.mark.libvirt_sandbox
def test_make_template_defines_a_shut_off_domain_on_a_pool_volume(libvirt_sandbox):
    sb = libvirt_sandbox
    name = sb.make_template(unique("sbx-tpl"))
    try:
        dom = sb.conn.lookupByName(name)
        assert not dom.isActive()
        vol = sb.conn.storagePoolLookupByName(sb.pool).storageVolLookupByName(f"{name}.qcow2")
        assert vol.path() == os.path.join(sb.images_dir, f"{name}.qcow2")
        assert vol.path() in dom.XMLDesc(0)
        assert read_boot_count(vol.path()) == 0
        # making it again replaces domain and volume
        assert sb.make_template(name, variant="deaf") == name
    finally:
        sb.remove_domain(name, delete_volumes=True)


@pytest.mark.libvirt_sandbox
def test_acpi_guest_powers_off_on_shutdown(libvirt_sandbox):
    sb = libvirt_sandbox
    name = unique("sbx-acpi")
    serial = os.path.join(sb.dir, "log", f"{name}.serial") if sb.dir else None
    sb.make_template(name, "acpi", serial_log=serial)
    try:
        dom = sb.conn.lookupByName(name)
        dom.create()
        sb.wait_ready(dom, "acpi")
        dom.shutdown()
        assert sb.wait_shutoff(dom, timeout=15), "acpi guest did not power off"
        path = sb.conn.storagePoolLookupByName(sb.pool).storageVolLookupByName(
            f"{name}.qcow2").path()
        assert read_boot_count(path) == 1
        if serial:
            with open(serial) as f:
                assert f.read().startswith("vdictl-guest up (acpi)")
    finally:
        sb.remove_domain(name, delete_volumes=True)


@pytest.mark.libvirt_sandbox
def test_deaf_guest_ignores_shutdown_and_destroy_is_quick(libvirt_sandbox):
    import libvirt

    sb = libvirt_sandbox
    name = sb.make_template(unique("sbx-deaf"), "deaf")
    try:
        dom = sb.conn.lookupByName(name)
        dom.create()
        sb.wait_ready(dom, "deaf")
        dom.shutdown()
        assert not sb.wait_shutoff(dom, timeout=3), "deaf guest powered off on ACPI"
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        started = time.monotonic()
        dom.destroy()
        elapsed = time.monotonic() - started
        assert not dom.isActive()
        # QEMU is reaped by the subreaper, so this takes ~0.2 s, not 10+ s
        assert elapsed < 8, f"destroy took {elapsed:.1f}s"
    finally:
        sb.remove_domain(name, delete_volumes=True)


@pytest.mark.libvirt_sandbox
def test_transient_share_backing_discards_guest_writes(libvirt_sandbox):
    """libvirt 9.0 + QEMU 7.2: <transient shareBacking='yes'/> works on a
    virtio qcow2 disk; two domains share one base, writes go to
    <base>.TRANSIENT-<domain> overlays which are deleted at power-off."""
    sb = libvirt_sandbox
    if sb.conn.getLibVersion() < 8_010_000:
        pytest.skip("transient shareBacking needs libvirt >= 8.10 (QEMU driver)")
    base = sb.upload_guest_volume(unique("sbx-shared") + ".qcow2")
    names = [unique("sbx-tr"), unique("sbx-tr")]
    try:
        doms = []
        for name in names:
            doms.append(sb.conn.defineXML(domain_xml(name, base, transient=True, nic=False)))
            doms[-1].create()
        for name, dom in zip(names, doms):
            sb.wait_ready(dom)
            scratch = f"{base}.TRANSIENT-{name}"
            assert os.path.exists(scratch)
            assert read_boot_count(scratch) == 1
        assert read_boot_count(base) == 0
        for name, dom in zip(names, doms):
            dom.shutdown()
            assert sb.wait_shutoff(dom, timeout=15)
            assert not os.path.exists(f"{base}.TRANSIENT-{name}")
        assert read_boot_count(base) == 0
    finally:
        for name in names:
            sb.remove_domain(name)
        sb.conn.storageVolLookupByPath(base).delete(0)


def _procs_of(ns, directory):
    """Live processes in mount namespace ``ns`` or mentioning ``directory``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            if stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            in_ns = ns and os.readlink(f"/proc/{entry}/ns/mnt") == ns
        except OSError:
            continue
        if in_ns or directory in cmd:
            found.append((int(entry), cmd))
    return found


@pytest.mark.libvirt_sandbox
def test_down_leaves_no_process_behind():
    """A second, private sandbox: start a domain, then down --purge."""
    require_sandbox_requirements()
    import libvirt

    directory = tempfile.mkdtemp(prefix="vdictl-sbx-down-")
    sb = start_sandbox(directory)
    try:
        with open(os.path.join(directory, "sandbox.json")) as f:
            state = json.load(f)
        ns, wrapper = state["mnt_ns"], state["wrapper_pid"]
        assert ns and ns != os.readlink("/proc/self/ns/mnt")
        name = sb.make_template("running-at-down", "deaf")
        conn = sb.conn
        conn.lookupByName(name).create()
        procs = _procs_of(ns, directory)
        cmds = " | ".join(c for _, c in procs)
        assert "libvirtd" in cmds and "qemu-system-x86_64" in cmds and "subreaper.py" in cmds
        conn.close()
        sb._conn = None
    except BaseException:
        stop_sandbox(directory)
        raise
    stop_sandbox(directory, purge=True)
    assert not os.path.exists(directory)
    assert _procs_of(ns, directory) == []
    # the wrapper was our adopted child and has been reaped, not left a zombie
    assert not os.path.exists(f"/proc/{wrapper}")
    res = subprocess.run([sys.executable, SANDBOX_SCRIPT, "status", directory],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert res.returncode != 0
    with pytest.raises(libvirt.libvirtError):
        libvirt.open(f"qemu:///system?socket={directory}/run/libvirt-sock")
