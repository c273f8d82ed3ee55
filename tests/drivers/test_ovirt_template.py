"""oVirt template-create / template-delete through ovirtsdk4 against the engine simulator."""

from __future__ import annotations

import pytest

pytest.importorskip("ovirtsdk4")

from vdictl.drivers.ovirt import OvirtDriver  # noqa: E402
from vdictl.errors import Conflict, NotFound, NotOwned, TemplateInUse  # noqa: E402
from vdictl.config.rooms import Connect  # noqa: E402


@pytest.fixture
def drv(ovirt_engine):
    d = OvirtDriver(Connect(driver="ovirt", url=ovirt_engine.url,
                            username=ovirt_engine.username, password=ovirt_engine.password))
    d.poll_interval = 0.01
    d.retry_initial = 0.01
    d.retry_maximum = 0.05
    d.open()
    yield d
    d.close()


@pytest.mark.parametrize("seal", [True, False])
def test_create_sends_the_seal_flag_and_waits_until_ok(ovirt_engine, drv, seal):
    ovirt_engine.add_vm("golden", template="tmpl-win10")
    ovirt_engine.latencies["add"] = 200.0    # 0.2 s at the fixture's time scale
    drv.create_template(vm="golden", name="win10-new", seal=seal, timeout=10)
    t = ovirt_engine.template("win10-new")
    assert t["status"] == "ok"               # returned only after the engine unlocked it
    assert t["sealed"] is seal
    assert t["source_vm"] == "golden"
    assert t["comment"].startswith("vdictl template")
    posts = [r for r in ovirt_engine.requests
             if r["method"] == "POST" and r["path"].endswith("/templates")]
    assert [r["query"].get("seal") for r in posts] == [str(seal).lower()]


def test_create_refuses_a_running_source_and_an_existing_name(ovirt_engine, drv):
    ovirt_engine.add_vm("golden", template="tmpl-win10", status="up")
    with pytest.raises(Conflict, match="source VM 'golden' is up"):
        drv.create_template(vm="golden", name="win10-new", seal=True, timeout=5)
    with pytest.raises(Conflict, match="already exists"):
        drv.create_template(vm="golden", name="tmpl-win10", seal=True, timeout=5)
    with pytest.raises(KeyError):
        ovirt_engine.template("win10-new")


def test_delete_is_refused_while_vms_use_it_and_foreign_templates_need_adopt(
        ovirt_engine, drv):
    ovirt_engine.add_vm("golden", template="tmpl-win10")
    drv.create_template(vm="golden", name="win10-new", seal=False, timeout=10)
    ovirt_engine.add_vm("room01-pc01", template="win10-new")
    assert drv.template_users(name="win10-new") == ["room01-pc01"]
    with pytest.raises(TemplateInUse, match="in use by 1 VM.*room01-pc01"):
        drv.delete_template(name="win10-new", adopt=False, timeout=5)
    with pytest.raises(NotOwned):
        drv.delete_template(name="tmpl-win10", adopt=False, timeout=5)
    with pytest.raises(NotFound):
        drv.delete_template(name="nosuch", adopt=False, timeout=5)


def test_delete_removes_an_unused_template(ovirt_engine, drv):
    ovirt_engine.add_vm("golden", template="tmpl-win10")
    drv.create_template(vm="golden", name="win10-new", seal=False, timeout=10)
    assert drv.delete_template(name="win10-new", adopt=False, timeout=5) == []
    with pytest.raises(KeyError):
        ovirt_engine.template("win10-new")
