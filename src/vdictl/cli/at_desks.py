"""Users at their desks: --skip-in-use, and the question a terminal is asked
before a daytime shutdown, rebuild, delete or single-VM reset of a VM in use.

Off a terminal (cron), with --yes, --dry-run or --skip-in-use nothing is
asked and the backends are not asked who is at the VMs here: the nightly
run costs nothing more (the operation itself asks only under --skip-in-use
or skip_in_use = True, see vdictl.ops.in_use).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, List

import click

from vdictl.errors import VdictlError

if TYPE_CHECKING:
    from vdictl.config.rooms import Room

    from .app import AppContext

skip_in_use_option = click.option(
    "--skip-in-use", is_flag=True,
    help="Leave alone the VMs somebody is using (a console client connected or a user "
         "logged in), with a note naming the session. A VM whose backend cannot tell "
         "is not skipped.")


def users_at(app: "AppContext", rooms: List["Room"]) -> List[str]:
    """Each VM of `rooms` somebody is at, as "lab1-vd02 (console 192.0.2.7 since
    09:12)"; VMs under skip_in_use = True are left out (the run skips them)."""
    from vdictl.ops.in_use import describe, in_use
    from vdictl.ops.session import Session

    from .between_lessons import occupancy_record

    with Session(app.config, connect_origin="--uri" if app.uri else None,
                 occupancy=occupancy_record(app)) as session:  # a probe: recorded
        found = in_use(session, session.inventory(rooms))
    return [f"{spec.name} ({describe(sessions)})" for spec, sessions in found
            if not spec.skip_in_use]


def in_use_warning(app: "AppContext", rooms: List["Room"], *, asks: bool) -> str:
    """Before a run that `asks` (on a terminal, without --yes, --dry-run or
    --skip-in-use): "In use: lab1-vd02 (console ...); --skip-in-use leaves it
    alone. ", to begin the question with; "" when nobody is at the VMs, or the
    backends could not be asked (the run itself then says why)."""
    if not (asks and sys.stdin.isatty()):
        return ""
    try:
        found = users_at(app, rooms)
    except VdictlError:
        return ""
    if not found:
        return ""
    them = "it" if len(found) == 1 else "them"
    return f"In use: {'; '.join(found)}; --skip-in-use leaves {them} alone. "
