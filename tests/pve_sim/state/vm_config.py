# SPDX-License-Identifier: GPL-3.0-or-later
"""A guest's config: GET (with its digest), PUT (sync) and POST (a task),
``delete=``, ``digest``, ``skiplock`` as qemu-server's update_vm_api."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import unquote

from tests.pve_sim.state.errors import ApiError, TaskFailed, param_error, vm_locked
from tests.pve_sim.state.guard import check_dns_name, flock, root_only, sync_flock
from tests.pve_sim.wire.drives import NET_KEY
from tests.pve_sim.wire.net import with_mac
from tests.pve_sim.wire.schema import known_key

#: parameters of the config call that are not config keys
CONTROL = ("delete", "digest", "skiplock", "revert", "background_delay", "node", "vmid")
UNKNOWN = ("property is not defined in schema and the schema does not allow additional "
           "properties")
INTEGER_KEYS = ("memory", "cores", "sockets", "balloon", "template", "onboot", "cpuunits")


def digest(config):
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def read_config(cluster, node, vmid):
    vm = cluster.guest(node, vmid)
    answer = dict(vm.config)
    answer["digest"] = digest(vm.config)
    return answer


def _typed(key, value):
    if key in INTEGER_KEYS:
        try:
            return int(value)
        except ValueError:
            raise param_error(**{key: "type check ('integer') failed - got '%s'" % value}) \
                from None
    return value


def check_update(cluster, user, params):
    """Sync parameter checks; returns (changes, deletions)."""
    root_only(user, params, "skiplock")
    changes = {k: _typed(k, v) for k, v in params.items() if k not in CONTROL}
    unknown = sorted(k for k in changes if not known_key(k))
    if unknown:
        raise param_error(**{k: UNKNOWN for k in unknown})
    for key in changes:
        if NET_KEY.match(key):
            changes[key] = with_mac(changes[key], cluster.new_mac)
    if "name" in changes:
        check_dns_name(changes["name"])
    if "sshkeys" in changes:
        _check_sshkeys(changes["sshkeys"])
    deletions = [k for k in str(params.get("delete", "")).replace(";", ",").split(",") if k]
    both = sorted(set(deletions) & set(changes))
    if both:
        raise ApiError(500, "you can't modify and delete the same option ('%s')" % both[0])
    return changes, deletions


#: pve-common JSONSchema.pm format 'urlencoded'
URLENCODED = re.compile(r"^[-%a-zA-Z0-9_.!~*'()]*$")


def _check_sshkeys(value):
    """qemu-server update_vm_api: the format 'urlencoded', then each line of the
    unescaped text through ssh-keygen -l (here: TYPE BASE64 [COMMENT])."""
    if not URLENCODED.match(value):
        raise param_error(sshkeys="invalid format - invalid urlencoded string: %s\n" % value)
    for line in unquote(value).split("\n"):
        if line.strip() and not SSH_KEY.match(line.strip()):
            raise ApiError(500, "SSH public key validation error")


SSH_KEY = re.compile(r"^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/]+=*( .*)?$")


def _apply(vm, params, changes, deletions):
    """With the lock file held."""
    skiplock = str(params.get("skiplock", "0")) == "1"
    if params.get("digest") and params["digest"] != digest(vm.config):
        return "checksum mismatch (file change by other user?)"
    if vm.lock and not skiplock:
        return vm_locked(vm.lock)
    for key in deletions:
        vm.config.pop(key, None)
    vm.config.update(changes)
    return None


def update_sync(cluster, user, node, vmid, params):
    """PUT config: done when the answer comes (null)."""
    vm = cluster.guest(node, vmid)
    changes, deletions = check_update(cluster, user, params)
    with sync_flock(cluster, vm.vmid):
        vm = cluster.guest(node, vmid)
        error = _apply(vm, params, changes, deletions)
        if error:
            raise ApiError(500, error)
    return None


def update_async(cluster, user, node, vmid, params):
    """POST config: a ``qmconfig`` task."""
    vm = cluster.guest(node, vmid)
    changes, deletions = check_update(cluster, user, params)

    def body():
        with flock(cluster, vm.vmid):
            current = cluster.guest(node, vmid)
            error = _apply(current, params, changes, deletions)
            if error:
                raise TaskFailed(error)
            cluster.pause(cluster.durations["qmconfig"])

    return cluster.spawn(node, "qmconfig", vm.vmid, user, body)
