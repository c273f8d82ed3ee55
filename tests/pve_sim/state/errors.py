# SPDX-License-Identifier: GPL-3.0-or-later
"""How the cluster refuses: an API error (status + reason phrase) or a task
that ends in error.  Messages are Proxmox VE's own wording (see
/work/briefs/pve-api-notes.md for where each was checked)."""

from __future__ import annotations


class ApiError(Exception):
    """A refused request: HTTP ``status``, the message as reason phrase and,
    for parameter errors, ``errors`` (param -> message)."""

    def __init__(self, status, message, errors=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


class TaskFailed(Exception):
    """A worker's ``die``: the task ends with this text as exit status."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class WorkerKilled(Exception):
    """A worker killed outright (SIGKILL, the node lost power): it cleans
    nothing up, its flocks go with its process, and its task log ends without
    a "TASK ..." line, which PVE::UPID::read_status (pve-common
    ``src/PVE/UPID.pm``) reads as "unexpected status"."""


def param_error(**errors):
    """400 "Parameter verification failed." with per-parameter messages."""
    return ApiError(400, "Parameter verification failed.", errors)


def config_missing(node, vmid):
    return ApiError(500, "Configuration file 'nodes/%s/qemu-server/%s.conf' does not exist"
                    % (node, vmid))


def denied(path, privilege):
    return ApiError(403, "Permission check failed (%s, %s)" % (path, privilege))


def vm_locked(lock):
    return "VM is locked (%s)" % lock
