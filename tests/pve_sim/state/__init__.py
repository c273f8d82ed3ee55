# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster's state: objects, locks, tasks and the actions on them (no HTTP)."""
