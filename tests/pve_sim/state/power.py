# SPDX-License-Identifier: GPL-3.0-or-later
"""Power actions as qemu-server's vm_start/vm_stop: each task holds the lock
file while it works; a guest honours ACPI after ``acpi_delay`` unless
``ignores_acpi``; a first boot with cloud-init or an uploaded ISO powers
itself off after ``firstboot`` (cloud-init/sysprep finishing)."""

from __future__ import annotations

import copy
import threading

from tests.pve_sim.state.errors import TaskFailed
from tests.pve_sim.state.guard import check_bool, check_lock, flock, root_only
from tests.pve_sim.state.records import StartRecord
from tests.pve_sim.state.sessions import agent_enabled, has_spice
from tests.pve_sim.wire.drives import (is_cdrom, is_cloudinit, is_drive_key, parse_drive)

CLOUDINIT_KEYS = ("ciuser", "cipassword", "citype", "sshkeys", "nameserver", "searchdomain")


def status_current(cluster, node, vmid):
    vm = cluster.guest(node, vmid)
    answer = {"vmid": vm.vmid, "name": vm.name, "status": vm.status,
              "qmpstatus": vm.status, "maxmem": int(vm.config.get("memory", 512)) << 20,
              "cpus": int(vm.config.get("cores", 1)), "uptime": 0}
    if vm.template:
        answer["template"] = 1
    if has_spice(vm.config):         # qemu-server: "QEMU VGA configuration supports spice"
        answer["spice"] = 1
    if agent_enabled(vm.config):     # "QEMU Guest Agent is enabled in config"
        answer["agent"] = 1
    if vm.lock:
        answer["lock"] = vm.lock
    return answer


def _isos(cluster, vm):
    """key -> bytes of the uploaded ISOs in the VM's CD-ROM drives."""
    found = {}
    for key, value in sorted(vm.config.items()):
        if is_drive_key(key) and is_cdrom(value) and not is_cloudinit(value):
            volume = cluster.volume(parse_drive(value)[0] or "", vm.node)
            if volume is not None and volume.data:
                found[key] = volume.data
    return found


def _first_boot(cluster, vm, isos):
    has_ci = any(is_drive_key(k) and is_cloudinit(v) for k, v in vm.config.items()) \
        or any(k in vm.config for k in CLOUDINIT_KEYS) \
        or any(k.startswith("ipconfig") for k in vm.config)
    return not vm.booted and (has_ci or bool(isos))


def _power_off_later(cluster, vm, seconds):
    """The guest powers itself off after ``seconds`` unless its power
    changed meanwhile."""
    generation = vm.generation

    def off():
        with cluster.lock:
            if vm.generation == generation and vm.status == "running":
                _stopped(cluster, vm)
    timer = threading.Timer(cluster.scaled(seconds), off)
    timer.daemon = True
    timer.start()


def start(cluster, user, node, vmid, params):
    vm = cluster.guest(node, vmid)
    root_only(user, params, "skiplock")
    skiplock = check_bool(params, "skiplock")

    def body():
        with flock(cluster, vm.vmid):
            current = cluster.guest(node, vmid)
            if current.template:
                raise TaskFailed("you can't start a vm if it's a template")
            if not skiplock:
                check_lock(current)
            if current.status == "running":
                raise TaskFailed("VM %d already running" % current.vmid)
            cluster.pause(cluster.durations["qmstart"])
            isos = _isos(cluster, current)
            first = _first_boot(cluster, current, isos)
            current.status = "running"
            current.booted = True
            current.generation += 1
            cluster.starts.append(StartRecord(current.name, current.vmid,
                                              copy.deepcopy(current.config), isos))
            if first:
                _power_off_later(cluster, current, cluster.firstboot)

    return cluster.spawn(node, "qmstart", vm.vmid, user, body)


def _stopped(cluster, vm):
    vm.status = "stopped"
    vm.generation += 1
    cluster.cond.notify_all()


def stop(cluster, user, node, vmid, params):
    vm = cluster.guest(node, vmid)
    root_only(user, params, "skiplock", "keepActive")
    skiplock = check_bool(params, "skiplock")

    def body():
        with flock(cluster, vm.vmid):
            current = cluster.guest(node, vmid)
            if current.status != "running":
                return
            if not skiplock:
                check_lock(current)
            cluster.pause(cluster.durations["qmstop"])
            _stopped(cluster, current)

    return cluster.spawn(node, "qmstop", vm.vmid, user, body)


def _wait_down(cluster, vm, timeout):
    """Wait up to ``timeout`` simulated seconds for the guest to power off."""
    generation = vm.generation
    cluster.wait_until(lambda: vm.status != "running" or vm.generation != generation, timeout)
    return vm.status != "running"


def shutdown(cluster, user, node, vmid, params):
    vm = cluster.guest(node, vmid)
    root_only(user, params, "skiplock", "keepActive")
    skiplock = check_bool(params, "skiplock")
    force = check_bool(params, "forceStop")
    timeout = float(params.get("timeout", 60))

    def body():
        with flock(cluster, vm.vmid):
            current = cluster.guest(node, vmid)
            if current.status != "running":
                return
            if not skiplock:
                check_lock(current)
            if not current.ignores_acpi and cluster.acpi_delay <= timeout:
                # the guest honours ACPI (or goes down by itself before)
                if not _wait_down(cluster, current, cluster.acpi_delay):
                    _stopped(cluster, current)
                return
            if _wait_down(cluster, current, timeout):
                return
            if not force:
                raise TaskFailed("VM quit/powerdown failed - got timeout")
            cluster.warn("VM still running - terminating now with SIGTERM")
            cluster.pause(cluster.durations["qmstop"])
            _stopped(cluster, current)

    return cluster.spawn(node, "qmshutdown", vm.vmid, user, body)

