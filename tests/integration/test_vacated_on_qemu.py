"""Between lessons end to end on real QEMU with a real VNC client (issue 26).

A room of three desks with VNC displays on the private libvirtd; a socket
through the RFB handshake sits at desk-vd02. Through the CLI:
`virtroom-reset --vacated` leaves the desk in use alone; once the client has
gone and the grace has passed, a --vacated run resets that desk alone (the
other desks' QEMU processes are the same, by pid); a desk nobody used is
never reset; `virtroom-shutdown --idle-for` shuts down only the idle desks.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("libvirt")

from tests.qemu_desks import AT_DESK, VMS, desk_room  # noqa: E402
from tests.rfb import rfb_connect, vnc_port  # noqa: E402
from tests.sandbox import qemu_pid  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.libvirt_sandbox

@pytest.fixture
def desks(libvirt_sandbox, tmp_path):
    with desk_room(libvirt_sandbox, tmp_path) as room:
        yield room


def picked(vdictl, *args):
    result = vdictl(*args, "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {r["vm"]: r["outcome"] for r in data["results"]}, data["left_alone"]


def pids():
    return {vm: qemu_pid(vm) for vm in VMS}


def test_vacated_resets_the_desk_its_vnc_client_left_and_no_other(desks):
    vdictl, conn = desks
    client = rfb_connect(vnc_port(conn, AT_DESK))
    try:
        before = pids()
        assert None not in before.values()
        done, left = picked(vdictl, "virtroom-reset", "desk", "--vacated", "--grace", "1s")
        assert (done, left) == ({}, {"in use": 1, "not used since their last reset": 2})
        assert pids() == before
    finally:
        client.close()

    # the first --vacated run that finds the desk free starts its grace
    wait_until(lambda: picked(vdictl, "virtroom-reset", "desk", "--vacated", "--grace", "1h")
               == ({}, {"vacated within the grace": 1, "not used since their last reset": 2}),
               interval=0.1, what="QEMU to drop the VNC client")
    time.sleep(1.1)
    done, left = picked(vdictl, "virtroom-reset", "desk", "--vacated", "--grace", "1s")
    assert (done, left) == ({AT_DESK: "ok"}, {"not used since their last reset": 2})
    after = pids()
    assert after[AT_DESK] not in (None, before[AT_DESK])      # a new QEMU process
    assert {vm: after[vm] for vm in VMS if vm != AT_DESK} == \
        {vm: before[vm] for vm in VMS if vm != AT_DESK}       # untouched

    time.sleep(1.1)     # nobody came back: reset, not used since, never again
    done, left = picked(vdictl, "virtroom-reset", "desk", "--vacated", "--grace", "1s")
    assert (done, left) == ({}, {"not used since their last reset": 3})
    assert pids() == after


def test_idle_for_shuts_down_only_the_desks_nobody_is_at(desks):
    vdictl, conn = desks
    client = rfb_connect(vnc_port(conn, AT_DESK))
    try:
        before = pids()
        done, left = picked(vdictl, "virtroom-shutdown", "desk", "--idle-for", "1s")
        assert (done, left) == ({}, {"in use": 1, "used within the idle time": 2})
        time.sleep(1.1)
        done, left = picked(vdictl, "virtroom-shutdown", "desk", "--idle-for", "1s")
        assert (done, left) == ({vm: "ok" for vm in VMS if vm != AT_DESK}, {"in use": 1})
        assert pids() == {vm: before[vm] if vm == AT_DESK else None for vm in VMS}
    finally:
        client.close()
