"""First-boot payloads: config keys, [[[vars]]], rendering and the checks on the result."""

from __future__ import annotations

import textwrap
from datetime import datetime

import pytest

from vdictl.config.load import load_config
from vdictl.errors import ConfigError
from vdictl.firstboot.render import render_payload
from vdictl.config.rooms import CLOUD_INIT, SYSPREP

CONFIG = """\
[general]
    [[connect]]
    uri = "test:///default"
[room lab]
    ip_addresses = "10.0.0.${suffix}"
    ip_addresses_suffix = 20
    netmask_suffix = 24
    default_gateway = 10.0.0.1
    [[pcs]]
    ids = "1-2"
    names = "${roomname}-pc${id}"
    template_name = tpl
    %(keys)s
        [[[vars]]]
        domain = school.example
        ou = "OU=Lab,DC=school"
"""


def load(tmp_path, keys, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "vdi.conf"
    path.write_text(CONFIG % {"keys": keys})
    return load_config(str(path), now=datetime(2024, 3, 5, 7, 9))


def vms(cfg):
    return {vm.name: vm for vm in cfg.rooms["lab"].vms}


def test_answer_file_renders_with_vm_variables_vars_and_amoothei_placeholders(tmp_path):
    cfg = load(tmp_path, "autounattend_templatefile = a.xml", {"a.xml": textwrap.dedent("""\
        <unattend xmlns="urn:schemas-microsoft-com:unattend">
          <c>${ComputerName}</c><ip>{{ ip }}/{{ netmask_as_suffix }} gw {{ default_gateway }}</ip>
          <d>{{ domain }}</d><ou>{{ ou }}</ou><room>$roomname-{{ id }}</room>
        </unattend>
        """)})
    payload = render_payload(vms(cfg)["lab-pc02"])
    assert payload.kind == SYSPREP and payload.host_name == "lab-pc02"
    assert payload.autounattend == textwrap.dedent("""\
        <unattend xmlns="urn:schemas-microsoft-com:unattend">
          <c>lab-pc02</c><ip>10.0.0.21/24 gw 10.0.0.1</ip>
          <d>school.example</d><ou>OU=Lab,DC=school</ou><room>lab-02</room>
        </unattend>
        """)


def test_cloud_init_keeps_shell_dollars_and_renders_network_config(tmp_path):
    cfg = load(tmp_path, "cloud_init_user_data = u\n    cloud_init_network_config = n", {
        "u": "#cloud-config\nruncmd:\n  - echo $HOME {{ name }}\n",
        "n": "version: 2\naddr: {{ ip }}\n"})
    payload = render_payload(vms(cfg)["lab-pc01"])
    assert payload.kind == CLOUD_INIT
    assert payload.user_data == "#cloud-config\nruncmd:\n  - echo $HOME lab-pc01\n"
    assert payload.network_config == "version: 2\naddr: 10.0.0.20\n"
    assert payload.meta_data == "instance-id: vdictl-lab-pc01\nlocal-hostname: lab-pc01\n"


def test_no_keys_no_personalisation(tmp_path):
    cfg = load(tmp_path, "", {})
    assert all(vm.personalisation is None for vm in vms(cfg).values())
    assert render_payload(vms(cfg)["lab-pc01"]) is None


@pytest.mark.parametrize("keys, message", [
    ("autounattend_templatefile = a\n    cloud_init_user_data = u",
     "[room lab/pcs] autounattend_templatefile: autounattend_templatefile (Windows) and "
     "cloud_init_* (Linux) exclude each other"),
    ("cloud_init_network_config = n",
     "[room lab/pcs] cloud_init_network_config: cloud_init_network_config needs "
     "cloud_init_user_data"),
])
def test_conflicting_keys_are_config_errors(tmp_path, keys, message):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, keys, {})
    assert message in str(err.value)


def test_a_var_may_not_hide_a_builtin_variable(tmp_path):
    path = tmp_path / "vdi.conf"
    path.write_text((CONFIG % {"keys": "cloud_init_user_data = u"}).replace(
        "domain = school.example", "ip = 1.2.3.4"))
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value).endswith("[room lab/pcs/vars] ip: 'ip' is a built-in variable; "
                                   "choose another name")


ANSWER_FILE = ("autounattend_templatefile", "a.xml")
USER_DATA = ("cloud_init_user_data", "u")


@pytest.mark.parametrize("payload, text, message", [
    (ANSWER_FILE, "<unattend><a></unattend>", "renders to invalid XML (line 1 of the "
                                              "rendered text): mismatched tag"),
    (ANSWER_FILE, "<other/>", "the root element is <other>, not <unattend>"),
    (ANSWER_FILE, "<unattend>{{ nosuch }}</unattend>",
     "a.xml:1 [room lab/pcs] autounattend_templatefile: VM lab-pc01: undefined: "
     "'nosuch' is undefined"),
    (USER_DATA, "runcmd: []\n", "user-data without the #cloud-config header (line 1 of the "
                                "rendered text): the first line is 'runcmd: []'"),
    (USER_DATA, "#cloud-config\n- a\n- b\n", "renders to YAML that is not a mapping"),
    (USER_DATA, "#cloud-config\na: b: c\n", "renders to invalid YAML (line 2 of the rendered "
                                            "text)"),
    (USER_DATA, "#cloud-config\n\n{% for %}\n", "u:3 [room lab/pcs] cloud_init_user_data: "
                                                 "VM lab-pc01: syntax error"),
])
def test_bad_payload_files(tmp_path, payload, text, message):
    key, name = payload
    cfg = load(tmp_path, f"{key} = {name}", {name: text})
    with pytest.raises(ConfigError) as err:
        render_payload(vms(cfg)["lab-pc01"])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_render_payloads_keeps_rendered_payloads_and_errors_apart(tmp_path):
    """One VM's template fails (an undefined variable for pc02 only): the run
    gets pc01's Payload and pc02's reason, each under its own name."""
    from vdictl.ops.personalise import render_payloads

    cfg = load(tmp_path, "autounattend_templatefile = a.xml", {"a.xml": (
        "<unattend>{% if id == '02' %}{{ nosuch }}{% endif %}{{ name }}</unattend>\n")})
    result = render_payloads([(vm, None) for vm in cfg.rooms["lab"].vms])
    assert list(result.ready) == ["lab-pc01"] and list(result.errors) == ["lab-pc02"]
    assert result.payload("lab-pc01").kind == SYSPREP and result.payload("lab-pc02") is None
    assert "nosuch" in result.error("lab-pc02") and result.error("lab-pc01") is None
