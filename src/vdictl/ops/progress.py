"""What a running operation tells an observer: rooms, phases, VMs done.

The operations know nothing of terminals; the CLI passes an observer that
draws progress bars (vdictl.cli.progress) when stderr is a terminal, and
the default observer does nothing.
"""

from __future__ import annotations

from typing import Mapping

from vdictl.config.rooms import VmSpec


class ProgressObserver:
    """Does nothing; subclasses draw. Methods may be called from many threads."""

    def begin(self, action: str, totals: Mapping[str, int]) -> None:
        """`totals`: VMs per room, in order."""

    def phase(self, spec: VmSpec, text: str) -> None:
        """`spec`'s VM starts the step `text` ("restore snapshot ...")."""

    def done(self, spec: VmSpec, outcome: str, reason: str = "") -> None:
        """`spec`'s VM is finished, with `outcome` (an Outcome value) and, for a
        failure, its `reason`."""

    def pause(self, what: str, until: float) -> None:
        """The `what` throttle ("snapshot") admits nothing before the monotonic
        time `until`: a batch pause."""

    def interrupting(self, under_way: int) -> None:
        """The run was interrupted: no new VM starts, `under_way` VMs are being
        finished. Called again each time one of them is done (down to 0); the
        first call may come from a signal handler."""

    def end(self) -> None:
        """The operation is over."""
