# SPDX-License-Identifier: GPL-3.0-or-later
"""ElementTree helpers, and the body of a request read as XML."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from tests.ovirt_sim.state.entities import Ref
from tests.ovirt_sim.state.errors import EngineError


class BadRequest(EngineError):
    """A body that is not XML, or not the element the request needs."""


def sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text if isinstance(text, str) else (
            ("true" if text else "false") if isinstance(text, bool) else str(text))
    return el


def text(el, path, default=None):
    if el is None:
        return default
    found = el.find(path)
    if found is None or found.text is None:
        return default
    return found.text


def parse_bool(value):
    if value is None:
        return None
    return value.strip().lower() == "true"


def serialize(el):
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            + ET.tostring(el, encoding="utf-8"))


def parse_body(raw):
    """The request's root element, or None for an empty body."""
    try:
        return ET.fromstring(raw) if raw.strip() else None
    except ET.ParseError as exc:
        raise BadRequest("Request syntactically incorrect: %s" % exc) from None


def require(body, tag):
    if body is None or body.tag != tag:
        raise BadRequest("Request syntactically incorrect. Expected <%s>." % tag)
    return body


def ref(el):
    """A reference element (``<cluster id=.../>``, ``<template><name>...``)
    as a :class:`Ref`, or None when the element is absent."""
    if el is None:
        return None
    return Ref(el.get("id") or text(el, "id"), text(el, "name"))


def to_text(el):
    """An element kept verbatim by the engine, as text (without its tail)."""
    el = copy.copy(el)
    el.tail = None
    return ET.tostring(el, encoding="unicode")


def from_text(value):
    return ET.fromstring(value)
