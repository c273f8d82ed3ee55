"""What the oVirt tests that run the CLI share: the connect lines of a config
for an engine simulator (tests/ovirt_sim), its password in a private file, and
room `lab` of four desks rolled out and started (the daytime-safety tests).

The oVirt counterpart of tests/pve_driver.py's `token_connect_ini`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import pytest

from tests.ovirt_sim.fixtures import make_engine
from tests.vdictl_cli import vdictl, write_config

GENERAL = "[general]\n    [[connect]]"


def password_file(directory: Union[str, Path], password: str, *, name: str = "engine.pass",
                  newline: bool = True, mode: Optional[int] = 0o600) -> Path:
    """A file `directory`/`name` holding `password` (and a newline), private
    unless `mode` is None."""
    return write_config(directory, password + ("\n" if newline else ""), name=name, mode=mode)


def connect_ini(sim, *, password_file: Union[str, Path, None] = None, url: Optional[str] = None,
                section: str = GENERAL, username: Optional[str] = None) -> str:
    """The `[general] [[connect]]` lines (or `section`'s) of a config for the
    engine simulator `sim`: driver ovirt, its URL (or `url`), its account (or
    `username`'s), and its password in place or, given `password_file`, in
    that file. A test's config template starts with ``{connect}`` and adds
    its own keys below."""
    secret = (f'password = "{sim.password}"' if password_file is None
              else f'password_file = "{password_file}"')
    return (f'{section}\n    driver = ovirt\n    url = "{url or sim.url}"\n'
            f'    username = "{username or sim.username}"\n    {secret}\n')


LAB_VMS = ["lab-pc01", "lab-pc02", "lab-pc03", "lab-pc04"]

LAB = """\
{connect}    [[throttle]]
    snapshot_batch_size = 4
    snapshot_batch_pause = 0
    parallel = 4
    shutdown_timeout = 0.5
    operation_timeout = 30

[room lab]
    cluster = Default
    network_name = vdi-net
    template_name = tmpl-win10
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[pcs]]
    ids = "1-4"
    names = "${{roomname}}-pc${{id}}"
"""


@pytest.fixture
def lab(fast_polls, tmp_path):
    """(config, sim): room lab's four desks rolled out and started on an engine
    simulator, settled (every desk up)."""
    sim = make_engine()
    try:
        config = write_config(tmp_path, LAB.format(connect=connect_ini(sim)))
        assert vdictl(config, "virtroom-rollout", "lab").exit_code == 0
        assert vdictl(config, "virtroom-start", "lab").exit_code == 0
        sim.settle()
        yield config, sim
    finally:
        sim.stop()


def session_requests(sim):
    """The requests `sim` answered about VMs' sessions."""
    return [r for r in sim.requests
            if r["path"].endswith("/sessions") or "sessions" in r["query"].get("follow", "")]
