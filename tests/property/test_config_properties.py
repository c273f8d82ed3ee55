"""Random values, templates, regexes and whole config files: the loader and
the renderer raise nothing but ConfigError, in one line."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vdictl.config.load import load_config
from vdictl.config.spec import KEYS
from vdictl.errors import ConfigError
from vdictl.config.templating import TemplateError, compile_template
from vdictl.config.linear_regex import compile_regex
from vdictl.config.values import parse_bool, parse_ids, parse_memory, parse_regex

from tests.vdictl_cli import vdictl, write_config

VARS = {"roomname": "room01", "subsection": "pcs", "id": "07", "suffix": 27,
        "netmask_as_suffix": 24, "scripttime": "2024-03-05-0709"}


def pieces(*tokens: str, size: int = 12):
    """Strings glued from syntax-laden tokens and some random text."""
    token = st.sampled_from(tokens) | st.text(max_size=4)
    return st.lists(token, max_size=size).map("".join)


TEMPLATE_TOKENS = (
    "{{", "}}", "{%", "%}", "{#", "#}", "$", "${", "}", "$$", "roomname", "id", "suffix",
    "nosuch", " if ", " else ", "endif", "for", " in ", "set", "|", "upper", "int", "attr",
    "replace", "(", ")", "[", "]", ":", ".", "__class__", "'", '"', "~", "*", "**", "%",
    "+", "-", "/", "9999999", "range", "lipsum", "self", ",", "=", " is ", "defined", "\n")
EXPRESSION_TOKENS = (
    "range(", ")", "(", "[", "]", ",", "+", "-", "*", "**", "/", "1", "10", "0", "99999999",
    "__import__", "'os'", ".system", "lambda", ":", " ", "GiB", "K", "MiB", "TB", ".5", "x",
    "list(", "True", "None", "1e9", "0x10", "_")
REGEX_TOKENS = (
    "(", ")", "(?:", "(?>", "(?=", "(?P<a>", "(?P=a)", "|", "*", "+", "?", "{2}", "{1,}",
    "{,3}", "++", "*?", "[", "]", "^", "-", "a", "b", ".", "\\d", "\\w", "\\s", "$", "\\",
    "[^x]", "(?(1)a|b)", "\\1")


def one_line(err: ConfigError) -> bool:
    return "\n" not in str(err) and "\r" not in str(err)


@given(pieces(*TEMPLATE_TOKENS))
def test_any_template_compiles_and_renders_or_raises_template_error(text):
    try:
        rendered = compile_template(text, what="names", allowed=VARS).render(VARS)
    except TemplateError as err:
        assert one_line(err)
    else:
        assert isinstance(rendered, str) and len(rendered) <= 10000


@given(pieces(*EXPRESSION_TOKENS) | st.integers() | st.lists(pieces(*EXPRESSION_TOKENS),
                                                            max_size=4))
def test_any_ids_or_memory_value_parses_or_raises_config_error(raw):
    for parse in (parse_ids, parse_memory, parse_bool):
        try:
            value = parse(raw)
        except ConfigError as err:
            assert one_line(err)
        else:
            if parse is parse_ids:
                assert value and len(value) <= 10000 and all(i >= 0 for i in value)
            elif parse is parse_memory:
                assert 0 < value <= 64 * 2 ** 40


@given(pieces(*REGEX_TOKENS))
def test_any_regex_is_accepted_only_if_it_compiles(text):
    try:
        accepted = parse_regex(text)
    except ConfigError as err:
        assert one_line(err)
    else:
        assert compile_regex(accepted)


# --- whole files ------------------------------------------------------------------

KEY_NAMES = sorted({k.name for k in KEYS})
SECTION_LINES = ("[general]", "[[connect]]", "[[throttle]]", "[logging]", "[room r1]",
                 "[room r2]", "[[pcs]]", "[[[deep]]]", "[room]", "[", "]]", "[[", "")
VALUE_TOKENS = TEMPLATE_TOKENS + EXPRESSION_TOKENS + (
    '"', "'''", '"""', ",", "#", "test:///default", "libvirt", "ovirt", "True", "no", "24")


@st.composite
def config_texts(draw):
    lines = ["[general]", "[[connect]]", 'uri = "test:///default"'] \
        if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            lines.append(draw(st.sampled_from(SECTION_LINES)))
        elif kind == 5:
            lines.append(draw(st.text(max_size=30)))
        else:
            key = draw(st.sampled_from(KEY_NAMES) | st.text(max_size=6))
            lines.append(f"{key} = {draw(pieces(*VALUE_TOKENS, size=6))}")
    return "\n".join(lines) + "\n"


@given(config_texts())
def test_any_config_file_loads_or_raises_one_line_config_error(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vdi.conf"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            config = load_config(str(path))
        except ConfigError as err:
            assert one_line(err)
            assert str(path) in str(err)
        else:
            assert all(vm.name for room in config.rooms.values() for vm in room.vms)


@settings(max_examples=40)
@given(config_texts())
def test_any_config_file_through_the_cli_is_exit_0_or_2_without_traceback(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(tmp, text, mode=0o600)
        result = vdictl(path, "rooms", "--resettable")
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code in (0, 2)
    lines = result.stderr.splitlines()
    assert all(line.startswith(("warning: ", "Error: ")) for line in lines), lines
    assert sum(line.startswith("Error: ") for line in lines) == (result.exit_code == 2)
