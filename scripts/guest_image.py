#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny bootable guest disk for tests: one hand-assembled x86 boot sector.

Nothing is downloaded and no assembler is needed: the machine code below is
written out byte by byte (16-bit real mode, as the BIOS leaves it), with a
minimal label/fixup helper so that jump offsets and addresses do not have to
be counted by hand.

What the guest does, in order:

1. prints ``vdictl-guest up (acpi)`` / ``(deaf)`` on the first serial port
   (0x3F8), waiting for the transmitter before each byte;
2. counts its boots on disk: BIOS int 13h reads LBA 1, which holds the
   8-byte tag ``VDICOUNT`` followed by a little-endian 32-bit counter,
   increments the counter and writes the sector back (errors are ignored, a
   read-only disk still boots).  Tests can read it with :func:`read_boot_count`
   to see whether a guest's writes survived (snapshots, transient disks...);
3. variant ``acpi``: finds the ACPI PM I/O base in PCI config space
   (PIIX4 PM at 00:01.3 on the ``pc`` machine, ICH9 LPC at 00:1f.0 on
   ``q35``; register 0x40), sets PWRBTN_EN (bit 8) in PM1_EN (base+2) and
   clears a stale PWRBTN_STS (bit 8 of PM1_STS, base+0, write-one-to-clear).
   QEMU only latches a power-button press while PWRBTN_EN is set, so a press
   that arrives before this point is lost.
   variant ``deaf``: leaves ACPI alone; variant ``selfoff`` does what
   ``acpi`` does;
4. stores a readiness mark, the dword ``VDI1`` (acpi) or ``VDI0`` (deaf), at
   guest physical address 0x500 (from that moment the acpi guest answers the
   power button);
