"""One written value of a key converted by its type (spec.py's TYPES): the
loader (load.py) calls :func:`convert` for every key it reads; the parsers of
the single kinds of value live in values.py."""

from __future__ import annotations

import ipaddress
import math
import os
from typing import Any, Tuple

from vdictl.config.free_space import parse_free_space
from vdictl.config.spec import Key
from vdictl.config.values import (RawValue, check_memory_minimum, parse_accounts, parse_bool,
                                  parse_ids, parse_memory, parse_regex, parse_words,
                                  single_value)
from vdictl.errors import ConfigError


def convert(key: Key, raw: RawValue, base_dir: str) -> Any:
    """Convert a raw configobj value; ConfigError (no location) when it does not fit."""
    kind = key.type
    if kind == "ids":
        return parse_ids(raw)
    if kind == "memory":
        return check_memory_minimum(parse_memory(raw), raw, int(key.minimum or 1))
    if kind == "bool":
        return parse_bool(raw)
    if kind == "urls" and isinstance(raw, (list, tuple)):
        return ", ".join(str(part).strip() for part in raw)
    if kind == "accounts":
        return parse_accounts(raw)
    if kind == "choices":
        return tuple(_choice(key, word) for word in parse_words(raw))
    text = single_value(raw)
    if kind in ("str", "template", "urls"):
        return text
    if kind == "path":
        path = os.path.expanduser(text.strip())
        return os.path.normpath(os.path.join(base_dir, path))
    if kind == "int":
        try:
            value: Any = int(text.strip())
        except ValueError:
            raise ConfigError(f"{text!r} is not a whole number") from None
        return _in_range(key, value)
    if kind == "float":
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(f"{text!r} is not a number")
        return _in_range(key, value)
    if kind == "choice":
        return _choice(key, text)
    if kind == "regex":
        return parse_regex(text)
    if kind == "free_space":
        return parse_free_space(text)
    if kind == "vmid_range":
        return parse_vmid_range(text)
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(text.strip()))
        except ValueError:
            raise ConfigError(f"{text!r} is not an IP address") from None
    raise AssertionError(f"unknown key type {kind!r}")


#: the VMIDs Proxmox VE allows (pve-common's pve-vmid format)
VMID_MIN, VMID_MAX = 100, 999999999


def parse_vmid_range(text: str) -> Tuple[int, int]:
    """"5000-5999" -> (5000, 5999); ConfigError saying what to write."""
    low, sep, high = text.strip().partition("-")
    try:
        lower, upper = int(low.strip()), int(high.strip())
    except ValueError:
        lower = upper = 0
    if not sep or not lower:
        raise ConfigError(f"{text!r} is not a range of VMIDs; write the lowest and the "
                          "highest with a dash, e.g. 5000-5999")
    if not VMID_MIN <= lower <= upper <= VMID_MAX:
        raise ConfigError(f"{text!r} is not a range of VMIDs from {VMID_MIN} to {VMID_MAX} "
                          "with the lower first; write e.g. 5000-5999")
    return lower, upper
def _choice(key: Key, text: str) -> str:
    for choice in key.choices:
        if text.strip().lower() == choice.lower():
            return choice
    raise ConfigError(f"{text!r} is not one of {', '.join(key.choices)}")


def _in_range(key: Key, value: Any) -> Any:
    if key.minimum is not None and value < key.minimum:
        raise ConfigError(f"{value} is less than {key.minimum:g}")
    if key.maximum is not None and value > key.maximum:
        raise ConfigError(f"{value} is more than {key.maximum:g}")
    return value
