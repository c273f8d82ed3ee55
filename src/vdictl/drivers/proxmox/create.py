"""Create and delete VMs: a linked clone of the template (a full clone onto
another storage), marked as vdictl's in the clone request itself, then its
memory, a new MAC and the tag in one config change; a VM an earlier run
cloned and did not configure is finished by the next rollout. Each clone of
the run gets a VMID of its own (vmids.py), and another when another client's
clone takes it first."""

from __future__ import annotations

import functools
import logging
from typing import Any, Dict, Optional, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.errors import AlreadyExists, DriverError, NotFound, NotOwned, WrongState
from vdictl.model import CREATING, Owner, Vm

from . import cloudinit, vmids
from .connection import PveConnection, VmRef
from .lookups import disks, storage_of, template_and_config
from .owner_mark import description, parse_owner, tags_with, with_phase
from .records import mac_of, to_vm

log = logging.getLogger(__name__)

#: new VMIDs tried when other processes keep taking the one offered
VMID_ATTEMPTS = 10


def net_without_mac(net: str) -> str:
    """netN of the template without its MAC, so Proxmox VE makes a new one:
    "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0" -> "virtio,bridge=vmbr0"."""
    parts = net.split(",")
    model, sep, value = parts[0].partition("=")
    first = model if sep and mac_of(value) else parts[0]
    rest = [p for p in parts[1:] if not p.startswith("macaddr=")]
    return ",".join([first] + rest)


def clone_params(spec: VmSpec, owner: Owner, template: VmRef,
                 tconfig: Dict[str, Any]) -> Dict[str, Any]:
    """The clone request: linked unless the VMs go to another storage."""
    # the mark is the clone's from its first instant: name and description are
    # written with its config (qemu-server clone_vm), phase=creating until
    # the config change below is made
    params: Dict[str, Any] = dict(name=spec.name, description=description(
        owner, spec.description, CREATING))
    full = bool(spec.storage) and spec.storage != storage_of(tconfig)
    params["full"] = 1 if full else 0
    if full:
        params["storage"] = spec.storage
    if spec.node and spec.node != template.node:
        params["target"] = spec.node
    if spec.pool:
        params["pool"] = spec.pool
    return params


def _post_clone(source: VmRef, newid: int, params: Dict[str, Any], api: Any) -> Any:
    return api.nodes(source.node).qemu(source.vmid).clone.post(newid=newid, **params)


def clone_to_own_vmid(conn: PveConnection, name: str, source: VmRef,
                      params: Dict[str, Any], *, vmid_range: Optional[Tuple[int, int]],
                      timeout: float, what: str = "the clone") -> int:
    """POST `source`'s clone named `name` with a VMID of its own and wait for
    its task; the VMID it got. A VMID another client's clone takes first is
    given up for the next one, up to VMID_ATTEMPTS times."""
    def made() -> Tuple[bool, Any]:
        # an earlier attempt's answer was lost: the clone may exist already
        ref = conn.refs([name]).get(name)
        return (True, None) if ref is not None else (False, None)

    for _ in range(VMID_ATTEMPTS):
        newid = conn.vmids.claim(name, vmid_range)
        try:
            upid = conn.call(functools.partial(_post_clone, source, newid, params), vm=name,
                             before_retry=made)
            conn.wait_task(upid, timeout=timeout, what=what, vm=name)
            return newid
        except DriverError as exc:
            if isinstance(exc, NotFound) or not vmids.lost(exc.message, newid):
                raise
            conn.vmids.lose(newid)
            mine = conn.refs([name]).get(name)
            if mine is not None:  # an attempt whose answer was lost made it after all
                return mine.vmid
            log.info("%s: another client's clone took VMID %d (%s); cloning to another",
                     name, newid, exc.message)
        finally:
            conn.vmids.release(newid)
    raise DriverError(f"no VMID after {VMID_ATTEMPTS} attempts: other clients' clones kept "
                      "taking the VMID offered", driver=conn.driver, vm=name)


def _exists(conn: PveConnection, name: str) -> bool:
    """Whether a VM `name` exists: the run's listing says no, or a new
    listing confirms what an older one says."""
    if not any(e.get("name") == name and not e.get("template") for e in conn.listing()):
        return False
    return bool(conn.refs([name]))


