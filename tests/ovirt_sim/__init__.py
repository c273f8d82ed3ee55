# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful oVirt engine simulator for tests (stdlib only).

It speaks enough of the oVirt REST API v4 (XML) and of the engine's SSO
(OAuth password grant, JSON) for the real ``ovirtsdk4`` to drive it over
HTTP.  See :mod:`tests.ovirt_sim.engine` for the knobs and
:mod:`tests.ovirt_sim.fixtures` for the pytest fixture ``ovirt_engine``.

Layers, each importing only those below it: ``server`` (HTTP routing, SSO,
faults, injected failures and latency) -> ``wire`` (the engine's XML) ->
``state`` (objects, commands, sessions, the simulated clock).
"""

from tests.ovirt_sim.engine import (
    DEFAULT_LATENCIES,
    NicState,
    OvirtEngineSimulator,
    PermissionState,
    SnapshotState,
    StartRecord,
    VmState,
)

__all__ = [
    "DEFAULT_LATENCIES",
    "NicState",
    "OvirtEngineSimulator",
    "PermissionState",
    "SnapshotState",
    "StartRecord",
    "VmState",
]
