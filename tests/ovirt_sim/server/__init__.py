# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine over HTTP: routing (``routes``), the SSO endpoints (``sso``),
faults (``faults``) and the threaded server with its injected failures and
latency (``handler``)."""
