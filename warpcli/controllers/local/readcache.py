"""Answers of read queries, shared by the connections of one process to one database.

The served controller opens one connection per server thread, and a client walking
a listing page by page lands on a different thread at almost every request. What a
page needs besides its rows (how many rows match, where the page starts) would
otherwise be recounted on every page: a full index scan each time, quadratic over
the listing. An entry here is reused only while nothing has been committed since
it was computed, which every connection can tell for itself:

- ``PRAGMA data_version`` changes when *another* connection (of any process) commits;
- ``Connection.total_changes`` changes when *this* connection writes.

A connection that has seen neither change since tick ``Q`` (its "quiet since") knows
the file is unchanged since ``Q``, so any entry stamped at a tick ``>= Q`` is current
for it. Ticks come from one process-wide counter. Conservative by construction: a
commit anywhere only ever makes entries look stale, never current.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_ticks = itertools.count(1)
_caches: dict[str, ReadCache] = {}
_caches_lock = threading.Lock()

#: entries kept per database before the cache starts over (each is a few small tuples)
MAX_ENTRIES = 512


class ReadCache:
    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[int, Any]] = {}

    def get(self, quiet: Quiet, key: Hashable, compute: Callable[[], T]) -> T:
        """The entry for ``key`` if it is current for ``quiet``'s connection, else ``compute()`` (and keep it)."""
        since = quiet.since()
        hit = self._entries.get(key)
        if hit is not None and hit[0] >= since:
            return hit[1]
        stamp = next(_ticks)  # before the read: a commit racing with it makes the entry look stale
        value = compute()
        self.put(stamp, key, value)
        return value

    def peek(self, quiet: Quiet, key: Hashable) -> Any:
        """The entry for ``key`` if it is current for ``quiet``'s connection, else None."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] >= quiet.since():
            return hit[1]
        return None

    def put(self, stamp: int, key: Hashable, value: Any) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (stamp, value)

    @staticmethod
    def stamp() -> int:
        """A tick for an entry about to be computed (take it before the read)."""
        return next(_ticks)


def cache_for(path: str) -> ReadCache:
    """The process-wide cache of the database file at ``path``."""
    with _caches_lock:
        cache = _caches.get(path)
        if cache is None:
            cache = _caches[path] = ReadCache()
        return cache


class Quiet:
    """Since which tick one connection has seen no commit, its own or another's."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._state: tuple[int, int] | None = None
        self._since = 0

    def since(self) -> int:
        state = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._conn.total_changes)
        if state != self._state:
            self._state = state
            self._since = next(_ticks)
        return self._since
