# SPDX-License-Identifier: GPL-3.0-or-later
"""A stateful oVirt engine simulator for tests (stdlib only).

It speaks enough of the oVirt REST API v4 (XML) and of the engine's SSO
(OAuth password grant, JSON) for the real ``ovirtsdk4`` to drive it over
HTTP.  See :mod:`tests.ovirt_sim.engine` for the knobs and
:mod:`tests.ovirt_sim.fixtures` for the pytest fixture ``ovirt_engine``.
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
