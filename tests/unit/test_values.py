"""Safe value parsers: ids, memory, booleans. Nothing may ever be evaluated."""

from __future__ import annotations

import pytest

from vdictl.errors import ConfigError
from vdictl.config.values import (IDS_FORMS, MAX_IDS, parse_bool, parse_ids, parse_int_expression,
                           parse_memory, size_text)


@pytest.mark.parametrize("raw, expected", [
    ("range(1,10+1)", list(range(1, 11))),
    ("range(2,4+1)", [2, 3, 4]),
    ("range(5)", [0, 1, 2, 3, 4]),
    ("range(1, 10, 3)", [1, 4, 7]),
    ("range(10, 0, -3)", [10, 7, 4, 1]),
    ("range(1,(2+3)*2)", list(range(1, 10))),
    ("[1,2,3]", [1, 2, 3]),
    ("[1]", [1]),
    ("(4, 2)", [4, 2]),
    ("list(range(1,3))", [1, 2]),
    ("range(1,3) + [9]", [1, 2, 9]),
    ("1-10", list(range(1, 11))),
    ("1-4,7", [1, 2, 3, 4, 7]),
    (" 3 - 5 , 9 ", [3, 4, 5, 9]),
    ("1,2,3", [1, 2, 3]),
    ("7", [7]),
    ("0", [0]),
    (12, [12]),
    (["1", "2", "3"], [1, 2, 3]),          # configobj: ids = 1, 2, 3
    (["range(1", "5)"], [1, 2, 3, 4]),     # configobj: ids = range(1, 5) unquoted
    (["[1", "2]"], [1, 2]),                # configobj: ids = [1, 2] unquoted
    (["1-3", "8"], [1, 2, 3, 8]),
])
def test_parse_ids(raw, expected):
    assert parse_ids(raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("[1,2,1]", "id 1 appears twice"),
    ("1-3,2", "id 2 appears twice"),
    ("[-1, 2]", "negative id -1"),
    ("range(-2, 2)", "negative id -2"),
    ("[]", "gives no VMs"),
    ("range(5, 1)", "gives no VMs"),
    ("5-1", "runs backwards"),
    ("range(1, 5, 0)", "step must not be zero"),
    ("range(0, 10001)", f"more than {MAX_IDS}"),
    ("0-10000", f"more than {MAX_IDS}"),
    ("range(0, 10**9)", "not allowed"),
    ("range(1, 2, 3, 4)", "only range"),
    ("range(stop=3)", "keyword"),
    ("sorted([1,2])", "only range"),
    ("[1.5]", "only whole numbers"),
    ("[True]", "only whole numbers"),
    ("['a']", "only whole numbers"),
    ("[1] + 2", "expected range"),
    ("1 2 3", "cannot parse"),
    ("", "empty value"),
    ("x" * 2000, "too long"),
    ("range(1,", "cannot parse"),
    ("{1, 2}", "not allowed"),
    ("[i for i in range(3)]", "not allowed"),
])
def test_parse_ids_rejects(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_ids(raw)
    assert message in str(info.value)


def test_parse_ids_accepts_exactly_the_maximum():
    assert len(parse_ids(f"range(0, {MAX_IDS})")) == MAX_IDS


@pytest.mark.parametrize("attack", [
    "__import__('os').system('touch {marker}')",
    "open('{marker}', 'w')",
    "[open('{marker}', 'w')]",
    "range(1, len(open('{marker}', 'w').name))",
    "exec(\"open('{marker}', 'w')\")",
    "eval(\"open('{marker}', 'w')\")",
    "(lambda: open('{marker}', 'w'))()",
    "[1].__class__.__base__.__subclasses__()",
    "().__class__.__bases__[0]",
    "range(1, 3) + [__import__('os').system('touch {marker}')]",
])
def test_parse_ids_never_runs_code(attack, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError):
        parse_ids(attack.format(marker=marker))
    assert not marker.exists()


@pytest.mark.parametrize("attack", [
    "__import__('os').system('touch {marker}')",
    "4 * len(open('{marker}', 'w').name)",
    "1024 if open('{marker}', 'w') else 2048",
])
def test_parse_memory_never_runs_code(attack, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError):
        parse_memory(attack.format(marker=marker))
    assert not marker.exists()


@pytest.mark.parametrize("text, expected", [
    ("4 * 1024 * 1024 * 1024", 4294967296),
    ("(1 + 1) * 1024", 2048),
    ("-3 + 5", 2),
    ("10 - 2 * 3", 4),
])
def test_int_expression(text, expected):
    assert parse_int_expression(text) == expected


@pytest.mark.parametrize("text", [
    "2 ** 10", "10 / 2", "10 // 2", "10 % 3", "1 << 4", "a + 1", "'a' * 3",
    "1.0 + 1", "True + 1", "abs(-1)", "x.y", "999999999 * 999999999 * 999999999",
])
def test_int_expression_rejects(text):
    with pytest.raises(ConfigError):
        parse_int_expression(text)


@pytest.mark.parametrize("raw, expected", [
    ("4 * 1024 * 1024 * 1024", 4 * 2 ** 30),
    ("4294967296", 4 * 2 ** 30),
    (4294967296, 4 * 2 ** 30),
    ("4GiB", 4 * 2 ** 30),
    ("4 GiB", 4 * 2 ** 30),
    ("4G", 4 * 2 ** 30),
    ("4g", 4 * 2 ** 30),
    ("512MiB", 512 * 2 ** 20),
    ("512M", 512 * 2 ** 20),
    ("64KiB", 64 * 1024),
    ("1T", 2 ** 40),
    ("1TiB", 2 ** 40),
    ("4GB", 4 * 10 ** 9),
    ("500MB", 500 * 10 ** 6),
    ("8KB", 8000),
    ("1.5GiB", 1610612736),
    ("100B", 100),
])
def test_parse_memory(raw, expected):
    assert parse_memory(raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("4 XB", "unknown unit 'XB'"),
    ("4Gb/s", "memory"),
    ("0", "more than 0 bytes"),
    ("0GiB", "more than 0 bytes"),
    ("1 - 2", "more than 0 bytes"),
    ("65TiB", "more than 64 TiB"),
    ("1.5", "only whole numbers"),
    (["4", "GiB"], "not a list"),
    ("four gigs", "memory"),
])
def test_parse_memory_rejects(raw, message):
    with pytest.raises(ConfigError) as info:
        parse_memory(raw)
    assert message in str(info.value)


