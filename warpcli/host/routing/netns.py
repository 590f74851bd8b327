"""Run code or commands inside a named network namespace without moving this process.

:func:`run_in` calls a function in a short-lived thread that has ``setns``-ed into
the namespace (a network namespace switch is per thread); the thread ends with
the call, so the caller's namespace never changes. :func:`exec_argv` prefixes a
command with ``ip netns exec NAME`` (which execs, so the PID is the command's).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from warpcli.host.constants import NETNS_DIR
from warpcli.host.errors import HostError

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def path(netns: str) -> Path:
    if not netns or "/" in netns or netns in (".", ".."):
        raise HostError(f"invalid network namespace name {netns!r}")
    return Path(NETNS_DIR) / netns


def exists(netns: str) -> bool:
    return path(netns).exists()


def require(netns: str | None) -> None:
    """Raise :class:`HostError` when a named namespace does not exist (``None`` is always fine)."""
    if netns is not None and not exists(netns):
        raise HostError(f"network namespace {netns!r} does not exist")


def _setns(fd: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise HostError(f"cannot enter network namespace: {os.strerror(err)}", errno=err)


def run_in(netns: str | None, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)`` inside ``netns`` (directly when ``netns`` is None)."""
    if netns is None:
        return fn(*args, **kwargs)
    require(netns)
    box: dict = {}

    def target() -> None:
        try:
            fd = os.open(path(netns), os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def exec_argv(netns: str | None, argv: list[str]) -> list[str]:
    """``argv`` run inside ``netns`` through ``ip netns exec`` (unchanged when ``netns`` is None)."""
    if netns is None:
        return list(argv)
    require(netns)
    return ["ip", "netns", "exec", netns, *argv]
