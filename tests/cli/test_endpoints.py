"""Several endpoints in one run, on libvirt's test:///FILE hypervisors.

Each test:///FILE URI opened is a hypervisor of its own, loaded from its node
document, so three files are three hosts. The rooms are rolled out on
test:///default first (the `hypervisor` fixture), and each host's file gets
the VMs the config places there.
"""

from __future__ import annotations

import json

import pytest

from tests.in_flight import InFlight
from tests.libvirt_test_hv import node_document
from tests.vdictl_cli import vdictl, write_config

libvirt = pytest.importorskip("libvirt")

SITE = """\
[general]
    [[connect]]
    driver = libvirt
    uri = "{a}"
    [[throttle]]
    snapshot_batch_size = 6
    snapshot_batch_pause = 0
    parallel = 6
    {per_host}
    shutdown_timeout = 5
    operation_timeout = 30

[connect host-c]
    driver = libvirt
    uri = "{c}"

[room lab1]
    template_name = tmpl
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    uri = "{b}"
    [[front]]
    ids = "1-4"
    names = "lab1-a${{id}}"
    uri = "{a}"
    [[back]]
    ids = "1-4"
    names = "lab1-b${{id}}"

[room lab2]
    connect = host-c
    template_name = tmpl
    snapshot_description = "vdictl rollout"
    reset_to_snapshot_regex = "^vdictl rollout"
    reset_startvm = Always
    [[pcs]]
    ids = "1-4"
    names = "lab2-c${{id}}"
"""

HOSTS = {"a": ["lab1-a01", "lab1-a02", "lab1-a03", "lab1-a04"],
         "b": ["lab1-b01", "lab1-b02", "lab1-b03", "lab1-b04"],
         "c": ["lab2-c01", "lab2-c02", "lab2-c03", "lab2-c04"]}


def site_config(tmp_path, per_host="parallel_per_host = 2", **uris):
    return write_config(tmp_path, SITE.format(per_host=per_host, **uris), name="site.conf")


@pytest.fixture
def site(tmp_path, hypervisor):
    """Three hosts, test://DIR/a.xml, b.xml and c.xml, each with its room's VMs
    rolled out (owned by vdictl, one snapshot each)."""
    config = site_config(tmp_path, a="test:///default", b="test:///default",
                         c="test:///default")
    result = vdictl(config, "virtroom-rollout", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    uris = {}
    for host, names in HOSTS.items():
        node = tmp_path / f"{host}.xml"
        node.write_text(node_document(hypervisor.conn, names=names))
        uris[host] = f"test://{node}"
    return tmp_path, uris


def test_config_check_shows_each_vms_endpoint(site):
    tmp_path, uris = site
    config = site_config(tmp_path, **uris)
    result = vdictl(config, "config", "check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (f"{config}: OK; driver libvirt at {uris['a']}; 2 room(s), 12 VM(s) "
                        "on 3 endpoints")
    assert lines[1].split() == ["ROOM", "SUBSECTION", "ENDPOINT", "VM", "IP", "TEMPLATE",
                                "MEMORY", "RESET", "SNAPSHOT", "DESCRIPTION"]
    assert [line.split()[:4] for line in lines[2:]] == (
        [["lab1", "front", uris["a"], name] for name in HOSTS["a"]]
        + [["lab1", "back", uris["b"], name] for name in HOSTS["b"]]
        + [["lab2", "pcs", uris["c"], name] for name in HOSTS["c"]])
    data = json.loads(vdictl(config, "config", "check", "-o", "json").stdout)
    assert [(vm["vm"], vm["endpoint"], vm["connect"]) for room in data["rooms"]
            for vm in room["vms"]][3:5] == [("lab1-a04", uris["a"], None),
                                           ("lab1-b01", uris["b"], None)]
    assert data["rooms"][1]["vms"][0]["connect"] == "host-c"


def test_one_endpoint_keeps_the_table_as_it_was(config_file):
    """A site with one endpoint has it in the first line, not in a column."""
    result = vdictl(config_file, "config", "check")
    assert "ENDPOINT" not in result.stdout
    assert "endpoints" not in result.stdout.splitlines()[0]


def test_reset_and_show_across_three_hosts_in_one_run(site):
    """Each VM is looked up, reset and started on its own host: a VM exists only
    in its host's file, so a VM looked up elsewhere would be 'does not exist'."""
    tmp_path, uris = site
    config = site_config(tmp_path, **uris)
    result = vdictl(config, "virtroom-reset", "--all", "-o", "json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert [(r["vm"], r["outcome"]) for r in results] == [
        (name, "ok") for host in "abc" for name in HOSTS[host]]
    assert all(r["steps"][-2:] == ["restore snapshot 'vdictl rollout'", "start"]
               for r in results)

    shown = vdictl(config, "virtroom-show", "--all")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:4] == ["ROOM", "SUBSECTION", "ENDPOINT", "VM"]
    rows = [line.split() for line in lines[1:]]
    assert [(row[2], row[3]) for row in rows] == [
        (uris[host], name) for host in "abc" for name in HOSTS[host]]
    data = json.loads(vdictl(config, "virtroom-show", "lab2", "-o", "json").stdout)
    assert {(vm["vm"], vm["endpoint"]) for vm in data["vms"]} == {
        (name, uris["c"]) for name in HOSTS["c"]}
    assert "ENDPOINT" not in vdictl(config, "virtroom-show", "lab2").stdout


