"""Daytime safety end to end on real QEMU: a real VNC client at one desk.

A room of three guests with VNC displays on the private libvirtd. A socket
that completes the RFB handshake sits at one of them. virtroom-show names that
VM in use with the client's address; virtroom-reset --skip-in-use resets the
others and leaves it running (the same QEMU process: never stopped); once the
client is gone, the next reset includes it.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("libvirt")

from tests.qemu_desks import AT_DESK, VMS  # noqa: E402
from tests.qemu_desks import desk_room as rolled_out_desks  # noqa: E402
from tests.rfb import rfb_connect, vnc_port  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

pytestmark = pytest.mark.libvirt_sandbox

@pytest.fixture(scope="module")
def desk_room(libvirt_sandbox, tmp_path_factory):
    with rolled_out_desks(libvirt_sandbox, tmp_path_factory.mktemp("desk")) as room:
        yield room


def shown(vdictl):
    result = vdictl("virtroom-show", "desk", "-o", "json")
    assert result.exit_code == 0, result.output
    return {row["vm"]: row for row in json.loads(result.stdout)["vms"]}


def reset(vdictl):
    result = vdictl("virtroom-reset", "desk", "--skip-in-use", "-o", "json")
    return result.exit_code, json.loads(result.stdout)


def test_a_vnc_client_keeps_its_vm_out_of_a_skip_in_use_reset(desk_room):
    vdictl, conn = desk_room
    assert {vm: row["in_use"] for vm, row in shown(vdictl).items()} == {vm: [] for vm in VMS}

    client = rfb_connect(vnc_port(conn, AT_DESK))
    client_address = f"127.0.0.1:{client.getsockname()[1]}"
    try:
        rows = shown(vdictl)
        assert [(s["kind"], s["client"], s["source"]) for s in rows[AT_DESK]["in_use"]] == [
            ("console", client_address, "qemu vnc")]
        assert [rows[vm]["in_use"] for vm in VMS if vm != AT_DESK] == [[], []]

        qemu_before = {vm: conn.lookupByName(vm).ID() for vm in VMS}
        code, report = reset(vdictl)
        assert code == 0, report
        results = {r["vm"]: r for r in report["results"]}
        assert report["skipped_in_use"] == 1
        assert results[AT_DESK]["outcome"] == "skipped"
        assert results[AT_DESK]["reason"].startswith(f"in use: console {client_address}")
        for vm in VMS:
            if vm != AT_DESK:
                assert results[vm]["outcome"] == "ok", results[vm]
                assert results[vm]["steps"][0] == "power off", results[vm]
        qemu_after = {vm: conn.lookupByName(vm).ID() for vm in VMS}
        # the desk in use runs in the same QEMU process: never stopped or restored
        assert qemu_after[AT_DESK] == qemu_before[AT_DESK]
        assert all(qemu_after[vm] != qemu_before[vm] for vm in VMS if vm != AT_DESK)
    finally:
        client.close()

    wait_until(lambda: shown(vdictl)[AT_DESK]["in_use"] == [], interval=0.1,
               what="QEMU to drop the VNC client")
    code, report = reset(vdictl)
    assert code == 0, report
    assert report["skipped_in_use"] == 0
    assert {r["vm"]: r["outcome"] for r in report["results"]} == {vm: "ok" for vm in VMS}
    assert conn.lookupByName(AT_DESK).ID() != qemu_before[AT_DESK]
