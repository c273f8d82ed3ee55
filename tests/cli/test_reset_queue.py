"""The reset's pipeline on libvirt's test:///default hypervisor: a VM is
powered off only once it is among the next snapshot batch."""

from __future__ import annotations

import contextlib
import threading
import time

from vdictl.config.load import load_config
from vdictl.drivers.libvirt import LibvirtDriver
from vdictl.ops.reset import reset
from vdictl.ops.rollout import rollout
from vdictl.ops.session import Session


def test_reset_powers_off_no_more_than_one_batch_ahead_of_its_restores(config_file,
                                                                        hypervisor):
    """All five VMs of lab1 run; batch 2. A VM is powered off only once among the
    next batch: never more than two wait, powered off, for a restore slot."""

    class Counting(LibvirtDriver):
        lock = threading.Lock()
        waiting = 0  # powered off by this reset, restore not begun
        peak = 0

        def power_off_vm(self, **kw):
            super().power_off_vm(**kw)
            with self.lock:
                Counting.waiting += 1
                Counting.peak = max(Counting.peak, Counting.waiting)

        def revert_snapshot(self, *, slot, **kw):
            @contextlib.contextmanager
            def counted():
                with slot():
                    with self.lock:
                        Counting.waiting -= 1
                    time.sleep(0.05)  # a restore takes a while
                    yield
            return super().revert_snapshot(slot=counted, **kw)

    config = load_config(config_file)
    lab1 = config.rooms["lab1"]
    with Session(config) as session:
        rollout(session, [lab1])
    for spec in lab1.vms:
        hypervisor.dom(spec.name).create()
    with Session(config, driver_factory=lambda c, uri: Counting(c.connect, uri=uri)) as s:
        report = reset(s, [lab1])
    assert [r.outcome.value for r in report.results] == ["ok"] * 5
    assert Counting.waiting == 0
    assert Counting.peak == 2  # snapshot_batch_size