def test_an_unreachable_profile_is_named_with_where_it_is_configured(site):
    tmp_path, uris = site
    missing = f"test://{tmp_path}/gone.xml"
    config = site_config(tmp_path, a=uris["a"], b=uris["b"], c=missing)
    result = vdictl(config, "virtroom-show", "lab2")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: libvirt: cannot connect to {missing} "
                                    f"({config} [connect host-c] uri): ")
    config = site_config(tmp_path, a=uris["a"], b=missing, c=uris["c"])
    result = vdictl(config, "virtroom-show", "lab1")
    assert result.stderr.startswith(f"Error: libvirt: cannot connect to {missing} "
                                    f"({config} [room lab1] uri): ")


def test_show_with_one_host_down_shows_the_others_and_exits_3(site):
    """Host b is gone: its VMs are shown unreachable with the reason, host a's
    as the hypervisor has them, and the exit status says a backend was missed."""
    tmp_path, uris = site
    missing = f"test://{tmp_path}/gone.xml"
    config = site_config(tmp_path, a=uris["a"], b=missing, c=uris["c"])
    result = vdictl(config, "virtroom-show", "lab1", "-o", "json")
    assert result.exit_code == 3
    rows = {row["vm"]: row for row in json.loads(result.stdout)["vms"]}
    assert {vm: rows[vm]["state"] for vm in HOSTS["a"]} == {vm: "running" for vm in HOSTS["a"]}
    for vm in HOSTS["b"]:
        assert rows[vm]["state"] == "unreachable", rows[vm]
        assert rows[vm]["note"].startswith(f"libvirt: cannot connect to {missing} "
                                           f"({config} [room lab1] uri): "), rows[vm]
    assert result.stderr == f"Error: {rows['lab1-b01']['note']}\n"

    table = vdictl(config, "virtroom-show", "lab1")
    assert table.exit_code == 3
    lines = table.stdout.splitlines()
    assert [line.split()[3] for line in lines[1:] if line.startswith("lab1")] == \
        HOSTS["a"] + HOSTS["b"]
    assert sum("unreachable" in line for line in lines) == 4


@pytest.mark.parametrize("per_host", ["parallel_per_host = 2", ""])
def test_parallel_per_host_caps_each_host_within_the_global_limit(site, per_host):
    """Batch 6 and parallel 6 over three hosts of four VMs. With parallel_per_host
    = 2 every host restores two at once, all three together; without it the
    hosts whose VMs come first take more (the first host usually all four)."""
    from vdictl.config.load import load_config
    from vdictl.ops.reset import reset
    from vdictl.ops.session import Session

    tmp_path, uris = site
    config = load_config(str(site_config(tmp_path, per_host=per_host, **uris)))
    counting = InFlight(work_seconds=0.05)  # the hypervisor works a while
    driver = counting.driver_class()
    with Session(config, driver_factory=lambda c, uri: driver(c.connect, uri=uri)) as s:
        report = reset(s, list(config.rooms.values()))
    assert [r.outcome.value for r in report.results] == ["ok"] * 12
    restores = {k[1]: v for k, v in counting.peak.items()
                if k[0] == "snapshot" and k[1] != "all"}
    starts = {k[1]: v for k, v in counting.peak.items() if k[0] == "power" and k[1] != "all"}
    assert counting.peak[("snapshot", "all")] == 6             # snapshot_batch_size
    assert counting.peak[("power", "all")] <= 6                # parallel
    if not per_host:
        assert max(restores.values()) > 2
    else:
        assert len(counting.peak_together) == 3
        assert sorted(restores.values()) == [2, 2, 2]
        assert max(starts.values()) <= 2
        assert sorted(t.peak_in_flight for three in s.host_throttles.values()
                      for t in three[:2]) == [2, 2, 2, 2, 2, 2]


# --- config errors, through the CLI ---------------------------------------------

HEAD = '[general]\n  [[connect]]\n  uri = "test:///default"\n'
ROOM = ('[room r]\n  template_name = tmpl\n  {room}\n'
        '  [[s]]\n  ids = 1\n  names = "r-${{id}}"\n  {sub}\n')
ENGINE = '[connect eng2]\n  url = https://eng2.example.org/ovirt-engine/api\n'
KVM = '[connect kvm2]\n  uri = "qemu+ssh://kvm2/system"\n'


