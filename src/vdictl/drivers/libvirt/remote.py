"""Is a libvirt URI remote? Everything vdictl does on libvirt goes through the
API (disks and first-boot media through the storage pools), so it works the
same over qemu+ssh:// or qemu+tls://. What needs the hypervisor's files on
this machine (virt-sysprep) asks this module first, and is refused remotely
before anything changes."""

from __future__ import annotations

from typing import Optional, Union
from urllib.parse import parse_qs, urlsplit

from ..tls_endpoint import TlsEndpoint

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


#: libvirt's TLS port and CA certificate (virnettlscontext.c: LIBVIRT_CACERT,
#: for a client run as root; `?pkipath=DIR` in the URI names another directory)
TLS_PORT = 16514
CA_CERT = "/etc/pki/CA/cacert.pem"


def tls_endpoint(uri: Optional[str]) -> Union[TlsEndpoint, str]:
    """Where a qemu+tls:// (or qemu://host/) libvirtd presents its certificate,
    or why a URI has none to read (ssh, tcp, local)."""
    if not is_remote(uri):
        return "a local hypervisor: no TLS certificate"
    parts = urlsplit(uri or "")
    transport = parts.scheme.partition("+")[2].lower()
    if transport in ("ssh", "libssh", "libssh2", "ext"):
        return (f"reached over {transport}: its host key is checked by ssh, there is no "
                "TLS certificate to read")
    if transport == "tcp":
        return "qemu+tcp: no TLS (use qemu+tls:// or qemu+ssh:// across a network)"
    pkipath = parse_qs(parts.query).get("pkipath", [""])[0]
    ca_file = f"{pkipath.rstrip('/')}/cacert.pem" if pkipath else CA_CERT
    return TlsEndpoint(parts.hostname or "localhost", parts.port or TLS_PORT, ca_file,
                       insecure="no_verify=1" in parts.query, ca_key="pkipath (cacert.pem)")
