"""Crash points for the crash-safety tests: ``WARPCLI_FAULT_KILL_AT=NAME`` makes the
process SIGKILL itself when it reaches the point NAME, exactly like ``kill -9``.

Points in ``up``: ``created`` (interface made), ``configured`` (WireGuard set),
``action-N`` (after the N-th kernel change). Unset, this costs one dict lookup.
"""

from __future__ import annotations

from warpcli.core.faults import KILL_AT as VARIABLE
from warpcli.core.faults import point

__all__ = ["VARIABLE", "CountingExecutor", "point"]


class CountingExecutor:
    """Wraps an executor: a crash point after every action it executes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.count = 0

    def execute(self, action) -> None:
        self.inner.execute(action)
        self.count += 1
        point(f"action-{self.count}")
