"""The preflight of each endpoint, all of them side by side: it answers
within endpoint_timeout, the login (password or API token) is accepted, its
TLS certificate is trusted and not near its end, and the account may do what
the rooms need."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Dict, Iterator, List, Optional

from vdictl.config.rooms import VmSpec
from vdictl.drivers.base import PeerCertificate, TlsEndpoint
from vdictl.errors import AuthError, Unreachable, Unusable, VdictlError
from vdictl.executor import run_each

from .problems import ERROR, UNREACHABLE, WARNING, Preflight, Problem

#: a certificate that ends within this many days is a warning
CERTIFICATE_DAYS = 30


def endpoints_answer(pf: Preflight) -> Iterator[Problem]:
    """Every endpoint of the rooms, in parallel (one thread each)."""
    firsts: Dict[str, VmSpec] = {}
    for spec in pf.specs():
        firsts.setdefault(pf.endpoint(spec), spec)
    results = run_each(lambda spec: list(check_endpoint(pf, spec)), list(firsts.values()),
                       max_workers=max(1, len(firsts)))
    for result in results:
        yield from result.value_or_raise()


def check_endpoint(pf: Preflight, spec: VmSpec) -> Iterator[Problem]:
    url = pf.endpoint(spec)
    certificate = list(certificate_problems(pf, spec))
    try:
        pf.session.driver_for(spec)
    except VdictlError as exc:
        pf.down.add(url)
        if isinstance(exc, Unusable) and certificate:  # the certificate says why
            yield from (Problem(p.endpoint, "", "", p.what, p.what_to_do, UNREACHABLE)
                        for p in certificate)
            return
        yield from certificate
        yield refused(pf, spec, exc)
        return
    yield from certificate
    yield from permissions(pf, spec)
    yield from endpoint_findings(pf, spec)


def endpoint_findings(pf: Preflight, spec: VmSpec) -> Iterator[Problem]:
    """What the driver finds about the endpoint itself (Driver.endpoint_problems)."""
    url = pf.endpoint(spec)
    try:
        found = pf.session.driver_for(spec).endpoint_problems()
    except VdictlError as exc:
        yield Problem(url, "", "", f"could not look at the endpoint's nodes: {exc}",
                      "see the message", WARNING)
        return
    for what, todo in found:
        yield Problem(url, "", "", what, todo, WARNING)


def refused(pf: Preflight, spec: VmSpec, exc: VdictlError) -> Problem:
    """The endpoint could not be used: not reached, login refused, certificate refused."""
    url = pf.endpoint(spec)
    connect = pf.session.config.connect_of(spec)
    if isinstance(exc, AuthError):
        if connect.token_id:
            todo = (f"check the API token {connect.token_id} and its secret: it may be deleted, "
                    "expired (pveum user token list USER shows its expire) or its secret "
                    "wrong (token_secret_file / token_secret_env / token_secret_credential)")
        else:
            todo = (f"check username {connect.username!r} and its password (password / "
                    "password_file / password_credential): the password may have changed, "
                    "or the account expired or been locked")
    elif isinstance(exc, Unusable):
        todo = ("set ca_file to the CA that signs the endpoint's certificate, or renew the "
                "certificate; every run fails there until then")
    elif isinstance(exc, Unreachable):
        todo = ("check that the endpoint runs and answers from this machine (its service, "
                "DNS, firewall); every VM there would fail tonight")
    else:
        todo = "see the message; every VM there would fail tonight"
    return Problem(url, "", "", str(exc), todo, UNREACHABLE)


def certificate_problems(pf: Preflight, spec: VmSpec) -> Iterator[Problem]:
    """The endpoint's TLS certificate, read over a connection of our own."""
    url = pf.endpoint(spec)
    bound = pf.session.config.connect_of(spec).endpoint_timeout
    try:
        found = pf.session.unopened_driver(spec).tls_certificate(
            timeout=max(1.0, min(bound, 30.0)))
    except (OSError, ValueError, VdictlError) as exc:  # the login says what is wrong
        pf.note(f"{url}: TLS certificate not read: {exc}")
        return
    if isinstance(found, str):
        pf.note(f"{url}: {found}")
        return
    yield from judge(url, found, time.time())


def judge(url: str, found: PeerCertificate, now: float) -> Iterator[Problem]:
    where = found.endpoint
    at = f"{where.host}:{where.port}"
    ends = datetime.fromtimestamp(found.not_after, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    days = found.days_left(now)
    if found.expired or days < 0:
        yield Problem(url, "", "", f"TLS certificate of {at} expired on {ends} "
                      f"({-days:.0f} days ago)",
                      "renew the endpoint's certificate; every run fails there until then")
    elif found.refused:
        yield Problem(url, "", "", f"TLS certificate of {at} is not trusted "
                      f"({trust_source(where)}): {found.refused}",
                      f"set {where.ca_key} to the CA that signs it")
    elif days < CERTIFICATE_DAYS:
        yield Problem(url, "", "", f"TLS certificate of {at} ends on {ends}, in "
                      f"{days:.0f} days", "renew it before then", WARNING)


def trust_source(where: TlsEndpoint) -> str:
    return f"{where.ca_key} {where.ca_file}" if where.ca_file else "the system's CAs"


def permissions(pf: Preflight, first: VmSpec) -> Iterator[Problem]:
    url = pf.endpoint(first)
    specs = [spec for spec in pf.specs() if pf.endpoint(spec) == url]
    driver = pf.session.driver_for(first)
    try:
        lacking: Optional[List[str]] = driver.permission_problems(specs=specs,
                                                                   purpose=pf.purpose)
    except VdictlError as exc:
        yield Problem(url, "", "", f"could not read the account's permissions: {exc}",
                      "check that the account may read its own permissions", WARNING)
        return
    if lacking is None:
        pf.note(f"{url}: the {driver.name} driver cannot tell the account's permissions; "
                "a missing one shows in the run itself")
        return
    for line in lacking:
        yield Problem(url, "", "", line, "give the account a role that holds it "
                      "(docs/guide.md, \"Before the night\")", ERROR)
