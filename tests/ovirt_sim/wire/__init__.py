# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine's XML: rendering the state's objects (``render``) and reading
request bodies (``xml``, ``requests``).  Nothing here knows of HTTP routing;
the only thing taken from the address space is ``API_PREFIX`` for hrefs."""
