# SPDX-License-Identifier: GPL-3.0-or-later
"""Request parameters: the query string (GET, DELETE), form data (POST,
PUT: urlencoded or multipart, the latter for uploads)."""

from __future__ import annotations

import email.parser
import email.policy
from urllib.parse import parse_qsl


def query_params(query):
    return dict(parse_qsl(query, keep_blank_values=True))


def body_params(content_type, raw):
    """(params, files): files maps a field to (filename, bytes)."""
    content_type = content_type or ""
    if content_type.startswith("multipart/form-data"):
        return _multipart(content_type, raw)
    if not raw:
        return {}, {}
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True)), {}


def _multipart(content_type, raw):
    head = ("Content-Type: %s\r\nMIME-Version: 1.0\r\n\r\n" % content_type).encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    params, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = (filename, data)
        else:
            params[name] = data.decode("utf-8")
    return params, files
