# SPDX-License-Identifier: GPL-3.0-or-later
"""QEMU's human monitor text for "info vnc" and "info spice", as
ui/ui-hmp-cmds.c prints it (hmp_info_vnc, hmp_info_spice), for a guest as
qemu-server starts it: VNC on the unix socket /var/run/qemu-server/VMID.vnc
with a password (vncproxy connects there, so its clients have no address),
SPICE (qxl or virtio display) on 127.0.0.1's TLS port, reached through the
node's spiceproxy (so every channel comes from 127.0.0.1)."""

from __future__ import annotations

#: SPICE channel types (spice/enums.h) a remote-viewer opens, in order
SPICE_CHANNELS = ((1, "main"), (2, "display"), (3, "inputs"), (4, "cursor"))


def info_vnc(vmid, clients, has_vnc=True):
    """``clients``: one entry per VNC client connected through the socket."""
    if not has_vnc:
        return "None\n"
    lines = ["default:",
             "  Server: :/var/run/qemu-server/%d.vnc (unix)" % vmid,
             "    Auth: vnc (Sub: none)"]
    for _ in clients:
        # a unix-socket peer that bound no path: host "" and service ""
        lines += ["  Client: : (unix)", "    x509_dname: none", "    sasl_username: none"]
    return "\n".join(lines) + "\n"


def info_spice(clients, port=61000, enabled=True):
    """``clients``: (connection id, [source ports of its channels]) each."""
    if not enabled:
        return "Server: disabled\n"
    lines = ["Server:",
             "     address: 127.0.0.1:%d [tls]" % port,
             "    migrated: false",
             "        auth: spice",
             "    compiled: 0.15.1",
             "  mouse-mode: client"]
    if not clients:
        lines.append("Channels: none")
    for connection_id, ports in clients:
        for (ctype, cname), source in zip(SPICE_CHANNELS, ports):
            lines += ["Channel:",
                      "     address: 127.0.0.1:%d [tls]" % source,
                      "     session: %d" % connection_id,
                      "     channel: %d:0" % ctype,
                      "     channel name: %s" % cname]
    return "\n".join(lines) + "\n"
