# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful Proxmox VE API simulator over HTTPS for tests (stdlib only).

See :mod:`tests.pve_sim.simulator` for the knobs and
:mod:`tests.pve_sim.fixtures` for the pytest fixtures ``pve_api`` and
``pve_api_factory`` and ``make_pve``.
"""
