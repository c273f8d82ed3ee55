# SPDX-License-Identifier: GPL-3.0-or-later
"""What every action on a guest checks first, as qemu-server does: the lock
file (waited for), the config lock (PVE::AbstractConfig::check_lock), and
parameter formats (pve-vmid, dns-name, pve-configid)."""

from __future__ import annotations

import re
from contextlib import contextmanager

from tests.pve_sim.state.errors import ApiError, TaskFailed, param_error, vm_locked

DNS_NAME = re.compile(r"(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*"
                      r"([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)")
CONFIG_ID = re.compile(r"[a-z][a-z0-9_-]+", re.IGNORECASE)
VMID = re.compile(r"[1-9][0-9]{2,8}")


@contextmanager
def flock(cluster, vmid, timeout=None, shared=False):
    """Hold ``vmid``'s lock file for the block (a task's ``lock_config``)."""
    cluster.flocks.acquire(vmid, cluster.scaled(cluster.lock_wait if timeout is None
                                                else timeout), shared)
    try:
        yield
    finally:
        cluster.flocks.release(vmid, shared)


@contextmanager
def sync_flock(cluster, vmid):
    """The same in a synchronous API call: a timeout is a 500."""
    try:
        cluster.flocks.acquire(vmid, cluster.scaled(cluster.lock_wait))
    except TaskFailed as failed:
        raise ApiError(500, failed.message) from None
    try:
        yield
    finally:
        cluster.flocks.release(vmid)


def check_lock(vm):
    """Task flavour: die "VM is locked (<lock>)"."""
    if vm.lock:
        raise TaskFailed(vm_locked(vm.lock))


def check_lock_sync(vm):
    if vm.lock:
        raise ApiError(500, vm_locked(vm.lock))


def root_only(user, params, *names):
    """skiplock and friends: "Only root may use this option." (400)."""
    for name in names:
        if str(params.get(name, "0")) not in ("", "0") and user != "root@pam":
            raise param_error(**{name: "Only root may use this option."})


def check_vmid(value, param="vmid"):
    if not VMID.fullmatch(str(value)):
        raise param_error(**{param: "invalid format - value does not look like a valid VM ID\n"})
    return int(value)


def check_dns_name(value, param="name"):
    if not DNS_NAME.fullmatch(value):
        raise param_error(**{param: "invalid format - value does not look like a valid "
                                    "DNS name\n"})


def check_snapname(value):
    if len(value) > 40:
        raise param_error(snapname="value may only be 40 characters long")
    if not CONFIG_ID.fullmatch(value):
        raise param_error(snapname="invalid format - invalid configuration ID '%s'\n" % value)


def check_bool(params, name):
    value = str(params.get(name, "0"))
    if value not in ("0", "1", ""):
        raise param_error(**{name: "type check ('boolean') failed - got '%s'" % value})
    return value == "1"
