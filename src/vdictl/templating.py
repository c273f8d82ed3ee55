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
"""

from __future__ import annotations

import functools
import re
from typing import AbstractSet, Any, Iterable, Mapping, Optional, Tuple

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from vdictl.errors import ConfigError

#: Longest string a template may build with ``*`` (names, IPs, descriptions are short).
MAX_REPEAT_CHARS = 10000
#: Largest exponent allowed with ``**``.
MAX_EXPONENT = 64
#: Largest result of ``**``, in bits.
MAX_POWER_BITS = 1024
#: Longest template source, and longest text one rendering may produce.
MAX_TEMPLATE_CHARS = 2000
MAX_RENDERED_CHARS = 10000
#: Longest answer file or cloud-init data a template file may render to.
MAX_PAYLOAD_CHARS = 1000000

#: The parts of the Jinja2 language a template may use (nodes of its syntax tree).
ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.CondExpr,
    nodes.Name, nodes.Const, nodes.Tuple, nodes.List, nodes.Keyword,
    nodes.Filter, nodes.Test, nodes.Compare, nodes.Operand,
    nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
    nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow,
    nodes.Concat, nodes.Getitem, nodes.Slice,
)
#: Filters that cannot make a text much longer than their input.
ALLOWED_FILTERS = frozenset((
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "last",
    "length", "lower", "replace", "reverse", "round", "string", "title", "trim",
    "truncate", "upper",
))
#: What the user writes, for the message, by syntax-tree node.
_NODE_WORDS = {
    "Getattr": "attribute access", "Call": "calling a function", "For": "{% for %}",
    "Assign": "{% set %}", "AssignBlock": "{% set %}", "Macro": "{% macro %}",
    "CallBlock": "{% call %}", "FilterBlock": "{% filter %}", "With": "{% with %}",
    "Include": "{% include %}", "Import": "{% import %}", "FromImport": "{% from %}",
    "Extends": "{% extends %}", "Block": "{% block %}", "Dict": "a {dict}",
}

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
        detail = detail.replace("\n", " ")    # an error is one line
        self.detail = detail
        self.what = what
        self.variable = variable
        message = f"template {what}: {detail}" if what else detail
        super().__init__(message, **where)


class _Environment(SandboxedEnvironment):
    """Sandbox that also refuses to build huge strings or numbers."""

    intercepted_binops = frozenset(("*", "**", "%"))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)):
            if right > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large")
            if isinstance(left, int) and abs(left).bit_length() * right > MAX_POWER_BITS:
                raise SecurityError("power result is too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (isinstance(seq, (str, list, tuple)) and isinstance(count, int)
                        and len(seq) * count > MAX_REPEAT_CHARS):
                    raise SecurityError("repetition result is too large")
        if operator == "%" and isinstance(left, str):
            # '%999999999d' % 1 would build a gigabyte; ~ joins texts.
            raise SecurityError("printf-style % formatting is not allowed; join with ~")
        return super().call_binop(context, operator, left, right)

    def getitem(self, obj: Any, argument: Any) -> Any:
        # Only indexes and slices: obj['upper'] would reach the method.
        if isinstance(argument, bool) or not isinstance(argument, (int, slice)):
            raise SecurityError(f"only [number] and [start:stop] may follow a value, "
                                f"not [{argument!r}]")
        return super().getitem(obj, argument)


def _replace(value: Any, old: Any, new: Any, count: Optional[int] = None) -> str:
    """str.replace that refuses to grow the text past MAX_RENDERED_CHARS."""
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_RENDERED_CHARS:
        raise SecurityError("replace result is too large")
    return text.replace(old, new, -1 if count is None else count)


_ENV = _Environment(undefined=StrictUndefined, autoescape=False,
                    keep_trailing_newline=True)
_ENV.globals.clear()          # range, lipsum, cycler ...: nothing to call
_ENV.filters = {name: f for name, f in _ENV.filters.items() if name in ALLOWED_FILTERS}
_ENV.filters["replace"] = _replace
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
        if name in _GLOBALS or name.lower() in _JINJA_CONSTANTS:
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
            except Exception as exc:  # any runtime error inside the template
                raise self._render_error(exc) from None
        limit = MAX_RENDERED_CHARS if self.path is None else MAX_PAYLOAD_CHARS
        if len(text) > limit:
            source = self.source if self.path is None else self.path
            raise TemplateError(f"{source!r} renders to {len(text)} characters, "
                                f"more than {limit}", what=self.what)
        return text

    def _render_error(self, exc: Exception) -> "TemplateError":
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
    try:
        tree = _ENV.parse(source)
        _check_language(tree, template, what)
        compiled = _ENV.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error in {template!r}: {exc.message}",
                            what=what) from None
    except (RecursionError, MemoryError):
        raise TemplateError(f"{template[:40]!r}... is nested too deeply",
                            what=what) from None
    return compiled, frozenset(meta.find_undeclared_variables(tree) - _GLOBALS), None


def _check_language(tree: nodes.Template, template: str, what: str) -> None:
    """Refuse every syntax outside ALLOWED_NODES and every filter outside ALLOWED_FILTERS."""
    pending: list = [tree]             # a loop: deep templates must not hit the recursion limit
    while pending:
        node = pending.pop()
        kind = type(node).__name__
        if not isinstance(node, ALLOWED_NODES):
            word = _NODE_WORDS.get(kind, kind)
            if isinstance(node, nodes.Getattr):
                word = f"attribute access ('.{node.attr}')"
            raise TemplateError(f"{word} is not allowed in {template!r}", what=what)
        if isinstance(node, nodes.Name) and node.name == "self":
            raise TemplateError(f"'self' is not allowed in {template!r}", what=what)
        if isinstance(node, nodes.Filter):
            if node.name not in ALLOWED_FILTERS:
                raise TemplateError(
                    f"filter {node.name!r} is not allowed in {template!r} (allowed: "
                    f"{', '.join(sorted(ALLOWED_FILTERS))})", what=what)
        if isinstance(node, (nodes.Filter, nodes.Test)) and (node.dyn_args or node.dyn_kwargs):
            raise TemplateError(f"*args and **kwargs are not allowed in {template!r}",
                                what=what)
        pending.extend(node.iter_child_nodes())


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
    try:
        code = _ENV.compile(_ENV.parse(source, filename=path), filename=path)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error: {exc.message}", what=what, file=path,
                            line=exc.lineno) from None
    compiled = _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None))
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
