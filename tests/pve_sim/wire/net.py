# SPDX-License-Identifier: GPL-3.0-or-later
"""Network device strings: ``virtio=BC:24:11:AA:BB:CC,bridge=vmbr0``.  A
device given without an address gets one, as qemu-server's parse_net does
(the datacenter's MAC prefix BC:24:11 on a default install)."""

from __future__ import annotations

MODELS = ("e1000", "e1000e", "rtl8139", "virtio", "vmxnet3", "ne2k_pci", "pcnet", "i82551")


def parse_net(value):
    """(model, mac or None, [other options]) of a net string."""
    model, mac, rest = None, None, []
    for part in str(value).split(","):
        key, eq, val = part.partition("=")
        if key in MODELS and model is None:
            model, mac = key, (val or None) if eq else None
        elif key == "model":
            model = val
        elif key == "macaddr":
            mac = val
        elif part:
            rest.append(part)
    return model, mac, rest


def print_net(model, mac, rest):
    return ",".join(["%s=%s" % (model, mac)] + rest)


def with_mac(value, new_mac):
    """The device with its address; ``new_mac()`` makes one when missing."""
    model, mac, rest = parse_net(value)
    return print_net(model or "virtio", mac or new_mac(), rest)


def renewed(value, new_mac):
    """The device with a new address (a clone's: "always change MAC!")."""
    model, _, rest = parse_net(value)
    return print_net(model or "virtio", new_mac(), rest)
