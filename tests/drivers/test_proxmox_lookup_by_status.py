"""The proxmox driver finds a VM it listed earlier in the run by its own
status (GET .../status/current on the node and VMID the listing gave), not by
listing every guest of the cluster before each action; a VM that moved, went
away or whose VMID now belongs to another guest is listed again."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("proxmoxer")

from vdictl.drivers import get_driver  # noqa: E402
from vdictl.errors import NotFound  # noqa: E402
from vdictl.model import Snapshot  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_connect  # noqa: E402,F401

TIMEOUT = 30.0


@pytest.fixture
def driver(pve_api, fast_pve_polls):
    d = get_driver(token_connect(pve_api))
    d.open()
    yield d
    d.close()


def listings(sim, since):
    return [p for m, p, _ in sim.requests[since:] if p == "/cluster/resources"]


def test_actions_after_a_listing_ask_the_vm_not_the_cluster(pve_api, driver):
    pve_api.add_vm("lab-pc01", template="tmpl-win10")
    assert set(driver.find_vms(names=["lab-pc01"])) == {"lab-pc01"}
    since = len(pve_api.requests)
    driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    driver.power_off_vm(name="lab-pc01", timeout=TIMEOUT)
    assert driver.list_snapshots(name="lab-pc01") == []
    assert listings(pve_api, since) == []
    assert pve_api.vm("lab-pc01").status == "stopped"


def test_a_vmid_now_of_another_guest_is_not_acted_on(pve_api, driver):
    old = pve_api.add_vm("lab-pc01", template="tmpl-win10")
    driver.find_vms(names=["lab-pc01"])
    # removed by hand; another guest got its VMID, and lab-pc01 came back as a new VM
    with pve_api.lock:
        old.config["name"] = "someone-else"
    new = pve_api.add_vm("lab-pc01", template="tmpl-win10")
    since = len(pve_api.requests)
    driver.start_vm(name="lab-pc01", timeout=TIMEOUT)
    assert (new.status, old.status) == ("running", "stopped")
    assert len(listings(pve_api, since)) == 1
    assert not [p for m, p, _ in pve_api.requests[since:]
                if m == "POST" and re.search(rf"/qemu/{old.vmid}/", p)]


def test_a_vm_gone_since_the_listing_is_not_found(pve_api, driver):
    vm = pve_api.add_vm("lab-pc01", template="tmpl-win10")
    driver.find_vms(names=["lab-pc01"])
    with pve_api.lock:
        del pve_api.vms[vm.vmid]
    with pytest.raises(NotFound, match="VM 'lab-pc01' not found"):
        driver.start_vm(name="lab-pc01", timeout=TIMEOUT)


def test_a_snapshot_gone_since_the_listing_fails_the_revert_naming_it(pve_api, driver):
    pve_api.add_vm("lab-pc01", template="tmpl-win10")
    driver.find_vms(names=["lab-pc01"])
    gone = Snapshot(id="vdictl_20260101_000000", description="vdictl rollout")
    with pytest.raises(NotFound, match=r"snapshot 'vdictl rollout' \(vdictl_20260101_000000\) "
                                       "not found"):
        driver.revert_snapshot(name="lab-pc01", snapshot=gone, timeout=TIMEOUT)
