"""What the proxmox driver sends on the wire, seen by the simulator through
the real CLI: volume ids as one escaped path segment, the HTTPS connection
pool sized to the run, and the cluster listings a rollout costs."""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote

import pytest

pytest.importorskip("proxmoxer")
pytestmark = pytest.mark.usefixtures("fast_pve_polls")

from tests.pve_driver import fast_pve_polls, token_connect_ini  # noqa: E402,F401
from tests.vdictl_cli import vdictl, write_config  # noqa: E402

HEAD = """\
{connect}    [[throttle]]
    operation_timeout = 30
    {throttle}
"""


def config(sim, tmp_path, rooms, throttle=""):
    text = HEAD.format(connect=token_connect_ini(sim), throttle=throttle) + rooms
    return write_config(tmp_path, text, mode=0o600)


def run(path, *args):
    result = vdictl(path, *args, "-o", "json")
    return result.exit_code, json.loads(result.stdout) if result.stdout else None, result


FIRST_BOOT = """\
[room fb]
    template_name = tmpl-win10
    cloud_init_user_data = "{user_data}"
    [[pcs]]
    ids = "1-2"
    names = "fb-pc${{id}}"
"""


def test_the_seed_iso_is_removed_by_its_escaped_volume_id(pve_api, tmp_path):
    user_data = tmp_path / "user-data.j2"
    user_data.write_text("#cloud-config\nhostname: {{ name }}\n")
    path = config(pve_api, tmp_path, FIRST_BOOT.format(user_data=user_data))
    code, data, result = run(path, "virtroom-rollout", "fb")
    assert code == 0, result.stdout + result.stderr
    removals = [p for m, p in list(pve_api.sent) if m == "DELETE" and "/content/" in p]
    # the upload removes a left-over seed first, the finish removes the used one
    assert sorted(removals) == sorted(
        f"/api2/json/nodes/pve1/storage/local/content/local%3Aiso%2Fvdictl-seed-{name}.iso"
        for name in ("fb-pc01", "fb-pc02") for _ in range(2))
    # pveproxy unescapes the path before it routes it: the volume id arrives whole
    assert {unquote(p).rsplit("/content/", 1)[1] for p in removals} == {
        "local:iso/vdictl-seed-fb-pc01.iso", "local:iso/vdictl-seed-fb-pc02.iso"}
    assert not [v for _, v in list(pve_api.volumes) if "vdictl-seed-" in v]


ROOM = """\
[room big]
    template_name = tmpl-linux
    snapshot_description = "clean"
    [[pcs]]
    ids = "1-{count}"
    names = "big-pc${{id}}"
"""


def test_creating_a_vm_lists_the_cluster_no_more(pve_api, tmp_path):
    # before: 4 (3 after branch pveint) GET /cluster/resources per created VM; now the
    # run's one listing (its find_vms) is kept current with the run's own clones
    path = config(pve_api, tmp_path, ROOM.format(count=8))
    code, data, result = run(path, "virtroom-rollout", "big")
    assert code == 0, result.stdout + result.stderr
    listings = [p for m, p, _ in list(pve_api.requests) if p == "/cluster/resources"]
    assert len(listings) == 2        # the guests (find_vms) and the storages (check_create)
    reads = [p for m, p, _ in list(pve_api.requests) if p == "/nodes/pve1/qemu/9001/config"]
    assert len(reads) == 1           # the template's config, once per run
    clones = [p for m, p, _ in list(pve_api.requests) if p.endswith("/clone")]
    assert len(clones) == 8


RESET_ROOM = """\
[room busy]
    template_name = tmpl-linux
    snapshot_description = "clean"
    reset_to_snapshot_regex = "^clean$"
    rollout_startvm = True
    [[pcs]]
    ids = "1-40"
    names = "busy-pc${id}"
"""


def test_the_https_pool_holds_every_thread_of_the_run(pve_api, tmp_path, caplog):
    # requests keeps 10 connections per host: with parallel = 20 urllib3 used to log
    # "Connection pool is full, discarding connection" (26 times in this reset, 80 in
    # one of 100 VMs, whose 38 threads then made 90 connections, each a TLS handshake)
    caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
    pve_api.request_latency = 0.03
    path = config(pve_api, tmp_path, RESET_ROOM, throttle="parallel = 20\n    "
                  "snapshot_batch_size = 20\n    snapshot_batch_pause = 0")
    code, data, result = run(path, "virtroom-rollout", "busy")
    assert code == 0, result.stdout + result.stderr
    before = pve_api.connections
    caplog.clear()
    code, data, result = run(path, "virtroom-reset", "busy")
    assert code == 0, result.stdout + result.stderr
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
    # one connection per thread at most: the run's 42 workers and the 2 shared polls
    assert pve_api.connections - before <= 20 + 20 + 2 + 2
