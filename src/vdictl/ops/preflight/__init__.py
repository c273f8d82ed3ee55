"""vdictl preflight: read-only, what the next reset (or a rollout or
rebuild) would meet, asked of every endpoint before the night.

The checks run in the order of CHECKS; each yields Problem records. The
first one opens every endpoint side by side and says which are down; the
others look only at the endpoints that answered. To add a check, write a
function Preflight -> Iterable[Problem] and add it to CHECKS.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

from vdictl.config.rooms import Room

from ..session import Session
from ..storage import PURPOSES  # what a preflight checks for: the next reset, a rollout...
from .endpoints import endpoints_answer
from .problems import ERROR, SEVERITIES, UNREACHABLE, WARNING, Check, Preflight, Problem
from .storage import storage_headroom
from .vms import rooms_can_be_made, vms_ready

__all__ = ["CHECKS", "ERROR", "PURPOSES", "Preflight", "Problem", "UNREACHABLE", "WARNING",
           "preflight"]

#: every check of a preflight, in order (endpoints first: the others skip those down)
CHECKS: Tuple[Check, ...] = (
    endpoints_answer,     # answers in time, login, token/password, TLS certificate, permissions
    rooms_can_be_made,    # --for rollout|rebuild: template, network, cluster/node, pool, storage
    vms_ready,            # exists and ours, one snapshot to reset to, no lock/preview, in use
    storage_headroom,     # free space against min_free_storage (and a rollout's need)
)


def preflight(session: Session, rooms: Sequence[Room], purpose: str = "reset",
              checks: Sequence[Check] = CHECKS) -> Tuple[List[Problem], List[str]]:
    """The problems the checks find, worst first (unreachable, error, warning;
    then by endpoint, room and VM), and the notes (facts that are not problems)."""
    pf = Preflight(session, list(rooms), purpose)
    problems: List[Problem] = []
    for check in checks:
        problems.extend(check(pf))
    problems.sort(key=lambda p: (SEVERITIES.index(p.severity), p.endpoint, p.room, p.vm))
    return problems, list(pf.notes)
