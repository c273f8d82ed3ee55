# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage content: ISO upload (an ``imgcopy`` task), listing, removal (an
``imgdel`` task), a volume's attributes, and a storage's status (its size
and free space), as pve-storage's Status.pm and Content.pm."""

from __future__ import annotations

import re

from tests.pve_sim.state.errors import ApiError, TaskFailed, param_error

ISO_NAME = re.compile(r"[^/]+\.(?:iso|img)$", re.IGNORECASE)


def upload(cluster, user, node, storage_id, params, files):
    cluster.node(node)
    storage = cluster.storage(storage_id)
    content = params.get("content", "")
    if content not in ("iso", "vztmpl", "import"):
        raise param_error(content="upload content type '%s' not allowed" % content)
    if "filename" not in files:
        raise ApiError(500, "missing temporary file name")
    filename, data = files["filename"]
    filename = params.get("filename") if isinstance(params.get("filename"), str) else filename
    if content == "iso" and not ISO_NAME.search(filename or ""):
        raise param_error(filename="wrong file extension")
    if content not in storage.content:
        raise ApiError(500, "storage '%s' does not support '%s' content"
                       % (storage_id, content))
    volid = "%s:%s/%s" % (storage_id, content, filename)

    def body():
        cluster.pause(cluster.durations["imgcopy"])
        cluster.put_volume(volid, node, size=len(data), data=data)

    return cluster.spawn(node, "imgcopy", None, user, body)


def list_content(cluster, node, storage_id, params):
    cluster.node(node)
    cluster.storage(storage_id)
    wanted = params.get("content")
    answer = []
    for (vnode, volid), volume in sorted(cluster.volumes.items(), key=lambda kv: kv[0][1]):
        if not volid.startswith(storage_id + ":") or vnode not in (None, node):
            continue
        kind = _content_of(volid)
        if wanted and kind != wanted:
            continue
        entry = {"volid": volid, "size": volume.size, "content": kind, "format": _format(volid)}
        owner = re.search(r"(?:vm|base)-(\d+)-", volid)
        if owner and kind == "images":
            entry["vmid"] = int(owner.group(1))
        answer.append(entry)
    return answer


def _content_of(volid):
    name = volid.split(":", 1)[1]
    return name.split("/", 1)[0] if name.startswith(("iso/", "vztmpl/", "backup/")) \
        else "images"


def _format(volid):
    return "iso" if volid.endswith(".iso") else "raw"


VOLUME_ID = re.compile(r"^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$", re.I | re.S)


def delete_volume(cluster, user, node, storage_id, volume, params):
    cluster.node(node)
    cluster.storage(storage_id)
    # pve-storage API2/Storage/Content.pm $real_volume_id
    if ":" in volume:
        parsed = VOLUME_ID.match(volume)  # pve-storage Plugin.pm parse_volume_id
        if not parsed:
            raise param_error(volume="unable to parse volume ID '%s'\n" % volume)
        sid = parsed.group(1)
        if sid != storage_id:
            raise param_error(volume="storage ID mismatch (%s != %s)\n" % (sid, storage_id))
        volid = volume
    else:
        volid = "%s:%s" % (storage_id, volume)

    def body():
        cluster.pause(cluster.durations["imgdel"])
        if cluster.volume(volid, node) is None:
            raise TaskFailed("volume '%s' does not exist" % volid)
        cluster.drop_volume(volid, node)

    return cluster.spawn(node, "imgdel", storage_id, user, body)


# -- space --------------------------------------------------------------------

def space(cluster, node, storage):
    """(total, used, avail) of ``storage`` as seen from ``node``: what its
    volumes take there (all nodes' on shared storage) and what the tests
    filled it with. The plugins' status() report the pool or file system as
    a whole (LvmThinPlugin::status: lv_size, lv_size - used, used; dir/NFS:
    statvfs), so avail is total - used."""
    where = None if storage.shared else node
    used = storage.taken.get(where, 0)
    for (vnode, volid), volume in cluster.volumes.items():
        if volid.startswith(storage.storage + ":") and vnode == where:
            used += volume.taken
    used = min(used, storage.total)
    return storage.total, used, storage.total - used


def status(cluster, node, storage_id):
    """GET /nodes/{node}/storage/{storage}/status (Status.pm read_status:
    PVE::Storage::storage_info's entry of the storage; "No such storage." as
    a parameter error when it has none)."""
    cluster.node(node)
    storage = cluster.storages.get(storage_id)
    if storage is None:
        raise param_error(storage="No such storage.")
    total, used, avail = space(cluster, node, storage)
    return {"type": storage.plugintype, "content": storage.content_text,
            "shared": 1 if storage.shared else 0, "enabled": 1, "active": 1,
            "total": total, "used": used, "avail": avail}


def volume_info(cluster, node, storage_id, volume):
    """GET /nodes/{node}/storage/{storage}/content/{volume} (Content.pm info:
    PVE::Storage::volume_size_info). ``used`` is what the plugin can tell:
    LVM and LVM-thin answer 0 (LVMPlugin::volume_size_info returns
    ($size, 'raw', 0, undef); LvmThinPlugin inherits it), ZFS its
    usedbydataset, RBD rbd du, a qcow2 or raw file its allocation."""
    cluster.node(node)
    storage = cluster.storage(storage_id)
    volid = volume if ":" in volume else "%s:%s" % (storage_id, volume)
    found = cluster.volume(volid, node)
    if found is None:
        raise ApiError(500, "volume '%s' does not exist\n" % volid)
    used = 0 if storage.plugintype in ("lvm", "lvmthin") else found.taken
    return {"path": "/dev/pve/%s" % volid.split(":", 1)[1], "size": found.size,
            "used": used, "format": _format(volid)}
