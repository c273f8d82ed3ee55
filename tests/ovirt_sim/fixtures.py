# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest plugin: the ``ovirt_engine`` fixture (a running simulator).

Registered from tests/conftest.py's ``pytest_plugins``.
"""

import pytest

from tests.ovirt_sim.engine import OvirtEngineSimulator


def make_engine(**kwargs):
    """A started simulator seeded like the ``ovirt_engine`` fixture: cluster
    ``Default``, network/vNIC profile ``vdi-net``, storage domain ``data1``
    (NFS, 4 TiB), template ``tmpl-win10`` (its disk on data1),
    user ``thinclient@internal``.  The caller must ``stop()`` it."""
    kwargs.setdefault("time_scale", 0.001)
    kwargs.setdefault("seed", 0)
    sim = OvirtEngineSimulator(**kwargs)
    sim.add_cluster("Default")
    sim.add_network("vdi-net", cluster="Default")
    sim.add_storage_domain("data1", 4 << 40)
    sim.add_template("tmpl-win10", cluster="Default")
    sim.add_user("thinclient@internal")
    return sim.start()


def sim_connection_args(sim):
    """Keyword arguments for ``ovirtsdk4.Connection`` to reach ``sim``."""
    return {
        "url": sim.url,
        "username": sim.username,
        "password": sim.password,
        "insecure": True,
        "ca_file": None,
    }


@pytest.fixture
def ovirt_engine():
    sim = make_engine()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def ovirt_engine_factory():
    """``factory(**kwargs)`` -> a started, seeded simulator with custom knobs
    (e.g. ``time_scale=1.0`` to drive the clock by hand with ``advance``);
    all of them are stopped at teardown."""
    sims = []

    def factory(**kwargs):
        sim = make_engine(**kwargs)
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        sim.stop()


@pytest.fixture(scope="session")
def engine_certificates(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1 (tests/tls.py)."""
    from tests.tls import make_certificates

    return make_certificates(str(tmp_path_factory.mktemp("engine-tls")))


@pytest.fixture
def ovirt_engine_tls(engine_certificates):
    """Like ``ovirt_engine``, served over HTTPS; ``sim.ca_file`` is its CA."""
    sim = make_engine(tls=engine_certificates.server_context())
    sim.ca_file = engine_certificates.ca_file
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="module")
def fast_polls():
    """The oVirt driver's poll and retry pauses shrunk for a time-scaled engine
    (class attributes, restored afterwards): a timing seam, nothing else."""
    pytest.importorskip("ovirtsdk4")
    from vdictl.drivers.ovirt import OvirtDriver

    names = ("poll_interval", "retry_initial", "retry_maximum")
    saved = {k: getattr(OvirtDriver, k) for k in names}
    OvirtDriver.poll_interval, OvirtDriver.retry_initial, OvirtDriver.retry_maximum = \
        0.01, 0.01, 0.05
    yield
    for key, value in saved.items():
        setattr(OvirtDriver, key, value)