5. idles with interrupts on: ``hlt`` until the next timer tick (18.2 Hz from
   the BIOS), then, for ``acpi``, checks PWRBTN_STS; once set it writes
   SLP_TYP=0 (S5 on QEMU's pc/q35 DSDT) together with SLP_EN (bit 13) into
   PM1_CNT (base+4), and QEMU powers the machine off.
   variant ``selfoff``: enters S5 at the first timer tick, without waiting
   for a button, as a guest does at the end of sysprep or cloud-init's
   first boot (``power_state``).

Usable as a module (``build_guest_image(path, variant="acpi")``) and as a
script (``scripts/build-guest-image OUT.qcow2 [--deaf]``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

VARIANTS = ("acpi", "deaf", "selfoff")
BANNER = "vdictl-guest up"
COUNTER_TAG = b"VDICOUNT"
COUNTER_OFFSET = 512  # LBA 1
READY_ADDR = 0x500
READY_MARK = {"acpi": b"VDI1", "deaf": b"VDI0", "selfoff": b"VDI2"}
DEFAULT_SIZE = 1024 * 1024

LOAD_ADDR = 0x7C00
BUFFER_ADDR = 0x8000  # scratch sector buffer for int 13h


class _Code:
    """Emit hand-assembled bytes; resolve labels for rel8 jumps and abs16."""

    def __init__(self, origin: int):
        self.origin = origin
        self.buf = bytearray()
        self.labels: dict[str, int] = {}
        self.fixups: list[tuple[int, str, str]] = []  # (pos, label, kind)

    def b(self, *data: int) -> None:
        self.buf.extend(data)

    def w(self, value: int) -> None:
        self.buf.extend(struct.pack("<H", value & 0xFFFF))

    def d(self, value: int) -> None:
        self.buf.extend(struct.pack("<I", value & 0xFFFFFFFF))

    def label(self, name: str) -> None:
        assert name not in self.labels, name
        self.labels[name] = len(self.buf)

    def rel8(self, name: str) -> None:
        self.fixups.append((len(self.buf), name, "rel8"))
        self.buf.append(0)

    def abs16(self, name: str) -> None:
        self.fixups.append((len(self.buf), name, "abs16"))
        self.buf.extend(b"\0\0")

    def assemble(self) -> bytes:
        for pos, name, kind in self.fixups:
            target = self.labels[name]
            if kind == "rel8":
                delta = target - (pos + 1)
                if not -128 <= delta <= 127:
                    raise ValueError(f"short jump to {name} out of range")
                self.buf[pos] = delta & 0xFF
            else:
                struct.pack_into("<H", self.buf, pos, self.origin + target)
        return bytes(self.buf)


def boot_sector(variant: str = "acpi") -> bytes:
    """Return the 512-byte boot sector for ``variant`` ("acpi" or "deaf")."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown guest variant {variant!r}; expected one of {VARIANTS}")
    c = _Code(LOAD_ADDR)

    # --- set up flat real-mode segments, stack below the boot sector -------
    c.b(0xFA)                          # cli
    c.b(0x31, 0xC0)                    # xor ax, ax
    c.b(0x8E, 0xD8)                    # mov ds, ax
    c.b(0x8E, 0xC0)                    # mov es, ax
    c.b(0x8E, 0xD0)                    # mov ss, ax
    c.b(0xBC); c.w(LOAD_ADDR)          # mov sp, 0x7C00
    c.b(0xFC)                          # cld
    c.b(0xEA); c.abs16("main"); c.w(0) # jmp 0000:main  (normalise CS:IP)
    c.label("main")
    c.b(0x88, 0x16); c.abs16("drive")  # mov [drive], dl   (BIOS boot drive)
    c.b(0xFB)                          # sti

    # --- banner on COM1 -----------------------------------------------------
    c.b(0xBE); c.abs16("msg")          # mov si, msg
    c.label("print")
    c.b(0xAC)                          # lodsb
    c.b(0x84, 0xC0)                    # test al, al
    c.b(0x74); c.rel8("printed")       # jz printed
    c.b(0x88, 0xC4)                    # mov ah, al
    c.b(0xBA); c.w(0x3FD)              # mov dx, 0x3FD      (LSR)
    c.label("txwait")
    c.b(0xEC)                          # in al, dx
    c.b(0xA8, 0x20)                    # test al, 0x20      (THR empty)
    c.b(0x74); c.rel8("txwait")        # jz txwait
    c.b(0xBA); c.w(0x3F8)              # mov dx, 0x3F8      (THR)
    c.b(0x88, 0xE0)                    # mov al, ah
    c.b(0xEE)                          # out dx, al
    c.b(0xEB); c.rel8("print")         # jmp print
    c.label("printed")

    # --- boot counter in LBA 1 (CHS 0/0/2) via int 13h ------------------------
    c.b(0xBB); c.w(BUFFER_ADDR)        # mov bx, 0x8000     (ES:BX buffer)
    c.b(0xB8); c.w(0x0201)             # mov ax, 0x0201     (read, 1 sector)
    c.b(0xB9); c.w(0x0002)             # mov cx, 0x0002     (cyl 0, sector 2)
    c.b(0xB6, 0x00)                    # mov dh, 0          (head 0)
    c.b(0x8A, 0x16); c.abs16("drive")  # mov dl, [drive]
    c.b(0xCD, 0x13)                    # int 0x13
    c.b(0x72); c.rel8("counted")       # jc counted         (no disk: skip)
    # tag "VDICOUNT" present?  compare two dwords, else start from zero
    c.b(0x66, 0x81, 0x3E); c.w(BUFFER_ADDR)      # cmp dword [0x8000], "VDIC"
    c.buf.extend(COUNTER_TAG[0:4])
    c.b(0x75); c.rel8("fresh")                    # jne fresh
    c.b(0x66, 0x81, 0x3E); c.w(BUFFER_ADDR + 4)  # cmp dword [0x8004], "OUNT"
    c.buf.extend(COUNTER_TAG[4:8])
    c.b(0x74); c.rel8("bump")                     # je bump
    c.label("fresh")
    c.b(0x66, 0xC7, 0x06); c.w(BUFFER_ADDR)      # mov dword [0x8000], "VDIC"
    c.buf.extend(COUNTER_TAG[0:4])
    c.b(0x66, 0xC7, 0x06); c.w(BUFFER_ADDR + 4)  # mov dword [0x8004], "OUNT"
    c.buf.extend(COUNTER_TAG[4:8])
    c.b(0x66, 0xC7, 0x06); c.w(BUFFER_ADDR + 8); c.d(0)  # mov dword [0x8008], 0
    c.label("bump")
    c.b(0x66, 0xFF, 0x06); c.w(BUFFER_ADDR + 8)  # inc dword [0x8008]
    c.b(0xBB); c.w(BUFFER_ADDR)        # mov bx, 0x8000
    c.b(0xB8); c.w(0x0301)             # mov ax, 0x0301     (write, 1 sector)
    c.b(0xB9); c.w(0x0002)             # mov cx, 0x0002
    c.b(0xB6, 0x00)                    # mov dh, 0
    c.b(0x8A, 0x16); c.abs16("drive")  # mov dl, [drive]
    c.b(0xCD, 0x13)                    # int 0x13           (result ignored)
    c.label("counted")

    if variant in ("acpi", "selfoff"):
        # --- locate the ACPI PM I/O block -----------------------------------
        # PCI config mechanism #1: address 0x80000000|bus<<16|dev<<11|fn<<8|reg
        c.b(0x66, 0xB8); c.d(0x80000B00)   # mov eax, 00:01.3 reg 0x00
        c.b(0xBA); c.w(0xCF8)              # mov dx, 0xCF8
        c.b(0x66, 0xEF)                    # out dx, eax
        c.b(0xBA); c.w(0xCFC)              # mov dx, 0xCFC
        c.b(0x66, 0xED)                    # in eax, dx         (device:vendor)
        c.b(0x66, 0xB9); c.d(0x8000F840)   # mov ecx, 00:1f.0 reg 0x40 (ICH9)
        c.b(0x66, 0x3D); c.d(0x71138086)   # cmp eax, PIIX4 PM 8086:7113
        c.b(0x75); c.rel8("haveaddr")      # jne haveaddr
        c.b(0x66, 0xB9); c.d(0x80000B40)   # mov ecx, 00:01.3 reg 0x40 (PMBA)
        c.label("haveaddr")
        c.b(0x66, 0x89, 0xC8)              # mov eax, ecx
        c.b(0xBA); c.w(0xCF8)              # mov dx, 0xCF8
        c.b(0x66, 0xEF)                    # out dx, eax
        c.b(0xBA); c.w(0xCFC)              # mov dx, 0xCFC
        c.b(0x66, 0xED)                    # in eax, dx
        c.b(0x25); c.w(0xFFC0)             # and ax, 0xFFC0     (I/O base)
        c.b(0x89, 0xC3)                    # mov bx, ax         (bx = PM base)
        # --- PM1_EN |= PWRBTN_EN; clear stale PWRBTN_STS --------------------
        c.b(0x8D, 0x57, 0x02)              # lea dx, [bx+2]     (PM1_EN)
        c.b(0xED)                          # in ax, dx
        c.b(0x0D); c.w(0x0100)             # or ax, 0x0100
        c.b(0xEF)                          # out dx, ax
        c.b(0x89, 0xDA)                    # mov dx, bx         (PM1_STS)
        c.b(0xB8); c.w(0x0100)             # mov ax, 0x0100
        c.b(0xEF)                          # out dx, ax         (W1C)

    # --- readiness mark at 0000:0500 ----------------------------------------
    c.b(0x66, 0xC7, 0x06); c.w(READY_ADDR)  # mov dword [0x500], mark
    c.buf.extend(READY_MARK[variant])

    c.label("idle")
    c.b(0xFB)                              # sti
    c.b(0xF4)                              # hlt  (woken by the timer tick)
    if variant == "acpi":
        c.b(0x89, 0xDA)                    # mov dx, bx         (PM1_STS)
        c.b(0xED)                          # in ax, dx
        c.b(0xA9); c.w(0x0100)             # test ax, 0x0100    (PWRBTN_STS)
        c.b(0x74); c.rel8("idle")          # jz idle
    if variant in ("acpi", "selfoff"):
        # --- power button pressed: enter S5 --------------------------------
        c.b(0x89, 0xDA)                    # mov dx, bx
        c.b(0xB8); c.w(0x0100)             # mov ax, 0x0100
        c.b(0xEF)                          # out dx, ax         (ack PWRBTN_STS)
        c.b(0x8D, 0x57, 0x04)              # lea dx, [bx+4]     (PM1_CNT)
        c.b(0xED)                          # in ax, dx
        c.b(0x25); c.w(0xC3FF)             # and ax, ~(SLP_EN|SLP_TYP)
        c.b(0x0D); c.w(0x2000)             # or ax, SLP_EN      (SLP_TYP = 0)
        c.b(0xEF)                          # out dx, ax         -> power off
        c.label("dead")
        c.b(0xFA)                          # cli  (not reached on QEMU)
        c.b(0xF4)                          # hlt
        c.b(0xEB); c.rel8("dead")          # jmp dead
    else:
        c.b(0xEB); c.rel8("idle")          # jmp idle

    # --- data ------------------------------------------------------------------
    c.label("drive")
    c.b(0x80)
    c.label("msg")
    c.buf.extend(f"{BANNER} ({variant})\r\n".encode("ascii") + b"\0")

    code = c.assemble()
    if len(code) > 510:
        raise AssertionError(f"boot code is {len(code)} bytes, more than 510")
    return code + bytes(510 - len(code)) + b"\x55\xAA"


def _qemu_img() -> str:
    path = shutil.which("qemu-img")
    if not path:
        raise FileNotFoundError("qemu-img not found (Debian package qemu-utils)")
    return path


def build_guest_image(path, variant: str = "acpi", *, fmt: str = "qcow2",
                      size: int = DEFAULT_SIZE) -> str:
    """Write a bootable guest disk of ``variant`` to ``path``; return the path.

    ``fmt`` is "qcow2" (default; built as raw then ``qemu-img convert``) or
    "raw".  ``size`` is the virtual disk size in bytes (multiple of 512).
    """
    path = os.fspath(path)
    if size < 2 * 512 or size % 512:
        raise ValueError("size must be a multiple of 512 and at least 1024")
    sector = boot_sector(variant)
    directory = os.path.dirname(os.path.abspath(path))
    fd, raw = tempfile.mkstemp(prefix=".guest-", suffix=".raw", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(sector)
            f.truncate(size)
        if fmt == "raw":
            os.replace(raw, path)
            raw = None
        elif fmt == "qcow2":
            subprocess.run([_qemu_img(), "convert", "-q", "-f", "raw", "-O", "qcow2",
                            raw, path], check=True, stdin=subprocess.DEVNULL)
        else:
            raise ValueError(f"unsupported format {fmt!r}")
    finally:
        if raw is not None and os.path.exists(raw):
            os.unlink(raw)
    return path


def read_boot_count(path, fmt: str | None = None) -> int:
    """Return how often the guest on disk ``path`` has booted (0 if never).

    Works on raw and qcow2 (also with a backing chain) and on images in use
    by a running QEMU (``qemu-img`` is run with ``-U``).
    """
    path = os.fspath(path)
    # qemu-img dd cannot write a skipped range to a fresh file, so copy the
    # first two sectors and look at the second one.
    with tempfile.TemporaryDirectory(prefix="vdictl-lba1-") as tmp:
        out = os.path.join(tmp, "head.raw")
        cmd = [_qemu_img(), "dd", "-U", f"if={path}", f"of={out}", "bs=512",
               "count=2", "-O", "raw"]
        if fmt:
            cmd[3:3] = ["-f", fmt]
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)
        with open(out, "rb") as f:
            data = f.read()[COUNTER_OFFSET:COUNTER_OFFSET + 512]
    if data[:8] != COUNTER_TAG:
        return 0
    return struct.unpack_from("<I", data, 8)[0]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="build-guest-image",
        description="Build the tiny vdictl test guest (a hand-assembled boot sector).")
    p.add_argument("out", help="output image path (e.g. guest.qcow2)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--deaf", action="store_const", dest="variant", const="deaf",
                   help="guest ignores ACPI (for forced power-off tests)")
    g.add_argument("--variant", choices=VARIANTS, dest="variant")
    p.add_argument("--format", choices=("qcow2", "raw"), default="qcow2")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help="virtual size in bytes (default 1 MiB)")
    p.add_argument("--count", action="store_true",
                   help="instead of building, print the boot counter of OUT")
    args = p.parse_args(argv)
    if args.count:
        print(read_boot_count(args.out))
        return 0
    build_guest_image(args.out, args.variant or "acpi", fmt=args.format, size=args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
