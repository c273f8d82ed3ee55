"""Create and delete VMs: a linked clone of the template (a full clone onto
another storage), its memory, a new MAC and the owner mark; VMIDs from
/cluster/nextid, taken one at a time in this process and taken again when
another process got there first."""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.errors import AlreadyExists, DriverError, NotFound, NotOwned, WrongState
from vdictl.model import Owner, Vm

from . import cloudinit
from .connection import PveConnection, VmRef
from .lookups import disks, listed_template, storage_of
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
    params: Dict[str, Any] = dict(name=spec.name, description=description(owner,
                                                                            spec.description))
    full = bool(spec.storage) and spec.storage != storage_of(tconfig)
    params["full"] = 1 if full else 0
    if full:
        params["storage"] = spec.storage
    if spec.node and spec.node != template.node:
        params["target"] = spec.node
    if spec.pool:
        params["pool"] = spec.pool
    return params


def _post_clone(conn: PveConnection, name: str, template: VmRef, newid: int,
                params: Dict[str, Any], made: Callable[[], Tuple[bool, Any]]) -> Optional[str]:
    return conn.call(lambda a: a.nodes(template.node).qemu(template.vmid).clone.post(
        newid=newid, **params), vm=name, before_retry=made)


def _clone(conn: PveConnection, spec: VmSpec, template: VmRef,
           params: Dict[str, Any]) -> Tuple[int, Optional[str]]:
    """POST clone with a free VMID; (the VMID, the task's UPID)."""
    def made() -> Tuple[bool, Any]:
        # an earlier attempt's answer was lost: the clone may exist already
        ref = conn.refs([spec.name]).get(spec.name)
        return (True, None) if ref is not None else (False, None)

    for _ in range(VMID_ATTEMPTS):
        with conn.vmid_lock:  # the VMID is taken once the clone's config exists
            newid = int(conn.call(lambda a: a.cluster.nextid.get(), vm=spec.name))
            try:
                return newid, _post_clone(conn, spec.name, template, newid, params, made)
            except AlreadyExists as exc:
                log.info("%s: VMID %d taken meanwhile (%s); asking for another", spec.name,
                         newid, exc.message)
    raise DriverError(f"no free VMID after {VMID_ATTEMPTS} attempts (other clients keep "
                      "taking them)", driver=conn.driver, vm=spec.name)


def _exists(conn: PveConnection, name: str) -> bool:
    """Whether a VM `name` exists: the run's listing says no, or a new
    listing confirms what an older one says."""
    if not any(e.get("name") == name and not e.get("template") for e in conn.listing()):
        return False
    return bool(conn.refs([name]))


def _template(conn: PveConnection, spec: VmSpec) -> Tuple[VmRef, Dict[str, Any]]:
    """The template and its config, read once per run."""
    seen = conn.template_seen(spec.template_name)
    if seen is not None:
        return seen
    with conn.template_lock:  # the run's parallel clones read it once
        seen = conn.template_seen(spec.template_name)
        if seen is None:
            template = listed_template(conn, spec.template_name, spec.name)
            seen = template, conn.config(template)
            conn.remember_template(*seen)
    return seen


def create_vm(conn: PveConnection, *, spec: VmSpec, owner: Owner, timeout: float) -> Vm:
    if _exists(conn, spec.name):
        raise AlreadyExists(f"a VM named {spec.name!r} already exists", driver=conn.driver,
                            vm=spec.name)
    template, tconfig = _template(conn, spec)
    params = clone_params(spec, owner, template, tconfig)
    try:
        newid, upid = _clone(conn, spec, template, params)
    except NotFound:
        # the template moved or went since the run listed it: list again, once
        conn.forget_listing()
        template, tconfig = _template(conn, spec)
        params = clone_params(spec, owner, template, tconfig)
        newid, upid = _clone(conn, spec, template, params)
    node = params.get("target", template.node)
    conn.created(spec.name, node, newid)
    conn.wait_task(upid, timeout=timeout, what="the clone", vm=spec.name)
    ref = conn.ref(spec.name)
    config = conn.config(ref)
    # one change before the rollout's snapshot, so a rollback keeps it
    conn.set_config(ref, **own_settings(spec, config, tconfig), **cloudinit.settings(spec, config))
    log.info("%s: %s clone %d of %s (%d) on %s", spec.name,
             "full" if params["full"] else "linked", newid, template.name, template.vmid,
             ref.node)
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
