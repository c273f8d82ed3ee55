"""What a template may do, and the error it raises when it does not.

Shared by :mod:`vdictl.config.templating` (compiles and renders) and
:mod:`vdictl.config.jinja_sandbox` (the Jinja2 environment it renders in); it
imports neither, so neither imports the other back.
"""

from __future__ import annotations

from typing import Any, Optional

from vdictl.errors import ConfigError

#: Longest template source, and longest text one rendering may produce.
MAX_TEMPLATE_CHARS = 2000
MAX_RENDERED_CHARS = 10000
#: Longest answer file or cloud-init data a template file may render to.
MAX_PAYLOAD_CHARS = 1000000

#: Filters that cannot make a text much longer than their input.
ALLOWED_FILTERS = frozenset((
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "last",
    "length", "lower", "replace", "reverse", "round", "string", "title", "trim",
    "truncate", "upper",
))


class TemplateError(ConfigError):
    """A template cannot be compiled or rendered.

    ``detail`` is the bare problem, ``variable`` the offending variable
    name when there is one; ``str()`` adds what the template is for.
    """

    def __init__(self, detail: str, *, what: Optional[str] = None,
                 variable: Optional[str] = None, **where: Any):
        detail = detail.replace("\n", " ")    # an error is one line
        self.detail = detail
        self.what = what
        self.variable = variable
        message = f"template {what}: {detail}" if what else detail
        super().__init__(message, **where)
