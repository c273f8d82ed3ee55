"""The end date the preflight reads from a certificate's DER bytes
(drivers/tls_probe.py), against what openssl says, for both time forms of
RFC 5280 (UTCTime up to 2049, GeneralizedTime from 2050)."""

from __future__ import annotations

import ssl
import subprocess
from datetime import datetime, timezone

import pytest

from vdictl.drivers.tls_endpoint import endpoint_of_url
from vdictl.drivers.tls_probe import not_after

from tests.tls import make_certificates, make_expired_certificate


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_certificates(str(tmp_path_factory.mktemp("ca")))


def openssl_end(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", path],
                         capture_output=True, text=True, check=True).stdout
    text = out.strip().split("=", 1)[1]
    return datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(
        tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("start, end", [("20240101000000Z", "20240201000000Z"),
                                        ("20240101000000Z", "20491231235959Z"),
                                        ("20240101000000Z", "20510615120000Z")])
def test_not_after_is_what_openssl_says(ca, tmp_path, start, end):
    made = make_expired_certificate(ca, str(tmp_path), start=start, end=end)
    der = ssl.PEM_cert_to_DER_cert(open(made.cert_file).read())
    assert not_after(der) == openssl_end(made.cert_file)
    assert datetime.fromtimestamp(not_after(der), timezone.utc).strftime(
        "%Y%m%d%H%M%SZ") == end


def test_the_ca_of_two_days_ends_in_two_days(ca):
    der = ssl.PEM_cert_to_DER_cert(open(ca.cert_file).read())
    assert not_after(der) == openssl_end(ca.cert_file)


def test_bytes_that_are_not_a_certificate_are_a_value_error():
    with pytest.raises(ValueError, match="not a certificate"):
        not_after(b"\x30\x03\x02\x01")


@pytest.mark.parametrize("url, expected", [
    ("https://engine.example.org/ovirt-engine/api", ("engine.example.org", 443)),
    ("https://pve1:8006", ("pve1", 8006)),
    ("http://engine/ovirt-engine/api", None),
])
def test_the_tls_endpoint_of_a_url(url, expected):
    found = endpoint_of_url(url, default_port=443, ca_file=None, insecure=False)
    assert (found and (found.host, found.port)) == expected
