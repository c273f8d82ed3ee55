# SPDX-License-Identifier: GPL-3.0-or-later
"""The VM config keys qemu-server's schema knows (the ones a VDI manager
meets; a key outside it is refused as the real API refuses it)."""

from __future__ import annotations

import re

from tests.pve_sim.wire.drives import DRIVE_KEY

PLAIN = frozenset("""
    acpi affinity agent arch args audio0 autostart balloon bios boot bootdisk cdrom cicustom
    cipassword citype ciupgrade ciuser cores cpu cpulimit cpuunits description efidisk0 freeze
    hookscript hotplug hugepages ivshmem keephugepages keyboard kvm localtime lock machine
    memory migrate_downtime migrate_speed name nameserver numa onboot ostype protection reboot
    rng0 scsihw searchdomain shares smbios1 smp sockets spice_enhancements sshkeys startdate
    startup tablet tags tdf template tpmstate0 vcpus vga vmgenid vmstatestorage watchdog
""".split())
NUMBERED = re.compile(r"(net|ipconfig|serial|parallel|usb|hostpci|numa|unused|virtiofs)\d+")


def known_key(key):
    return key in PLAIN or bool(NUMBERED.fullmatch(key)) or bool(DRIVE_KEY.match(key))
