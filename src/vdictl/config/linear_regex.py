"""reset_to_snapshot_regex, matched in linear time by RE2 (google-re2).

Python's re backtracks: ``(a+)+$`` takes exponential time on ``aaa...b``,
and a snapshot description comes from the backend, so a pattern from the
config must not be able to hang a reset. RE2 guarantees time linear in the
description for every pattern it accepts. It accepts the syntax a snapshot
regex needs (classes, repeats, ``|``, ``^ $``, ``(?i)``) and refuses what
needs backtracking: lookarounds, backreferences, atomic groups and possessive
repeats. No Python internals are read, so nothing changes between Python
versions.
"""

from __future__ import annotations

import functools
from typing import Any

#: why a pattern that RE2 refuses with "invalid perl operator" or "bad repetition" is refused
_BACKTRACKING = ("vdictl matches with RE2, a linear-time engine, which has no lookarounds, "
                 "backreferences, atomic groups or possessive repeats; write the pattern "
                 "without them, e.g. 'vdictl rollout .*'")


class RegexError(ValueError):
    """The pattern is not a regular expression RE2 accepts; the message says why."""


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Any:
    """The compiled pattern; RegexError when RE2 refuses it."""
    import re2  # loads when a config with a regex is read, not at start-up

    options = re2.Options()
    options.log_errors = False   # RE2 would print its own line on stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        # "missing ): Automatic (snap": the part of the pattern quoted, on one line
        what, _, fragment = str(detail).partition(": ")
        message = f"{what} at {fragment!r}" if fragment else what
        if what in ("invalid perl operator", "bad repetition operator") or (
                what == "invalid escape sequence" and fragment[1:2].isdigit()):
            message = f"{message} ({_BACKTRACKING})"
        raise RegexError(message) from None


def search(pattern: str, text: str) -> bool:
    """Does `pattern` occur anywhere in `text` (Python's re.search semantics)?"""
    return compile_regex(pattern).search(text) is not None
