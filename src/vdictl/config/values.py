"""Small, safe parsers for config values: VM ids, memory sizes, booleans.

Virtesk passed ``ids`` and ``memory`` to ``eval()``. vdictl never evaluates
code: these parsers accept the documented forms (and a little more) by
walking a restricted syntax tree, and reject everything else with a
ConfigError that has no location yet; the config layer adds file, section
and key.
"""

from __future__ import annotations

import ast
import re
import warnings
from typing import List, Optional, Sequence, Tuple, Union

from vdictl.errors import ConfigError

#: More VMs than this in one subsection is certainly a typo.
MAX_IDS = 10000
#: Largest number the arithmetic parser accepts (guards against huge products).
MAX_NUMBER = 2 ** 60
#: Largest memory size accepted (64 TiB).
MAX_MEMORY = 64 * 2 ** 40
#: Smallest memory a VM is given (a smaller value is a unit forgotten: plain numbers are bytes).
MIN_MEMORY = 32 * 2 ** 20
#: Largest memory a "did you mean" suggests (a VDI VM with more is unlikely).
_LIKELY_MEMORY = 256 * 2 ** 30
#: Longest expression handed to the parser (also bounds the digits of any number).
MAX_EXPRESSION_CHARS = 1000
#: Deepest nesting of operators and brackets in an expression.
MAX_EXPRESSION_DEPTH = 50
#: Longest regular expression accepted.
MAX_REGEX_CHARS = 1000

RawValue = Union[str, Sequence[str], int]

_TRUE = frozenset(("true", "yes", "on", "1", "enabled"))
_FALSE = frozenset(("false", "no", "off", "0", "disabled"))


