"""Ctrl-C around a commit: interruptible before it, reported (not raised) after it.

A command that writes in one transaction (``routes import``) runs inside
:class:`CommitGuard`. Until the store calls :func:`commit_point` (just before its
``COMMIT``), SIGINT raises ``KeyboardInterrupt`` as usual and the transaction rolls
back: nothing happened. From that call on, SIGINT is only recorded: the commit and
the command's own report finish, and the command then says that it was interrupted
after the commit. The handler and :func:`commit_point` both run in the main thread
between bytecodes, so there is no instant at which the answer can be wrong.
"""

from __future__ import annotations

import signal
import threading
from types import TracebackType

_active: CommitGuard | None = None


class CommitGuard:
    def __init__(self) -> None:
        self.committing = False  #: the store reached its commit: interrupts are held from here on
        self.interrupted = False  #: SIGINT arrived after the commit point
        self._previous: object = None
        self._installed = False

    def _handler(self, signum: int, frame: object) -> None:
        if self.committing:
            self.interrupted = True
            return
        raise KeyboardInterrupt

    def __enter__(self) -> CommitGuard:
        global _active
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        _active = self
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        global _active
        _active = None
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]


def commit_point() -> None:
    """Called by a store right before it commits: from now on Ctrl-C no longer stops the command."""
    if _active is not None:
        _active.committing = True


def cancel_commit_point() -> None:
    """The commit failed (nothing was written): Ctrl-C interrupts again. One that came
    meanwhile is dropped: the command is about to report the failure anyway."""
    if _active is not None:
        _active.committing = False
        _active.interrupted = False
