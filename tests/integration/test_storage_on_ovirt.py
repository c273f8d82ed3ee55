"""The storage guard on the oVirt engine simulator, through the real ovirtsdk4:
storage domains report `available`/`used`/`committed` and
`critical_space_action_blocker` as the engine's REST API does, and change
as VMs and snapshots are made."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

ovirtsdk4 = pytest.importorskip("ovirtsdk4")

from vdictl.cli import cli  # noqa: E402

from tests.ovirt_cli import connect_ini, password_file  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine, sim_connection_args  # noqa: E402

GiB = 1 << 30
VMS = ["ostor-vd01", "ostor-vd02", "ostor-vd03"]

CONFIG = """\
{connect}    [[throttle]]
    snapshot_batch_pause = 0.05
    shutdown_timeout = 0.5
    operation_timeout = 30
[room ostor]
    cluster = Default
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "vdictl rollout"
    reset_startvm = Never
    template_name = tmpl-vdi
    [[vms]]
    ids = "1-3"
    names = "${{roomname}}-vd${{id}}"
"""


@pytest.fixture
def engine(fast_polls):
    sim = make_engine()
    sim.add_storage_domain("iscsi-vdi", 100 * GiB, storage_type="iscsi")
    sim.add_template("tmpl-vdi", storage_domain="iscsi-vdi", disk_size=32 * GiB,
                     disk_actual=6 * GiB)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def vdictl(engine, tmp_path):
    secret = password_file(tmp_path, engine.password)
    path = tmp_path / "vdi.conf"
    path.write_text(CONFIG.format(connect=connect_ini(engine, password_file=secret)))
    return lambda *args: CliRunner().invoke(cli, ["--config", str(path), *args],
                                            catch_exceptions=False)


def domain(engine, name="iscsi-vdi"):
    connection = ovirtsdk4.Connection(**sim_connection_args(engine))
    try:
        service = connection.system_service().storage_domains_service()
        return next(d for d in service.list() if d.name == name)
    finally:
        connection.close()


def made(engine):
    return sorted(n for n in engine.vm_names() if n in VMS)


def test_domains_report_sizes_that_change_with_vms_and_snapshots(engine, vdictl):
    before = domain(engine)
    # bytes, kept by the engine in whole GiB (StorageDomainMapper)
    assert (before.available, before.used, before.committed) == (94 * GiB, 6 * GiB, 32 * GiB)
    assert before.critical_space_action_blocker == 5
    assert before.storage.type == ovirtsdk4.types.StorageType.ISCSI
    result = vdictl("virtroom-rollout", "ostor")
    assert result.exit_code == 0, result.output
    after = domain(engine)
    # on a block domain each VM's overlay and its snapshot's take 1 GiB at first
    assert (after.available, after.used) == (88 * GiB, 12 * GiB)
    assert after.committed == 4 * 32 * GiB
    assert made(engine) == VMS


def test_refused_rollout_leaves_nothing_and_succeeds_once_space_is_freed(engine, vdictl):
    engine.fill_storage_domain("iscsi-vdi", 70 * GiB)   # 24 GiB free
    refused = vdictl("virtroom-rollout", "ostor")
    assert refused.exit_code == 1, refused.output
    # three VMs: each 6 GiB (what the template disk holds) + 1 GiB overlay + 1 GiB snapshot
    assert "note: refused: storage 'iscsi-vdi': 24 GiB free of 100 GiB (24.0%); the rollout " \
           "of ostor needs about 24 GiB; min_free_storage = 10%" in refused.output.splitlines()
    assert made(engine) == []
    assert domain(engine).committed == 32 * GiB     # no disk was made

    engine.fill_storage_domain("iscsi-vdi", 0)
    done = vdictl("virtroom-rollout", "ostor")
    assert done.exit_code == 0, done.output
    assert made(engine) == VMS


def test_the_engines_blocker_counts_when_it_is_higher(engine, vdictl):
    with engine.lock:
        engine.inventory.find_by_name(engine.inventory.storage_domains, "iscsi-vdi",
                                      "StorageDomain").critical_space_action_blocker = 40
    engine.fill_storage_domain("iscsi-vdi", 40 * GiB)   # 54 GiB free, 30 after the rollout
    refused = vdictl("virtroom-rollout", "ostor", "-o", "json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["notes"] == [
        "refused: storage 'iscsi-vdi': 54 GiB free of 100 GiB (54.0%); the rollout of ostor "
        "needs about 24 GiB; min_free_storage = 10%; the engine's "
        "critical_space_action_blocker = 40 GiB"]
    assert made(engine) == []


def test_reset_below_the_line_warns_once_and_goes_on(engine, vdictl):
    assert vdictl("virtroom-rollout", "ostor").exit_code == 0
    engine.fill_storage_domain("iscsi-vdi", 80 * GiB)   # 8 GiB free of 100
    result = vdictl("virtroom-reset", "ostor")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, result.output
    assert warnings[0].endswith(
        "storage 'iscsi-vdi': 8 GiB free of 100 GiB (8.0%), below the line; "
        "min_free_storage = 10%; the reset goes on (a restore frees space)")


def test_template_create_is_refused_below_the_line(engine, vdictl):
    assert vdictl("virtroom-rollout", "ostor").exit_code == 0
    engine.fill_storage_domain("iscsi-vdi", 76 * GiB)   # 12 GiB free
    refused = vdictl("template-create", "ostor-vd01", "golden")
    assert refused.exit_code == 1, refused.output
    # the VM's disk holds its 1 GiB overlay and its snapshot's 1 GiB: a copy takes 1.1 x 2 GiB
    assert "Error: refused: storage 'iscsi-vdi': 12 GiB free of 100 GiB (12.0%); the copy of " \
           "template golden needs about 2.2 GiB; min_free_storage = 10%" in refused.output
    with engine.lock:
        assert "golden" not in [t.name for t in engine.inventory.templates.values()]
    engine.fill_storage_domain("iscsi-vdi", 0)
    done = vdictl("template-create", "ostor-vd01", "golden")
    assert done.exit_code == 0, done.output
    with engine.lock:
        assert "golden" in [t.name for t in engine.inventory.templates.values()]
