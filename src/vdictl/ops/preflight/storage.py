"""The preflight's storage headroom: each storage the rooms' VMs use, against
min_free_storage (or the engine's own blocker) and, for a rollout or rebuild,
the space their work would take (ops/storage.py, the guard the runs use)."""

from __future__ import annotations

from typing import Iterator

from ..storage import RESET_REMEDY, StorageCheck
from .problems import ERROR, Preflight, Problem


def storage_headroom(pf: Preflight) -> Iterator[Problem]:
    """One problem per storage short of space, from the preflight's own
    inventory (no second listing); a backend that cannot tell is left out."""
    check = StorageCheck(pf.session, pf.purpose)
    pairs = pf.pairs()
    if pf.purpose == "rebuild":  # every VM made anew
        pairs = [(spec, None) for spec, _ in pairs]
    check.add(pairs)
    for short in check.shortfalls():
        remedy = RESET_REMEDY if pf.purpose == "reset" else short.remedy
        yield Problem(short.endpoint, short.room or "", "", short.message, remedy, ERROR)
