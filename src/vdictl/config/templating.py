"""Templates for VM names, IP addresses and snapshot descriptions.

Templates render through a sandboxed Jinja2 environment with strict
undefined variables and no autoescaping. The legacy Virtesk/Amoothei
placeholders (Python ``string.Template`` style) keep working: ``${var}``
and ``$var`` become ``{{ var }}`` and ``$$`` is a literal ``$``, while
Jinja syntax the user wrote (``{{ ... }}``, ``{% ... %}``, ``{# ... #}``)
passes through untouched. Both may appear in the same template.

The language is cut down to what names, addresses and descriptions need:
variables, constants, arithmetic, comparisons, ``~``, slicing, ``{% if %}``
and a short list of filters. No calls, attribute access, loops, ``set``,
macros or includes: a template cannot reach Python objects, read files or
run for long, and no single operation may build a huge string or number.

Most templates are text and bare placeholders: those render here without
Jinja, and jinja2 is imported (vdictl.config.jinja_sandbox) only for the others.
"""

from __future__ import annotations

import functools
import re
from typing import AbstractSet, Any, Iterable, Mapping, Optional, Tuple

# the limits and the error live apart so that vdictl.config.jinja_sandbox needs nothing from here
from vdictl.config.template_rules import (ALLOWED_FILTERS, MAX_PAYLOAD_CHARS,  # noqa: F401
                                   MAX_RENDERED_CHARS, MAX_TEMPLATE_CHARS, TemplateError)

_IDENT = r"[_A-Za-z][_A-Za-z0-9]*"
_BRACED = re.compile(r"\$\{(" + _IDENT + r")\}")
_NAMED = re.compile(r"\$(" + _IDENT + r")")
_JINJA_CLOSE = {"{": "}}", "%": "%}", "#": "#}"}


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


#: ``{{ name }}`` alone: what ``$name`` becomes, and most templates hold nothing else
_PLACEHOLDER = re.compile(r"\{\{\s*(" + _IDENT + r")\s*\}\}")
_JINJA_CONSTANTS = frozenset(("true", "false", "none"))

Parts = Tuple[Tuple[str, Optional[str]], ...]


def _plain_parts(source: str) -> Optional[Parts]:
    """``source`` as (text, variable) pairs when it is only text and bare
    ``{{ name }}`` placeholders; None when it needs Jinja to render."""
    parts, pos = [], 0
    for match in _PLACEHOLDER.finditer(source):
        name = match.group(1)
        if name.lower() in _JINJA_CONSTANTS:
            return None
        parts.append((source[pos:match.start()], name))
        pos = match.end()
    parts.append((source[pos:], None))
    if any("{" in text or "\r" in text for text, _ in parts):
        return None
    return tuple(parts)


class CompiledTemplate:
    """A template parsed once and rendered for many VMs."""

    def __init__(self, source: str, what: str, template: Any,
                 variables: AbstractSet[str], parts: Optional[Parts] = None):
        self.source = source
        self.what = what
        self._template = template
        #: variable names the template refers to
        self.variables = variables
        #: set for plain templates, which render without Jinja (same output, 10x faster)
        self._parts = parts

    #: the file the template came from (compile_file), for error locations
    path: Optional[str] = None

    def render(self, variables: Mapping[str, object]) -> str:
        if self.path is None:  # one-line templates: name the key that gives a value
            for name in sorted(self.variables):
                if variables.get(name) is None:
                    raise TemplateError(
                        f"variable {name!r} has no value here", what=self.what,
                        variable=name)
        if self._parts is not None:
            text = "".join(text + ("" if name is None else str(variables[name]))
                           for text, name in self._parts)
        else:
            values = {k: v for k, v in variables.items() if v is not None}
            try:
                text = self._template.render(values)
            except Exception as exc:  # noqa: BLE001 - any run-time error inside the template
                raise self._render_error(exc) from None
        limit = MAX_RENDERED_CHARS if self.path is None else MAX_PAYLOAD_CHARS
        if len(text) > limit:
            source = self.source if self.path is None else self.path
            raise TemplateError(f"{source!r} renders to {len(text)} characters, "
                                f"more than {limit}", what=self.what)
        return text

    def _render_error(self, exc: Exception) -> "TemplateError":
        from jinja2.exceptions import SecurityError, UndefinedError

        if isinstance(exc, SecurityError):
            detail = f"unsafe template refused: {exc}"
        elif isinstance(exc, UndefinedError):
            detail = f"undefined: {exc}"
        elif self.path is None:
            detail = f"cannot render {self.source!r}: {exc}"
        else:
            detail = f"cannot render: {exc}"
        if self.path is None:
            return TemplateError(detail, what=self.what)
        return TemplateError(detail, what=self.what, file=self.path,
                             line=_template_line(exc, self.path))


