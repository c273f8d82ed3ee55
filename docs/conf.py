"""Sphinx configuration: the Markdown pages (myst-parser) as HTML.

Build: .venv/bin/python -m sphinx -W -b html docs build/docs
tests/docs builds it with warnings as errors. The vdictl(1) man page is not
built here: scripts/gen-docs writes docs/man/vdictl.1 from the code.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vdictl import __version__  # noqa: E402

project = "vdictl"
author = "the vdictl authors"
copyright = "the vdictl authors; GPL-3.0-or-later"
version = release = __version__

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]
exclude_patterns = ["_build", "build"]
root_doc = "index"

html_theme = "alabaster"
html_static_path = []
