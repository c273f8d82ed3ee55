# SPDX-License-Identifier: GPL-3.0-or-later
"""vdictl benchmarks: `benchmarks/run` writes docs/performance.md (see README.md)."""
