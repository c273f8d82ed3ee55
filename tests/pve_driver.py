"""What the proxmox driver's tests share: the driver's pauses shrunk for the
time-scaled simulator (tests/pve_sim), and the connect settings of a
simulator (its API token, its CA)."""

from __future__ import annotations

import os
import tempfile

import pytest

from vdictl.config.rooms import Connect


@pytest.fixture
def fast_pve_polls():
    """The proxmox driver's poll and retry pauses shrunk for a time-scaled
    simulator (class attributes, restored afterwards): a timing seam, nothing else."""
    pytest.importorskip("proxmoxer")
    from vdictl.drivers.proxmox import ProxmoxDriver

    names = ("poll_interval", "retry_initial", "retry_maximum", "stop_timeout")
    saved = {k: getattr(ProxmoxDriver, k) for k in names}
    ProxmoxDriver.poll_interval, ProxmoxDriver.retry_initial = 0.02, 0.01
    ProxmoxDriver.retry_maximum, ProxmoxDriver.stop_timeout = 0.05, 30.0
    yield
    for key, value in saved.items():
        setattr(ProxmoxDriver, key, value)


def token_file(secret: str) -> str:
    """A private file whose first line is `secret`."""
    fd, path = tempfile.mkstemp(prefix="pve-token-")
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)
    return path


def token_connect(sim, **kw) -> Connect:
    """Connect settings of the simulator: its API token, TLS verified with its CA."""
    kw.setdefault("ca_file", sim.ca_file)
    return Connect(driver="proxmox", url=sim.url, token_id=sim.token_id,
                   token_secret_file=token_file(sim.token_secret), **kw)


def ticket_connect(sim, **kw) -> Connect:
    """Connect settings of the simulator's root@pam with its password (a ticket)."""
    kw.setdefault("ca_file", sim.ca_file)
    return Connect(driver="proxmox", url=sim.url, username="root@pam", password=sim.password,
                   **kw)


GENERAL = "[general]\n    [[connect]]"


def token_lines(sim, secret=None) -> str:
    """The connect keys of the simulator's API token: its id, and its secret (or
    `secret`) in a private file (the second line indented as a connect key)."""
    return (f'token_id = "{sim.token_id}"\n    token_secret_file = '
            f'"{token_file(secret or sim.token_secret)}"')


def connect_ini(sim, login: str, *, section: str = GENERAL) -> str:
    """The `[general] [[connect]]` lines (or `section`'s) of a config for the
    simulator: its URL, the `login` keys, TLS verified with its CA. A test's
    config template starts with ``{connect}`` and adds its own keys below."""
    return (f'{section}\n    driver = proxmox\n    url = "{sim.url}"\n    {login}\n'
            f'    ca_file = "{sim.ca_file}"\n')


def token_connect_ini(sim, *, secret=None, section: str = GENERAL) -> str:
    """connect_ini with the simulator's API token (`secret` for another secret)."""
    return connect_ini(sim, token_lines(sim, secret), section=section)
