# SPDX-License-Identifier: GPL-3.0-or-later
"""A throw-away CA and server certificate for the simulators' HTTPS mode
(tests/ovirt_sim, tests/pve_sim).

Made with Debian's ``openssl`` command at test time: the CA signs a
certificate for 127.0.0.1 and localhost, so clients can verify the engine
the way they verify a real one (``ca_file``), and a client without the CA
fails the way it would against a real engine.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Certificates:
    ca_file: str        # the CA certificate a client trusts
    cert_file: str      # the engine's certificate, signed by the CA
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                   stdin=subprocess.DEVNULL, timeout=60)


def make_certificates(directory: str) -> Certificates:
    os.makedirs(directory, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=vdictl test engine CA", "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "engine.key", "-out", "engine.csr", cwd=directory)
    with open(os.path.join(directory, "engine.ext"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                 "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "engine.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "engine.ext", "-out", "engine.pem",
             cwd=directory)
    return Certificates(*(os.path.join(directory, f)
                          for f in ("ca.pem", "engine.pem", "engine.key")))


def make_expired_certificate(ca: Certificates, directory: str, *,
                             start: str = "20240101000000Z",
                             end: str = "20240201000000Z") -> Certificates:
    """A server certificate for 127.0.0.1 signed by `ca`'s CA whose validity
    ended in the past (notAfter `end`), as a certificate nobody renewed:
    `openssl ca` is the one openssl command of Debian 12 that takes both dates."""
    os.makedirs(directory, exist_ok=True)
    ca_dir = os.path.dirname(ca.ca_file)
    with open(os.path.join(directory, "index.txt"), "w"):
        pass
    with open(os.path.join(directory, "ca.cnf"), "w") as fh:
        fh.write("[ca]\ndefault_ca = test\n[test]\n"
                 f"dir = {directory}\ndatabase = {directory}/index.txt\n"
                 f"new_certs_dir = {directory}\nserial = {directory}/serial\n"
                 "default_md = sha256\npolicy = anything\ncopy_extensions = copy\n"
                 "unique_subject = no\n[anything]\ncommonName = supplied\n"
                 "[server]\nsubjectAltName = IP:127.0.0.1,DNS:localhost\n"
                 "extendedKeyUsage = serverAuth\n")
    with open(os.path.join(directory, "serial"), "w") as fh:
        fh.write("1000\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "expired.key", "-out", "expired.csr", cwd=directory)
    _openssl("ca", "-batch", "-config", "ca.cnf", "-notext", "-extensions", "server",
             "-cert", os.path.join(ca_dir, "ca.pem"), "-keyfile", os.path.join(ca_dir, "ca.key"),
             "-startdate", start, "-enddate", end, "-in", "expired.csr",
             "-out", "expired.pem", cwd=directory)
    return Certificates(ca.ca_file, os.path.join(directory, "expired.pem"),
                        os.path.join(directory, "expired.key"))
