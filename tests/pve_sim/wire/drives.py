# SPDX-License-Identifier: GPL-3.0-or-later
"""Drive strings of a VM config: ``local-lvm:vm-101-disk-0,size=32G``,
``local:iso/x.iso,media=cdrom``, ``local-lvm:vm-101-cloudinit,media=cdrom``."""

from __future__ import annotations

import re

DRIVE_KEY = re.compile(r"^(ide[0-3]|sata[0-5]|scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])"
                       r"|efidisk0|tpmstate0)$")
NET_KEY = re.compile(r"^net[0-9]+$")


def is_drive_key(key):
    return bool(DRIVE_KEY.match(key))


def parse_drive(value):
    """(file, {option: value}) of a drive string."""
    parts = str(value).split(",")
    options = {}
    file = None
    for i, part in enumerate(parts):
        if "=" in part:
            k, _, v = part.partition("=")
            if k == "file":
                file = v
            else:
                options[k] = v
        elif i == 0:
            file = part
    return file, options


def print_drive(file, options):
    return ",".join([file] + ["%s=%s" % kv for kv in options.items()])


def is_cdrom(value):
    return parse_drive(value)[1].get("media") == "cdrom"


def is_cloudinit(value):
    file = parse_drive(value)[0] or ""
    return bool(re.search(r"vm-\d+-cloudinit", file))


def storage_of(volid):
    return volid.split(":", 1)[0] if ":" in volid else None


def drive_volumes(config, include_cdrom=False):
    """(key, volid) of the volumes a config's drives name (not none/cdrom)."""
    found = []
    for key in sorted(config):
        if not is_drive_key(key):
            continue
        file, _ = parse_drive(config[key])
        if not file or file in ("none", "cdrom") or ":" not in file:
            continue
        if is_cdrom(config[key]) and not include_cdrom and not is_cloudinit(config[key]):
            continue
        found.append((key, file))
    return found


def with_file(value, new_file):
    _, options = parse_drive(value)
    return print_drive(new_file, options)
