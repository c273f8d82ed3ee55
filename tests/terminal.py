"""Run the real vdictl command with its stderr on a pseudo-terminal of a given
size, and read what an operator sees there through a VT100 emulator (pyte)."""

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
from typing import Dict, List, Optional

import pyte


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


def run_on_terminal(args: List[str], *, columns: int = 80, rows: int = 24,
                    env: Optional[Dict[str, str]] = None, timeout: float = 60,
                    started=None) -> TerminalRun:
    """vdictl ARGS with stdin and stderr on a pty of columns x rows; stdout is a pipe.

    `started(proc)`, if given, is called once the process runs (to signal it, say).
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    environ.update(env or {}, TERM="xterm-256color")
    proc = subprocess.Popen([sys.executable, "-c", "from vdictl.cli import main; main()", *args],
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave, env=environ)
    os.close(slave)
    if started:
        started(proc)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    run = TerminalRun(0, "")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:   # EIO: the last writer closed the terminal
                    break
                if not data:
                    break
                stream.feed(data)
                run.frames.append([row.rstrip() for row in screen.display])
            elif proc.poll() is not None:
                break
        run.stdout = proc.communicate(timeout=max(1, deadline - time.monotonic()))[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    run.exit_code = proc.returncode
    return run
