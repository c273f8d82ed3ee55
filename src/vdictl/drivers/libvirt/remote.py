"""Is a libvirt URI remote? Everything vdictl does on libvirt goes through the
API (disks and first-boot media through the storage pools), so it works the
same over qemu+ssh:// or qemu+tls://. What needs the hypervisor's files on
this machine (virt-sysprep) asks this module first, and is refused remotely
before anything changes."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

#: transports that keep libvirtd on this machine (libvirt's uri.rst: "local
#: URIs" are driver:///path and driver+unix:///path; all others are remote)
LOCAL_TRANSPORTS = frozenset({"", "unix"})


def is_remote(uri: Optional[str]) -> bool:
    """True when `uri` names a libvirtd reached over a network transport or on
    a host: qemu+ssh://, qemu+tls://, qemu+tcp://, qemu+libssh2://, qemu://host/.
    qemu+ssh://localhost counts as remote too: libvirt itself treats it so,
    and the files may be in another mount namespace or container."""
    if not uri or "://" not in uri:
        return False  # the default URI or an alias: ask the connection (getURI)
    parts = urlsplit(uri)
    _, _, transport = parts.scheme.partition("+")
    return transport.lower() not in LOCAL_TRANSPORTS or bool(parts.hostname)
