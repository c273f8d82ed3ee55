"""Command-line interface: `vdictl`."""

from __future__ import annotations

import sys

from . import exit_codes
from .app import cli
from . import rooms as _rooms  # noqa: F401  (registers commands)
from . import virtroom as _virtroom  # noqa: F401
from . import config_check as _config_check  # noqa: F401
from . import template as _template  # noqa: F401
from . import status as _status  # noqa: F401
from . import report as _report  # noqa: F401
from . import preflight as _preflight  # noqa: F401


def main() -> None:
    try:
        cli(prog_name="vdictl")
    except Exception as exc:  # noqa: BLE001 - never show a traceback to an operator
        import logging

        logging.getLogger("vdictl").debug("internal error", exc_info=True)
        sys.stderr.write(f"vdictl: internal error: {exc!r} (run with -vv for details)\n")
        sys.exit(exit_codes.VM_FAILED)


__all__ = ["cli", "main"]
