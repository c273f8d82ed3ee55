"""Template lifecycle commands: virtroom-rebuild (and, next, template-create)."""

from __future__ import annotations

import sys

import click

from . import exit_codes
from .app import AppContext, cli, pass_app, reports_errors
from .output import echo_report, output_option
from .virtroom import adopt_option, dry_run_option, open_session, rooms_argument


@cli.command("virtroom-rebuild")
@rooms_argument
@click.option("--force", is_flag=True,
              help="Rebuild every VM, also those already on the configured template.")
@dry_run_option
@adopt_option
@output_option
@pass_app
@reports_errors
def virtroom_rebuild(app: AppContext, room_names, force: bool, dry_run: bool, adopt: bool,
                     output: str) -> None:
    """Move rooms to the template now configured: delete and roll out again.

    Only VMs made from another template are rebuilt (all with --force); the
    others are left alone. The rollout's pre-flight runs for every VM first,
    so a wrong template name or a broken answer file deletes nothing.
    --dry-run lists which VMs would change.

    \b
    Example (after setting template_name = win10-2024-09):
        vdictl virtroom-rebuild --dry-run room01
        vdictl virtroom-rebuild room01
    """
    rooms = app.select_rooms(room_names)
    from vdictl.ops.rebuild import rebuild

    with open_session(app, dry_run=dry_run, adopt=adopt) as session:
        report = rebuild(session, rooms, force=force)
    echo_report(report, output)
    if report.failed:
        sys.exit(exit_codes.VM_FAILED)
