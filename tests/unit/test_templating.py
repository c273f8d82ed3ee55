"""Templates: legacy $var/${var}, Jinja2, strict undefined, sandbox."""

from __future__ import annotations

import pytest

from vdictl.errors import ConfigError
from vdictl.config.templating import (TemplateError, compile_template, legacy_to_jinja,
                               render, variable_names)

VARS = {"roomname": "room01", "id": "07", "suffix": 27, "ip": "192.0.2.27",
        "netmask_as_suffix": 24, "scripttime": "2024-03-05-0709"}


@pytest.mark.parametrize("template, expected", [
    ("${roomname}-vd${id}", "room01-vd07"),
    ("$roomname-vd$id", "room01-vd07"),
    ("192.0.2.$suffix", "192.0.2.27"),
    ("192.0.2.${suffix}", "192.0.2.27"),
    ("{{ roomname }}-vd{{ id }}", "room01-vd07"),
    ("{{roomname|upper}}-$id", "ROOM01-07"),
    ("${roomname}-{{ id }}", "room01-07"),
    ("IP=${ip}/${netmask_as_suffix}, scripttime=${scripttime}",
     "IP=192.0.2.27/24, scripttime=2024-03-05-0709"),
    ("$roomname.example.org", "room01.example.org"),
    ("$$id costs $$5", "$id costs $5"),
    ("$${id}", "${id}"),
    ("price: 5$", "price: 5$"),
    ("a $ b", "a $ b"),
    ("${ id }", "${ id }"),                        # not a placeholder for string.Template
    ("{$id}", "{07}"),
    ("{${id}}", "{07}"),
    ("$id}", "07}"),
    ("{ $id }", "{ 07 }"),
    ("a{b}c", "a{b}c"),
    ('{{ "$id" }}', "$id"),                         # Jinja blocks are left alone
    ("{% if id == '07' %}seven{% endif %}-$id", "seven-07"),
    ("{# comment #}$roomname", "room01"),
    ("{{ id|int + 100 }}", "107"),
    ("plain text", "plain text"),
    ("", ""),
])
def test_render(template, expected):
    assert render(template, VARS, what="names") == expected


def test_legacy_translation():
    assert legacy_to_jinja("${roomname}-vd$id") == "{{ roomname }}-vd{{ id }}"
    assert legacy_to_jinja("$$") == "$"
    assert legacy_to_jinja("{{ x }}$y") == "{{ x }}{{ y }}"


@pytest.mark.parametrize("template, variable", [
    ("${roomname}-$nosuch", "nosuch"),
    ("${nosuch}", "nosuch"),
    ("{{ nosuch }}", "nosuch"),
    ("{% if nosuch %}x{% endif %}", "nosuch"),
])
def test_unknown_variable_is_named(template, variable):
    with pytest.raises(TemplateError) as info:
        render(template, VARS, what="names")
    assert info.value.variable == variable
    assert isinstance(info.value, ConfigError)
    assert f"unknown variable '{variable}'" in str(info.value)
    assert str(info.value).startswith("template names: ")


def test_compile_checks_allowed_names_before_rendering():
    with pytest.raises(TemplateError) as info:
        compile_template("$roomname-$ip", what="names", allowed={"roomname", "id"})
    assert info.value.variable == "ip"
    assert "known: id, roomname" in str(info.value)


def test_variable_without_value():
    compiled = compile_template("$roomname-$suffix", what="names",
                                allowed={"roomname", "suffix"})
    with pytest.raises(TemplateError) as info:
        compiled.render({"roomname": "r", "suffix": None})
    assert info.value.variable == "suffix"
    assert "variable 'suffix' has no value" in str(info.value)


def test_strict_undefined_attribute():
    with pytest.raises(TemplateError) as info:
        render("{{ roomname.nosuch }}", VARS, what="names")
    assert "nosuch" in str(info.value)


def test_compiled_template_renders_many_times():
    compiled = compile_template("${roomname}-vd${id}", what="names",
                                allowed={"roomname", "id"})
    assert [compiled.render({"roomname": "r", "id": i}) for i in ("01", "02")] == \
        ["r-vd01", "r-vd02"]
    assert compiled.variables == {"roomname", "id"}


def test_variable_names():
    assert variable_names("${roomname}-{{ id }}-$suffix") == ("id", "roomname", "suffix")


@pytest.mark.parametrize("template", ["{{ x", "{% if %}", "{{ }}", "{% endfor %}"])
def test_syntax_error(template):
    with pytest.raises(TemplateError) as info:
        render(template, {"x": 1}, what="snapshot_description")
    assert "syntax error" in str(info.value)


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ roomname.__class__.__base__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].system('touch {marker}') }}",
    "{{ roomname.format.__globals__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__()[0].__init__.__globals__ }}",
    "{{ range.__self__.__import__('os').system('touch {marker}') }}",
    "{{ config.__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ 'x' * 100000000 }}",
    "{{ 2 ** 100000 }}",
    "{{ [1] * 100000000 }}",
])
def test_sandbox_escape_fails(template, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateError):
        render(template.replace("{marker}", str(marker)), VARS, what="names")
    assert not marker.exists()


@pytest.mark.parametrize("template", [
    "${roomname}-vd${id}", "$roomname-pc$id", "plain", "", "a $$ b ${id}", "{{ id }}x{{id}}",
    "IP=${ip}/${netmask_as_suffix}, at $scripttime", "${id}}", "50% $id",
])
def test_plain_templates_render_as_jinja_would(template):
    from vdictl.config.jinja_sandbox import ENV
    from vdictl.config.templating import _parse, legacy_to_jinja

    values = {"roomname": "room1", "id": "07", "ip": "10.0.0.7", "netmask_as_suffix": 24,
              "scripttime": "2026-01-01-0100"}
    assert _parse(template, "names")[2] is not None, "expected the fast path"
    got = compile_template(template, what="names").render(values)
    assert got == ENV.from_string(legacy_to_jinja(template)).render(values)


@pytest.mark.parametrize("template", [
    "{{ roomname|upper }}", "{ ${id}", "{{ true }}", "{% if id %}x{% endif %}", "a\r\n$id",
])
def test_templates_needing_jinja_take_the_jinja_path(template):
    from vdictl.config.templating import _parse

    assert _parse(template, "names")[2] is None
