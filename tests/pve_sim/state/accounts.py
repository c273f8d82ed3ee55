# SPDX-License-Identifier: GPL-3.0-or-later
"""Who may call: tickets with their CSRF prevention token, API tokens, and
the privileges of an account (pve-access-control).  An admin may do all;
any other account holds no privilege on /vms."""

from __future__ import annotations

import secrets
import time

from tests.pve_sim.state.errors import ApiError

TICKET_LIFETIME = 7200
#: the privileges the simulator's routes check (server/routes.py), and those
#: an admin's role (Administrator) holds besides
ALL_PRIVILEGES = ("Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate",
                  "Datastore.Audit", "Pool.Allocate", "Pool.Audit", "Sys.Audit",
                  "VM.Allocate", "VM.Audit", "VM.Clone", "VM.Config.CDROM",
                  "VM.Config.Cloudinit", "VM.Config.CPU", "VM.Config.Disk",
                  "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network",
                  "VM.Config.Options", "VM.Monitor", "VM.PowerMgmt", "VM.Snapshot",
                  "VM.Snapshot.Rollback")
#: pve-access-control RPCEnvironment::get_effective_permissions: "default /
#: top level paths"
DEFAULT_PERMISSION_PATHS = ("/", "/access", "/access/groups", "/nodes", "/pool", "/sdn",
                            "/storage", "/vms")


class Accounts:
    """The caller holds the cluster lock for every call."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.tickets = {}            # ticket -> (userid, issued, csrf token)
        self.logins = 0
        self.failures = []           # why each refused caller was refused (the log)

    def login(self, username, password):
        account = self.cluster.accounts.get(username)
        if password in self.tickets and self.tickets[password][0] == username:
            pass                     # a ticket renews itself (proxmoxer does this)
        elif account is None or account.password is None or account.password != password:
            raise ApiError(401, "authentication failure")
        ticket = "PVE:%s:%08X::%s" % (username, int(time.time()), secrets.token_urlsafe(48))
        csrf = "%08X:%s" % (int(time.time()), secrets.token_urlsafe(32))
        self.tickets[ticket] = (username, time.monotonic(), csrf)
        self.logins += 1
        return {"ticket": ticket, "CSRFPreventionToken": csrf, "username": username,
                "cap": self._caps(username)}

    def _caps(self, username):
        account = self.cluster.accounts[username]
        privs = ["VM.Allocate", "VM.Audit", "VM.Clone", "VM.Config.Disk",
                 "VM.PowerMgmt", "VM.Snapshot", "VM.Snapshot.Rollback"]
        return {"vms": {p: 1 for p in privs}} if account.admin else {"vms": {}}

    def _refuse(self, why):
        """pve-manager's auth_handler logs why and answers only this."""
        self.failures.append(why)
        return ApiError(401, "Authentication failed!")

    def by_ticket(self, ticket, csrf, needs_csrf):
        """userid of a ticket cookie: 401 "No ticket" without one."""
        if not ticket:
            raise ApiError(401, "No ticket")
        found = self.tickets.get(ticket)
        if found is None or time.monotonic() - found[1] > TICKET_LIFETIME:
            raise self._refuse("invalid ticket")
        if needs_csrf and csrf != found[2]:
            raise ApiError(401, "Permission denied - invalid csrf token")
        return found[0]

    def by_token(self, header):
        """The token id (``USER@REALM!NAME``, the "user" of its tasks and of
        root-only checks) of ``PVEAPIToken=USER@REALM!NAME=SECRET``."""
        value = header.split("=", 1)[1] if "=" in header else ""
        tokenid, _, secret = value.partition("=")
        username, _, name = tokenid.partition("!")
        account = self.cluster.accounts.get(username)
        if account is None or name not in account.tokens:
            raise self._refuse("no such token '%s' for user '%s'" % (name, username))
        # PVE::AccessControl::verify_token: an expiry in the past is refused
        # before the value is even compared ("token '$token' access expired")
        expire = account.token_expire.get(name, 0)
        if expire and expire < time.time():
            raise self._refuse("token '%s' access expired" % name)
        if account.tokens[name] != secret:
            raise self._refuse("invalid token value!")
        return tokenid

    def effective_permissions(self, authid):
        """GET /access/permissions without a path (PVE/API2/AccessControl.pm
        'permissions' -> RPCEnvironment::get_effective_permissions): path ->
        {privilege: 1 (propagates)}.  get_effective_permissions answers for
        its default paths (and those of ACLs and pools) each one where the
        user holds any privilege; an admin's role on "/" propagates, so it
        holds every privilege the simulator checks, less those withheld, on
        each default path; anyone else (no ACL) nothing."""
        account = self.cluster.accounts.get(authid.split("!")[0])
        if account is None or not account.admin:
            return {}
        held = {p: 1 for p in ALL_PRIVILEGES if p not in account.withheld}
        return {path: dict(held) for path in DEFAULT_PERMISSION_PATHS}

    def may(self, authid):
        """All privileges (an admin, or a token of one: privilege separation
        off) or none."""
        account = self.cluster.accounts.get(authid.split("!")[0])
        return account is not None and account.admin

    def holds(self, authid, privileges):
        """Any one of ``privileges`` ("A|B"): an admin holds all but those
        withheld from it (sim.withhold)."""
        account = self.cluster.accounts.get(authid.split("!")[0])
        return account is not None and account.admin and \
            any(p not in account.withheld for p in privileges.split("|"))
