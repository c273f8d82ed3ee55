"""template-create / template-delete on test:///default, and the running-template warning."""

from __future__ import annotations

import json
import os

from vdictl.drivers.libvirt import owner_mark, volume_xml

from tests.cli.conftest import file_hypervisor
from tests.terminal import run_interactively

TEMPLATE = "tmpl"
LAB1 = ["lab1-teacher01", "lab1-vd01", "lab1-vd02", "lab1-vd03", "lab1-vd04"]


def test_create_without_seal_copies_the_disk_and_marks_the_template(hypervisor, run):
    result = run("template-create", TEMPLATE, "tmpl2", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "status": "success", "action": "template-create", "template": "tmpl2",
        "source": TEMPLATE, "sealed": False, "left": []}
    assert "tmpl2-vda.qcow2" in hypervisor.volumes()
    xml = hypervisor.dom("tmpl2").XMLDesc(0)
    assert "/default-pool/tmpl2-vda.qcow2" in xml
    assert owner_mark.parse_owner(xml) is None      # not a VM of a room
    assert owner_mark.parse_template_mark(xml) == owner_mark.TemplateMark(
        source=TEMPLATE, sealed=False,
        volumes=(owner_mark.OverlayVolume("default-pool", "tmpl2-vda.qcow2",
                                  "/default-pool/tmpl2-vda.qcow2"),))
    # a full copy: the new volume has no backing file
    vol = hypervisor.conn.storageVolLookupByPath("/default-pool/tmpl2-vda.qcow2")
    assert volume_xml.backing_path(vol.XMLDesc(0)) is None
    assert volume_xml.volume_format(vol.XMLDesc(0)) == "qcow2"


def test_create_refuses_an_existing_name_and_a_running_source(hypervisor, run):
    result = run("template-create", TEMPLATE, TEMPLATE)
    assert result.exit_code == 3
    assert "already exists" in result.output
    hypervisor.dom(TEMPLATE).create()
    result = run("template-create", TEMPLATE, "tmpl2")
    assert result.exit_code == 3
    assert f"source VM {TEMPLATE!r} is running" in result.output
    assert "tmpl2-vda.qcow2" not in hypervisor.volumes()


def test_seal_without_virt_sysprep_names_the_package_and_copies_nothing(
        hypervisor, run, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))   # a PATH with no virt-sysprep on it
    before = hypervisor.volumes()
    result = run("template-create", TEMPLATE, "tmpl2", "--seal")
    assert result.exit_code == 4
    assert "libguestfs-tools" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert hypervisor.volumes() == before
    assert "tmpl2" not in hypervisor.domains()


def use_template(config_file, name):
    with open(config_file, encoding="utf-8") as fh:
        text = fh.read()
    with open(config_file, "w", encoding="utf-8") as fh:
        fh.write(text.replace("template_name = tmpl\n", f"template_name = {name}\n"))


