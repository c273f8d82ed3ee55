"""Run the installed `vdictl` as an operator at a shell does, on a pseudo-terminal:
stdin, stdout and stderr are all the terminal, and a question can be answered."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

VDICTL = Path(sys.executable).parent / "vdictl"


def run_interactively(args: Sequence[str], env: Dict[str, str], *,
                      answer: Optional[str] = None, after: str = "[y/N]: ",
                      timeout: float = 120) -> Tuple[int, str]:
    """(exit status, everything the terminal showed). `answer` is typed once
    `after` has appeared on the screen."""
    assert VDICTL.exists(), f"no vdictl entry point at {VDICTL}"
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen([str(VDICTL), *args], stdin=terminal, stdout=terminal,
                                stderr=terminal, env=env, close_fds=True)
        os.close(terminal)
        terminal = -1
        screen = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answer is not None and after.encode() in screen:
                os.write(controller, answer.encode() + b"\n")
                answer = None
            if not select.select([controller], [], [], 0.2)[0]:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        if proc.poll() is None:
            proc.kill()
        code = proc.wait(timeout=10)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return code, screen.decode(errors="replace").replace("\r\n", "\n")
