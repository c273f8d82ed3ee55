# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest plugin: the Proxmox VE simulator, started and seeded, over HTTPS.

Registered from tests/conftest.py's ``pytest_plugins``.  ``make_pve(**kw)``
for code that manages the simulator itself (the caller stops it);
fixtures ``pve_api`` and ``pve_api_factory(**kw)``.
"""

from __future__ import annotations

import os
import tempfile
import threading

import pytest

from tests.pve_sim.simulator import PveSimulator
from tests.tls import make_certificates

_certs = None
_certs_lock = threading.Lock()


def _certificates():
    """One CA and server certificate per process (openssl takes a while)."""
    global _certs
    with _certs_lock:
        if _certs is None:
            _certs = make_certificates(tempfile.mkdtemp(prefix="pve-sim-tls-"))
        return _certs


def make_pve(**kwargs):
    """A started simulator seeded as pve-api.md says, on HTTPS; its CA
    certificate is ``sim.ca_file``.  The caller must ``stop()`` it."""
    kwargs.setdefault("time_scale", 0.001)
    certs = _certificates()
    sim = PveSimulator(tls=certs.server_context(), ca_file=certs.ca_file, **kwargs)
    sim.seed()
    assert os.path.exists(sim.ca_file)
    return sim.start()


@pytest.fixture
def pve_api():
    sim = make_pve()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def pve_api_factory():
    """``factory(**kwargs)`` -> a started, seeded simulator with custom knobs;
    all are stopped at teardown."""
    sims = []

    def factory(**kwargs):
        sim = make_pve(**kwargs)
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        sim.stop()
