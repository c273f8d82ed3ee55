# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixture ``libvirt_sandbox``: a private libvirtd with real QEMU (TCG).

Session-scoped.  It runs ``scripts/libvirt-sandbox up`` on a fresh temporary
directory and ``down --purge`` at the end of the session, or, if
``$VDICTL_SANDBOX_URI`` is set, uses that libvirt (no start/stop; the pool
``$VDICTL_SANDBOX_POOL``, default "vdictl", must exist).

If libvirtd, QEMU, virsh, unshare, libvirt-python or root are missing, the
tests using it are skipped -- unless ``$CI`` is set (and not "false"/"0"),
then they fail: CI has to really run them.

Tests that use the fixture get the ``libvirt_sandbox`` marker automatically,
so ``pytest -m "not libvirt_sandbox"`` runs everything else.

The fixture's value is a :class:`LibvirtSandbox`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from xml.sax.saxutils import escape, quoteattr

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANDBOX_SCRIPT = os.path.join(REPO, "scripts", "libvirt-sandbox")
POOL = "vdictl"
MARKER = "libvirt_sandbox"


def _load_guest_image():
    path = os.path.join(REPO, "scripts", "guest_image.py")
    spec = importlib.util.spec_from_file_location("vdictl_guest_image", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vdictl_guest_image", mod)
    spec.loader.exec_module(mod)
    return mod


guest_image = _load_guest_image()
build_guest_image = guest_image.build_guest_image
read_boot_count = guest_image.read_boot_count
READY_ADDR = guest_image.READY_ADDR
READY_MARK = guest_image.READY_MARK  # {"acpi": b"VDI1", "deaf": b"VDI0"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def mac_for(name: str) -> str:
    """A stable locally administered MAC (QEMU's 52:54:00 prefix) for ``name``."""
    h = hashlib.sha256(name.encode()).digest()
    return "52:54:00:%02x:%02x:%02x" % (h[0], h[1], h[2])


def domain_xml(name: str, disk_path: str, *, memory_mib: int = 32, nic: bool = True,
               serial_log: str | None = None, transient: bool = False,
               disk_bus: str = "virtio", graphics: str | None = None) -> str:
    """XML of a small TCG domain (machine ``pc``) booting the qcow2 ``disk_path``.

    ``nic`` adds ``<interface type='user'>`` (virtio, MAC from :func:`mac_for`).
    ``serial_log`` sends the guest's serial port to that file (the guest prints
    "vdictl-guest up (<variant>)").  ``transient`` adds
    ``<transient shareBacking='yes'/>`` to the disk (needs a virtio/scsi bus).
    ``graphics`` ("vnc" or "spice") adds that display, listening on 127.0.0.1
    on a port libvirt picks (read it from the live XML).
    """
    nic_xml = (f"<interface type='user'><mac address='{mac_for(name)}'/>"
               "<model type='virtio'/></interface>" if nic else "")
    serial_xml = (f"<serial type='file'><source path={quoteattr(serial_log)}/></serial>"
                  if serial_log else "")
    graphics_xml = (f"<graphics type={quoteattr(graphics)} port='-1' autoport='yes' "
                    "listen='127.0.0.1'/>" if graphics else "")
    target = "vda" if disk_bus == "virtio" else "sda" if disk_bus in ("scsi", "sata") else "hda"
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{int(memory_mib)}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file={quoteattr(disk_path)}/>
      <target dev='{target}' bus='{disk_bus}'/>
      {"<transient shareBacking='yes'/>" if transient else ""}
    </disk>
    {nic_xml}
    {serial_xml}
    {graphics_xml}
    <memballoon model='none'/>
  </devices>
</domain>
"""


class LibvirtSandbox:
    """Handle on a running sandbox.

    Attributes: ``uri`` (libvirt URI), ``pool`` (storage pool name, "vdictl"),
    ``images_dir`` (the pool's target directory), ``dir`` (sandbox directory,
    None when reusing ``$VDICTL_SANDBOX_URI``), ``conn`` (a shared
    libvirt-python connection, opened on first use).
    """

    def __init__(self, uri: str, pool: str = POOL, directory: str | None = None):
        import libvirt

        self._libvirt = libvirt
        self.uri = uri
        self.pool = pool
        self.dir = directory
        self._conn = None
        import xml.etree.ElementTree as ET

        self.images_dir = ET.fromstring(self._pool_obj().XMLDesc(0)).findtext("./target/path")

    # -- connections ---------------------------------------------------------------
    @property
    def conn(self):
        if self._conn is None or not self._conn.isAlive():
            self._conn = self._libvirt.open(self.uri)
        return self._conn

    def connect(self):
        """A new libvirt connection (the caller closes it)."""
        return self._libvirt.open(self.uri)

    def _pool_obj(self):
        pool = self.conn.storagePoolLookupByName(self.pool)
        if not pool.isActive():
            pool.create(0)
        return pool

    # -- templates -------------------------------------------------------------------
    def upload_guest_volume(self, vol_name: str, variant: str = "acpi") -> str:
        """Build the guest image and upload it as volume ``vol_name`` of the pool.

        Uses the storage-volume API (create + stream upload), so it also works
        for a sandbox on another host.  An existing volume of that name is
        replaced.  Returns the volume's path.
        """
        pool = self._pool_obj()
        pool.refresh(0)
        if vol_name in pool.listVolumes():
            pool.storageVolLookupByName(vol_name).delete(0)
        with tempfile.TemporaryDirectory(prefix="vdictl-guest-") as tmp:
            local = build_guest_image(os.path.join(tmp, "guest.qcow2"), variant)
            size = os.path.getsize(local)
            vol = pool.createXML(
                f"<volume><name>{escape(vol_name)}</name>"
                f"<capacity unit='bytes'>{guest_image.DEFAULT_SIZE}</capacity>"
                "<target><format type='qcow2'/></target></volume>", 0)
            stream = self.conn.newStream(0)
            try:
                vol.upload(stream, 0, size, 0)
                with open(local, "rb") as f:
                    stream.sendAll(lambda _st, nbytes, fh: fh.read(nbytes), f)
                stream.finish()
            except Exception:
                with contextlib.suppress(Exception):
                    stream.abort()
                raise
        pool.refresh(0)
        return pool.storageVolLookupByName(vol_name).path()

    def make_template(self, name: str, variant: str = "acpi", **xml_options) -> str:
        """Build the ``variant`` guest ("acpi" or "deaf") into volume
        ``<name>.qcow2`` of the pool and define a shut-off domain ``name`` on it.

        An existing domain of that name is destroyed and undefined first.
        ``xml_options`` go to :func:`domain_xml`.  Returns the domain name.
        """
        self.remove_domain(name)
        path = self.upload_guest_volume(f"{name}.qcow2", variant)
        self.conn.defineXML(domain_xml(name, path, **xml_options))
        return name

    def remove_domain(self, name: str, delete_volumes: bool = False) -> None:
        """Destroy and undefine domain ``name`` (with snapshot metadata) if it
        exists; with ``delete_volumes`` also delete its file disks."""
        libvirt = self._libvirt
        doms = [d for d in self.conn.listAllDomains(0) if d.name() == name]
        if not doms:
            return
        dom = doms[0]
        disks = []
        if delete_volumes:
            import xml.etree.ElementTree as ET
            root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            disks = [s.get("file") for s in root.findall("./devices/disk/source") if s.get("file")]
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                          | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                          | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        for path in disks:
            with contextlib.suppress(libvirt.libvirtError):
                self.conn.storageVolLookupByPath(path).delete(0)

    # -- guest helpers ---------------------------------------------------------------
    def is_ready(self, dom, variant: str = "acpi") -> bool:
        """True once the guest stored its readiness mark (acpi: it now answers
        the power button).  ``dom`` is a virDomain or a name."""
        if isinstance(dom, str):
            dom = self.conn.lookupByName(dom)
        if not dom.isActive():
            return False
        mark = dom.memoryPeek(READY_ADDR, 4, self._libvirt.VIR_MEMORY_PHYSICAL)
        return mark == READY_MARK[variant]

    def wait_ready(self, dom, variant: str = "acpi", timeout: float = 30.0) -> None:
        """Wait until :meth:`is_ready`; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.is_ready(dom, variant):
            if time.monotonic() > deadline:
                raise AssertionError(f"guest not ready after {timeout}s")
            time.sleep(0.05)

    def wait_shutoff(self, dom, timeout: float = 10.0) -> bool:
        """Wait until ``dom`` is shut off; return whether it is."""
        if isinstance(dom, str):
            dom = self.conn.lookupByName(dom)
        deadline = time.monotonic() + timeout
        while dom.isActive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def qemu_pid(vm):
    """The pid of the QEMU process running `vm` (found by its -name guest=...), or None."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    args = fh.read().split(b"\0")
            except OSError:
                continue
            if any(a.startswith(f"guest={vm},".encode()) or a == f"guest={vm}".encode()
                   for a in args):
                return int(entry)
    return None


# -- starting and stopping ------------------------------------------------------------

def missing_requirements() -> list:
    """What the sandbox needs and this machine lacks (empty list: all there)."""
    missing = []
    for tool, pkg in (("libvirtd", "libvirt-daemon"), ("virsh", "libvirt-clients"),
                      ("qemu-system-x86_64", "qemu-system-x86"), ("qemu-img", "qemu-utils"),
                      ("unshare", "util-linux")):
        if not (shutil.which(tool) or any(os.access(os.path.join(d, tool), os.X_OK)
                                          for d in ("/usr/sbin", "/sbin"))):
            missing.append(f"{tool} ({pkg})")
    if importlib.util.find_spec("libvirt") is None:
        missing.append("libvirt-python (pip install -e '.[libvirt]')")
    if os.geteuid() != 0:
        missing.append("root privileges")
    return missing


@contextlib.contextmanager
def _adopting_orphans():
    """Make this process a child subreaper while the body runs.

    ``libvirt-sandbox up`` leaves its wrapper process behind when it exits;
    with this, the wrapper becomes our child (instead of PID 1's, which on
    some machines never reaps) and we can reap it after ``down``.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    ok = libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    try:
        yield
    finally:
        if ok:
            libc.prctl(36, 0, 0, 0, 0)


def _run_script(*args, timeout=180):
    env = dict(os.environ)
    env.pop("VDICTL_SANDBOX_DIR", None)
    return subprocess.run([sys.executable, SANDBOX_SCRIPT, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=env)


def start_sandbox(directory: str) -> LibvirtSandbox:
    with _adopting_orphans():
        res = _run_script("up", directory)
    if res.returncode != 0:
        raise RuntimeError(f"libvirt-sandbox up failed ({res.returncode}):\n{res.stderr}")
    return LibvirtSandbox(res.stdout.strip(), POOL, directory)


def stop_sandbox(directory: str, purge: bool = True) -> None:
    import json

    try:
        with open(os.path.join(directory, "sandbox.json")) as f:
            wrapper = json.load(f).get("wrapper_pid")
    except (OSError, ValueError):
        wrapper = None
    res = _run_script("down", directory, *(["--purge"] if purge else []))
    if wrapper:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(wrapper, os.WNOHANG)  # reap it if it is our (adopted) child
    if res.returncode != 0:
        raise RuntimeError(f"libvirt-sandbox down failed ({res.returncode}):\n{res.stderr}")


def require_sandbox_requirements() -> None:
    """Skip (or, under CI, fail) the calling test/fixture if the sandbox
    cannot run on this machine."""
    missing = missing_requirements()
    if missing:
        reason = "libvirt sandbox unavailable, missing: " + ", ".join(missing)
        if in_ci():
            pytest.fail(reason + " (CI is set, so this is an error; run scripts/install-deps)",
                        pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def libvirt_sandbox():
    """The running sandbox (a :class:`LibvirtSandbox`), for the whole session."""
    uri = os.environ.get("VDICTL_SANDBOX_URI")
    if uri:
        if importlib.util.find_spec("libvirt") is None:
            msg = "VDICTL_SANDBOX_URI is set but libvirt-python is not installed"
            if in_ci():
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
        yield LibvirtSandbox(uri, os.environ.get("VDICTL_SANDBOX_POOL", POOL))
        return
    require_sandbox_requirements()
    # short path: unix socket paths are limited to 107 bytes
    directory = tempfile.mkdtemp(prefix="vdictl-sandbox-")
    try:
        sandbox = start_sandbox(directory)
    except Exception:
        with contextlib.suppress(Exception):
            stop_sandbox(directory, purge=not in_ci())  # keep logs for CI artifacts
        raise
    try:
        yield sandbox
    finally:
        if sandbox._conn is not None:
            with contextlib.suppress(Exception):
                sandbox._conn.close()
        stop_sandbox(directory, purge=True)


def daemon_pid(directory: str) -> int:
    """The pid of the libvirtd of the sandbox in ``directory`` (to kill or freeze it)."""
    import json

    with open(os.path.join(directory, "sandbox.json")) as f:
        return int(json.load(f)["libvirtd_pid"])


@pytest.fixture(scope="session")
def libvirt_sandbox_b():
    """A second private libvirtd (another "host"), for tests with two endpoints.
    Always started here, in a directory of its own (tests may kill, freeze and
    restart it: ``daemon_pid(sb.dir)``, ``start_sandbox(sb.dir)``)."""
    require_sandbox_requirements()
    directory = tempfile.mkdtemp(prefix="vdictl-sandbox-b-")
    try:
        sandbox = start_sandbox(directory)
    except Exception:
        with contextlib.suppress(Exception):
            stop_sandbox(directory, purge=not in_ci())
        raise
    try:
        yield sandbox
    finally:
        if sandbox._conn is not None:
            with contextlib.suppress(Exception):
                sandbox._conn.close()
        with contextlib.suppress(ProcessLookupError, OSError, ValueError, KeyError):
            os.kill(daemon_pid(directory), signal.SIGCONT)  # a test that failed while frozen
        stop_sandbox(directory, purge=True)


def pytest_configure(config):
    # also declared in pyproject.toml; repeated so the plugin works on its own
    if any(line.split(":", 1)[0].strip() == MARKER for line in config.getini("markers")):
        return
    config.addinivalue_line(
        "markers", f"{MARKER}: needs the private libvirtd of scripts/libvirt-sandbox (real QEMU)")


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """Give every test that uses the fixture the ``libvirt_sandbox`` marker."""
    for item in items:
        uses = set(getattr(item, "fixturenames", ()))
        if uses & {MARKER, "libvirt_sandbox_b"} and not item.get_closest_marker(MARKER):
            item.add_marker(MARKER)
