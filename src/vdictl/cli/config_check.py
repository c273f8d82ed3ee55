"""`vdictl config check`: validate the config file and show what it resolves to.

Reads the file only: no driver is imported and no backend is contacted, so
it is safe to run anywhere, e.g. before copying a config to the VDI host.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import click

from .app import AppContext, cli, pass_app, reports_errors
from .output import echo_json, format_table, output_option

if TYPE_CHECKING:
    from vdictl.config.rooms import Config, VmSpec


@cli.group("config")
def config_group() -> None:
    """Look at the config file without touching any backend."""


@config_group.command("check")
@output_option
@pass_app
@reports_errors
def config_check(app: AppContext, output: str) -> None:
    """Validate the config file; print its rooms, VMs, IPs, templates, memory and snapshot
    descriptions (Proxmox VE: also the node, pool, storage and VMID range of each VM).

    Contacts no backend. A config error is one line naming file, section and
    key (exit status 2); warnings go to stderr. Snapshot descriptions that use
    ${scripttime} are rendered as at the time of the check: a rollout puts in
    the time it starts.

    \b
    Example:
        vdictl --config /etc/vdictl/vdi-rollout.conf config check
    """
    app.offline = True  # a check connects to nothing and writes nothing, not even the audit trail
    config = app.config
    log_file = config.logging.log_file
    if log_file and not app.quiet and not os.path.isdir(os.path.dirname(log_file)):
        click.echo(f"warning: {config.path} [logging] log_file: directory "
                   f"{os.path.dirname(log_file)} does not exist", err=True)
    data = describe(config)
    if output == "json":
        echo_json(data)
        return
    vm_count = sum(len(room["vms"]) for room in data["rooms"])
    several = len(config.endpoints) > 1  # else the endpoint is the first line's
    on = f" on {len(config.endpoints)} endpoints" if several else ""
    click.echo(f"{config.path}: OK; driver {data['driver']} at {data['endpoint'] or '(default)'}; "
               f"{len(data['rooms'])} room(s), {vm_count} VM(s){on}")
    proxmox = any("node" in vm for room in data["rooms"] for vm in room["vms"])
    rows = [[room["name"], vm["subsection"]] + ([vm["endpoint"]] if several else []) + [
             vm["vm"], vm["ip"], vm["template"]] + (placement(vm) if proxmox else []) + [
             memory_text(vm["memory"]), room_kind(vm), vm["snapshot_description"]]
            for room in data["rooms"] for vm in room["vms"]]
    if rows:
        click.echo(format_table(["room", "subsection"] + (["endpoint"] if several else []) + [
            "vm", "ip", "template"] + (list(PLACEMENT) if proxmox else []) + [
            "memory", "reset", "snapshot description"], rows))
    if uses_scripttime(config):
        click.echo(f"note: ${{scripttime}} is rendered as {config.scripttime}, the time of this "
                   "check; a rollout renders the time it starts")


def describe(config: Config) -> Dict[str, Any]:
    """What the file resolves to, as plain data (the JSON shape of docs/output.md)."""
    connect = config.connect
    return {
        "config": config.path,
        "driver": connect.driver,
        "endpoint": connect.uri if connect.driver == "libvirt" else connect.url,
        "scripttime": config.scripttime,
        "log_file": config.logging.log_file,
        "rooms": [{
            "name": room.name,
            "resettable": room.resettable,
            "stateless": room.stateless,
            "vms": [vm_data(vm, config) for vm in room.vms],
        } for room in config.rooms.values()],
        "warnings": list(config.warnings),
    }


def vm_data(vm: VmSpec, config: Config) -> Dict[str, Any]:
    return {
        "subsection": vm.subsection, "vm": vm.name, "id": vm.id, "ip": vm.ip,
        "endpoint": config.endpoint_of(vm), "connect": vm.connect,
        "template": vm.template_name, "memory": vm.memory,
        "stateless": vm.stateless, "resettable": vm.resettable,
        "snapshot_description": vm.snapshot_description,
        "reset_to_snapshot_regex": vm.reset_to_snapshot_regex,
        "maintenance": vm.maintenance, "adopt_unmarked": vm.adopt_unmarked,
        **(proxmox_placement(vm) if config.connect_of(vm).driver == "proxmox" else {}),
    }


#: the table's columns of where a Proxmox VE VM is made (only when a room uses proxmox)
PLACEMENT = ("node", "pool", "storage", "vmids")


def proxmox_placement(vm: VmSpec) -> Dict[str, Any]:
    """Where the proxmox driver makes the VM, as the config says it (None:
    the template's node or storage, no pool, the cluster's next free VMID)."""
    return {"node": vm.node, "pool": vm.pool, "storage": vm.storage,
            "vmid_range": list(vm.vmid_range) if vm.vmid_range else None}


def placement(vm: Dict[str, Any]) -> List[str]:
    """The table cells of PLACEMENT; blank for a VM of another driver."""
    if "node" not in vm:
        return [""] * len(PLACEMENT)
    vmids = vm["vmid_range"]
    return [vm["node"] or "(template's)", vm["pool"] or "-", vm["storage"] or "(template's)",
            f"{vmids[0]}-{vmids[1]}" if vmids else "(any)"]


def memory_text(memory: Optional[int]) -> str:
    """4GiB; "(template's)" when the config leaves the VM the memory of its template."""
    from vdictl.config.values import size_text

    return "(template's)" if memory is None else size_text(memory, space="")


def room_kind(vm: Dict[str, Any]) -> str:
    """How a nightly reset treats the VM: to its snapshot, stateless, or not at all."""
    if vm["stateless"]:
        kind = "stateless"
    else:
        kind = "snapshot" if vm["resettable"] else "no"
    return f"{kind} (maintenance)" if vm["maintenance"] else kind


def uses_scripttime(config: Config) -> bool:
    descriptions: List[str] = [vm.snapshot_description for room in config.rooms.values()
                               for vm in room.vms]
    return any(config.scripttime in d for d in descriptions)
