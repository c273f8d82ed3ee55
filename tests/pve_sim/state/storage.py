# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage content: ISO upload (an ``imgcopy`` task), listing, removal (an
``imgdel`` task), as pve-storage's Status.pm and Content.pm."""

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
