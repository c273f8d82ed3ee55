"""Where an endpoint presents its TLS certificate, and what the preflight's
probe (drivers/tls_probe.py) found there. Kept apart from the probe, so that
a driver names its endpoint without loading ssl and socket: only the
preflight's certificate check needs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit


@dataclass(frozen=True)
class TlsEndpoint:
    """Where an endpoint presents its certificate, and how it is checked."""

    host: str
    port: int
    ca_file: Optional[str] = None     # None: the system CAs
    insecure: bool = False            # not verified at all (insecure = True)
    #: the config key that says which CA ("ca_file"; libvirt: its pki path)
    ca_key: str = "ca_file"


@dataclass(frozen=True)
class PeerCertificate:
    """What the probe found."""

    endpoint: TlsEndpoint
    not_after: float                  # seconds since the epoch
    #: None: verified (or insecure); else why the configured check refused it
    refused: Optional[str] = None
    expired: bool = False

    def days_left(self, now: float) -> float:
        return (self.not_after - now) / 86400.0


def endpoint_of_url(url: str, *, default_port: int, ca_file: Optional[str],
                    insecure: bool) -> Optional[TlsEndpoint]:
    """The TLS endpoint of an https URL; None for another scheme."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        return None
    return TlsEndpoint(parts.hostname, parts.port or default_port, ca_file, insecure)
