"""The real CLI on a config file a test writes: the one helper every test package uses.

`write_config` puts the text in a directory (tmp_path, or a temporary
directory under hypothesis) and `vdictl` runs click's CliRunner on it.
Only SystemExit is caught: anything else is a traceback the operator would
see, so it fails the test where it happens.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional, Sequence, Union

from click.testing import CliRunner, Result

from vdictl.cli import cli


def write_config(directory: Union[str, Path], text: str, *, name: str = "vdi.conf",
                 mode: Optional[int] = None) -> Path:
    """Write `text` to `directory`/`name` (bytes that are not UTF-8 kept as
    surrogate escapes) and return the path."""
    path = Path(directory) / name
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    if mode is not None:
        path.chmod(mode)
    return path


def vdictl(config: Union[str, Path], *args: str, options: Sequence[str] = (),
           input: Optional[str] = None) -> Result:
    """`vdictl OPTIONS --config CONFIG ARGS`; returns click's Result. The
    handlers the run puts on the "vdictl" logger (they write to the runner's
    streams, closed with it) go with it, so runs stay apart."""
    try:
        return CliRunner().invoke(cli, [*options, "--config", str(config), *args], input=input,
                                  catch_exceptions=False)
    finally:
        logging.getLogger("vdictl").handlers.clear()


def earlier_today(seconds: float = 3600) -> float:
    """A time in whole minutes, `seconds` ago but not before today's local
    midnight: the CLI writes it "since HH:MM" (a time of another day gets its
    date too), so a test run between 00:00 and 01:00 reads the same."""
    now = time.time()
    midnight = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
    return float(int(max(now - seconds, midnight)) // 60 * 60)
