# SPDX-License-Identifier: GPL-3.0-or-later
"""SSO sessions: who may log in, and the tokens handed out."""

from __future__ import annotations

import uuid


class Sessions:
    def __init__(self, accounts):
        self.accounts = dict(accounts)   # user name -> password
        self.tokens = set()
        self.logins = 0
        self.logouts = 0

    def login(self, grant_type, username, password):
        """A new token, or None when the engine refuses the password grant."""
        if (grant_type != "password" or not username
                or self.accounts.get(username) != password):
            return None
        token = uuid.uuid4().hex + uuid.uuid4().hex
        self.tokens.add(token)
        self.logins += 1
        return token

    def logout(self, token):
        self.tokens.discard(token)
        self.logouts += 1

    def valid(self, token):
        return token in self.tokens

    def forget_all(self):
        """An engine restart: every token becomes invalid."""
        self.tokens.clear()
