"""Free space of the storages a room's clones go to, and what a clone takes
there (docs/backends/proxmox.md, "Storage space").

A storage's numbers are GET /nodes/{node}/storage/{storage}/status's `avail`
and `total` (pve-storage PVE/API2/Storage/Status.pm read_status, the
plugin's status(): a thin pool's size and free space, a file system's
statvfs). A storage is named "node/storage", as the request names it (each
node has its own local-lvm). The need of a clone comes from
its template's disks (their `size=` in the config): a full clone onto
another storage takes up to their size; a linked clone starts empty and
grows with what the guest writes, estimated as what the template's volume
holds now (GET .../content/{volume} `used`); where the plugin cannot tell
(LVM and LVM-thin answer used = 0) as the disk's size. A snapshot (LVM-thin,
ZFS, RBD, qcow2) takes nothing when it is made.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

from vdictl.config.rooms import VmSpec
from vdictl.model import SpaceNeed, StorageSpace

from .connection import PveConnection, VmRef
from .lookups import disks, storage_of, template_and_config, volume

_SIZE = re.compile(r"(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)(?:,|$)")
_UNIT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def disk_size(value: str) -> int:
    """The bytes of a drive's "size=32G" (pve-common's parse_size units), 0 without."""
    match = _SIZE.search(value)
    return int(float(match.group(1)) * _UNIT[match.group(2)]) if match else 0


def _held(conn: PveConnection, ref: VmRef, volid: str) -> int:
    """What the template's volume holds, as its storage's plugin tells (0: cannot tell)."""
    store = volid.split(":", 1)[0]
    info = conn.call(lambda a: a.nodes(ref.node).storage(store).content(volid).get(),
                     vm=ref.name, what=f"volume {volid!r}") or {}
    return int(info.get("used") or 0)


def _placements(conn: PveConnection, spec: VmSpec) -> List[Tuple[str, str, int, bool]]:
    """(node/storage, template volume, disk size, full copy) of each disk of
    a clone of `spec`: where create_vm puts it (create.clone_params)."""
    ref, config = template_and_config(conn, spec)
    full = bool(spec.storage) and spec.storage != storage_of(config)
    node = spec.node or ref.node
    found = []
    for value in disks(config).values():
        volid = volume(value)
        store = spec.storage if full else volid.split(":", 1)[0]
        found.append((f"{node}/{store}", volid, disk_size(value), full))
    return found


def space_needed(conn: PveConnection, spec: VmSpec) -> List[SpaceNeed]:
    ref, _ = template_and_config(conn, spec)
    needs: Dict[str, int] = {}
    for key, volid, size, full in _placements(conn, spec):
        need = size if full else (_held(conn, ref, volid) or size)
        needs[key] = needs.get(key, 0) + need
    return [SpaceNeed(storage=key, clone=size) for key, size in needs.items()]


def status(conn: PveConnection, key: str) -> Optional[StorageSpace]:
    """The numbers of storage "node/storage"; None when it reports none (inactive)."""
    node, _, store = key.partition("/")
    answer = conn.call(lambda a: a.nodes(node).storage(store).status.get(),
                       what=f"storage {store!r} on node {node!r}") or {}
    if not answer.get("total") or not int(answer.get("active", 1)):
        return None
    return StorageSpace(name=key, free=int(answer.get("avail") or 0),
                        total=int(answer["total"]))


def storage_space(conn: PveConnection, specs: Sequence[VmSpec]) -> List[StorageSpace]:
    """The storages the clones of `specs` go to: one status request each."""
    keys: List[str] = []
    seen = set()
    for spec in specs:
        placement = (spec.template_name, spec.storage, spec.node)
        if placement in seen:
            continue
        seen.add(placement)
        keys += [key for key, _, _, _ in _placements(conn, spec) if key not in keys]
    return [space for space in (status(conn, key) for key in keys) if space]


def template_space(conn: PveConnection, vm: str) -> List[Tuple[StorageSpace, int]]:
    """template-create makes a full clone of `vm` onto its disks' storages
    (templates.create_template): each copy takes what the source volume
    holds, else (the plugin cannot tell) its size."""
    source = conn.ref(vm)
    needs: Dict[str, int] = {}
    for value in disks(conn.config(source)).values():
        volid = volume(value)
        key = f"{source.node}/{volid.split(':', 1)[0]}"
        needs[key] = needs.get(key, 0) + (_held(conn, source, volid) or disk_size(value))
    found = [status(conn, key) for key in needs]
    return [(space, needs[space.name]) for space in found if space is not None]
