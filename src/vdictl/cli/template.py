"""Template lifecycle commands: template-create, template-delete, virtroom-rebuild."""

from __future__ import annotations

import click

from vdictl.errors import TemplateInUse

from .app import AppContext, cli, pass_app, reports_errors
from .at_desks import in_use_warning, skip_in_use_option
from .output import echo_json, output_option
from .virtroom import (adopt_option, confirm, describe, dry_run_option, ignore_storage_option,
                       open_session,
                       refuse_off_terminal, rooms_argument, run_operation, vm_option, yes_option)


@cli.command("virtroom-rebuild")
@rooms_argument(offers_all=False)
@vm_option
@click.option("--force", is_flag=True,
              help="Rebuild every VM, also those already on the configured template.")
@skip_in_use_option
@ignore_storage_option
@yes_option
@dry_run_option
@adopt_option
@output_option
@pass_app
@reports_errors
def virtroom_rebuild(app: AppContext, room_names, vm_names, force: bool, skip_in_use: bool,
                     ignore_storage_limit: bool, yes: bool, dry_run: bool, adopt: bool,
                     output: str) -> None:
    """Move rooms to the template now configured: delete and roll out again.

    Only VMs made from another template are rebuilt (all with --force); the
    others are left alone. The rollout's pre-flight runs for every VM first,
    so a wrong template name or a broken answer file deletes nothing.
    Running VMs are powered off, and started again once rolled out anew.
    A room whose VMs, counted as all new, would take a storage below
    min_free_storage is refused before anything is deleted (exit 1),
    unless --ignore-storage-limit.
    Asks for confirmation unless --yes, naming the VMs somebody is using;
    --skip-in-use leaves those alone. --dry-run lists which VMs would
    change.

    \b
    Example (after setting template_name = win10-2024-09):
        vdictl virtroom-rebuild --dry-run room01
        vdictl virtroom-rebuild --yes room01
    """
    rooms = app.select_rooms(room_names, vms=vm_names)
    count = sum(len(r.vms) for r in rooms)
    which = "" if force else " not on their configured template"
    warning = in_use_warning(app, rooms, asks=not (yes or dry_run or skip_in_use))
    confirm(f"{warning}Delete and roll out again up to {count} VM(s){which} of "
            f"{describe(app, rooms)} (running ones are powered off first)?",
            refused="rebuild", yes=yes or dry_run)
    run_operation(app, "rebuild:rebuild", rooms, output=output,
                  dry_run=dry_run, adopt=adopt, force=force, skip_in_use=skip_in_use,
                  ignore_storage_limit=ignore_storage_limit)


@cli.command("template-create")
@click.argument("vm")
@click.argument("name")
@click.option("--seal", is_flag=True,
              help="Remove host keys, machine-id, MACs, hostname ... so that clones do "
                   "not share them (oVirt: the engine's seal; libvirt: virt-sysprep; "
                   "not on Proxmox VE).")
@ignore_storage_option
@output_option
@pass_app
@reports_errors
def template_create(app: AppContext, vm: str, name: str, seal: bool,
                    ignore_storage_limit: bool, output: str) -> None:
    """Make template NAME from the stopped VM (the golden image) VM.

    libvirt copies each disk in full to <NAME>-<dev>.qcow2 in the same pool
    (or the configured pool), then defines the template domain NAME; --seal
    runs virt-sysprep on the copies (package libguestfs-tools), so on a
    remote URI (qemu+ssh://, qemu+tls://) it is refused (exit 2) before
    anything is copied: run it on the hypervisor. oVirt creates the template
    through the engine and waits until it is unlocked. Proxmox VE makes a
    full clone of VM named NAME and converts it into a template; it cannot
    seal, so --seal is refused there before anything changes (seal in the
    guest, then run without --seal).
    A copy that would take a storage below min_free_storage is refused
    before anything is copied (exit 1), unless --ignore-storage-limit.

    \b
    Example:
        vdictl template-create golden-win10 win10-2024-09 --seal
    """
    from vdictl.ops.template import create_template

    with open_session(app) as session:
        result = create_template(session, vm=vm, name=name, seal=seal,
                                 ignore_storage_limit=ignore_storage_limit)
    if output == "json":
        echo_json(result.to_dict())
        return
    if not app.quiet:
        click.echo(f"template-create: template {name} made from {vm}"
                   + (", sealed" if seal else ", not sealed"))


@cli.command("template-delete")
@click.argument("name")
@yes_option
@click.option("--adopt", is_flag=True,
              help="Also delete a template vdictl did not create (libvirt: the domain "
                   "only; its disks are left).")
@output_option
@pass_app
@reports_errors
def template_delete(app: AppContext, name: str, yes: bool, adopt: bool, output: str) -> None:
    """Delete template NAME and the disks template-create made for it.

    Refused (exit 1) while VMs still use it: on libvirt the clones are
    linked to the template's disks. Move rooms off it first with
    virtroom-rebuild. Asks for confirmation unless --yes.

    \b
    Example:
        vdictl template-delete win10-2024-03 --yes
    """
    from vdictl.ops.template import delete_template, template_users

    refuse_off_terminal(f"delete template {name}", yes=yes)  # before connecting
    with open_session(app) as session:
        users = template_users(session, name)
        if users:  # asked before the prompt; the driver checks again
            raise TemplateInUse(users=users, driver=session.driver_at().name, vm=name)
        confirm(f"Delete template {name}?", refused=f"delete template {name}", yes=yes)
        result = delete_template(session, name=name, adopt=adopt)
    if output == "json":
        echo_json(result.to_dict())
        return
    if not app.quiet:
        for line in result.left:
            click.echo(f"note: {line}")
        click.echo(f"template-delete: template {name} deleted")
