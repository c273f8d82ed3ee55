"""First boot (personalisation): the payload's CD (drivers/seed_image.py: a
NoCloud seed for cloud-init, Autounattend.xml for Windows) uploaded to the
node's `iso_storage` and attached as a CD-ROM; a boot until the guest powers
itself off; then finish_vm removes the CD and its ISO and applies stateless
(docs/backends/proxmox.md, "First boot")."""

from __future__ import annotations

import io
import logging
from typing import Any, Dict
from urllib.parse import quote

from vdictl.config.rooms import VmSpec
from vdictl.errors import DriverError, NotFound

from .. import seed_image
from .connection import PveConnection, VmRef
from .create import stateless_disks
from .lookups import DISK_KEY

log = logging.getLogger(__name__)

SEED_PREFIX = "vdictl-seed-"
#: CD-ROM slots tried for the seed, the usual one first
CD_SLOTS = ("ide2", "ide3", "ide0", "ide1", "sata4", "sata5")


def seed_file(name: str) -> str:
    return f"{SEED_PREFIX}{name}.iso"


def seed_slots(config: Dict[str, Any], name: str) -> Dict[str, str]:
    """The config's drives holding this VM's seed CD, by key."""
    wanted = f"iso/{seed_file(name)}"
    return {k: str(v) for k, v in config.items()
            if DISK_KEY.match(k) and wanted in str(v).split(",", 1)[0]}


def _free_slot(config: Dict[str, Any], name: str) -> str:
    for slot in CD_SLOTS:
        if slot not in config:
            return slot
    raise DriverError(f"no free CD-ROM slot for the first-boot CD (tried {', '.join(CD_SLOTS)})",
                      driver="proxmox", vm=name)


def volume_segment(volid: str) -> str:
    """The volume id as one URL path segment, as the web UI sends it
    (encodeURIComponent): pveproxy unescapes the path before routing, and a
    ?, # or % in a raw volume id would not reach it as written."""
    return quote(volid, safe="")


def _remove_volume(conn: PveConnection, node: str, volid: str, name: str,
                   timeout: float) -> None:
    storage = volid.split(":", 1)[0]
    try:
        upid = conn.call(lambda a: a.nodes(node).storage(storage).content(
                             volume_segment(volid)).delete(),
                         vm=name, what=f"volume {volid}")
        conn.wait_task(upid, timeout=timeout, what=f"the removal of {volid}", vm=name)
    except NotFound:
        pass


def _upload(conn: PveConnection, ref: VmRef, storage: str, payload: Any,
            timeout: float) -> str:
    """The seed ISO on `storage` of the VM's node (one left by an interrupted
    run is replaced); its volume id."""
    data = seed_image.build_seed_image(payload)
    filename = seed_file(ref.name)
    volid = f"{storage}:iso/{filename}"
    _remove_volume(conn, ref.node, volid, ref.name, timeout)

    def post(a: Any) -> Any:
        fh = io.BytesIO(data)
        fh.name = filename  # proxmoxer sends it as the multipart file name
        return a.nodes(ref.node).storage(storage).upload.post(content="iso", filename=fh)

    upid = conn.call(post, vm=ref.name, what=f"storage {storage!r}")
    conn.wait_task(upid, timeout=timeout, what=f"the upload of {filename}", vm=ref.name)
    return volid


def personalise_vm(conn: PveConnection, *, spec: VmSpec, payload: Any, timeout: float) -> None:
    """Attach the seed CD, start, and wait for the guest's own power-off."""
    ref = conn.ref(spec.name)
    if ref.entry.get("status") != "running":
        conn.ensure_unlocked(ref, timeout)
        config = conn.config(ref)
        volid = _upload(conn, ref, spec.iso_storage, payload, timeout)
        slot = next(iter(seed_slots(config, spec.name)), None) or _free_slot(config, spec.name)
        conn.set_config(ref, **{slot: f"{volid},media=cdrom"})
        conn.run_task(ref, lambda a: a.nodes(ref.node).qemu(ref.vmid).status.start.post(),
                      timeout=timeout, what="the first boot's start", kind="qmstart")
        log.info("%s: booted with its %s CD; waiting for the guest's power-off", spec.name,
                 payload.kind)
    conn.wait_state(ref, lambda e: e is not None and e.get("status") == "stopped", timeout,
                    f"the guest to power itself off after {payload.kind}")


def finish_vm(conn: PveConnection, *, spec: VmSpec, timeout: float) -> None:
    """Remove the seed CD and its ISO; then stateless (snapshot=1 on the disks)."""
    ref = conn.ref(spec.name)
    config = conn.config(ref)
    slots = seed_slots(config, spec.name)
    if slots:
        conn.set_config(ref, delete=",".join(sorted(slots)))
    for value in slots.values():
        _remove_volume(conn, ref.node, value.split(",", 1)[0], spec.name, timeout)
    if spec.stateless:
        changed = {k: v for k, v in stateless_disks(conn.config(ref)).items()
                   if config.get(k) != v}
        if changed:
            conn.set_config(ref, **changed)

