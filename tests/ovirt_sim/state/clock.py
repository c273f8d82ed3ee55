# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulated clock and the transitions scheduled on it.

The clock is ``time.monotonic()`` plus an offset that ``forward`` and
``settle`` move on.  Due transitions fire lazily, in deadline order, when
``run_due`` is called (the engine does before every request and state read);
the caller holds the engine's lock.
"""

from __future__ import annotations

import heapq
import itertools
import time


class Clock:
    def __init__(self):
        self.offset = 0.0
        self.timers = []                 # heap of (due, seq, fn)
        self._seq = itertools.count()

    def now(self):
        return time.monotonic() + self.offset

    def schedule(self, delay, fn):
        heapq.heappush(self.timers, (self.now() + delay, next(self._seq), fn))

    def run_due(self):
        now = self.now()
        while self.timers and self.timers[0][0] <= now:
            _, _, fn = heapq.heappop(self.timers)
            fn()

    def forward(self, seconds):
        """Move on by ``seconds`` (real seconds) and fire what became due."""
        self.offset += seconds
        self.run_due()

    def settle(self):
        """Fast-forward until nothing is pending."""
        while self.timers:
            due = self.timers[0][0]
            if due > self.now():
                self.offset += due - self.now()
            self.run_due()

    def __len__(self):
        return len(self.timers)
