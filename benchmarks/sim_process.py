# SPDX-License-Identifier: GPL-3.0-or-later
"""A simulator in a child process of its own, talked to in JSON lines.

The simulator and the client under test must not share one interpreter: they
would share one GIL, and the client's peak RSS would include the simulator's.
The child's first line is its hello (its address, ...); then the parent sends
[command, argument] lines and reads one answer line each (seed, reset_stats,
stats, stop, and what the simulator adds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SimulatorProcess:
    """`python -m MODULE TIME_SCALE` started; `hello` is its first line."""

    #: what the simulator is, for the message when it dies
    label = "simulator"

    def __init__(self, module: str, time_scale: float):
        self.time_scale = time_scale
        self._proc = subprocess.Popen(
            [sys.executable, "-m", module, repr(time_scale)], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.hello: Any = self._read()

    def _read(self) -> Any:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.label} exited ({self._proc.wait()})")
        return json.loads(line)

    def _ask(self, cmd: str, arg: Any = None) -> Any:
        self._proc.stdin.write(json.dumps([cmd, arg]) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def reset_stats(self) -> None:
        self._ask("reset_stats")

    def stats(self) -> Dict[str, Any]:
        return self._ask("stats")

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(json.dumps(["stop", None]) + "\n")
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> "SimulatorProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
