"""Errors the core raises. Each is a user-facing condition with a one-line message.

The CLI maps each class to a documented exit code in one place
(``warpcli.cli.exit_codes``); library users catch them like any exception.
"""

from __future__ import annotations


class WarpcliError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class InvalidInput(WarpcliError):
    """A value the user gave is malformed (a CIDR, an IP, a file row...)."""


class NotFound(WarpcliError):
    """A named object (tunnel, vnet, route) does not exist."""


class Conflict(WarpcliError):
    """The object already exists, or the change would break a uniqueness rule.

    ``existing`` carries the object already there, when there is one, so that
    ``--if-not-exists`` can return it.
    """

    def __init__(self, message: str, *, hint: str | None = None, existing: object = None) -> None:
        super().__init__(message, hint=hint)
        self.existing = existing


class StateError(WarpcliError):
    """The state store cannot be used: corrupt, locked, unreadable or too new."""


class SecretStoreError(WarpcliError):
    """No secret could be stored or read (no keyring backend, unreadable file)."""


class ConfigError(WarpcliError):
    """config.toml (or another config file) is invalid."""


class BulkImportError(WarpcliError):
    """A bulk import was refused; ``problems`` lists every bad row (row number, reason).

    ``conflict`` is True when the rows were valid but clash with routes already there.
    """

    def __init__(self, message: str, problems: list[dict], *, conflict: bool = False) -> None:
        super().__init__(message)
        self.problems = problems
        self.conflict = conflict


class AuthError(WarpcliError):
    """The API refused the credentials: no token, an invalid token, or a missing permission."""


class Unavailable(WarpcliError):
    """The controller could not be reached or answered with an error after the retries.

    Worth retrying later: the request may not have been carried out.
    """


class NotSupported(InvalidInput):
    """The chosen controller cannot do this (e.g. hubs on Cloudflare, whose edge is the hub)."""
