"""Following the controller: reconcile again whenever its state for this host changes.

``up --follow`` and ``hub up --follow`` run this loop: poll a cheap *version* of the
controller's state (a counter on the embedded controller, a fingerprint of the route set
elsewhere), and run the full reconcile only when it differs from the one last applied.
Between polls the loop sleeps on an event, so it never spins and a signal stops it at
once. A controller that cannot be reached is reported and tried again at the next poll:
the data plane keeps running on what was applied last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from warpcli.core.errors import Unavailable, WarpcliError

T = TypeVar("T")

#: the default pause between two polls of the controller's version
DEFAULT_INTERVAL = 5.0


@dataclass
class FollowStats(Generic[T]):
    polls: int = 0
    reconciles: int = 0
    errors: int = 0
    last: T | None = None


def follow(
    reconcile: Callable[[], T],
    version: Callable[[], Hashable],
    *,
    interval: float = DEFAULT_INTERVAL,
    stop: threading.Event,
    on_result: Callable[[T], None] = lambda result: None,
    on_error: Callable[[WarpcliError], None] = lambda exc: None,
) -> FollowStats[T]:
    """Reconcile now, then again after every change of ``version()``, until ``stop`` is set.

    The version is read *before* each reconcile, so a change that lands while a
    reconcile runs is seen at the next poll, never lost. A failed reconcile is retried
    at the next poll even if the version has not moved. Until the first reconcile has
    succeeded, only an unreachable controller (:class:`Unavailable`) is waited out: any
    other error (not root, not enrolled, a bad config) is raised, since waiting cannot
    fix it.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    stats: FollowStats[T] = FollowStats()
    applied: object = _NOTHING
    while not stop.is_set():
        stats.polls += 1
        try:
            current = version()
            if current != applied:
                stats.last = reconcile()
                stats.reconciles += 1
                applied = current
                on_result(stats.last)
        except WarpcliError as exc:
            if stats.reconciles == 0 and not isinstance(exc, Unavailable):
                raise
            stats.errors += 1
            on_error(exc)
        stop.wait(interval)
    return stats


_NOTHING = object()
