"""Who is at a VM, on real QEMU: a real VNC client (a socket that completes
the RFB handshake) connected to one guest's display, and LibvirtDriver.sessions
asked through QEMU's monitor (query-vnc) on the private libvirtd of
scripts/libvirt-sandbox.
"""

from __future__ import annotations

import json
import uuid

import pytest

libvirt = pytest.importorskip("libvirt")

from vdictl.drivers.libvirt import LibvirtDriver  # noqa: E402
from vdictl.model import UserSession  # noqa: E402
from vdictl.config.rooms import Connect  # noqa: E402

from tests.rfb import rfb_connect, vnc_port  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.libvirt_sandbox

@pytest.fixture
def guests(libvirt_sandbox):
    """Three guests with a VNC display: two running, one stopped."""
    tag = uuid.uuid4().hex[:6]
    names = [f"sess-{tag}-{i}" for i in (1, 2, 3)]
    for name in names:
        libvirt_sandbox.make_template(name, "acpi", graphics="vnc")
    for name in names[:2]:
        libvirt_sandbox.conn.lookupByName(name).create()
    yield names
    for name in names:
        libvirt_sandbox.remove_domain(name, delete_volumes=True)


#: what libvirt says of a domain whose monitor was used through passthrough
CUSTOM_MONITOR_TAINT = "tainted: custom monitor control commands issued"


def taints(conn, name: str):
    return conn.lookupByName(name).messages(libvirt.VIR_DOMAIN_MESSAGE_TAINTING)


def driver_for(sandbox, **settings) -> LibvirtDriver:
    driver = LibvirtDriver(Connect(driver="libvirt", uri=sandbox.uri, **settings))
    driver.open()
    return driver


def test_a_connected_vnc_client_is_a_console_session_until_it_disconnects(libvirt_sandbox,
                                                                          guests):
    watched, running, stopped = guests
    driver = driver_for(libvirt_sandbox)
    try:
        everyone = [*guests, "sess-nosuchvm"]
        assert driver.sessions(names=everyone) == {watched: [], running: [], stopped: []}

        client = rfb_connect(vnc_port(libvirt_sandbox.conn, watched))
        local_port = client.getsockname()[1]
        try:
            assert driver.sessions(names=everyone) == {
                watched: [UserSession(kind="console", client=f"127.0.0.1:{local_port}",
                                      source="qemu vnc")],
                running: [], stopped: []}
        finally:
            client.close()
        wait_until(lambda: driver.sessions(names=[watched]) == {watched: []},
                   what="QEMU to drop the VNC client")
        # the price of the probe, as docs/backends/libvirt.md says
        assert CUSTOM_MONITOR_TAINT in taints(libvirt_sandbox.conn, watched)
    finally:
        driver.close()


def test_without_the_monitor_probe_a_running_guest_without_agent_cannot_be_told(
        libvirt_sandbox, guests):
    watched, running, stopped = guests
    driver = driver_for(libvirt_sandbox, console_probe=False)
    client = rfb_connect(vnc_port(libvirt_sandbox.conn, watched))
    try:
        # None: cannot tell (never "free"); a stopped guest has nobody at it
        assert driver.sessions(names=guests) == {watched: None, running: None, stopped: []}
        assert CUSTOM_MONITOR_TAINT not in taints(libvirt_sandbox.conn, watched)
    finally:
        client.close()
        driver.close()


def test_a_spice_display_is_asked_too_and_without_clients_nobody_is_there(libvirt_sandbox):
    name = f"sess-spice-{uuid.uuid4().hex[:6]}"
    libvirt_sandbox.make_template(name, "acpi", graphics="spice")
    driver = driver_for(libvirt_sandbox)
    try:
        libvirt_sandbox.conn.lookupByName(name).create()
        # query-vnc says VNC is off, query-spice lists no channel: looked, nobody
        assert driver.sessions(names=[name]) == {name: []}
    finally:
        driver.close()
        libvirt_sandbox.remove_domain(name, delete_volumes=True)


EXAM = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{uri}"

[room exam]
    template_name = exam-tmpl
    [[theirs]]
    ids = "1"
    names = "{prefix}-${{id}}"
    [[adopted]]
    ids = "2"
    names = "{prefix}-${{id}}"
    adopt_unmarked = True
"""


def test_show_sends_no_monitor_command_to_another_teams_vm(libvirt_sandbox, tmp_path):
    """Two running guests with a VNC display that vdictl did not create (another
    team's exam VMs whose names match desks); the second desk's subsection
    adopts unmarked VMs. virtroom-show asks QEMU's monitor about the adopted one
    only: libvirt taints a domain once a monitor command is passed through, and
    the other team's domain stays untainted."""
    from tests.vdictl_cli import vdictl, write_config

    prefix = f"exam-{uuid.uuid4().hex[:6]}"
    theirs, adopted = f"{prefix}-01", f"{prefix}-02"
    for name in (theirs, adopted):
        libvirt_sandbox.make_template(name, "acpi", graphics="vnc")
        libvirt_sandbox.conn.lookupByName(name).create()
    try:
        config = write_config(tmp_path, EXAM.format(uri=libvirt_sandbox.uri, prefix=prefix))
        result = vdictl(config, "virtroom-show", "exam", "-o", "json")
        assert result.exit_code == 0, result.output
        in_use = {row["vm"]: row["in_use"] for row in json.loads(result.stdout)["vms"]}
        assert in_use == {theirs: None, adopted: []}
        assert CUSTOM_MONITOR_TAINT in taints(libvirt_sandbox.conn, adopted)
        assert CUSTOM_MONITOR_TAINT not in taints(libvirt_sandbox.conn, theirs)
    finally:
        for name in (theirs, adopted):
            libvirt_sandbox.remove_domain(name, delete_volumes=True)
