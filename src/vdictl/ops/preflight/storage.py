"""The preflight's storage headroom: each storage the rooms' VMs use, against
min_free_storage (or the engine's own blocker) and, for a rollout or rebuild,
the space their work would take (ops/storage.py, the guard the runs use)."""

from __future__ import annotations

from typing import Iterator

from ..storage import RESET_REMEDY, shortfalls_of
from .problems import ERROR, Preflight, Problem


def storage_headroom(pf: Preflight) -> Iterator[Problem]:
    """One problem per storage short of space, from the preflight's own
    inventory (no second listing); a backend that cannot tell is left out."""
    for short in shortfalls_of(pf.session, pf.pairs(), pf.purpose):
        remedy = RESET_REMEDY if pf.purpose == "reset" else short.remedy
        yield Problem(short.endpoint, short.room or "", "", short.message, remedy, ERROR)