def parse_bool(raw: Union[RawValue, bool]) -> bool:
    """True/False/yes/no/on/off/1/0/enabled/disabled, any case."""
    if isinstance(raw, bool):
        return raw
    text = single_value(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(
        f"{single_value(raw)!r} is not a boolean; use one of "
        "True/False, yes/no, on/off, 1/0, enabled/disabled")


# --- integer arithmetic -------------------------------------------------

def parse_int_expression(text: str) -> int:
    """Evaluate a small integer expression: literals, + - *, unary -, ( ).

    ``4 * 1024 * 1024 * 1024`` -> 4294967296. Nothing else is accepted:
    names, calls, attributes, strings, floats, ``**``, ``/`` are errors.
    """
    tree = _parse_expression(text)
    return _eval_int(tree.body, text)


def _bounded(text: str) -> str:
    """Refuse overlong values before any parsing (int() of 5000 digits raises)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ConfigError(f"value is too long ({len(text)} characters, at most "
                          f"{MAX_EXPRESSION_CHARS})")
    return text


def _parse_expression(text: str) -> ast.Expression:
    text = _bounded(text.strip())
    if not text:
        raise ConfigError("empty value")
    try:
        with warnings.catch_warnings():     # SyntaxWarnings would reach stderr
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ConfigError(f"cannot parse {text!r}") from None


def _eval_int(node: ast.AST, text: str, depth: int = 0) -> int:
    _check_depth(depth, text)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            return _checked(value, text)
        raise ConfigError(f"{text!r}: only whole numbers are allowed, not {value!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval_int(node.operand, text, depth + 1)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left = _eval_int(node.left, text, depth + 1)
        right = _eval_int(node.right, text, depth + 1)
        if isinstance(node.op, ast.Add):
            return _checked(left + right, text)
        if isinstance(node.op, ast.Sub):
            return _checked(left - right, text)
        return _checked(left * right, text)
    raise ConfigError(
        f"{text!r}: not allowed here ({type(node).__name__}); "
        "only whole numbers with + - * and parentheses")


def _check_depth(depth: int, text: str) -> None:
    # Python's own recursion limit would end the walk with a RecursionError.
    if depth > MAX_EXPRESSION_DEPTH:
        raise ConfigError(f"{text[:40]!r}...: nested more than {MAX_EXPRESSION_DEPTH} deep")


def _checked(value: int, text: str) -> int:
    if abs(value) > MAX_NUMBER:
        raise ConfigError(f"{text!r}: number too large")
    return value


# --- ids ------------------------------------------------------------------

_DASH_LIST = re.compile(r"^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$")
#: What ids accepts (configspec.TYPES and the parse errors say it).
IDS_FORMS = '"range(1,10+1)", "[1,2,3]", "1-10", "1-4,7", 5 or 1, 2, 3'


class _IdsValueError(ConfigError):
    """ids written in an accepted form, but with values that do not make VMs."""


def parse_ids(raw: RawValue) -> List[int]:
    """VM ids: ``range(1,10+1)``, ``[1,2,3]``, ``1-10``, ``1-4,7``, ``5``.

    configobj turns an unquoted ``ids = 1, 2, 3`` into a list; lists are
    joined with commas again, so ``ids = range(1, 5)`` works unquoted too.
    Python 2 configs sometimes concatenated: ``range(1,5) + [9]`` is fine.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        ids = [raw]
    else:
        text = ",".join(raw) if isinstance(raw, (list, tuple)) else str(raw)
        try:
            text = _bounded(text)
            if _DASH_LIST.match(text):
                ids = _dash_list(text)
            else:
                tree = _parse_expression(text)
                ids = _eval_ids(tree.body, text, top=True)
        except _IdsValueError:
            raise
        except ConfigError as exc:
            raise ConfigError(f"{exc.message}; write ids as {IDS_FORMS}") from None
        raw = text
    if not ids:
        raise ConfigError(f"ids {raw!r} gives no VMs")
    if len(ids) > MAX_IDS:
        raise ConfigError(f"ids {raw!r} gives {len(ids)} VMs, more than {MAX_IDS}")
    negative = [i for i in ids if i < 0]
    if negative:
        raise ConfigError(f"ids {raw!r}: negative id {negative[0]}")
    seen = set()
    for i in ids:
        if i in seen:
            raise ConfigError(f"ids {raw!r}: id {i} appears twice")
        seen.add(i)
    return ids


def _dash_list(text: str) -> List[int]:
    ids: List[int] = []
    for item in text.split(","):
        if "-" in item:
            first_s, last_s = item.split("-")
            first, last = int(first_s), int(last_s)
            if last < first:
                raise _IdsValueError(f"ids {text!r}: range {item.strip()!r} runs backwards")
            _check_count(len(ids) + last - first + 1, text)
            ids.extend(range(first, last + 1))
        else:
            ids.append(int(item))
        _check_count(len(ids), text)
    return ids


def _check_count(count: int, text: str) -> None:
    if count > MAX_IDS:
        raise _IdsValueError(f"ids {text!r} gives more than {MAX_IDS} VMs")


def _eval_ids(node: ast.AST, text: str, top: bool = False, depth: int = 0) -> List[int]:
    _check_depth(depth, text)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ConfigError(f"ids {text!r}: only range(start, stop[, step]) may be called")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ConfigError(f"ids {text!r}: keyword or starred arguments are not allowed")
        if node.func.id == "range" and 1 <= len(node.args) <= 3:
            args = [_eval_int(a, text, depth + 1) for a in node.args]
            if len(args) == 3 and args[2] == 0:
                raise _IdsValueError(f"ids {text!r}: range() step must not be zero")
            numbers = range(*args)
            _check_count(len(numbers), text)
            return list(numbers)
        if node.func.id == "list" and len(node.args) == 1:
            return _eval_ids(node.args[0], text, depth=depth + 1)
        raise ConfigError(f"ids {text!r}: only range(start, stop[, step]) may be called")
    if isinstance(node, (ast.List, ast.Tuple)):
        _check_count(len(node.elts), text)
        return [_eval_int(e, text, depth + 1) for e in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and _is_sequence(node):
        left = _eval_ids(node.left, text, depth=depth + 1)
        right = _eval_ids(node.right, text, depth=depth + 1)
        _check_count(len(left) + len(right), text)
        return left + right
    if top:
        return [_eval_int(node, text, depth)]
    raise ConfigError(f"ids {text!r}: expected range(...), a [list] or numbers")


def _is_sequence(node: ast.AST) -> bool:
    """Is this ``+`` a concatenation of id lists rather than arithmetic?"""
    pending = [node]                   # a loop, not recursion: `1+1+...` may be long
    while pending:
        node = pending.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            pending += (node.left, node.right)
        elif isinstance(node, (ast.Call, ast.List, ast.Tuple)):
            return True
    return False


# --- memory -----------------------------------------------------------------

_UNIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_UNITS = {
    "": 1, "b": 1,
    "k": 2 ** 10, "kib": 2 ** 10, "m": 2 ** 20, "mib": 2 ** 20,
    "g": 2 ** 30, "gib": 2 ** 30, "t": 2 ** 40, "tib": 2 ** 40,
    "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
}


def netmask(prefix: Optional[int]) -> Optional[str]:
    """The dotted IPv4 netmask of a prefix length (24 -> 255.255.255.0); None stays None."""
    if prefix is None:
        return None
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return ".".join(str((bits >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def parse_memory(raw: RawValue) -> int:
    """Memory in bytes: ``4 * 1024 * 1024 * 1024``, ``4294967296``, ``4GiB``, ``512M``.

    K/M/G/T and KiB/MiB/GiB/TiB are binary (powers of 1024); KB/MB/GB/TB
    are decimal (powers of 1000). Units are case-insensitive.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
        text = str(raw)
    else:
        text = _bounded(single_value(raw))
        match = _UNIT_RE.match(text)
        if match and (match.group(2) or "." not in match.group(1)):
            factor = _UNITS.get(match.group(2).lower())
            if factor is None:
                raise ConfigError(
                    f"memory {text!r}: unknown unit {match.group(2)!r}; "
                    "use B, K/KiB, M/MiB, G/GiB, T/TiB (binary) or KB/MB/GB/TB (decimal)")
            from fractions import Fraction  # exact "1.5G"; only here, it costs start-up time

            value = int(Fraction(match.group(1)) * factor)
        else:
            try:
                value = parse_int_expression(text)
            except ConfigError as exc:
                raise ConfigError(f"memory: {exc.message}") from None
    if value <= 0:
        raise ConfigError(f"memory {text!r} must be more than 0 bytes")
    if value > MAX_MEMORY:
        raise ConfigError(f"memory {text!r} is more than 64 TiB")
    return value


def size_text(size: int, space: str = " ") -> str:
    """A size in bytes for people: 64 -> '64 bytes', 2048 -> '2 KiB', 1610612736 -> '1.5 GiB'.

    With ``space=""`` it is also a value memory accepts (4GiB), for tables.
    """
    for unit, factor in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if size >= factor:
            return f"{size / factor:.4g}{space}{unit}"
    return f"{size}{space}bytes" if space else f"{size}B"


def check_memory_minimum(value: int, raw: RawValue, minimum: int = MIN_MEMORY) -> int:
    """``value`` if a VM can run with it; else an error that guesses the unit left out.

    Amoothei's plain numbers are bytes, so ``memory = 2048`` meant as MiB gives
    a VM of 2 KiB that the backend either accepts or refuses with an XML error.
    """
    if value >= minimum:
        return value
    text = str(raw).strip() if isinstance(raw, int) else single_value(raw).strip()
    shown = f"{value} bytes" + (f" ({size_text(value)})" if value >= 1024 else "")
    message = f"memory = {text} is {shown}; a VM needs at least {size_text(minimum)}"
    guesses = _memory_guesses(value, text, minimum)
    if guesses:
        message += ": did you mean " + " or ".join(f'"{g}"' for g in guesses) + "?"
    raise ConfigError(message)


def _memory_guesses(value: int, text: str, minimum: int) -> List[str]:
    """What the operator probably meant: a unit after a plain number, or one
    more ``* 1024`` after a product."""
    def likely(size: int) -> bool:
        return minimum <= size <= _LIKELY_MEMORY

    if text.isdigit():
        return [text + unit for unit, factor in (("KiB", 2 ** 10), ("MiB", 2 ** 20),
                                                 ("GiB", 2 ** 30)) if likely(value * factor)]
    if "*" in text:
        guess = text
        for _ in range(3):
            guess, value = f"{guess} * 1024", value * 1024
            if likely(value):
                return [guess]
    return []


def single_value(raw: RawValue) -> str:
    """The one value of a key; ConfigError for a list (an unquoted comma)."""
    if isinstance(raw, (list, tuple)):
        raise ConfigError(
            "a single value is expected, not a list (an unquoted comma makes "
            "a list: put the value in double quotes)")
    return str(raw)


# --- lists of words -----------------------------------------------------------

#: a user name, or a group name after "%" (sudoers writes groups so too)
_ACCOUNT = re.compile(r"%?[A-Za-z0-9_][A-Za-z0-9_.@$-]*")


def parse_words(raw: RawValue) -> Tuple[str, ...]:
    """A comma-separated list (configobj splits the unquoted commas; a quoted
    "a, b" is split here) as words, each once, in order; empty items left out."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def parse_accounts(raw: RawValue) -> Tuple[str, ...]:
    """User names and %group names: alice, %chem-teachers."""
    words = parse_words(raw)
    for word in words:
        if not _ACCOUNT.fullmatch(word):
            raise ConfigError(f"{word!r} is not a user name or a %group; separate names "
                              "with commas, e.g. alice, %chem-teachers")
    return words


# --- regular expressions ------------------------------------------------------

def parse_regex(raw: RawValue) -> str:
    """A regular expression that RE2 accepts, so that it matches in time linear
    in the description (see vdictl.config.linear_regex)."""
    from vdictl.config.linear_regex import RegexError, compile_regex

    text = single_value(raw)
    if len(text) > MAX_REGEX_CHARS:
        raise ConfigError(f"regular expression is too long ({len(text)} characters, "
                          f"at most {MAX_REGEX_CHARS})")
    try:
        compile_regex(text)
    except RegexError as exc:
        raise ConfigError(f"invalid regular expression {text!r}: {exc}") from None
    return text
