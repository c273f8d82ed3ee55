"""The real CLI on a config file a test writes: the one helper every test package uses.

`write_config` puts the text in a directory (tmp_path, or a temporary
directory under hypothesis) and `vdictl` runs click's CliRunner on it.
Only SystemExit is caught: anything else is a traceback the operator would
see, so it fails the test where it happens.
"""

from __future__ import annotations

import logging
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
