"""`vdictl rooms`: room names for shell scripts."""

from __future__ import annotations

import click

from .app import AppContext, cli, pass_app, reports_errors
from .output import echo_json, output_option


@cli.command("rooms")
@click.option("--resettable", is_flag=True,
              help="Only rooms with a snapshot configured that are not stateless.")
@click.option("--stateless", is_flag=True, help="Only stateless rooms.")
@output_option
@pass_app
@reports_errors
def rooms_command(app: AppContext, resettable: bool, stateless: bool, output: str) -> None:
    """List the rooms of the config file, one name per line.

    Without --resettable or --stateless only the room titles are read: the
    rest of the file is not checked (vdictl config check does that). With
    them the whole file is checked; listing connects to nothing and writes
    no audit trail, so an unusable password_file is a warning, as in config
    check.

    \b
    Example:
        for room in $(vdictl rooms --resettable); do vdictl virtroom-reset "$room"; done
    """
    if resettable or stateless:
        app.offline = True
        names = [room.name for room in app.config.rooms.values()
                 if (not resettable or room.resettable) and (not stateless or room.stateless)]
    else:
        names = app.room_names()
    if output == "json":
        echo_json(names)
    else:
        for name in names:
            click.echo(name)
