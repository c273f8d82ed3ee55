"""Several nodes in `url`: any node of a Proxmox VE cluster answers for all
of it (pveproxy forwards to the VM's node), so when the node in use does not
answer the run goes on with the next one, saying so once. Through the
command line on the simulator listening as several nodes."""

from __future__ import annotations


import pytest

pytest.importorskip("proxmoxer")

from vdictl.cli import exit_codes  # noqa: E402

from tests.pve_driver import fast_pve_polls, token_file  # noqa: E402,F401
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

CONFIG = """\
[general]
    [[connect]]
    driver = proxmox
    url = {urls}
    token_id = "{token_id}"
    token_secret_file = "{secret}"
    ca_file = "{ca_file}"
    endpoint_timeout = 5
    [[throttle]]
    operation_timeout = 30
[logging]
    log_file = "{log_file}"
[room lab]
    template_name = tmpl-win10
    snapshot_description = "rollout"
    reset_to_snapshot_regex = "^rollout$"
    [[pcs]]
    ids = "1-3"
    names = "lab-pc${{id}}"
"""



def run(tmp_path, sim, urls, *args):
    log_file = tmp_path / "vdictl.log"
    config = write_config(tmp_path, CONFIG.format(
        urls=urls, token_id=sim.token_id, secret=token_file(sim.token_secret),
        ca_file=sim.ca_file, log_file=log_file), mode=0o600)
    result = vdictl(config, *args)
    return result, str(config), log_file.read_text() if log_file.exists() else ""


def test_a_first_node_down_the_run_goes_on_through_the_second(tmp_path, pve_api, request):
    request.getfixturevalue("fast_pve_polls")
    second = pve_api.add_node_url()
    first = pve_api.url
    pve_api.node_down(first)
    result, _, log_text = run(tmp_path, pve_api, f"{first}, {second}", "virtroom-rollout",
                              "lab")
    assert result.exit_code == 0, result.stderr
    said = f"{first} does not answer (Connection refused); going on with {second}, another " \
        "node of the cluster"
    # one line, on the terminal and in the log
    assert (result.stderr + log_text).count(said) == 2
    assert [line for line in result.stderr.splitlines() if "does not answer" in line] == \
        [line for line in result.stderr.splitlines() if said in line]
    assert sorted(v.name for v in list(pve_api.vms.values()) if v.name.startswith("lab-")) == \
        ["lab-pc01", "lab-pc02", "lab-pc03"]
    assert all(len(pve_api.vm(f"lab-pc0{i}").snapshots) == 1 for i in (1, 2, 3))


def test_a_node_lost_during_the_run_is_left_for_the_next(tmp_path, pve_api, request):
    request.getfixturevalue("fast_pve_polls")
    second = pve_api.add_node_url()
    result, _, _ = run(tmp_path, pve_api, f"{pve_api.url}, {second}", "virtroom-rollout", "lab")
    assert result.exit_code == 0, result.stderr
    assert pve_api.requests_by_url[second] == 0
    first = pve_api.url
    pve_api.node_down(first)
    result, _, _ = run(tmp_path, pve_api, f"{first}, {second}", "virtroom-reset", "lab")
    assert result.exit_code == 0, result.stderr
    assert pve_api.requests_by_url[second] > 0


def test_every_node_down_is_one_line_naming_them(tmp_path, pve_api):
    second = pve_api.add_node_url()
    first = pve_api.url
    pve_api.node_down(second)
    pve_api.node_down(first)
    result, config, _ = run(tmp_path, pve_api, f"{first}, {second}", "virtroom-show", "lab")
    assert result.exit_code == exit_codes.UNREACHABLE
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert line == (f"Error: proxmox: cannot connect to {first}, {second} ({config} "
                    f"[general/connect] url): no node answers: {first}: Connection refused; "
                    f"{second}: Connection refused (tried for 5s: endpoint_timeout)")


@pytest.mark.parametrize("urls, wrong", [
    ("https://pve1:8006, http://pve2:8006", "'http://pve2:8006'"),
    ("https://pve1:8006, pve2", "'pve2'"),
    ("https://pve1:8006, https://pve1:8006", None),
])
def test_a_wrong_node_url_is_one_config_line(tmp_path, pve_api, urls, wrong):
    result, config, _ = run(tmp_path, pve_api, urls, "virtroom-show", "lab")
    assert result.exit_code == exit_codes.USAGE
    [line] = result.stderr.splitlines()
    if wrong is None:
        assert line == (f"Error: {config} [general/connect] url: 'https://pve1:8006' is given "
                        "twice; name each node once")
    else:
        assert line == (f"Error: {config} [general/connect] url: {wrong} is not an https URL "
                        "of a Proxmox VE node; write e.g. https://pve1.example.org:8006 "
                        "(several nodes: separated by commas)")