def test_delete_is_refused_while_clones_exist_and_works_after(hypervisor, run, config_file):
    assert run("template-create", TEMPLATE, "tmpl2").exit_code == 0
    use_template(config_file, "tmpl2")
    assert run("virtroom-rollout", "lab1").exit_code == 0
    clone = hypervisor.dom("lab1-vd01").XMLDesc(0)
    assert owner_mark.parse_owner(clone) is not None
    assert owner_mark.parse_template_mark(clone) is None

    result = run("template-delete", "tmpl2", "--yes")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: libvirt: tmpl2: template in use by 5 VM(s): lab1-teacher01, lab1-vd01, "
        "lab1-vd02, lab1-vd03, lab1-vd04; move them to another template (virtroom-rebuild) "
        "or delete them first\n")
    assert "tmpl2" in hypervisor.domains()
    assert "tmpl2-vda.qcow2" in hypervisor.volumes()

    assert run("virtroom-delete", "lab1", "--yes").exit_code == 0
    result = run("template-delete", "tmpl2", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "success"
    assert "tmpl2" not in hypervisor.domains()
    assert "tmpl2-vda.qcow2" not in hypervisor.volumes()


def test_delete_refuses_a_template_vdictl_did_not_make_unless_adopted(hypervisor, run):
    result = run("template-delete", TEMPLATE, "--yes")
    assert result.exit_code == 1
    assert "not made by vdictl template-create" in result.stderr
    assert TEMPLATE in hypervisor.domains()
    result = run("template-delete", TEMPLATE, "--yes", "--adopt")
    assert result.exit_code == 0, result.output
    assert TEMPLATE not in hypervisor.domains()
    assert "tmpl.qcow2" in hypervisor.volumes()     # its disk is left alone
    assert "note: disk /default-pool/tmpl.qcow2 left alone" in result.stdout


def test_delete_off_a_terminal_without_yes_is_refused_like_virtroom_delete(hypervisor, run):
    assert run("template-create", TEMPLATE, "tmpl2").exit_code == 0
    result = run("template-delete", "tmpl2", input="y\n")  # CliRunner's stdin: no terminal
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", "Error: refusing to delete template tmpl2 without --yes when not on a terminal\n")
    assert "tmpl2" in hypervisor.domains()


def test_deletes_and_rebuild_ask_on_a_terminal(hypervisor, tmp_path):
    """At a shell: the question, and "n" changes nothing (exit 1)."""
    config = on_file_hypervisor(hypervisor, tmp_path)
    env = dict(os.environ, VDICTL_CONFIG=str(config))
    code, screen = run_interactively(["template-delete", "tmpl2"], env, answer="n")
    assert code == 1
    assert screen.endswith("Delete template tmpl2? [y/N]: n\nAborted!\n"), screen
    code, screen = run_interactively(["virtroom-rebuild", "lab1"], env, answer="n")
    assert code == 1
    assert screen.endswith(
        "Delete and roll out again up to 5 VM(s) not on their configured template of lab1 "
        "(running ones are powered off first)? [y/N]: n\nAborted!\n"), screen
    code, screen = run_interactively(["virtroom-delete", "--vm", "lab1-vd02"], env, answer="n")
    assert code == 1
    assert screen.endswith("Delete up to 1 VM(s) of lab1 (lab1-vd02)? [y/N]: n\nAborted!\n")
    assert (tmp_path / "audit.log").read_text() == ""   # nothing was done


def on_file_hypervisor(hypervisor, tmp_path):
    """lab1 rolled out and template tmpl2 made, on a test:///FILE hypervisor that
    each vdictl process loads afresh."""
    return file_hypervisor(hypervisor, tmp_path, ["virtroom-rollout", "lab1"],
                           ["template-create", TEMPLATE, "tmpl2"])


def moved_to_tmpl2(run, hypervisor, config_file):
    """lab1 rolled out from tmpl, lab1-vd02 running, and the config now naming tmpl2."""
    assert run("template-create", TEMPLATE, "tmpl2").exit_code == 0
    assert run("virtroom-rollout", "lab1").exit_code == 0
    hypervisor.dom("lab1-vd02").create()
    use_template(config_file, "tmpl2")


def test_rebuild_off_a_terminal_without_yes_is_refused(hypervisor, run, config_file):
    moved_to_tmpl2(run, hypervisor, config_file)
    before = {vm: hypervisor.dom(vm).UUIDString() for vm in LAB1}
    result = run("virtroom-rebuild", "lab1")
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", "Error: refusing to rebuild without --yes when not on a terminal\n")
    assert {vm: hypervisor.dom(vm).UUIDString() for vm in LAB1} == before
    assert hypervisor.running() == ["lab1-vd02"]


def test_rebuild_starts_again_the_vms_that_ran_before(hypervisor, run, config_file):
    moved_to_tmpl2(run, hypervisor, config_file)
    planned = steps_of(run("virtroom-rebuild", "lab1", "--dry-run", "-o", "json"))
    assert planned["lab1-vd02"] == [
        "would power off", "would delete", "would create from tmpl2", "would take snapshot",
        "would start (it ran before the rebuild)"]
    assert planned["lab1-vd01"] == ["would delete", "would create from tmpl2",
                                    "would take snapshot"]
    result = run("virtroom-rebuild", "lab1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.output
    steps = steps_of(result)
    assert steps["lab1-vd02"] == ["power off", "delete", "create from tmpl2", "take snapshot",
                                  "start (it ran before the rebuild)"]
    assert steps["lab1-vd01"] == ["delete", "create from tmpl2", "take snapshot"]
    assert hypervisor.running() == ["lab1-vd02"]
    again = steps_of(run("virtroom-rebuild", "lab1", "--dry-run", "-o", "json"))
    assert {steps[0] for steps in again.values()} == {"already on template tmpl2"}


def steps_of(result):
    return {r["vm"]: r["steps"] for r in json.loads(result.stdout)["results"]}


def test_show_warns_when_the_template_runs(hypervisor, run):
    assert "warning" not in run("virtroom-show", "lab1").stderr
    hypervisor.dom(TEMPLATE).create()
    result = run("virtroom-show", "lab1", "-o", "json")
    assert result.exit_code == 0
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("template 'tmpl' (rooms lab1) is running")
    assert "warning: template 'tmpl' (rooms lab1) is running" in \
        run("virtroom-show", "lab1").stderr


def fake_sysprep(tmp_path, monkeypatch, *, exit_status):
    """A virt-sysprep stand-in on PATH that records its arguments."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "virt-sysprep"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\n'
                      f'echo "virt-sysprep: error: no operating system found" >&2\n'
                      f'exit {exit_status}\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    return tmp_path / "args"


def test_seal_runs_virt_sysprep_on_the_copies(hypervisor, run, tmp_path, monkeypatch):
    args = fake_sysprep(tmp_path, monkeypatch, exit_status=0)
    result = run("template-create", TEMPLATE, "tmpl2", "--seal")
    assert result.exit_code == 0, result.output
    assert args.read_text() == "--format qcow2 -a /default-pool/tmpl2-vda.qcow2\n"
    assert owner_mark.parse_template_mark(hypervisor.dom("tmpl2").XMLDesc(0)).sealed


def test_a_failed_seal_leaves_nothing_behind(hypervisor, run, tmp_path, monkeypatch):
    fake_sysprep(tmp_path, monkeypatch, exit_status=1)
    before = hypervisor.volumes()
    result = run("template-create", TEMPLATE, "tmpl2", "--seal")
    assert result.exit_code == 3
    assert result.stderr == ("Error: libvirt: tmpl2: virt-sysprep failed (exit 1): "
                             "virt-sysprep: error: no operating system found\n")
    assert hypervisor.volumes() == before
    assert "tmpl2" not in hypervisor.domains()
