"""The owner mark as one line of text, for backends that keep a free text on
a VM (the oVirt comment, the Proxmox VE description):
`vdictl:room=..;subsection=..;version=..[;phase=..]`, values percent-encoded.
A VM whose text lacks the prefix on its first line is foreign."""

from __future__ import annotations

from typing import Dict, Optional
from urllib.parse import quote, unquote

from vdictl.model import Owner

#: the comment of every VM vdictl creates starts with this
OWNER_PREFIX = "vdictl:"


def owner_comment(owner: Owner, phase: Optional[str] = None) -> str:
    """The VM comment that marks `owner` (and the rollout `phase`, if any)."""
    def q(v: str) -> str:
        return quote(v, safe="")
    text = (f"{OWNER_PREFIX}room={q(owner.room)};subsection={q(owner.subsection)};"
            f"version={q(owner.tool_version)}")
    return text + (f";phase={q(phase)}" if phase else "")


def _comment_fields(comment: Optional[str]) -> Dict[str, str]:
    text = (comment or "").strip()
    if not text.startswith(OWNER_PREFIX):
        return {}
    fields: Dict[str, str] = {}
    for part in text[len(OWNER_PREFIX):].splitlines()[0].split(";"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip()] = unquote(value.strip())
    return fields


def parse_owner(comment: Optional[str]) -> Optional[Owner]:
    """The Owner of a VM comment, or None without the vdictl prefix."""
    fields = _comment_fields(comment)
    if "room" not in fields:
        return None
    return Owner(room=fields["room"], subsection=fields.get("subsection", ""),
                 tool_version=fields.get("version", ""))


def parse_phase(comment: Optional[str]) -> Optional[str]:
    """The rollout phase recorded in a VM comment (`phase=`), if any."""
    return _comment_fields(comment).get("phase") or None
