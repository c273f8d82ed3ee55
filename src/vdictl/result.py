"""Per-VM outcomes of a run, and the run's overall status."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


class Outcome(str, enum.Enum):
    OK = "ok"                # the VM is in the state the command promises
    FAILED = "failed"
    SKIPPED = "skipped"      # nothing to do, by design (stateless room, not owned ...)
    PLANNED = "planned"      # --dry-run: would be done
    NOT_STARTED = "not-started"  # the run was interrupted before this VM

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class VmResult:
    room: str
    vm: str
    action: str
    outcome: Outcome
    reason: str = ""
    #: what was done, in order ("stopped", "reverted to ...", "started")
    steps: tuple = ()
    #: seconds this VM took, its waits for a throttle slot included
    duration: float = 0.0
    #: skipped because somebody is at the VM: who (UserSession fields), else None
    in_use: Optional[List[Dict[str, Any]]] = None

    def to_dict(self) -> Dict[str, Any]:
        """The JSON form, built field by field: dataclasses.asdict deep-copies
        every value, which cost a run of 10,000 VMs seconds twice (the output
        and the run record)."""
        return {"room": self.room, "vm": self.vm, "action": self.action,
                "outcome": self.outcome.value, "reason": self.reason,
                "steps": list(self.steps), "duration": round(self.duration, 1),
                "in_use": None if self.in_use is None else [dict(s) for s in self.in_use]}


@dataclass
class Report:
    """Everything one command did, VM by VM."""

    action: str
    results: List[VmResult] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    #: seconds the whole run took (inventory and checks included); None: not measured
    duration: Optional[float] = None
    #: a run that picks its desks (--vacated, --idle-for): the desks it left
    #: alone, counted by why (vdictl.ops.vacated); None for the other runs
    left_alone: Optional[Dict[str, int]] = None

    @property
    def failed(self) -> List[VmResult]:
        return [r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.NOT_STARTED)]

    @property
    def skipped_in_use(self) -> int:
        """The VMs left alone because somebody is at them (--skip-in-use, skip_in_use)."""
        return sum(1 for r in self.results if r.in_use is not None)

    @property
    def status(self) -> str:
        """success, partial (some VMs failed) or error (none succeeded)."""
        if not self.failed:
            return "success"
        if len(self.failed) == len(self.results):
            return "error"
        return "partial"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "action": self.action,
            "status": self.status,
            "notes": list(self.notes),
            "duration": None if self.duration is None else round(self.duration, 1),
            "skipped_in_use": self.skipped_in_use,
            "results": [r.to_dict() for r in self.results],
        } | ({} if self.left_alone is None else {"left_alone": dict(self.left_alone)})
