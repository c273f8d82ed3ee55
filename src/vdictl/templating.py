"""Templates for VM names, IP addresses and snapshot descriptions.

Templates render through a sandboxed Jinja2 environment with strict
undefined variables and no autoescaping. The legacy Virtesk/Amoothei
placeholders (Python ``string.Template`` style) keep working: ``${var}``
and ``$var`` become ``{{ var }}`` and ``$$`` is a literal ``$``, while
Jinja syntax the user wrote (``{{ ... }}``, ``{% ... %}``, ``{# ... #}``)
passes through untouched. Both may appear in the same template.
"""

from __future__ import annotations

import re
from typing import AbstractSet, Any, Iterable, Mapping, Optional, Tuple

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from vdictl.errors import ConfigError

#: Longest string a template may build with ``*`` (names, IPs, descriptions are short).
MAX_REPEAT_CHARS = 10000
#: Largest exponent allowed with ``**``.
MAX_EXPONENT = 64

_IDENT = r"[_A-Za-z][_A-Za-z0-9]*"
_BRACED = re.compile(r"\$\{(" + _IDENT + r")\}")
_NAMED = re.compile(r"\$(" + _IDENT + r")")
_JINJA_CLOSE = {"{": "}}", "%": "%}", "#": "#}"}


class TemplateError(ConfigError):
    """A template cannot be compiled or rendered.

    ``detail`` is the bare problem, ``variable`` the offending variable
    name when there is one; ``str()`` adds what the template is for.
    """

    def __init__(self, detail: str, *, what: Optional[str] = None,
                 variable: Optional[str] = None, **where: Any):
        self.detail = detail
        self.what = what
        self.variable = variable
        message = f"template {what}: {detail}" if what else detail
        super().__init__(message, **where)


class _Environment(SandboxedEnvironment):
    """Sandbox that also refuses to build huge strings or numbers."""

    intercepted_binops = frozenset(("*", "**"))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and right > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (isinstance(seq, (str, list, tuple)) and isinstance(count, int)
                        and len(seq) * count > MAX_REPEAT_CHARS):
                    raise SecurityError("repetition result is too large")
        return super().call_binop(context, operator, left, right)


_ENV = _Environment(undefined=StrictUndefined, autoescape=False,
                    keep_trailing_newline=True)
_GLOBALS = frozenset(_ENV.globals)


def legacy_to_jinja(template: str) -> str:
    """Translate ``$var``/``${var}``/``$$`` into Jinja; keep Jinja blocks as written."""
    out = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if char == "{":
            opener = template[i + 1:i + 2]
            if opener in _JINJA_CLOSE:
                end = template.find(_JINJA_CLOSE[opener], i + 2)
                end = n if end < 0 else end + 2   # unclosed: Jinja reports it
                out.append(template[i:end])
                i = end
            else:
                # A lone "{" must not merge with a following "{{ var }}".
                out.append('{{ "{" }}')
                i += 1
        elif template.startswith("$$", i):
            out.append("$")
            i += 2
        elif char == "$":
            match = _BRACED.match(template, i) or _NAMED.match(template, i)
            if match:
                out.append("{{ " + match.group(1) + " }}")
                i = match.end()
            else:
                out.append("$")      # string.Template's safe_substitute kept it too
                i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


class CompiledTemplate:
    """A template parsed once and rendered for many VMs."""

    def __init__(self, source: str, what: str, template: Any,
                 variables: AbstractSet[str]):
        self.source = source
        self.what = what
        self._template = template
        #: variable names the template refers to
        self.variables = variables

    def render(self, variables: Mapping[str, object]) -> str:
        for name in sorted(self.variables):
            if variables.get(name) is None:
                raise TemplateError(
                    f"variable {name!r} has no value here", what=self.what,
                    variable=name)
        values = {k: v for k, v in variables.items() if v is not None}
        try:
            return self._template.render(values)
        except SecurityError as exc:
            raise TemplateError(f"unsafe template refused: {exc}",
                                what=self.what) from None
        except UndefinedError as exc:
            raise TemplateError(f"undefined: {exc}", what=self.what) from None
        except Exception as exc:  # any runtime error inside the template
            raise TemplateError(f"cannot render {self.source!r}: {exc}",
                                what=self.what) from None


def compile_template(template: str, *, what: str,
                     allowed: Optional[Iterable[str]] = None) -> CompiledTemplate:
    """Parse ``template``; with ``allowed``, refer to no other variables."""
    source = legacy_to_jinja(template)
    try:
        tree = _ENV.parse(source)
        compiled = _ENV.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error in {template!r}: {exc.message}",
                            what=what) from None
    used = frozenset(meta.find_undeclared_variables(tree) - _GLOBALS)
    if allowed is not None:
        known = frozenset(allowed)
        unknown = sorted(used - known)
        if unknown:
            raise TemplateError(
                f"unknown variable {unknown[0]!r} in {template!r} "
                f"(known: {', '.join(sorted(known))})",
                what=what, variable=unknown[0])
    return CompiledTemplate(template, what, compiled, used)


def render(template: str, variables: Mapping[str, object], *, what: str) -> str:
    """Render ``template`` once; every variable it uses must be in ``variables``."""
    return compile_template(template, what=what, allowed=variables).render(variables)


def variable_names(template: str) -> Tuple[str, ...]:
    """The variables a template refers to, sorted (for docs and checks)."""
    return tuple(sorted(compile_template(template, what="template").variables))
