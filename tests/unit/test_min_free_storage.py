"""min_free_storage: a percentage or a size, one clear line when it is neither."""

from __future__ import annotations

import pytest

from vdictl.config.free_space import MinFree
from vdictl.config.rooms import Throttle

from tests.unit.test_config import HEADER, error, load

GiB = 1 << 30


def test_the_default_is_ten_percent():
    assert Throttle().min_free_storage == MinFree(percent=10.0)
    assert str(Throttle().min_free_storage) == "10%"
    assert Throttle().min_free_storage.floor(4 << 40) == 4 * (1 << 40) // 10


@pytest.mark.parametrize("value, parsed, floor", [
    ("7.5%", MinFree(percent=7.5), 75 * GiB // 10),
    (" 25 % ", MinFree(percent=25.0), 25 * GiB),
    ("200GiB", MinFree(size=200 * GiB), 200 * GiB),
    ("1.5TiB", MinFree(size=3 << 39), 3 << 39),
    ("500GB", MinFree(size=500 * 10 ** 9), 500 * 10 ** 9),
    ("0", MinFree(size=0), 0),
    ("0%", MinFree(percent=0.0), 0),
])
def test_a_percentage_or_a_size(tmp_path, value, parsed, floor):
    cfg = load(tmp_path, HEADER + f"    [[throttle]]\n    min_free_storage = {value}\n")
    assert cfg.throttle.min_free_storage == parsed
    assert parsed.floor(100 * GiB) == floor


@pytest.mark.parametrize("value, message", [
    ("lots", "'lots' is neither a percentage nor a size; write e.g. 10% or 200GiB "
             "(0 turns the guard off)"),
    ("200 parsecs", "'200 parsecs' is neither a percentage nor a size; write e.g. 10% or "
                    "200GiB (0 turns the guard off)"),
    ("100%", "'100%' is not below 100%; write a percentage such as 10% or a size such as "
             "200GiB"),
    ("-5%", "'-5%' is neither a percentage nor a size; write e.g. 10% or 200GiB "
            "(0 turns the guard off)"),
])
def test_anything_else_is_one_line_naming_the_key(tmp_path, value, message):
    err = error(tmp_path, HEADER + f"    [[throttle]]\n    min_free_storage = {value}\n")
    assert str(err) == f"{err.file} [general/throttle] min_free_storage: {message}"
