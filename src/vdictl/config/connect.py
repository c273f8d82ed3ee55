"""Connect-section checks of one driver at a time (the loader, vdictl.config.load,
calls them): the proxmox driver's url and credentials, and its keys kept out
of the other drivers' sections."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

from vdictl.errors import ConfigError

#: error(message, section path, key) -> the ConfigError naming the file
ErrorAt = Callable[[str, str, Optional[str]], ConfigError]

#: [room NAME] / [[subsection]] keys only the proxmox driver reads
PROXMOX_VM_KEYS = ("node", "storage", "pool", "vmid_range", "iso_storage", "nameserver",
                   "searchdomain", "ciuser", "ssh_keys_file")
#: the ways to give an API token's secret, exactly one of which is written
TOKEN_SECRET_KEYS = ("token_secret_file", "token_secret_env", "token_secret_credential")


def check_proxmox(vals: Mapping[str, Any], path: str, error: ErrorAt) -> None:
    """url, and one way to log in: an API token (its id and one source of its
    secret) or a user and password (a ticket)."""
    if not vals.get("url"):
        raise error("the proxmox driver needs url, e.g. url = "
                    "\"https://pve1.example.org:8006\"", path, "url")
    check_node_urls(vals["url"], path, error)
    if "pool" in vals:
        raise error("pool is libvirt's storage pool; the Proxmox VE resource pool is "
                    "written under [room NAME] or [[subsection]]: move it there", path, "pool")
    token = vals.get("token_id")
    password = vals.get("password") is not None or any(
        vals.get(k) for k in ("password_file", "password_credential"))
    sources = [k for k in TOKEN_SECRET_KEYS if vals.get(k)]
    if token is None:
        if sources:
            raise error(f"{sources[0]} without token_id; add token_id = "
                        "user@realm!tokenid", path, sources[0])
        if not vals.get("username") or not password:
            missing = "username" if not vals.get("username") else "password_file"
            raise error("the proxmox driver needs credentials: token_id = "
                        "user@realm!tokenid with token_secret_file (or "
                        "token_secret_env or token_secret_credential), or username = "
                        "user@realm with password_file", path, "token_id" if not password
                        else missing)
        return
    if password:
        raise error("set token_id or a password, not both (the token is "
                    "preferred: remove password, password_file and password_credential)",
                    path, "token_id")
    user, bang, name = token.partition("!")
    if not bang or "@" not in user or not name or not user.split("@", 1)[0]:
        raise error(f"{token!r} is not an API token id; write user@realm!tokenid, "
                    "e.g. vdictl@pve!rooms", path, "token_id")
    if len(sources) != 1:
        raise error("token_id needs its secret from exactly one of "
                    "token_secret_file (a file whose first line is the secret), "
                    "token_secret_env (an environment variable's name) and "
                    "token_secret_credential (a systemd credential's name)", path,
                    "token_secret_env" if sources else "token_secret_file")


def check_node_urls(url: str, path: str, error: ErrorAt) -> None:
    """Each node URL of `url` ("https://pve1:8006, https://pve2:8006") is an
    https URL with a host; a node given twice is a mistake."""
    parts = [part.strip() for part in url.split(",")]
    seen = set()
    for part in parts:
        split = urlsplit(part)
        try:
            valid = split.scheme == "https" and bool(split.hostname) and \
                (split.port is None or split.port > 0)
        except ValueError:  # a port that is no number
            valid = False
        if not valid:
            raise error(f"{part!r} is not an https URL of a Proxmox VE node; write e.g. "
                        "https://pve1.example.org:8006 (several nodes: separated by commas)",
                        path, "url")
        if part.rstrip("/") in seen:
            raise error(f"{part!r} is given twice; name each node once", path, "url")
        seen.add(part.rstrip("/"))


def check_not_proxmox(vals: Mapping[str, Any], driver: str, path: str, error: ErrorAt) -> None:
    """The API token keys would silently not apply to another driver."""
    for key in ("token_id",) + TOKEN_SECRET_KEYS:
        if key in vals:
            raise error(f"{key} is for the proxmox driver; this connect section "
                        f"uses {driver}: remove it, or write driver = proxmox",
                        path, key)


def check_secrets(vals: Mapping[str, Any], path: str, error: ErrorAt) -> None:
    """One source of the password, and credential names that are file names."""
    written = [k for k in ("password", "password_file", "password_credential")
               if vals.get(k) is not None and vals.get(k) != ""]
    if len(written) > 1:
        choice = (" or ".join(written) + ", not both" if len(written) == 2 else
                  "one of password, password_file and password_credential")
        raise error(f"set {choice}", path, written[-1])
    for key in ("password_credential", "token_secret_credential"):
        name = vals.get(key)
        if name is not None and (not name or "/" in name or name in (".", "..")):
            raise error(f"{name!r} is not a systemd credential's name; write the NAME of "
                        "LoadCredential=NAME:/path in the unit, e.g. ovirt-password",
                        path, key)
