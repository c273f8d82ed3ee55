# SPDX-License-Identifier: GPL-3.0-or-later
"""SSO sessions: who may log in, the tokens handed out, and who is an
administrator (has an admin role somewhere: the engine's DbUser.isAdmin)."""

from __future__ import annotations

import uuid

from tests.ovirt_sim.state.errors import InsufficientPermissions


class Sessions:
    def __init__(self, accounts):
        self.accounts = dict(accounts)   # user name -> password
        self.admins = set(accounts)      # the first accounts are the engine's admins
        self.tokens = {}                 # token -> user name
        self.logins = 0
        self.logouts = 0

    def add_account(self, username, password, admin=False):
        self.accounts[username] = password
        (self.admins.add if admin else self.admins.discard)(username)

    def login(self, grant_type, username, password):
        """A new token, or None when the engine refuses the password grant."""
        if (grant_type != "password" or not username
                or self.accounts.get(username) != password):
            return None
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.tokens[token] = username
        self.logins += 1
        return token

    def logout(self, token):
        self.tokens.pop(token, None)
        self.logouts += 1

    def valid(self, token):
        return token in self.tokens

    def user(self, token):
        """The user name the token was handed to (None for an unknown token)."""
        return self.tokens.get(token)

    def filtered(self, user, asked):
        """Whether a request runs filtered by the user's permissions: as asked
        (the Filter header), else filtered for a non-admin (the engine's
        ENGINE_API_FILTER_BY_DEFAULT, true by default)."""
        return asked if asked is not None else user not in self.admins

    def check_admin_query(self, user, filtered):
        """Raise as the engine's QueriesCommandBase does for a query only an
        admin may run: refused when filtered, and to a non-admin."""
        if filtered or user not in self.admins:
            raise InsufficientPermissions()

    def forget_all(self):
        """An engine restart: every token becomes invalid."""
        self.tokens.clear()
