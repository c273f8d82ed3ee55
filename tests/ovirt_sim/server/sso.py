# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's SSO: the OAuth password grant and the logout (JSON)."""

from __future__ import annotations

import time

SSO_TOKEN_PATH = "/ovirt-engine/sso/oauth/token"
SSO_LOGOUT_PATH = "/ovirt-engine/services/sso-logout"


def is_sso(path):
    return path.startswith(("/ovirt-engine/sso/", "/ovirt-engine/services/"))


def token_reply(sessions, form):
    """(status, JSON object) answering a token request."""
    username = form.get("username", "")
    token = sessions.login(form.get("grant_type"), username, form.get("password"))
    if token is None:
        return 400, {
            "error": "access_denied",
            "error_description": "Cannot authenticate user '%s': The "
                                 "username or password is incorrect.."
                                 % username,
        }
    return 200, {
        "access_token": token,
        "scope": form.get("scope", "ovirt-app-api"),
        "exp": str(int(time.time() * 1000) + 36000000),
        "token_type": "bearer",
    }


def logout_reply(sessions, form):
    sessions.logout(form.get("token"))
    return 200, {}


def sso_reply(sessions, method, path, form):
    """(status, JSON object) for any request under the SSO paths."""
    if path == SSO_TOKEN_PATH and method == "POST":
        return token_reply(sessions, form)
    if path == SSO_LOGOUT_PATH:
        return logout_reply(sessions, form)
    return 404, {"error": "not_found", "error_description": path}


def bearer_token(header):
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip()
