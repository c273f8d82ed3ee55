"""Session.inventory: one query per room, a few rooms at a time, each VM
paired with its own room's answer."""

from __future__ import annotations

import threading
import time

import pytest

from vdictl.config.load import load_config
from vdictl.drivers.libvirt import LibvirtDriver
from vdictl.errors import Unreachable
from vdictl.ops import session as session_mod
from vdictl.ops.rollout import rollout
from vdictl.ops.session import Session

ROOMS = 6


def site(tmp_path, base_config_file):
    """The CLI tests' config plus ROOMS small rooms r1..r6 of two VMs each."""
    extra = "".join(f"""
[room r{i}]
    [[pcs]]
    ids = "1-2"
    names = "r{i}-pc${{id}}"
    template_name = tmpl
""" for i in range(1, ROOMS + 1))
    path = tmp_path / "site.conf"
    path.write_text(open(base_config_file).read() + extra)
    return load_config(str(path))


class SlowQueries(LibvirtDriver):
    """The real test:/// driver; each room query takes a while and is counted."""

    lock = threading.Lock()
    now = peak = 0
    fail_room = None

    def find_vms(self, *, names):
        cls = type(self)
        with cls.lock:
            cls.now += 1
            cls.peak = max(cls.peak, cls.now)
        try:
            time.sleep(0.05)
            if cls.fail_room and names[0].startswith(f"{cls.fail_room}-"):
                raise Unreachable("lost the hypervisor", driver=self.name)
            return super().find_vms(names=names)
        finally:
            with cls.lock:
                cls.now -= 1


@pytest.fixture
def slow_site(tmp_path, config_file, hypervisor):
    config = site(tmp_path, config_file)
    with Session(config) as s:  # roll out half of the rooms, for real
        assert not rollout(s, [config.rooms[f"r{i}"] for i in (1, 3, 5)]).failed
    SlowQueries.now = SlowQueries.peak = 0
    SlowQueries.fail_room = None
    return config


def test_inventory_queries_several_rooms_at_once_and_pairs_each_vm(slow_site):
    config = slow_site
    rooms = [config.rooms[f"r{i}"] for i in range(1, ROOMS + 1)]
    with Session(config, driver_factory=lambda c, uri: SlowQueries(c.connect, uri=uri)) as s:
        pairs = s.inventory(rooms)
    assert [spec.name for spec, _ in pairs] == [f"r{i}-pc0{n}" for i in range(1, ROOMS + 1)
                                                for n in (1, 2)]
    assert {spec.name: (vm.name if vm else None) for spec, vm in pairs} == {
        f"r{i}-pc0{n}": (f"r{i}-pc0{n}" if i % 2 else None)
        for i in range(1, ROOMS + 1) for n in (1, 2)}
    assert 1 < SlowQueries.peak <= session_mod.INVENTORY_QUERIES


def test_a_failed_room_query_fails_only_its_own_vms(slow_site):
    """One endpoint (here: one room's query) lost: its VMs are unavailable
    with the reason, every other VM is paired as usual."""
    config = slow_site
    SlowQueries.fail_room = "r4"
    with Session(config, driver_factory=lambda c, uri: SlowQueries(c.connect, uri=uri)) as s:
        pairs = s.inventory([config.rooms[f"r{i}"] for i in range(1, ROOMS + 1)])
        why = {spec.name: s.unavailable(spec) for spec, _ in pairs}
    assert len(pairs) == 2 * ROOMS
    assert {name: str(err) for name, err in why.items() if err is not None} == {
        "r4-pc01": "libvirt: lost the hypervisor", "r4-pc02": "libvirt: lost the hypervisor"}
    assert {spec.name: (vm.name if vm else None) for spec, vm in pairs}["r3-pc01"] == "r3-pc01"


def test_when_every_room_query_fails_the_inventory_raises(slow_site):
    config = slow_site
    SlowQueries.fail_room = "r4"
    with Session(config, driver_factory=lambda c, uri: SlowQueries(c.connect, uri=uri)) as s:
        with pytest.raises(Unreachable, match="lost the hypervisor"):
            s.inventory([config.rooms["r4"]])
