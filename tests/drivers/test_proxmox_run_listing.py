"""The proxmox driver's per-run listing: creating VMs reads the run's cluster
listing and the template's config once, and lists again when the cluster
proved the listing wrong (a template replaced, a VM removed by this run)."""

from __future__ import annotations

import pytest

pytest.importorskip("proxmoxer")

from vdictl.drivers import get_driver  # noqa: E402
from vdictl.model import Owner  # noqa: E402
from vdictl.config.rooms import VmSpec  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_connect  # noqa: E402,F401
from tests.pve_sim.clients import ticket_client, wait_task  # noqa: E402

pytestmark = pytest.mark.usefixtures("fast_pve_polls")

OWNER = Owner(room="lab", subsection="pcs", tool_version="test")


def spec(name, template):
    return VmSpec(room="lab", subsection="pcs", id=1, id_str="01", name=name,
                  template_name=template, storage="shared-nfs")   # full clones


def listings(sim):
    return len([p for _, p, _ in list(sim.requests) if p == "/cluster/resources"])


def make_template(api, name, newid=None, source=9000):
    newid = newid or int(api.cluster.nextid.get())
    wait_task(api, api.nodes("pve1").qemu(source).clone.post(newid=newid, name=name, full=1))
    wait_task(api, api.nodes("pve1").qemu(newid).template.post())
    return newid


def test_a_template_replaced_during_the_run_is_listed_again(pve_api):
    api = ticket_client(pve_api)
    first = make_template(api, "tmpl-moving")
    driver = get_driver(token_connect(pve_api))
    driver.open()
    try:
        driver.create_vm(spec=spec("lab-a", "tmpl-moving"), owner=OWNER, timeout=30)
        before = listings(pve_api)
        driver.create_vm(spec=spec("lab-b", "tmpl-moving"), owner=OWNER, timeout=30)
        assert listings(pve_api) == before        # the run's listing, no new one
        # another client replaces the template: the cached VMID is gone
        wait_task(api, api.nodes("pve1").qemu(first).delete())
        second = make_template(api, "tmpl-moving", newid=first + 50)
        driver.create_vm(spec=spec("lab-c", "tmpl-moving"), owner=OWNER, timeout=30)
        assert listings(pve_api) == before + 1    # one new listing, after the refusal
        clones = [p for m, p, _ in list(pve_api.requests) if p.endswith("/clone")]
        # refused at the old VMID ("does not exist"), then cloned from the new one
        assert clones[-2:] == [f"/nodes/pve1/qemu/{first}/clone",
                               f"/nodes/pve1/qemu/{second}/clone"]
        assert driver.get_vm(name="lab-c").name == "lab-c"
        # a VM this run removed is not "already there" for the next create
        driver.delete_vm(name="lab-c", timeout=30)
        driver.create_vm(spec=spec("lab-c", "tmpl-moving"), owner=OWNER, timeout=30)
        assert sorted(v.name for v in pve_api.vms.values() if v.name.startswith("lab-")) == \
            ["lab-a", "lab-b", "lab-c"]
    finally:
        driver.close()
