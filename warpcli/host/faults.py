"""Crash points for the crash-safety tests: ``WARPCLI_FAULT_KILL_AT=NAME`` makes the
process SIGKILL itself when it reaches the point NAME, exactly like ``kill -9``.

Points in ``up``: ``created`` (interface made), ``configured`` (WireGuard set),
``action-N`` (after the N-th kernel change; a batch of routes is one netlink exchange, so
the points of its routes all come after it). Unset, this costs one dict lookup.
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

    def __getattr__(self, name: str):
        if name != "execute_routes" or not hasattr(self.inner, name):
            raise AttributeError(name)
        return self._execute_routes

    def _execute_routes(self, actions):
        """A batch of route changes is in the kernel at once: the points of its actions come
        after it (a crash at ``action-N`` inside a batch leaves the whole batch applied)."""
        outcomes = self.inner.execute_routes(actions)
        for o in outcomes:
            if o.error is None:
                self.count += 1
                point(f"action-{self.count}")
        return outcomes
