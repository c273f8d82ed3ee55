# SPDX-License-Identifier: GPL-3.0-or-later
"""The config file of a benchmark site: R rooms of 25 VMs each."""

from __future__ import annotations

from .engine import SNAPSHOT, VMS_PER_ROOM, room_name


def site_config(*, rooms: int, batch: int, pause: float = 0.0, parallel: int = 10,
                url: str = "", username: str = "admin@internal",
                password: str = "engine-secret", template: str = "tmpl-win10",
                libvirt_uri: str = "", vms_per_room: int = VMS_PER_ROOM,
                memory: str = "") -> str:
    """The text of a vdictl config; oVirt at `url`, or libvirt at `libvirt_uri`."""
    if libvirt_uri:
        connect = f'    driver = libvirt\n    uri = "{libvirt_uri}"\n'
    else:
        connect = (f'    driver = ovirt\n    url = "{url}"\n    username = "{username}"\n'
                   f'    password = "{password}"\n    insecure = True\n')
    lines = [
        "[general]", "    [[connect]]", connect.rstrip("\n"),
        "    [[throttle]]",
        f"    snapshot_batch_size = {batch}",
        f"    snapshot_batch_pause = {pause:g}",
        f"    parallel = {parallel}",
        "    operation_timeout = 3600",
    ]
    for r in range(1, rooms + 1):
        lines += [
            f"[room {room_name(r)}]",
            f'    template_name = "{template}"',
            f'    snapshot_description = "{SNAPSHOT}"',
            f'    reset_to_snapshot_regex = "^{SNAPSHOT}$"',
            "    reset_startvm = Always",
            *([f"    memory = {memory}"] if memory else []),
            "    [[pcs]]",
            f'    ids = "1-{vms_per_room}"',
            '    names = "${roomname}-pc${id}"',
        ]
    return "\n".join(lines) + "\n"


def pve_site_config(*, rooms: int, batch: int, url: str, ca_file: str, password_file: str,
                    username: str = "root@pam", parallel: int = 10) -> str:
    """The text of a vdictl config of the Proxmox VE simulator's site
    (benchmarks/pve.py): a ticket login, TLS verified with its CA."""
    from .pve import SNAPSHOT_DESCRIPTION, TEMPLATES, VMS_PER_ROOM as PVE_VMS
    from .pve import room_name as pve_room, room_node

    lines = [
        "[general]", "    [[connect]]", "    driver = proxmox", f'    url = "{url}"',
        f'    username = "{username}"', f'    password_file = "{password_file}"',
        f'    ca_file = "{ca_file}"',
        "    [[throttle]]",
        f"    snapshot_batch_size = {batch}",
        "    snapshot_batch_pause = 0",
        f"    parallel = {parallel}",
        "    operation_timeout = 3600",
    ]
    regex = "^" + SNAPSHOT_DESCRIPTION.rsplit(" ", 2)[0]
    for r in range(1, rooms + 1):
        node = room_node(r)
        lines += [
            f"[room {pve_room(r)}]",
            f'    template_name = "{TEMPLATES[node]}"',
            f"    node = {node}",
            '    snapshot_description = "vdictl rollout ${scripttime}"',
            f'    reset_to_snapshot_regex = "{regex}"',
            "    reset_startvm = Always",
            "    [[pcs]]",
            f'    ids = "1-{PVE_VMS}"',
            '    names = "${roomname}-pc${id}"',
        ]
    return "\n".join(lines) + "\n"
