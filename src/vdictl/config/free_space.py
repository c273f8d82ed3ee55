"""min_free_storage: the free space every storage keeps, as a percentage of
its size ("10%") or as a size ("200GiB"); parsed here, applied by
vdictl.ops.storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from vdictl.config.values import parse_memory, size_text
from vdictl.errors import ConfigError

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
#: a number alone: memory would read it as bytes, a guard of next to nothing
_BARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class MinFree:
    """A floor of free space: `percent` of the storage, or `size` bytes."""

    percent: Optional[float] = None
    size: Optional[int] = None

    def floor(self, total: int) -> int:
        """The free bytes a storage of `total` bytes keeps."""
        if self.percent is not None:
            return int(total * self.percent / 100)
        return self.size or 0

    def __str__(self) -> str:  # as the operator writes it (and the docs show the default)
        if self.percent is not None:
            return f"{self.percent:g}%"
        return size_text(self.size or 0, space="")


def parse_free_space(text: str) -> MinFree:
    """"10%" or "200GiB" (any size memory accepts); ConfigError saying what to write."""
    match = _PERCENT.match(text)
    if match:
        percent = float(match.group(1))
        if percent >= 100:
            raise ConfigError(f"{text.strip()!r} is not below 100%; write a percentage "
                              "such as 10% or a size such as 200GiB")
        return MinFree(percent=percent)
    if text.strip() == "0":
        return MinFree(size=0)
    bare = _BARE.match(text)
    if bare:  # "10" meant as 10% would keep 10 bytes free: the guard all but off
        raise ConfigError(f"{text.strip()!r} has no unit; write {bare.group(1)}% for a "
                          f"percentage of the storage or {bare.group(1)}GiB for a size "
                          "(0 turns the guard off)")
    try:
        return MinFree(size=parse_memory(text))
    except ConfigError:
        raise ConfigError(f"{text.strip()!r} is neither a percentage nor a size; write "
                          "e.g. 10% or 200GiB (0 turns the guard off)") from None
