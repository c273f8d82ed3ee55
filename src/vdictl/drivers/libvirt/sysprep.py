"""Sealing a template's disk copies with virt-sysprep: the one program vdictl
runs (an argument list of disk paths, no shell, no credentials). It opens the
copies as files, so it works only where libvirtd keeps them: on this machine."""

from __future__ import annotations

import logging
import shutil
import subprocess
from typing import List

from vdictl.errors import DriverError, MissingDependency, UsageError

from .errors import DRIVER

log = logging.getLogger(__name__)

SYSPREP = "virt-sysprep"
SYSPREP_MISSING = ("--seal needs virt-sysprep, which is not installed "
                   "(Debian/Ubuntu: apt install libguestfs-tools)")


def refuse_remote(name: str, uri: str) -> UsageError:
    """The one-line refusal of --seal on a remote hypervisor (nothing copied yet)."""
    return UsageError(f"{DRIVER}: {name}: --seal is refused on the remote hypervisor {uri}: "
                      f"{SYSPREP} opens the disk copies as files, and they are not on this "
                      "machine; run template-create --seal on the hypervisor itself "
                      f"(uri = qemu:///system), or leave out --seal and run {SYSPREP} -d "
                      f"{name} there before any room uses the template")


def require_sysprep(name: str) -> None:
    """MissingDependency when virt-sysprep is not on PATH, naming the template."""
    if shutil.which(SYSPREP) is None:
        raise MissingDependency(f"{DRIVER}: {name}: {SYSPREP_MISSING}")


def seal(name: str, paths: List[str], timeout: float) -> None:
    """Seal the copies in one run: a guest's system may span several disks."""
    args = [SYSPREP, "--format", "qcow2"]
    for path in paths:
        args += ["-a", path]
    log.info("%s: sealing: %s", name, " ".join(args))
    try:
        # a fixed program and argument list, no shell; the paths are our own disk copies
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,  # nosec B603
                              check=False)
    except FileNotFoundError:
        raise MissingDependency(f"{DRIVER}: {name}: {SYSPREP_MISSING}") from None
    except subprocess.TimeoutExpired:
        raise DriverError(f"{SYSPREP} did not finish within {timeout:g}s", driver=DRIVER,
                          vm=name) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "").strip().splitlines()
        raise DriverError(f"{SYSPREP} failed (exit {done.returncode}): "
                          f"{lines[-1] if lines else 'no message'}", driver=DRIVER, vm=name)
