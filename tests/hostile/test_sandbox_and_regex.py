"""Templates cannot read files or call anything; regexes cannot backtrack forever."""

from __future__ import annotations

import pytest

from vdictl.config import jinja_sandbox
from vdictl.config import templating
from vdictl.errors import ConfigError
from vdictl.config.templating import TemplateError, compile_template, render
from vdictl.config.values import parse_regex

VARS = {"roomname": "room01", "id": "07", "suffix": 27, "name": "room01-vd07"}


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-CONTENT")
    return path


ESCAPES = [
    "{% include '{secret}' %}",
    "{% import '{secret}' as s %}",
    "{% extends '{secret}' %}",
    "{% from '{secret}' import x %}",
    "{{ lipsum.__globals__['os'].system('touch {marker}') }}",
    "{{ lipsum.__globals__.__builtins__.open('{secret}').read() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ roomname.__class__.__base__.__subclasses__() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ roomname|attr('__class__') }}",
    "{{ roomname['__class__'] }}",
    "{{ roomname['format']('{0.__class__}') }}",
    "{{ roomname.format(roomname) }}",
    "{{ roomname|map('upper')|list }}",
    "{{ range(10) }}",
    "{{ namespace(a=1) }}",
    "{{ dict(a=1) }}",
    "{% set x = roomname %}{{ x }}",
    "{% with x = roomname %}{{ x }}{% endwith %}",
    "{% for c in roomname %}{{ c }}{% endfor %}",
    "{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}",
    "{% filter upper %}{{ roomname }}{% endfilter %}",
    "{{ roomname|upper(*[1]) }}",
    "{{ roomname|format(1) }}",
    "{{ roomname|wordwrap(5) }}",
    "{{ roomname|tojson }}",
    "{{ {'a': 1} }}",
    "{{ '%s' % roomname }}",
    "{{ 'x' * 100000000 }}",
    "{{ roomname|replace('o', 'x' * 9000) }}",
    "{{ (10 ** 64) ** 64 }}",
    "{{ 2 ** 100000 }}",
    "{{ " + "(" * 400 + "1" + ")" * 400 + " }}",
    "x" * 3000,
]


@pytest.mark.parametrize("template", ESCAPES)
def test_escape_or_bomb_is_refused(template, tmp_path, secret_file):
    marker = tmp_path / "marker"
    text = template.replace("{secret}", str(secret_file)).replace("{marker}", str(marker))
    with pytest.raises(TemplateError) as info:
        render(text, VARS, what="names")
    assert "\n" not in str(info.value)
    assert "TOP-SECRET-CONTENT" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("template, expected", [
    ("{{ roomname|upper }}-{{ id|int + 100 }}", "ROOM01-107"),
    ("{{ roomname[0:4] ~ '-' ~ id[-1] }}", "room-7"),
    ("{% if id|int is odd %}odd{% elif id == '08' %}8{% else %}even{% endif %}", "odd"),
    ("{{ roomname|replace('room', 'r') }}", "r01"),
    ("{{ 'teacher' if suffix > 20 else 'student' }}", "teacher"),
    ("{{ (suffix * 2) // 3 % 10 }}", "8"),
    ("{{ name|truncate(9, True, '', 0) }}", "room01-vd"),
    ("{{ roomname|default('x')|title }}", "Room01"),
    ("{{ 2 ** 10 }}-{{ 'ab' * 3 }}", "1024-ababab"),
    ("{{ roomname|length }}", "6"),
])
def test_the_cut_down_language_still_does_what_names_need(template, expected):
    assert render(template, VARS, what="names") == expected


def test_only_the_listed_filters_and_no_globals():
    env = jinja_sandbox.ENV
    assert set(env.filters) == templating.ALLOWED_FILTERS
    assert env.globals == {}


def test_rendered_text_is_bounded():
    template = compile_template("{{ 'x' * 9000 ~ 'y' * 9000 }}", what="snapshot_description")
    with pytest.raises(TemplateError) as info:
        template.render({})
    assert "renders to 18000 characters" in str(info.value)


def test_syntax_error_message_is_one_line():
    with pytest.raises(TemplateError) as info:
        render("{% if id %}open", VARS, what="names")
    assert "\n" not in str(info.value)


# --- reset_to_snapshot_regex -------------------------------------------------

@pytest.mark.parametrize("regex", [
    "vdictl rollout .*",
    "^Amoothei-VM-Rollout: .*$",
    "Automatic snapshot after amoothei-vmrollout, .*",
    r"^vdictl rollout IP=\d+\.\d+\.\d+\.\d+/\d+ at .*$",
    "(a|b)*c",
    "(?i)^LAB1 clean",
    r"\d+.*\d+",
    # catastrophic for a backtracking engine, linear for RE2
    "(a+)+$", "(a*)*$", r"^(\w+\s?)*$", "(x+x+)+y", "(a|aa)+$", "(snap|snapshot)*$",
    "(.*a){12}", ".*.*.*.*.*x",
])
def test_regexes_re2_accepts_pass(regex):
    assert parse_regex(regex) == regex


def test_patterns_that_backtrack_in_python_match_in_linear_time():
    """Each against a description built to make Python's re backtrack for
    minutes: the whole loop ends (a hang here would be the bug)."""
    from vdictl.config.linear_regex import search

    hostile = "a" * 50_000 + "!"
    for regex in ("(a+)+$", "(a|aa)+$", "(.*a){12}b", ".*.*.*.*.*x", r"^(\w+\s?)*$"):
        assert search(regex, hostile) is False, regex
    assert search("(a+)+!$", hostile) and search("(a*)*$", hostile)


@pytest.mark.parametrize("regex, problem", [
    ("(?=a)b", "invalid perl operator at '(?='"),
    ("(?<=a+)b", "invalid perl operator at '(?<='"),
    ("(?!x)snap", "invalid perl operator at '(?!'"),
    (r"(a)\1", "invalid escape sequence at '\\\\1'"),
    ("(?>a+)+$", "invalid perl operator at '(?>'"),
    ("(a++)+$", "bad repetition operator at '++'"),
])
def test_patterns_that_need_backtracking_are_refused_saying_why(regex, problem):
    with pytest.raises(ConfigError) as info:
        parse_regex(regex)
    message = str(info.value)
    assert message.startswith(f"invalid regular expression {regex!r}: {problem} (vdictl "
                              "matches with RE2, a linear-time engine"), message
    assert "\n" not in message


@pytest.mark.parametrize("regex", ["(", "a{2,1}", "[z-a]", "\\", "a{1001}", "x**"])
def test_invalid_regexes_are_refused(regex):
    with pytest.raises(ConfigError) as info:
        parse_regex(regex)
    assert "invalid regular expression" in str(info.value)


@pytest.mark.filterwarnings("error")      # a warning that would reach stderr fails the test
def test_python_warnings_about_a_regex_stay_off_stderr(tmp_path):
    """re warns "Possible nested set" for [[; the operator must see nothing but vdictl's lines."""
    from tests.vdictl_cli import vdictl, write_config

    from .cases import config

    path = write_config(tmp_path, config(reset_to_snapshot_regex='"[[]snap.*"',
                                         snapshot_description='"[snap]"'))
    result = vdictl(path, "rooms", "--resettable")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "r1\n", "")
