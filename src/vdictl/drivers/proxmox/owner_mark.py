"""The owner mark of the proxmox driver: the first line of the VM's
description (its notes), in the codec the ovirt driver's comment uses
(drivers/owner_text.py), and the tag `vdictl`, which lets find_vms read the
description of tagged VMs only. The mark is written before the rollout's
snapshot, so a rollback keeps it."""

from __future__ import annotations

from typing import Optional

from vdictl.model import Owner

from ..owner_text import OWNER_PREFIX, owner_comment, parse_owner, parse_phase

#: the tag of every VM vdictl creates
TAG = "vdictl"

__all__ = ["OWNER_PREFIX", "TAG", "description", "parse_owner", "parse_phase", "tags_with",
           "with_phase"]


def description(owner: Owner, text: Optional[str] = None, phase: Optional[str] = None) -> str:
    """The description of a VM of `owner`: the mark, then the config's
    description (if any) on the lines below."""
    mark = owner_comment(owner, phase)
    return f"{mark}\n{text}" if text else mark


def with_phase(current: Optional[str], owner: Owner, phase: str) -> str:
    """`current` description with its mark line now recording `phase`."""
    rest = (current or "").split("\n", 1)
    below = rest[1] if len(rest) > 1 else None
    return description(owner, below, phase)


def tags_of(value: Optional[str]) -> list:
    """Proxmox VE's tag list ("a;b", also "a,b" or "a b" in older versions)."""
    text = (value or "").replace(",", ";").replace(" ", ";")
    return [t for t in text.split(";") if t]


def tags_with(value: Optional[str]) -> str:
    """The tags `value` plus TAG."""
    tags = tags_of(value)
    return ";".join(tags if TAG in tags else tags + [TAG])
