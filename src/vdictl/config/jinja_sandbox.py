"""The sandboxed Jinja2 environment that templates needing Jinja render in.

Imported by :mod:`vdictl.config.templating` only when a template uses more than
plain ``${var}`` / ``{{ var }}`` placeholders, or is a payload file: a
config of plain templates never loads Jinja.
"""

from __future__ import annotations

from typing import Any, Optional

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from vdictl.config.template_rules import ALLOWED_FILTERS, MAX_RENDERED_CHARS, TemplateError

#: Longest string a template may build with ``*`` (names, IPs, descriptions are short).
MAX_REPEAT_CHARS = 10000
#: Largest exponent allowed with ``**``.
MAX_EXPONENT = 64
#: Largest result of ``**``, in bits.
MAX_POWER_BITS = 1024

#: The parts of the Jinja2 language a template may use (nodes of its syntax tree).
ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.CondExpr,
    nodes.Name, nodes.Const, nodes.Tuple, nodes.List, nodes.Keyword,
    nodes.Filter, nodes.Test, nodes.Compare, nodes.Operand,
    nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
    nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow,
    nodes.Concat, nodes.Getitem, nodes.Slice,
)
#: What the user writes, for the message, by syntax-tree node.
_NODE_WORDS = {
    "Getattr": "attribute access", "Call": "calling a function", "For": "{% for %}",
    "Assign": "{% set %}", "AssignBlock": "{% set %}", "Macro": "{% macro %}",
    "CallBlock": "{% call %}", "FilterBlock": "{% filter %}", "With": "{% with %}",
    "Include": "{% include %}", "Import": "{% import %}", "FromImport": "{% from %}",
    "Extends": "{% extends %}", "Block": "{% block %}", "Dict": "a {dict}",
}


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


ENV = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
ENV.globals.clear()          # range, lipsum, cycler ...: nothing to call
ENV.filters = {name: f for name, f in ENV.filters.items() if name in ALLOWED_FILTERS}
ENV.filters["replace"] = _replace


def check_language(tree: nodes.Template, template: str, what: str) -> None:
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
