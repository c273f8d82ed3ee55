"""First-boot payloads rendered and checked: a VM's Autounattend.xml or cloud-init data.

The templates are the files named by autounattend_templatefile,
cloud_init_user_data and cloud_init_network_config. They render with the
variables the config loader gave the VM (vdictl.config.rooms.Personalisation), and
the result is checked before any VM is created: an answer file must be
well-formed XML with an <unattend> root, user-data must start with
``#cloud-config`` and be a YAML mapping, network-config a YAML mapping.
Every problem is a ConfigError naming the template file (and its line,
where Jinja knows it) and the VM.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Dict, Optional, Tuple

import yaml

from vdictl.config.rooms import CLOUD_INIT, SYSPREP, VmSpec
from vdictl.config.templating import CompiledTemplate, TemplateError, compile_file
from vdictl.errors import ConfigError
from vdictl.firstboot.payload import Payload

CLOUD_CONFIG_HEADER = "#cloud-config"

#: config key of each template, for messages
KEY_AUTOUNATTEND = "autounattend_templatefile"
KEY_USER_DATA = "cloud_init_user_data"
KEY_NETWORK = "cloud_init_network_config"


class PayloadRenderer:
    """Renders the payloads of many VMs, reading and parsing each template file once."""

    def __init__(self) -> None:
        self._templates: Dict[Tuple[str, str], CompiledTemplate] = {}

    def template(self, path: str, key: str) -> CompiledTemplate:
        cache_key = (path, key)
        if cache_key not in self._templates:
            # Amoothei's answer files used $var placeholders; cloud-init data
            # is full of shell `$`, so only the Amoothei key keeps them.
            self._templates[cache_key] = compile_file(
                path, what=key, legacy=(key == KEY_AUTOUNATTEND))
        return self._templates[cache_key]

    def render(self, spec: VmSpec) -> Optional[Payload]:
        """The VM's checked payload; None when the VM has no personalisation."""
        p = spec.personalisation
        if p is None:
            return None
        variables = dict(p.variables)
        if p.autounattend:
            xml = self._render(p.autounattend, KEY_AUTOUNATTEND, variables, spec)
            check_answer_file(xml, p.autounattend, spec)
            return Payload(kind=SYSPREP, host_name=spec.name, autounattend=xml)
        if not p.user_data:            # the loader gives one of the two
            return None
        user_data = self._render(p.user_data, KEY_USER_DATA, variables, spec)
        check_user_data(user_data, p.user_data, spec)
        network = None
        if p.network_config:
            network = self._render(p.network_config, KEY_NETWORK, variables, spec)
            check_network_config(network, p.network_config, spec)
        return Payload(kind=CLOUD_INIT, host_name=spec.name, user_data=user_data,
                       network_config=network)

    def _render(self, path: str, key: str, variables: Dict[str, str], spec: VmSpec) -> str:
        try:
            return self.template(path, key).render(variables)
        except TemplateError as exc:
            raise ConfigError(f"VM {spec.name}: {exc.detail}", file=exc.file, line=exc.line,
                              section=_section(spec), key=key) from None


def render_payload(spec: VmSpec) -> Optional[Payload]:
    return PayloadRenderer().render(spec)


def _section(spec: VmSpec) -> str:
    return f"room {spec.room}/{spec.subsection}"


def _invalid(path: str, key: str, spec: VmSpec, what: str, line: Optional[int],
             detail: str) -> ConfigError:
    where = f" (line {line} of the rendered text)" if line else ""
    return ConfigError(f"VM {spec.name}: renders to {what}{where}: {detail}", file=path,
                       section=_section(spec), key=key)


def check_answer_file(text: str, path: str, spec: VmSpec) -> None:
    try:
        # the operator's template, rendered (its file passed config.trust); expat >= 2.4.1
        # bounds entity expansion, and ElementTree fetches no external entity
        root = ET.fromstring(text)  # nosec B314
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        detail = str(exc).split(":")[0]
        raise _invalid(path, KEY_AUTOUNATTEND, spec, "invalid XML", line, detail) from None
    if root.tag.rpartition("}")[2] != "unattend":
        raise _invalid(path, KEY_AUTOUNATTEND, spec, "an XML document that is not an answer "
                       "file", None, f"the root element is <{root.tag}>, not <unattend>")


def _load_yaml(text: str, path: str, key: str, spec: VmSpec) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _invalid(path, key, spec, "invalid YAML", line, detail) from None


def check_user_data(text: str, path: str, spec: VmSpec) -> None:
    first = text.split("\n", 1)[0].rstrip()
    if first != CLOUD_CONFIG_HEADER:
        raise _invalid(path, KEY_USER_DATA, spec, "user-data without the #cloud-config header",
                       1, f"the first line is {first[:40]!r}")
    data = _load_yaml(text, path, KEY_USER_DATA, spec)
    if data is not None and not isinstance(data, dict):
        raise _invalid(path, KEY_USER_DATA, spec, "YAML that is not a mapping", None,
                       f"got a {type(data).__name__}")


def check_network_config(text: str, path: str, spec: VmSpec) -> None:
    data = _load_yaml(text, path, KEY_NETWORK, spec)
    if not isinstance(data, dict):
        raise _invalid(path, KEY_NETWORK, spec, "YAML that is not a mapping", None,
                       f"got {type(data).__name__}")
