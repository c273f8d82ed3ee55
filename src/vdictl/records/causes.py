"""Failures grouped by cause, for the text outputs (the run summary, the
lines cron mails, `vdictl status`): many VMs that failed for one reason are
said once, with their count and rooms, and the rest are listed one by one.
The JSON outputs keep every VM.

Two failures have the same cause when their reasons are equal once the
failed VM's own name is taken out. An endpoint's outage is the same line for
each of its VMs already; a reason that names its VM ("libvirt: lab1-pc02:
template 'tmpl' not found", "VM lab1-pc02: no snapshot matches ...") differs
only by that name. Only the VM's own name is taken out, and only where it
stands as a whole name (not inside a longer name such as lab1-pc020 or
lab1-pc02.qcow2): another VM's name, a number, a path stay, so reasons that
differ in anything else are never merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Sequence, Tuple

#: a cause shared by at least this many VMs is said once; fewer are listed
GROUP_AT = 3
#: at most this many rooms are named in full; more are "first … last"
ROOMS_SHOWN = 3
#: what a VM that failed was not (after "not"), by action
NOT_DONE = {"reset": "reset", "rollout": "rolled out", "start": "started",
            "shutdown": "shut down", "rebuild": "rebuilt", "delete": "deleted",
            "firstboot": "prepared", "preflight": "ready",
            "reset-vacated": "reset", "shutdown-idle": "shut down"}
#: characters a VM name is made of: a match must not touch one on either side
_NAME_CHAR = r"[\w-]"
#: the VM's name in its place in the reason
VM_PLACEHOLDER = "<vm>"


def _name_pattern(vm: str) -> "re.Pattern[str]":
    whole = rf"(?<!{_NAME_CHAR})(?<!\w\.){re.escape(vm)}(?!{_NAME_CHAR})(?!\.\w)"
    # as a label ("libvirt: NAME: ...", "VM NAME: ..."): left out with its colon
    return re.compile(rf"(?:^|(?<=: ))(?:VM )?{whole}: |(?:VM )?{whole}")


def cause(reason: str, vm: str) -> str:
    """`reason` without the VM's own name: left out where it labels the reason,
    <vm> where it stands in a sentence, untouched inside a longer name."""
    if not vm or vm not in reason:
        return reason

    def replace(match: "re.Match[str]") -> str:
        text = match.group(0)
        if text.endswith(": "):
            return ""
        return text.replace(vm, VM_PLACEHOLDER)

    return _name_pattern(vm).sub(replace, reason)


@dataclass
class Group:
    """The failed VMs of one cause."""

    cause: str
    #: (room, vm) in the order they came
    vms: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def rooms(self) -> List[str]:
        return list(dict.fromkeys(room for room, _ in self.vms))

    def line(self, action: str) -> str:
        """engine2 unreachable: 1,000 VMs of 40 rooms (lab01 … lab40) not reset"""
        rooms = self.rooms
        named = (", ".join(rooms) if len(rooms) <= ROOMS_SHOWN
                 else f"{rooms[0]} \u2026 {rooms[-1]}")
        done = NOT_DONE.get(action, f"{action} done")
        return (f"{self.cause}: {plural(len(self.vms), 'VM')} of "
                f"{plural(len(rooms), 'room')} ({named}) not {done}")


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def group(failures: Iterable[Tuple[str, str, str]],
          at: int = GROUP_AT) -> Tuple[List[Group], List[int]]:
    """Split failures (room, vm, reason) into the groups of at least `at` VMs
    that share a cause (in the order of their first VM), and the indexes of
    the failures left to list one by one (in their order)."""
    by_cause: Dict[str, Group] = {}
    members: Dict[str, List[int]] = {}
    for index, (room, vm, reason) in enumerate(failures):
        key = cause(reason, vm)
        by_cause.setdefault(key, Group(key)).vms.append((room, vm))
        members.setdefault(key, []).append(index)
    groups = [g for g in by_cause.values() if len(g.vms) >= at]
    said = {i for g in groups for i in members[g.cause]}
    rest = sorted(i for indexes in members.values() for i in indexes if i not in said)
    return groups, rest


def group_lines(failures: Sequence[Tuple[str, str, str]], action: str,
                at: int = GROUP_AT) -> Tuple[List[str], List[int]]:
    """The lines of the groups, and the indexes of the failures left to list."""
    groups, rest = group(failures, at)
    return [g.line(action) for g in groups], rest
