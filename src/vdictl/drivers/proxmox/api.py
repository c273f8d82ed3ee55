"""The ProxmoxAPI of one endpoint: the URL split for proxmoxer, the
credentials (an API token, else a ticket login), TLS verified with ca_file
unless insecure, every request bounded by endpoint_timeout. One login per
run and endpoint: the driver opens this once and shares it between threads
(docs/backends/proxmox.md, "One login per run")."""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple
from urllib.parse import urlsplit

from proxmoxer import ProxmoxAPI, ProxmoxResource
from requests.adapters import HTTPAdapter

from vdictl.config.rooms import Connect
from vdictl.config.secrets import token_secret_path
from vdictl.errors import AuthError, DriverError, Unreachable, Unusable

from ..base import configured_password
from .errors import DRIVER, NodeSilent, map_error

log = logging.getLogger(__name__)

DEFAULT_PORT = 8006
#: requests' own HTTPS pool size (HTTPAdapter's pool_maxsize)
DEFAULT_POOL = 10
API_PATH = "/api2/json"

_insecure_warned = threading.Event()


@dataclass(frozen=True)
class Endpoint:
    """Where the API is: proxmoxer's host ("host:port") and path prefix, and
    the URL vdictl names in its messages."""

    host: str
    path_prefix: Optional[str]
    url: str


def parse_url(url: str) -> Endpoint:
    """https://pve1.example.org:8006, with or without /api2/json."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise DriverError(f"url {url!r} is not an https URL of a Proxmox VE node, e.g. "
                          "https://pve1.example.org:8006", driver=DRIVER)
    port = parts.port or DEFAULT_PORT
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    path = parts.path.rstrip("/")
    if path.endswith(API_PATH):
        path = path[:-len(API_PATH)]
    prefix = path.strip("/") or None
    shown = f"https://{host}:{port}" + (f"/{prefix}" if prefix else "")
    return Endpoint(host=f"{host}:{port}", path_prefix=prefix, url=shown)


def split_urls(url: str) -> List[str]:
    """`url` as the loader keeps it: one URL, or several nodes' URLs joined
    with ", " (configobj gives a list for `url = https://pve1:8006, https://pve2:8006`)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def base_url(endpoint: Endpoint) -> str:
    """proxmoxer's base URL of the node (its https Backend's form)."""
    prefix = f"/{endpoint.path_prefix}" if endpoint.path_prefix else ""
    return f"https://{endpoint.host}{prefix}{API_PATH}"


def api_at(api: Any, endpoint: Endpoint) -> Any:
    """The logged-in `api` sending to another node of the same cluster: the
    same requests session (its HTTPS pool, TLS check, and the ticket or
    token, valid cluster-wide: no second login), another base URL.
    proxmoxer keeps both in the API object's store (the one private name,
    as in size_pool); a ticket renewal then asks the new node too."""
    store = dict(getattr(api, "_store", {}))
    store["base_url"] = base_url(endpoint)
    auth = getattr(store.get("session"), "auth", None)
    if auth is not None and hasattr(auth, "base_url"):
        auth.base_url = store["base_url"]
    return ProxmoxResource(**store)


def node_answers(api: Any, endpoint: Endpoint) -> None:
    """GET /version at `endpoint` through the logged-in `api`'s session (its
    TLS check, token or ticket, and timeout) without making that node the one
    in use, as api_at would; raises what the session raises."""
    session = getattr(api, "_store", {})["session"]
    session.get(base_url(endpoint) + "/version").raise_for_status()


def token_secret(connect: Connect) -> str:
    """The API token's secret: the first line of token_secret_file or of the
    systemd credential token_secret_credential, or the variable
    token_secret_env names. Missing or empty: AuthError naming it."""
    path = token_secret_path(connect)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                secret = fh.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise AuthError(f"cannot read token secret file {path}: {reason}",
                            driver=DRIVER) from None
        if not secret:
            raise AuthError(f"token secret file {path} is empty", driver=DRIVER)
        return secret
    name = connect.token_secret_env or ""
    secret = os.environ.get(name, "").strip()
    if not secret:
        raise AuthError(f"the environment variable {name} (token_secret_env) is not set "
                        "or empty; export it with the API token's secret", driver=DRIVER)
    return secret


