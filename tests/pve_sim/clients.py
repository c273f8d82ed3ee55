# SPDX-License-Identifier: GPL-3.0-or-later
"""proxmoxer clients of a simulator, and waiting for a task, for the
simulator's own tests (and anyone else's)."""

from __future__ import annotations

import time

from proxmoxer import ProxmoxAPI


def ticket_client(sim, user="root@pam", password=None, **kw):
    return ProxmoxAPI(sim.host, port=sim.port, user=user,
                      password=sim.password if password is None else password,
                      verify_ssl=sim.ca_file, **kw)


def token_client(sim, token_name="vdictl", token_value=None, user="root@pam", **kw):
    kw.setdefault("verify_ssl", sim.ca_file)
    return ProxmoxAPI(sim.host, port=sim.port, user=user, token_name=token_name,
                      token_value=sim.token_secret if token_value is None else token_value,
                      **kw)


def wait_task(api, upid, node="pve1", timeout=10.0):
    """The task's final status dict (``exitstatus`` "OK" or the error)."""
    deadline = time.monotonic() + timeout
    while True:
        status = api.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped":
            return status
        if time.monotonic() > deadline:
            raise AssertionError("task %s still running" % upid)
        time.sleep(0.005)
