# SPDX-License-Identifier: GPL-3.0-or-later
"""Why the engine refuses a command.  The wording is the engine's own (checked
against oVirt's sources); the server layer turns each kind into its fault."""


class EngineError(Exception):
    """A command the engine refuses; ``str()`` is the engine's message."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Conflict(EngineError):
    """A validation failure (the engine's CanDoAction messages)."""


class NotFound(EngineError):
    """``message`` names what is missing (``VM: id=...``).  ``addressed``: the
    entity was the one the request was about, not one the request named."""

    def __init__(self, message, addressed=False):
        super().__init__(message)
        self.addressed = addressed


class Incomplete(EngineError):
    """A required parameter of a command is missing."""


class InvalidSearch(EngineError):
    def __init__(self):
        super().__init__("Invalid Search text.")


class InsufficientPermissions(EngineError):
    """A query the user may not run (QueriesCommandBase.validatePermissions)."""

    def __init__(self):
        super().__init__("Query execution failed due to insufficient permissions.")
