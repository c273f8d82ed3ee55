"""The TLS certificate an endpoint presents, read over a TLS connection of
our own (vdictl preflight): when it ends, and whether the configured CA (or
the system's) trusts it.

The connection is made as the driver's would be: with `ca_file` (else the
system CAs) and the host name checked, unless `insecure`. A certificate
that fails that check (expired, or not signed by the CA) is read again
without the check, only to say its end date. Nothing is sent but the
handshake. The end date is read from the certificate's DER bytes here (the
standard library decodes a certificate only after verifying it).
"""

from __future__ import annotations

import socket
import ssl
from datetime import datetime, timezone
from typing import Tuple

from .tls_endpoint import PeerCertificate, TlsEndpoint

#: X509_V_ERR_CERT_HAS_EXPIRED (OpenSSL's x509_vfy.h)
CERT_HAS_EXPIRED = 10


def probe(endpoint: TlsEndpoint, *, timeout: float) -> PeerCertificate:
    """Connect, read the peer's certificate. OSError (ssl.SSLError included)
    when no TLS handshake could be made at all."""
    try:
        der = _peer_der(endpoint, _context(endpoint), timeout)
        refused, expired = None, False
    except ssl.SSLCertVerificationError as exc:
        refused = exc.verify_message or str(exc)
        expired = exc.verify_code == CERT_HAS_EXPIRED
        der = _peer_der(endpoint, _unverified(), timeout)
    return PeerCertificate(endpoint, not_after(der), refused=refused, expired=expired)


def _context(endpoint: TlsEndpoint) -> ssl.SSLContext:
    if endpoint.insecure:
        return _unverified()
    return ssl.create_default_context(cafile=endpoint.ca_file)


def _unverified() -> ssl.SSLContext:
    """Only to read the date of a certificate the configured check refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # nosec B502 # reads a date; sends nothing
    return context


def _peer_der(endpoint: TlsEndpoint, context: ssl.SSLContext, timeout: float) -> bytes:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=endpoint.host) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError(f"{endpoint.host}:{endpoint.port} presented no certificate")
    return der


# -- the certificate's end date, from its DER bytes (RFC 5280 4.1) ---------------
def _element(data: bytes, at: int) -> Tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    return tag, at, at + length


def not_after(der: bytes) -> float:
    """notAfter of a DER certificate, seconds since the epoch. ValueError if
    the bytes are not a certificate."""
    try:
        _, body, _ = _element(der, 0)                # Certificate
        _, at, _ = _element(der, body)               # tbsCertificate
        tag, _, end = _element(der, at)
        if tag == 0xA0:                              # [0] version
            at = end
        for _ in range(3):                           # serial, signature, issuer
            at = _element(der, at)[2]
        _, validity, _ = _element(der, at)
        at = _element(der, validity)[2]              # notBefore
        tag, start, end = _element(der, at)          # notAfter
        text = der[start:end].decode("ascii")
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a certificate: {exc}") from None
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime, GeneralizedTime
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()