@pytest.mark.parametrize("raw", ["True", "true", "yes", "on", "1", "enabled", "Enabled", " TRUE ", True])
def test_parse_bool_true(raw):
    assert parse_bool(raw) is True


@pytest.mark.parametrize("raw", ["False", "false", "no", "off", "0", "disabled", "DISABLED", False])
def test_parse_bool_false(raw):
    assert parse_bool(raw) is False


@pytest.mark.parametrize("raw", ["maybe", "", "2", "enable", ["True", "False"]])
def test_parse_bool_rejects(raw):
    with pytest.raises(ConfigError):
        parse_bool(raw)


def test_netmask_of_every_prefix_length():
    import ipaddress

    from vdictl.config.values import netmask

    assert netmask(None) is None
    assert [netmask(p) for p in range(33)] == [
        str(ipaddress.IPv4Network((0, p)).netmask) for p in range(33)]


@pytest.mark.parametrize("size, text", [
    (64, "64 bytes"), (2048, "2 KiB"), (32 * 2 ** 20, "32 MiB"), (1536 * 2 ** 20, "1.5 GiB"),
    (4 * 2 ** 30, "4 GiB"), (2 ** 40, "1 TiB"),
])
def test_size_text(size, text):
    assert size_text(size) == text


def test_an_ids_parse_error_lists_the_accepted_forms():
    with pytest.raises(ConfigError) as info:
        parse_ids("1 to 10")
    assert str(info.value) == ("cannot parse '1 to 10'; write ids as " + IDS_FORMS)
    assert IDS_FORMS == '"range(1,10+1)", "[1,2,3]", "1-10", "1-4,7", 5 or 1, 2, 3'
