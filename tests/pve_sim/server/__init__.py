# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTPS front end: routing, authentication, faults and latency."""
