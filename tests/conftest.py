# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared pytest configuration.

tests/sandbox.py provides the session fixture ``libvirt_sandbox`` (a private
libvirtd with real QEMU, see scripts/libvirt-sandbox) and marks the tests
using it with ``libvirt_sandbox``.
"""

pytest_plugins = ["tests.sandbox", "tests.ovirt_sim.fixtures"]
