# SPDX-License-Identifier: GPL-3.0-or-later
"""The Proxmox VE wire format: UPIDs, drive strings, forms and JSON answers."""
