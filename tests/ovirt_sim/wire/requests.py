# SPDX-License-Identifier: GPL-3.0-or-later
"""Request bodies read into the plain values the state's commands take."""

from __future__ import annotations

from tests.ovirt_sim.state.entities import Ref
from tests.ovirt_sim.wire.xml import parse_bool, ref, text, to_text

# VM fields the simulator understands as typed values (everything else that
# is sent in a <vm> body is kept verbatim and echoed back).
_VM_SIMPLE_FIELDS = ("name", "comment", "description")
_VM_HANDLED_TAGS = frozenset(
    {"name", "comment", "description", "memory", "stateless", "os",
     "time_zone", "usb", "cluster", "template", "status", "id", "href",
     "creation_time", "link", "actions", "type"}
)
# typed fields: attribute -> (path in <vm>, conversion)
_VM_TYPED_FIELDS = (
    ("memory", "memory", int),
    ("stateless", "stateless", parse_bool),
    ("os", "os/type", str),
    ("timezone", "time_zone/name", str),
    ("usb", "usb/enabled", parse_bool),
)


def vm_fields(body):
    """What a ``<vm>`` sets, as :meth:`Vm.update` takes it."""
    fields = {}
    for tag in _VM_SIMPLE_FIELDS:
        el = body.find(tag)
        if el is not None:
            fields[tag] = el.text or ""
    for attr, path, convert in _VM_TYPED_FIELDS:
        value = text(body, path)
        if value is not None:
            fields[attr] = convert(value)
    extra = {child.tag: to_text(child) for child in body
             if child.tag not in _VM_HANDLED_TAGS}
    if extra:
        fields["extra"] = extra
    return fields


def new_vm(body):
    """``<vm>`` of an add: keyword arguments of ``vm_ops.add_vm``."""
    return {"name": text(body, "name"), "cluster": ref(body.find("cluster")),
            "template": ref(body.find("template")), "fields": vm_fields(body)}


def new_template(body):
    """``<template>`` of an add: keyword arguments of ``vm_ops.add_template``
    (but ``seal``, which comes from the query)."""
    return {"name": text(body, "name"), "vm": ref(body.find("vm")),
            "description": text(body, "description") or "",
            "comment": text(body, "comment") or ""}


def new_nic(body):
    prof_el = body.find("vnic_profile")
    return {"name": text(body, "name"),
            "profile": Ref(prof_el.get("id")) if prof_el is not None else None}


def new_permission(body):
    user_el = body.find("user")
    return {"role": ref(body.find("role")),
            "user": Ref(user_el.get("id")) if user_el is not None else None}


def start_action(action):
    """``<action>`` of a start: keyword arguments of ``vm_ops.start``."""
    init = action.find("vm/initialization")
    return {
        "use_sysprep": bool(parse_bool(text(action, "use_sysprep"))),
        "use_cloud_init": bool(parse_bool(text(action, "use_cloud_init"))),
        "initialization": {c.tag: c.text for c in init} if init is not None else {},
        "initialization_xml": to_text(init) if init is not None else None,
    }


def previewed_snapshot(action):
    """The snapshot id a preview action names, or None."""
    sid = action.get("id") if action.tag == "snapshot" else None
    snap_el = action.find("snapshot")
    return sid or (snap_el.get("id") if snap_el is not None else None)


def snapshot_description(body):
    return text(body, "description") or ""
