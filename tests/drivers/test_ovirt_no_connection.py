"""A new SDK connection that cannot be made on this machine (out of open
files) is a typed error naming the engine and the limit, raised before any
request: the VM is left as it was, never powered off for nothing, and never
an "unexpected error".

The limit is lowered in this process just around the call, to the lowest
free descriptor, so that the SDK's curl handles cannot be made: what a run
with one lock file per room of a large site met at the default limit.
"""

from __future__ import annotations

import os
import resource
from contextlib import contextmanager

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.config.rooms import Connect  # noqa: E402
from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402
from vdictl.errors import NoConnection  # noqa: E402


@contextmanager
def no_free_descriptor():
    """No new descriptor can be opened until the block ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowest = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def drv(ovirt_engine):
    ovirt_engine.add_vm("lab-pc1", template="tmpl-win10", status="up",
                        comment="vdictl:room=lab;subsection=pcs;version=0.1.0")
    d = OvirtDriver(Connect(driver="ovirt", url=ovirt_engine.url,
                            username=ovirt_engine.username, password=ovirt_engine.password))
    d.retry_initial = d.retry_maximum = 0.01
    d.open()
    yield d
    d.close()


def test_power_off_without_a_connection_is_a_clear_error_and_sends_nothing(ovirt_engine,
                                                                           drv):
    before = len(ovirt_engine.requests)
    # the login's connection is busy with another VM: this call needs a new one
    with drv.connection._pool.lease(), no_free_descriptor():
        with pytest.raises(NoConnection) as caught:
            drv.power_off_vm(name="lab-pc1", timeout=5)
    message = str(caught.value)
    assert message.startswith(f"ovirt: cannot open a new connection to {ovirt_engine.url} "
                              "on this machine, no request sent: out of open files (")
    assert "raise it: LimitNOFILE= in the service unit, ulimit -n)" in message
    assert len(ovirt_engine.requests) == before
    assert ovirt_engine.vm("lab-pc1").status == "up"


def test_the_first_contact_without_a_connection_is_the_same_clear_error(ovirt_engine):
    d = OvirtDriver(Connect(driver="ovirt", url=ovirt_engine.url,
                            username=ovirt_engine.username, password=ovirt_engine.password))
    with no_free_descriptor(), pytest.raises(NoConnection, match="out of open files"):
        d.open()
    assert ovirt_engine.sso_logins == 0