@pytest.mark.parametrize("text, where, message", [
    (HEAD + KVM + ENGINE + ROOM.format(room="connect = kvm-2", sub=""), "[room r] connect",
     "no connect profile 'kvm-2'; did you mean 'kvm2'? known: kvm2, eng2 (write one of them, "
     "add a [connect kvm-2] section, or leave connect out to use [general] [[connect]])"),
    (HEAD + KVM + ROOM.format(room="", sub="connect = lab"), "[room r/s] connect",
     "no connect profile 'lab'; known: kvm2 (write one of them, add a [connect lab] section, "
     "or leave connect out to use [general] [[connect]])"),
    (HEAD + ROOM.format(room="connect = eng2", sub=""), "[room r] connect",
     "no connect profile 'eng2': the file has no [connect NAME] section; add [connect eng2] "
     "with the keys of [general] [[connect]] (driver, url or uri, ...), or leave connect out "
     "to use [general] [[connect]]"),
    (HEAD + ENGINE + ROOM.format(room="connect = eng2", sub='uri = "qemu:///system"'),
     "[room r/s] uri", "uri is for the libvirt driver, but connect = eng2 is an ovirt "
     "profile; remove uri, or choose a libvirt profile"),
    (HEAD + ENGINE.replace("url", "driver = ovirt\n  uri = qemu:///system\n  url")
     + ROOM.format(room="", sub=""), "[connect eng2] uri",
     "uri is for the libvirt driver; this ovirt profile takes url"),
    (HEAD + KVM.replace("uri", "driver = libvirt\n  url") + ROOM.format(room="", sub=""),
     "[connect kvm2] url", "url is for the ovirt and proxmox drivers; this libvirt profile "
     "takes uri"),
    (HEAD + KVM + "  usrname = root\n" + ROOM.format(room="", sub=""), "[connect kvm2] usrname",
     "unknown key; did you mean 'username'?"),
    (HEAD + "  connect = kvm2\n" + KVM + ROOM.format(room="", sub=""),
     "[general/connect] connect", "connect is not a key of [general] [[connect]] or [connect "
     "NAME]; it belongs in [room NAME] [[subsection]]"),
    (HEAD + KVM + KVM.replace("kvm2]", " kvm2 ]") + ROOM.format(room="", sub=""),
     "[connect  kvm2]", "connect profile 'kvm2' is defined twice"),
    (HEAD + '[connect]\n  uri = "qemu:///system"\n' + ROOM.format(room="", sub=""), "[connect]",
     "[connect] is a subsection of [general]: write [[connect]] inside [general] (or name it, "
     "[connect NAME], for a profile rooms choose with connect = NAME)"),
    (HEAD + ROOM.format(room="", sub="") + '  [[connect]]\n  url = https://e/api\n',
     "[room r/connect]", "a room's endpoint is not a subsection: write connect = NAME under "
     "[room NAME] and the settings in a top-level [connect NAME] section (or uri = ... for a "
     "libvirt host)"),
    (HEAD + "  [[throttle]]\n  parallel_per_host = 0\n" + ROOM.format(room="", sub=""),
     "[general/throttle] parallel_per_host", "0 is less than 1"),
    # a profile's own [[throttle]] (its endpoint's limits)
    (HEAD + KVM + "  [[throttle]]\n  snapshot_batch_size = 0\n" + ROOM.format(room="", sub=""),
     "[connect kvm2/throttle] snapshot_batch_size", "0 is less than 1"),
    (HEAD + KVM + "  [[throttle]]\n  paralel = 4\n" + ROOM.format(room="", sub=""),
     "[connect kvm2/throttle] paralel", "unknown key; did you mean 'parallel'?"),
    (HEAD + KVM + "  [[throttle]]\n  shutdown_timeout = 5\n" + ROOM.format(room="", sub=""),
     "[connect kvm2/throttle] shutdown_timeout", "shutdown_timeout is not a key of [connect "
     "NAME] [[throttle]]; it belongs in [general] [[throttle]]"),
    (HEAD + KVM + "  [[throttle]]\n" + ROOM.format(room="", sub=""),
     "[connect kvm2/throttle]", "no limit set; write parallel, snapshot_batch_size or "
     "snapshot_batch_pause, or remove the section"),
    (HEAD + KVM + "  parallel = 4\n" + ROOM.format(room="", sub=""),
     "[connect kvm2] parallel", "parallel is not a key of [general] [[connect]] or [connect "
     "NAME]; it belongs in [general] [[throttle]] or [connect NAME] [[throttle]]"),
    (HEAD + KVM + "  [[throtle]]\n  parallel = 4\n" + ROOM.format(room="", sub=""),
     "[connect kvm2/throtle]", "unknown section; did you mean [[throttle]]?"),
])
def test_endpoint_config_errors(tmp_path, text, where, message):
    config = write_config(tmp_path, text)
    result = vdictl(config, "config", "check")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {config} {where}: {message}\n"


def test_a_room_uri_with_an_ovirt_general_connect_warns_once(tmp_path):
    """[general] stays as it was (a warning), once per room, at the place written."""
    config = write_config(tmp_path, "[general]\n  [[connect]]\n  url = https://e/api\n"
                          + ROOM.format(room='uri = "qemu:///system"', sub="")
                          + '  [[t]]\n  ids = 2\n  names = "r-${id}"\n')
    result = vdictl(config, "config", "check")
    assert result.exit_code == 0
    assert result.stderr == (f"warning: {config} [room r] uri: uri is only used by the libvirt "
                             "driver, not ovirt\n")
