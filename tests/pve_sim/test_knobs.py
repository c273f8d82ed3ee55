# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's knobs (injected failures, a frozen host, failing tasks,
latency), its permission refusals and its concurrency counters, driven
only through proxmoxer."""

import threading
import time

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException

from tests.pve_sim.clients import ticket_client, token_client, wait_task


@pytest.fixture
def api(pve_api):
    return ticket_client(pve_api)


def test_a_non_admin_account_is_refused(pve_api):
    student = ticket_client(pve_api, user=pve_api.student, password=pve_api.student_password)
    assert student.cluster.resources.get(type="vm") == []
    for call, privilege in ((lambda: student.nodes("pve1").qemu(9000).config.get(), "VM.Audit"),
                            (lambda: student.nodes("pve1").qemu(9000).status.start.post(),
                             "VM.PowerMgmt"),
                            (lambda: student.nodes("pve1").qemu(9000).clone.post(newid=100),
                             "VM.Clone"),
                            (lambda: student.nodes("pve1").qemu(9000).config.put(memory=1),
                             "VM.Config.Disk|VM.Config.CDROM|VM.Config.CPU|VM.Config.Memory|"
                             "VM.Config.Network|VM.Config.HWType|VM.Config.Options|"
                             "VM.Config.Cloudinit")):
        with pytest.raises(ResourceException) as caught:
            call()
        assert str(caught.value) == \
            "403 Forbidden: Permission check failed (/vms/9000, %s)" % privilege


def test_injected_failure_answers_then_stops(pve_api, api):
    pve_api.fail("GET", r"/cluster/resources$", 503, "Service Unavailable", times=2)
    for _ in range(2):
        with pytest.raises(ResourceException) as caught:
            api.cluster.resources.get(type="vm")
        assert str(caught.value) == "503 Service Unavailable: Service Unavailable"
    assert len(api.cluster.resources.get(type="vm")) == 3


def test_a_frozen_host_never_answers_until_thawed(pve_api):
    api = token_client(pve_api, timeout=0.3)
    pve_api.freeze()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.version.get()
    assert time.monotonic() - started >= 0.3
    pve_api.thaw()
    assert api.version.get()["release"] == "8.2"


def test_fail_task_ends_the_next_such_task_in_error(pve_api, api):
    pve_api.fail_task("qmsnapshot", 9000, "snapshot feature is not available")
    assert wait_task(api, api.nodes("pve1").qemu(9000).snapshot.post(snapname="s1"))[
        "exitstatus"] == "snapshot feature is not available"
    pve_api.fail_task("qmclone", 9000, "clone failed: out of space")
    upid = api.nodes("pve1").qemu(9000).clone.post(newid=100, name="vd1")
    assert wait_task(api, upid)["exitstatus"] == "clone failed: out of space"
    assert api.cluster.nextid.get() == "100"          # the half-made clone is gone


def test_request_latency_is_slept_per_request(pve_api_factory):
    sim = pve_api_factory(request_latency=0.05)
    api = token_client(sim)
    started = time.monotonic()
    for _ in range(3):
        api.version.get()
    assert time.monotonic() - started >= 0.15


def test_nextid_asked_at_once_gives_one_clone_the_error(api):
    ids = [api.cluster.nextid.get() for _ in range(2)]
    assert ids == ["100", "100"]
    wait_task(api, api.nodes("pve1").qemu(9000).clone.post(newid=ids[0], name="a"))
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(9000).clone.post(newid=ids[1], name="b")
    assert caught.value.content == "unable to create VM 100: config file already exists"


def test_peak_snapshot_ops_counts_tasks_running_at_once(pve_api_factory):
    sim = pve_api_factory(time_scale=0.5)     # a snapshot takes 0.5 s
    api = token_client(sim)
    for i in range(3):
        sim.add_vm("vd%d" % i)
    vmids = [sim.vm("vd%d" % i).vmid for i in range(3)]
    upids = []

    def snap(vmid):
        upids.append(api.nodes("pve1").qemu(vmid).snapshot.post(snapname="s1"))

    threads = [threading.Thread(target=snap, args=(v,)) for v in vmids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sim.snapshot_ops_in_flight == 3
    assert [wait_task(api, u)["exitstatus"] for u in upids] == ["OK"] * 3
    assert sim.peak_snapshot_ops == 3 and sim.snapshot_ops_in_flight == 0


def test_requests_are_recorded_with_their_auth_kind(pve_api):
    token_client(pve_api).nodes("pve1").tasks.get()
    ticket_client(pve_api).nodes("pve1").tasks.get()
    assert pve_api.requests == [("GET", "/nodes/pve1/tasks", "token"),
                                ("POST", "/access/ticket", "login"),
                                ("GET", "/nodes/pve1/tasks", "ticket")]


def test_tls_is_verified_against_the_simulator_ca(pve_api):
    with pytest.raises(requests.exceptions.SSLError):
        token_client(pve_api, verify_ssl=True).version.get()
    assert token_client(pve_api).version.get()["version"] == "8.2.4"


def test_a_foreign_guest_that_ignores_acpi(pve_api_factory):
    sim = pve_api_factory(time_scale=0.01)
    api = token_client(sim)
    vmid = sim.add_vm("stubborn", running=True, ignores_acpi=True).vmid
    upid = api.nodes("pve1").qemu(vmid).status.shutdown.post(timeout=3)
    assert wait_task(api, upid)["exitstatus"] == "VM quit/powerdown failed - got timeout"
    assert api.nodes("pve1").qemu(vmid).status.current.get()["status"] == "running"


# -- transient faults as Proxmox VE words them (server/faults.py) --------------------

#: pmxcfs locks a shared storage only (pve-storage Plugin::cluster_lock_storage)
CFS = "cfs-lock 'storage-shared-nfs' error: got lock request timeout"


def test_a_cfs_lock_timeout_answers_500_with_pmxcfs_words_and_changes_nothing(pve_api, api):
    pve_api.fail("PUT", r"/qemu/9000/config$", 500, CFS)
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(9000).config.put(memory=4096)
    assert (caught.value.status_code, caught.value.content) == (500, CFS)
    assert pve_api.vm("tmpl-win10").config["memory"] != 4096


def test_a_lock_file_timeout_fails_a_sync_put_and_a_task_with_lock_file_full_words(pve_api,
                                                                                    api):
    vmid = pve_api.add_vm("vd1").vmid
    text = "can't lock file '/var/lock/qemu-server/lock-%d.conf' - got timeout" % vmid
    pve_api.fail_lock("vd1")
    with pytest.raises(ResourceException) as caught:
        api.nodes("pve1").qemu(vmid).config.put(memory=4096)
    assert (caught.value.status_code, caught.value.content) == (500, text)
    pve_api.fail_lock("vd1")
    status = wait_task(api, api.nodes("pve1").qemu(vmid).snapshot.post(snapname="s1"))
    assert status["exitstatus"] == text
    vm = pve_api.vm("vd1")
    assert (vm.snapshots, vm.lock, vm.config["memory"]) == ({}, None, vm.config["memory"])
    assert wait_task(api, api.nodes("pve1").qemu(vmid).snapshot.post(snapname="s1"))[
        "exitstatus"] == "OK"


def test_a_connection_dropped_after_the_action_loses_only_the_answer(pve_api, api):
    vmid = pve_api.add_vm("vd1").vmid
    pve_api.fail("POST", r"/status/start$", drop="after")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.nodes("pve1").qemu(vmid).status.start.post()
    pve_api.wait_tasks()
    assert pve_api.vm("vd1").status == "running"
    pve_api.fail("POST", r"/status/stop$", drop="before")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.nodes("pve1").qemu(vmid).status.stop.post()
    assert pve_api.vm("vd1").status == "running"
    assert [t.type for t in pve_api.tasks] == ["qmstart"]


def test_a_refused_token_is_401_with_an_empty_body(pve_api):
    # pve-manager HTTPServer auth_handler dies "Authentication failed!\n"; pve-http-server
    # answers HTTP::Response->new(401, $err) without content for /api2/json
    response = requests.get(pve_api.url + "/api2/json/version", verify=pve_api.ca_file,
                            headers={"Authorization": "PVEAPIToken=root@pam!vdictl=wrong"})
    assert (response.status_code, response.reason, response.content) == \
        (401, "Authentication failed!", b"")
    assert response.headers["Connection"] == "close"


def test_every_answer_of_400_or_more_closes_the_connection(pve_api):
    # pve-http-server PVE::APIServer::AnyEvent::response: keep_alive = 0 if $code >= 400
    headers = {"Authorization": "PVEAPIToken=root@pam!vdictl=%s" % pve_api.token_secret}
    with requests.Session() as session:
        ok = session.get(pve_api.url + "/api2/json/version", verify=pve_api.ca_file,
                         headers=headers)
        assert (ok.status_code, ok.headers.get("Connection")) == (200, None)
        for path in ("/api2/json/nodes/pve1/qemu/99999/config", "/api2/json/cluster/nextid"
                                                                 "?vmid=9000"):
            refused = session.get(pve_api.url + path, verify=pve_api.ca_file, headers=headers)
            assert refused.status_code >= 400
            assert refused.headers["Connection"] == "close"
    assert pve_api.connections == 2      # the first answer kept it, the refusals did not


def test_several_node_urls_answer_for_one_cluster_and_one_can_go_down(pve_api):
    other = pve_api.add_node_url()
    assert other != pve_api.url
    first, second = token_client(pve_api), ProxmoxAPI_at(pve_api, other)
    assert first.cluster.resources.get(type="vm") == second.cluster.resources.get(type="vm")
    assert pve_api.requests_by_url[other] == 1
    pve_api.node_down(pve_api.url)
    with pytest.raises(requests.exceptions.ConnectionError):
        token_client(pve_api).version.get()
    assert second.version.get()["release"] == "8.2"


def ProxmoxAPI_at(sim, url):
    host, port = url.rsplit("//", 1)[1].split(":")
    return ProxmoxAPI(host, port=int(port), user="root@pam", token_name="vdictl",
                      token_value=sim.token_secret, verify_ssl=sim.ca_file)


def test_chaos_fails_a_seeded_share_of_requests_transiently(pve_api, api):
    pve_api.chaos(0.5, seed=3)
    outcomes = []
    for _ in range(40):
        try:
            api.nodes("pve1").qemu(9000).config.put(description="x")
            outcomes.append("ok")
        except ResourceException as exc:
            outcomes.append(exc.content)
        except requests.exceptions.ConnectionError:
            outcomes.append("dropped")
    pve_api.chaos(0)
    kinds = {k for k, _, _ in pve_api.faults.chaos_log}
    assert kinds == {"cfs-lock", "lock-timeout", "drop-before", "drop-after"}
    assert 10 < outcomes.count("ok") < 30
    assert CFS in outcomes
    assert "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout" in outcomes


def test_access_permissions_answers_each_default_path_an_admin_holds(pve_api, api):
    # pve-access-control RPCEnvironment::get_effective_permissions: the default
    # paths, each where the user holds a privilege (an admin's role on / propagates)
    pve_api.withhold("root@pam", "VM.Monitor")
    answer = api.access.permissions.get()
    assert sorted(answer) == ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn",
                              "/storage", "/vms"]
    assert answer["/vms"]["VM.Clone"] == 1
    assert all("VM.Monitor" not in privileges for privileges in answer.values())
    student = ticket_client(pve_api, user=pve_api.student, password=pve_api.student_password)
    assert student.access.permissions.get() == {}
