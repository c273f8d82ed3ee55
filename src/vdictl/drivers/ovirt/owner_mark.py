"""The owner mark of the ovirt driver: the VM comment, in the text codec that
the proxmox driver shares (drivers/owner_text.py)."""

from ..owner_text import OWNER_PREFIX, owner_comment, parse_owner, parse_phase

__all__ = ["OWNER_PREFIX", "owner_comment", "parse_owner", "parse_phase"]
