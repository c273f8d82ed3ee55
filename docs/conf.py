"""Sphinx configuration: Markdown pages (myst-parser), HTML and the vdictl(1) man page.

Build: .venv/bin/python -m sphinx -W -b html docs build/docs   (and -b man)
tests/docs builds both with warnings as errors.
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

# The man page is one document; it pulls in the generated command reference.
man_pages = [
    ("man/vdictl", "vdictl", "keep virtual rooms of VDI virtual machines in a known, clean state",
     [author], 1),
]
man_show_urls = False
