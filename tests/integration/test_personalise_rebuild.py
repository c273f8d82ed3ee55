"""virtroom-rebuild on the oVirt engine simulator: only VMs on another template change."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("ovirtsdk4")

from vdictl.cli import cli  # noqa: E402

from tests.ovirt_cli import connect_ini, password_file  # noqa: E402
from tests.ovirt_sim.fixtures import make_engine  # noqa: E402

CONFIG = """\
{connect}    [[throttle]]
    snapshot_batch_pause = 0
    operation_timeout = 30

[room lab]
    snapshot_description = "rollout"
    [[moving]]
    ids = "1-2"
    names = "lab-new${{id}}"
    template_name = {moving}
    [[staying]]
    ids = "1"
    names = "lab-old${{id}}"
    template_name = tmpl-win10
"""


@pytest.fixture
def site(fast_polls, tmp_path):
    engine = make_engine()
    engine.add_template("tmpl-win11", cluster="Default")
    secret = password_file(tmp_path, engine.password, mode=None)

    def vdictl(*args, moving="tmpl-win10"):
        path = tmp_path / "vdi.conf"
        path.write_text(CONFIG.format(connect=connect_ini(engine, password_file=secret),
                                      moving=moving))
        result = CliRunner().invoke(cli, ["--config", str(path), *args, "-o", "json"],
                                    catch_exceptions=False)
        data = json.loads(result.stdout)
        return result.exit_code, {r["vm"]: r for r in data["results"]}

    code, _ = vdictl("virtroom-rollout", "lab")
    assert code == 0
    yield engine, vdictl
    engine.stop()


def ids(engine):
    return {v.name: (v.id, v.template) for v in engine.vms() if v.name.startswith("lab-")}


def test_dry_run_lists_the_vms_that_change_and_changes_nothing(site):
    engine, vdictl = site
    before = ids(engine)
    code, results = vdictl("virtroom-rebuild", "--dry-run", "lab", moving="tmpl-win11")
    assert code == 0
    assert results["lab-new01"]["steps"] == [
        "would delete", "would create from tmpl-win11", "would take snapshot"]
    assert results["lab-old01"]["steps"][0] == "already on template tmpl-win10"
    assert ids(engine) == before


def test_rebuild_moves_only_the_vms_on_another_template_and_force_moves_all(site):
    engine, vdictl = site
    before = ids(engine)
    code, results = vdictl("virtroom-rebuild", "--yes", "lab", moving="tmpl-win11")
    assert code == 0, results
    after = ids(engine)
    for name in ("lab-new01", "lab-new02"):
        assert after[name][1] == "tmpl-win11" and after[name][0] != before[name][0]
        assert results[name]["steps"] == ["delete", "create from tmpl-win11", "take snapshot"]
        assert len(engine.vm(name).snapshots) == 2
    assert after["lab-old01"] == before["lab-old01"]

    code, results = vdictl("virtroom-rebuild", "--force", "--yes", "lab", moving="tmpl-win11")
    assert code == 0
    assert ids(engine)["lab-old01"][0] != before["lab-old01"][0]


def test_a_wrong_template_deletes_nothing(site):
    engine, vdictl = site
    before = ids(engine)
    code, results = vdictl("virtroom-rebuild", "--yes", "lab", moving="tmpl-nosuch")
    assert code != 0
    assert "room lab not rebuilt, nothing deleted" in results["lab-new01"]["reason"]
    assert "template 'tmpl-nosuch' not found" in results["lab-new01"]["reason"]
    assert ids(engine) == before
