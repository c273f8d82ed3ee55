# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's search language, as much of it as clients use:
``name=room1-* and status=down``, ``!=``, ``*`` wildcards, quoted values."""

from __future__ import annotations

import functools
import re

from tests.ovirt_sim.state.errors import InvalidSearch

_SEARCH_TERM = re.compile(r"^\s*([A-Za-z_.]+)\s*(!=|=)\s*(.*?)\s*$")


@functools.lru_cache(maxsize=1024)
def _wildcard_re(pattern):
    # cached: a search tests every VM against the same few patterns
    parts = [re.escape(p) for p in pattern.split("*")]
    return re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def _term(raw):
    m = _SEARCH_TERM.match(raw)
    if m:
        fld, op, value = m.group(1).lower(), m.group(2), m.group(3)
    elif raw.strip() and re.match(r"^[\w*.\-]+$", raw.strip()):
        fld, op, value = "name", "=", raw.strip()
    else:
        raise InvalidSearch()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return fld, op, value


def parse_search(text):
    """``name=room1-* and status=down`` -> [(field, op, value), ...]."""
    text = (text or "").strip()
    prefix = re.match(r"^\s*\w+\s*:\s*", text)
    if prefix and "=" not in prefix.group(0):
        text = text[prefix.end():]
    if not text:
        return []
    return [_term(raw) for raw in re.split(r"\s+and\s+", text, flags=re.IGNORECASE)]


def _getters(kind, e):
    if kind == "vm":
        return {"name": lambda: e.name, "id": lambda: e.id,
                "status": lambda: e.status, "comment": lambda: e.comment,
                "description": lambda: e.description,
                "cluster": lambda: e.cluster.name,
                "template": lambda: e.template.name}
    if kind == "user":
        return {"usrname": lambda: e.user_name, "name": lambda: e.name,
                "id": lambda: e.id, "principal": lambda: e.principal}
    if kind == "job":
        return {"correlation_id": lambda: e.correlation_id, "id": lambda: e.id,
                "status": lambda: e.status}
    return {"name": lambda: e.name, "id": lambda: e.id}


def _matches(terms, getters):
    for fld, op, value in terms:
        getter = getters.get(fld)
        if getter is None:
            raise InvalidSearch()
        actual = getter()
        hit = actual is not None and bool(_wildcard_re(value).match(str(actual)))
        if (op == "=") != hit:
            return False
    return True


def select(kind, entities, search=None, limit=-1):
    """The ``entities`` of ``kind`` (vm, user, job, ...) that ``search``
    matches, at most ``limit`` of them when it is not negative."""
    terms = parse_search(search)
    found = []
    for e in list(entities):
        if terms and not _matches(terms, _getters(kind, e)):
            continue
        if 0 <= limit <= len(found):
            break
        found.append(e)
    return found
