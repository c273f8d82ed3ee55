"""vdictl on a pseudo-terminal, as an operator at a shell runs it: the one place
the tests open a pty, read what the program shows there, and answer it.

- read_terminal: the read loop, until the program closes the terminal or ends;
- run_on_terminal: stdin and stderr on a terminal of a given size, stdout a pipe,
  and what the screen showed through a VT100 emulator (pyte), after rich's
  cursor moves, as an operator sees it;
- run_interactively: stdin, stdout and stderr on the terminal, a question answered.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pyte

#: the installed entry point, next to this interpreter
VDICTL = Path(sys.executable).parent / "vdictl"


def open_terminal(columns: int = 80, rows: int = 24) -> Tuple[int, int]:
    """(controller, terminal) file descriptors of a new pty of columns x rows."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return controller, terminal


def read_terminal(controller: int, proc: subprocess.Popen, *, timeout: float = 120,
                  on_output: Optional[Callable[[bytes], None]] = None) -> bytes:
    """Everything shown on the terminal until `proc` closes it or ends (or
    `timeout`); on_output(all so far) is called after each chunk."""
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([controller], [], [], 0.1)[0]:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if on_output:
            on_output(shown)
    return shown


def _finish(proc: subprocess.Popen, timeout: float) -> int:
    if proc.poll() is None:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


@dataclass
class TerminalRun:
    exit_code: int
    stdout: str
    #: the terminal's rows after each chunk vdictl wrote (trailing blanks removed)
    frames: List[List[str]] = field(default_factory=list)

    @property
    def last(self) -> List[str]:
        return self.frames[-1] if self.frames else []

    def seen(self, text: str) -> bool:
        return any(text in row for frame in self.frames for row in frame)


def run_on_terminal(args: Sequence[str], *, columns: int = 80, rows: int = 24,
                    env: Optional[Dict[str, str]] = None, timeout: float = 60) -> TerminalRun:
    """vdictl ARGS with stdin and stderr on a pty of columns x rows; stdout is a pipe."""
    controller, terminal = open_terminal(columns, rows)
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environ.update(env or {}, TERM="xterm-256color")
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    run = TerminalRun(0, "")
    seen = [0]

    def draw(shown: bytes) -> None:
        stream.feed(shown[seen[0]:])
        seen[0] = len(shown)
        run.frames.append([row.rstrip() for row in screen.display])

    try:
        proc = subprocess.Popen([sys.executable, "-c", "from vdictl.cli import main; main()",
                                 *args], stdin=terminal, stdout=subprocess.PIPE,
                                stderr=terminal, env=environ)
        os.close(terminal)
        terminal = -1
        read_terminal(controller, proc, timeout=timeout, on_output=draw)
        run.stdout = proc.communicate(timeout=timeout)[0].decode()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    run.exit_code = _finish(proc, 10)
    return run


def run_interactively(args: Sequence[str], env: Dict[str, str], *,
                      answer: Optional[str] = None, after: str = "[y/N]: ",
                      timeout: float = 120) -> Tuple[int, str]:
    """The installed vdictl with stdin, stdout and stderr on a terminal:
    (exit status, everything the terminal showed). `answer` is typed once
    `after` has appeared on the screen."""
    assert VDICTL.exists(), f"no vdictl entry point at {VDICTL}"
    controller, terminal = open_terminal()
    pending = [answer]

    def reply(shown: bytes) -> None:
        if pending[0] is not None and after.encode() in shown:
            os.write(controller, pending[0].encode() + b"\n")
            pending[0] = None

    try:
        proc = subprocess.Popen([str(VDICTL), *args], stdin=terminal, stdout=terminal,
                                stderr=terminal, env=env, close_fds=True)
        os.close(terminal)
        terminal = -1
        shown = read_terminal(controller, proc, timeout=timeout, on_output=reply)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    code = _finish(proc, 10)
    return code, shown.decode(errors="replace").replace("\r\n", "\n")
