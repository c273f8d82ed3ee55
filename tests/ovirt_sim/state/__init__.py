# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's objects and their transitions, with no knowledge of XML or HTTP.

:class:`~tests.ovirt_sim.state.engine.Engine` owns the inventory (data
centers, clusters, networks, templates, users, VMs, jobs), the sessions and
the simulated clock; ``vm_ops`` and ``snapshot_ops`` are the commands that
change a VM, each checking what the engine checks and scheduling the
transitions the engine would go through.
"""
