"""The owner mark: vdictl's record in a domain's <metadata> of who owns the
domain (room, subsection) and which volumes a rollout made for it; and the
template mark that template-create leaves on a template. Encode and decode.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from vdictl.model import Owner

from .xmldoc import parse, register_prefix, tostring

#: Namespace of vdictl's element in a domain's <metadata>. Never change it:
#: it is how vdictl recognises the VMs it created.
OWNER_NS = "https://vdictl.example/xmlns/owner/1"
OWNER_PREFIX = "vdictl"
OWNER_TAG = "owner"

#: the qualified tags of the marks, for ElementTree
OWNER_ELEMENT = f"{{{OWNER_NS}}}{OWNER_TAG}"
VOLUME_ELEMENT = f"{{{OWNER_NS}}}volume"
#: the mark of a template domain made by `vdictl template-create`
TEMPLATE_ELEMENT = f"{{{OWNER_NS}}}template"

register_prefix(OWNER_PREFIX, OWNER_NS)


@dataclass(frozen=True)
class OverlayVolume:
    """A volume created by a rollout, as recorded in the owner mark."""

    pool: str
    name: str
    path: str = ""


@dataclass(frozen=True)
class OwnerMark:
    owner: Owner
    volumes: Tuple[OverlayVolume, ...] = ()


@dataclass(frozen=True)
class TemplateMark:
    """What template-create recorded: the source VM, sealing, the volumes it copied."""

    source: str
    sealed: bool
    volumes: Tuple[OverlayVolume, ...] = ()


# -- encode -------------------------------------------------------------------

def _volume_attrs(vol: OverlayVolume) -> dict:
    attrs = {"pool": vol.pool, "name": vol.name}
    if vol.path:
        attrs["path"] = vol.path
    return attrs


def owner_element(owner: Owner, volumes: Sequence[OverlayVolume] = ()) -> ET.Element:
    elem = ET.Element(OWNER_ELEMENT, {
        "room": owner.room,
        "subsection": owner.subsection,
        "version": owner.tool_version,
    })
    for vol in volumes:
        ET.SubElement(elem, VOLUME_ELEMENT, _volume_attrs(vol))
    return elem


def owner_xml(owner: Owner, volumes: Sequence[OverlayVolume] = ()) -> str:
    """The owner mark alone, e.g. for virDomainSetMetadata."""
    return tostring(owner_element(owner, volumes))


def template_element(mark: TemplateMark, tool_version: str) -> ET.Element:
    elem = ET.Element(TEMPLATE_ELEMENT, {"source": mark.source,
                                         "sealed": "yes" if mark.sealed else "no",
                                         "version": tool_version})
    for vol in mark.volumes:
        ET.SubElement(elem, VOLUME_ELEMENT, {"pool": vol.pool, "name": vol.name,
                                             "path": vol.path})
    return elem


# -- decode -------------------------------------------------------------------

def _volumes(elem: ET.Element, ns: str) -> Tuple[OverlayVolume, ...]:
    return tuple(
        OverlayVolume(pool=v.get("pool", ""), name=v.get("name", ""), path=v.get("path", ""))
        for v in elem.findall(f"{ns}volume")
        if v.get("pool") and v.get("name"))


def _mark_from_element(elem: ET.Element, ns: str) -> OwnerMark:
    owner = Owner(room=elem.get("room", ""), subsection=elem.get("subsection", ""),
                  tool_version=elem.get("version", ""))
    return OwnerMark(owner=owner, volumes=_volumes(elem, ns))


def parse_owner(xml: str) -> Optional[OwnerMark]:
    """The owner mark of a full domain XML, or None when vdictl did not mark it."""
    elem = parse(xml).find(f"metadata/{OWNER_ELEMENT}")
    if elem is None:
        return None
    return _mark_from_element(elem, f"{{{OWNER_NS}}}")


def parse_owner_metadata(xml: str) -> OwnerMark:
    """The element returned by virDomainGetMetadata(ELEMENT, OWNER_NS).

    libvirt hands it back without its namespace, so children are plain tags.
    """
    elem = parse(xml)
    ns = f"{{{OWNER_NS}}}" if elem.tag.startswith("{") else ""
    return _mark_from_element(elem, ns)


def parse_template_mark(xml: str) -> Optional[TemplateMark]:
    """The template mark of a domain XML, or None when template-create did not make it."""
    elem = parse(xml).find(f"metadata/{TEMPLATE_ELEMENT}")
    if elem is None:
        return None
    return TemplateMark(source=elem.get("source", ""), sealed=elem.get("sealed") == "yes",
                        volumes=_volumes(elem, f"{{{OWNER_NS}}}"))


# -- edit, in a parsed domain ---------------------------------------------------

def replace_marks(metadata: ET.Element, mark: ET.Element) -> None:
    """Drop vdictl's owner and template marks from <metadata>, then add `mark`."""
    for old in metadata.findall(OWNER_ELEMENT) + metadata.findall(TEMPLATE_ELEMENT):
        metadata.remove(old)
    metadata.append(mark)


def record_volume(domain: ET.Element, volume: OverlayVolume) -> None:
    """Add `volume` to the domain's owner mark, if it has one."""
    owner = domain.find(f"metadata/{OWNER_ELEMENT}")
    if owner is not None:
        ET.SubElement(owner, VOLUME_ELEMENT, _volume_attrs(volume))


def forget_volume(domain: ET.Element, path: str) -> None:
    """Remove the volume at `path` from the domain's owner mark."""
    owner = domain.find(f"metadata/{OWNER_ELEMENT}")
    if owner is not None:
        for vol in owner.findall(VOLUME_ELEMENT):
            if vol.get("path") == path:
                owner.remove(vol)