def verify_setting(connect: Connect, url: str) -> Any:
    """requests' verify: False (insecure), the CA file, or True (system CAs)."""
    if connect.insecure:
        if not _insecure_warned.is_set():
            _insecure_warned.set()
            log.warning("TLS certificate of %s is NOT verified (insecure = True)", url)
        import urllib3  # requests' own dependency: silence its per-request warning
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return False
    if connect.ca_file:
        if not os.path.isfile(connect.ca_file):
            raise Unusable(f"cannot connect to {url}: CA file {connect.ca_file} does not "
                           "exist (ca_file)", driver=DRIVER)
        return connect.ca_file
    return True


def credentials(connect: Connect) -> Tuple[dict, List[Optional[str]], str]:
    """proxmoxer's login arguments, the secrets to redact, and who logs in."""
    if connect.token_id:
        user, _, name = connect.token_id.partition("!")
        secret = token_secret(connect)
        return (dict(user=user, token_name=name, token_value=secret), [secret],
                connect.token_id)
    password = configured_password(connect, DRIVER)
    if not connect.username or password is None:
        raise AuthError("no credentials: set token_id and token_secret_file, or username "
                        "and password_file", driver=DRIVER)
    return dict(user=connect.username, password=password), [password], connect.username


def size_pool(api: Any, size: int) -> None:
    """Keep up to `size` HTTPS connections to the endpoint (requests keeps 10):
    with more threads than that, urllib3 discards the extra connections after
    each request ("Connection pool is full") and the next request makes a new
    one, with a new TLS handshake. proxmoxer has no public handle on its
    requests Session; it keeps it in the API object's store, and the rest is
    requests' public mount()."""
    session = getattr(api, "_store", {}).get("session")
    if session is None or not hasattr(session, "mount"):
        log.debug("proxmoxer keeps no requests session where expected; the HTTPS pool "
                  "keeps requests' default size")
        return
    current = session.get_adapter("https://")
    session.mount("https://", HTTPAdapter(pool_maxsize=size,
                                          max_retries=getattr(current, "max_retries", 0)))


def open_api(connect: Connect, endpoint: Endpoint,
             pool_size: int = DEFAULT_POOL) -> Tuple[Any, List[Optional[str]]]:
    """A logged-in ProxmoxAPI (a ticket login happens here; a token is tried
    with GET /version) and the secrets to keep out of messages."""
    url = endpoint.url
    try:
        login, secrets, who = credentials(connect)
    except AuthError as refused:
        raise AuthError(f"cannot log in to {url}: {refused.message}", driver=DRIVER) from None
    verify = verify_setting(connect, url)
    timeout = max(1, math.ceil(connect.endpoint_timeout))
    log.debug("connecting to %s as %s (ca_file=%s, insecure=%s)", url, who,
              connect.ca_file or "system CAs", bool(connect.insecure))
    try:
        api = ProxmoxAPI(endpoint.host, backend="https", service="PVE",
                         path_prefix=endpoint.path_prefix, verify_ssl=verify,
                         timeout=timeout, **login)
        size_pool(api, pool_size)
        api.version.get()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error
        # map_error redacts what the backend and the libraries said; the hints
        # added after that are vdictl's own words and stay as written (a
        # password "wrong" must not blank out "wrong user name")
        err = map_error(exc, secrets=secrets)
        reason = err.message
        if isinstance(err, AuthError):
            if connect.token_id and err.message == "Authentication failed!":
                # Proxmox VE logs the detail only ("invalid token value!", "no such token")
                reason += " (wrong token id or secret, or the token expired or was removed)"
            raise AuthError(f"login to {url} as {who} refused: {reason}",
                            driver=DRIVER) from None
        # a node that does not answer at all: the next node of the url list may;
        # a 503: worth another try (Driver.open_within_bound); a certificate
        # not trusted: the endpoint cannot be used as configured
        kind = (NodeSilent if isinstance(err, NodeSilent)
                else Unreachable if err.transient else Unusable)
        raise kind(f"cannot connect to {url}: {reason}", driver=DRIVER) from None
    return api, secrets