def compile_template(template: str, *, what: str,
                     allowed: Optional[Iterable[str]] = None) -> CompiledTemplate:
    """Parse ``template``; with ``allowed``, refer to no other variables."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template is too long ({len(template)} characters, "
                            f"at most {MAX_TEMPLATE_CHARS})", what=what)
    compiled, used, parts = _parse(template, what)
    if allowed is not None:
        known = frozenset(allowed)
        unknown = sorted(used - known)
        if unknown:
            raise TemplateError(
                f"unknown variable {unknown[0]!r} in {template!r} "
                f"(known: {', '.join(sorted(known))})",
                what=what, variable=unknown[0])
    return CompiledTemplate(template, what, compiled, used, parts)


@functools.lru_cache(maxsize=512)
def _parse(template: str, what: str) -> Tuple[Any, AbstractSet[str], Optional[Parts]]:
    """(Jinja template or None, variables used, plain parts); a config repeats
    the same few templates in every room, so each is parsed once."""
    source = legacy_to_jinja(template)
    parts = _plain_parts(source)
    if parts is not None:
        return None, frozenset(name for _, name in parts if name is not None), parts
    from jinja2 import TemplateSyntaxError, meta

    from vdictl.config.jinja_sandbox import ENV, check_language

    try:
        tree = ENV.parse(source)
        check_language(tree, template, what)
        compiled = ENV.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error in {template!r}: {exc.message}",
                            what=what) from None
    except (RecursionError, MemoryError):
        raise TemplateError(f"{template[:40]!r}... is nested too deeply",
                            what=what) from None
    return compiled, frozenset(meta.find_undeclared_variables(tree)), None


def compile_file(path: str, *, what: str, legacy: bool = False) -> CompiledTemplate:
    """Read and parse the template file at `path` (an answer file, cloud-init data).

    Errors name the file and, where Jinja knows it, the line. `legacy` also
    accepts Amoothei's ``$var``/``${var}`` placeholders (they keep the lines).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise TemplateError(f"not valid UTF-8 ({exc.reason})", what=what, file=path) from None
    except OSError as exc:
        raise TemplateError(f"cannot read the file: {exc.strerror or exc}", what=what,
                            file=path) from None
    source = legacy_to_jinja(text) if legacy else text
    from jinja2 import TemplateSyntaxError

    from vdictl.config.jinja_sandbox import ENV

    try:
        code = ENV.compile(ENV.parse(source, filename=path), filename=path)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error: {exc.message}", what=what, file=path,
                            line=exc.lineno) from None
    compiled = ENV.template_class.from_code(ENV, code, ENV.make_globals(None))
    template = CompiledTemplate(text, what, compiled, frozenset())
    template.path = path
    return template


def _template_line(exc: BaseException, path: str) -> Optional[int]:
    """The template line of a render error: Jinja rewrites the traceback so
    that its frames carry the template's file name and line."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render(template: str, variables: Mapping[str, object], *, what: str) -> str:
    """Render ``template`` once; every variable it uses must be in ``variables``."""
    return compile_template(template, what=what, allowed=variables).render(variables)


def variable_names(template: str) -> Tuple[str, ...]:
    """The variables a template refers to, sorted (for docs and checks)."""
    return tuple(sorted(compile_template(template, what="template").variables))