def create_vm(conn: PveConnection, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
    if _exists(conn, spec.name):
        raise AlreadyExists(f"a VM named {spec.name!r} already exists", driver=conn.driver,
                            vm=spec.name)
    template, tconfig = template_and_config(conn, spec)
    params = clone_params(spec, owner, template, tconfig)
    try:
        newid = clone_to_own_vmid(conn, spec.name, template, params,
                                  vmid_range=spec.vmid_range, timeout=timeout)
    except NotFound:
        # the template moved or went since the run listed it: list again, once
        conn.forget_listing()
        template, tconfig = template_and_config(conn, spec)
        params = clone_params(spec, owner, template, tconfig)
        newid = clone_to_own_vmid(conn, spec.name, template, params,
                                  vmid_range=spec.vmid_range, timeout=timeout)
    conn.created(spec.name, params.get("target", template.node), newid)
    log.info("%s: %s clone %d of %s (%d)", spec.name,
             "full" if params["full"] else "linked", newid, template.name, template.vmid)
    return _configure(conn, spec, owner, tconfig)


def finish_create(conn: PveConnection, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
    """The config change of a VM an earlier run cloned and did not configure
    (its mark still says phase=creating). A clone still under way is waited
    for; one its killed task left locked `clone` is named with what to do."""
    ref = conn.ref(spec.name)
    conn.ensure_unlocked(ref, timeout)
    _, tconfig = template_and_config(conn, spec)
    return _configure(conn, spec, owner, tconfig)


def _configure(conn: PveConnection, spec: VmSpec, owner: Owner,
               tconfig: Dict[str, Any]) -> Vm:
    """The clone's one config change: memory, tag, MACs, cloud-init, and the
    mark without phase=creating (before the rollout's snapshot, so a
    rollback keeps it)."""
    ref = conn.ref(spec.name)
    config = conn.config(ref)
    conn.set_config(ref, description=description(owner, spec.description),
                    **own_settings(spec, config, tconfig), **cloudinit.settings(spec, config))
    return to_vm(ref.entry, conn.config(ref), conn.url)


def own_settings(spec: VmSpec, config: Dict[str, Any],
                 tconfig: Dict[str, Any]) -> Dict[str, Any]:
    """What the clone changes of its template's config: memory, the tag, a new
    MAC where the clone kept the template's (Proxmox VE's clone makes new ones;
    a netN without a MAC gets one); stateless (QEMU's snapshot mode) unless a
    first boot comes first."""
    values: Dict[str, Any] = {"tags": tags_with(config.get("tags"))}
    if spec.memory:
        values["memory"] = max(1, spec.memory // (1024 * 1024))
    for key, net in config.items():
        if (key.startswith("net") and key[3:].isdigit() and mac_of(str(net))
                and mac_of(str(net)) == mac_of(str(tconfig.get(key)))):
            values[key] = net_without_mac(str(net))
    if spec.stateless and spec.personalisation is None:
        values.update(stateless_disks(config))
    return values


def stateless_disks(config: Dict[str, Any]) -> Dict[str, str]:
    """Each disk with snapshot=1: writes go to a temporary file QEMU drops at
    power-off (a reboot inside the guest keeps them)."""
    changed = {}
    for key, value in disks(config).items():
        opts = [o for o in value.split(",") if not o.startswith("snapshot=")]
        changed[key] = ",".join(opts + ["snapshot=1"])
    return changed


def get_vm(conn: PveConnection, *, name: str) -> Vm:
    ref = conn.ref(name)
    return to_vm(ref.entry, conn.config(ref), conn.url)


def delete_vm(conn: PveConnection, *, name: str, timeout: float) -> None:
    """Remove the stopped VM with its disks and snapshots."""
    ref = conn.ref(name)
    if parse_owner(conn.config(ref).get("description")) is None:
        raise NotOwned("not created by vdictl (no owner mark in its notes); not deleting it",
                       driver=conn.driver, vm=name)
    if ref.entry.get("status") == "running":
        raise WrongState("VM is running; power it off before deleting it",
                         driver=conn.driver, vm=name)
    conn.ensure_unlocked(ref, timeout)

    def gone() -> Tuple[bool, None]:
        return name not in conn.refs([name]), None

    try:
        conn.run_task(ref, lambda a: a.nodes(ref.node).qemu(ref.vmid).delete(
            purge=1, **{"destroy-unreferenced-disks": 1}), timeout=timeout,
            what="the VM's removal", kind="qmdestroy", before_retry=gone)
    except NotFound:
        pass
    conn.removed(name)


def set_phase(conn: PveConnection, *, name: str, phase: str) -> None:
    ref = conn.ref(name)
    config = conn.config(ref)
    text = config.get("description")
    owner = parse_owner(text)
    if owner is None:
        raise NotOwned("no owner mark to record the phase in", driver=conn.driver, vm=name)
    conn.set_config(ref, description=with_phase(text, owner, phase))
