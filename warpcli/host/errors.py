"""Errors of the host layer. All are :class:`~warpcli.core.errors.WarpcliError`, so the
CLI turns them into one stderr line and an exit code without knowing this module."""

from __future__ import annotations

import os

from warpcli.core.errors import Conflict, WarpcliError


class HostError(WarpcliError):
    """A kernel or host operation failed; ``errno`` is set when the kernel said why."""

    def __init__(self, message: str, *, hint: str | None = None, errno: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errno = errno


class NotRoot(HostError):
    """The operation needs root (CAP_NET_ADMIN)."""


class WireGuardMissing(HostError):
    """Neither kernel WireGuard nor the ``wireguard-go`` binary is available."""


class InterfaceInUse(Conflict):
    """An interface of that name exists and is not warpcli's."""


class UapiError(HostError):
    """wireguard-go answered a UAPI request with a non-zero ``errno=``."""


class NetlinkFailure(HostError):
    """The kernel refused a netlink request; the message names the object and the reason."""


class ApplyError(HostError):
    """A plan failed mid-way. ``failed`` is the action, ``rolled_back`` the actions undone,
    ``rollback_errors`` the undo steps that failed in turn (normally empty)."""

    def __init__(self, message: str, *, failed, rolled_back, rollback_errors, errno=None) -> None:
        super().__init__(message, errno=errno)
        self.failed = failed
        self.rolled_back = rolled_back
        self.rollback_errors = rollback_errors


def strerror(code: int) -> str:
    """``os.strerror`` for a (possibly negative) errno."""
    return os.strerror(abs(code))
