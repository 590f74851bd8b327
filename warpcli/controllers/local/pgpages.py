"""Pages of a route listing on PostgreSQL: keyset pagination in SQL both engines speak.

The SQLite store seeks by rowid and shares what a page learned through its read cache
(:mod:`readcache`, driven by SQLite's ``data_version``). Here the same idea is keyed on
``state_version`` (one cheap read that every write on every replica moves):

- the vnets' listing order and how many routes match in each are computed once per
  state version and filter, not once per page;
- a page remembers the key ``(version, lo, prefixlen, id)`` of its last row, so the next
  page starts with an index seek after it (``route_cidr`` / ``route_lo`` order) instead
  of skipping every row before it; a page asked for out of turn finds its start with one
  ``OFFSET`` over the key columns (an index-only scan), as SQLite's ``_page_start`` does.

The rows are plain columns encoded here by the C JSON encoder: PostgreSQL's
``json_build_object`` measured 4x slower for a page of 1000. So walking 100k routes costs one
page's rows per page, and two round trips a page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from warpcli.core.model import RouteFilter

if TYPE_CHECKING:
    from warpcli.controllers.local.postgres import PostgresController

T = TypeVar("T")

#: the listing order within one vnet; the id settles ties between deleted routes of one CIDR
ROUTE_KEY = "r.version, r.lo, r.prefixlen, r.id"
#: what a page's rows hold: :meth:`Route.to_dict`'s values in its order (but ``tun_type``), then the key
ROUTE_COLUMNS = (
    "r.id, r.network, r.tunnel_id, t.name, r.virtual_network_id, v.name, r.comment, r.created_at, r.deleted_at, "
    + ROUTE_KEY
)
_NAMES = ("id", "network", "tunnel_id", "tunnel_name", "tun_type", "virtual_network_id", "virtual_network_name",
          "comment", "created_at", "deleted_at")
ROUTE_JOINS = "LEFT JOIN tunnels t ON t.id = r.tunnel_id LEFT JOIN virtual_networks v ON v.id = r.virtual_network_id"
#: entries kept per database before the memo starts over
MAX_ENTRIES = 512


class VersionMemo:
    """Answers of reads, each valid while ``state_version`` is the one it was computed under.

    Conservative: the version is read before the answer, so a commit racing with the
    read leaves an entry stamped with a version that is already gone.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[str, Any]] = {}

    def get(self, version: str, key: Hashable, compute: Callable[[], T]) -> T:
        hit = self._entries.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = compute()
        self.put(version, key, value)
        return value

    def latest(self, key: Hashable) -> tuple[str, Any] | None:
        """The entry for ``key`` and the version it was computed under, however old."""
        return self._entries.get(key)

    def peek(self, version: str, key: Hashable) -> Any:
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def put(self, version: str, key: Hashable, value: Any) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (version, value)


_MEMOS: dict[str, VersionMemo] = {}
_MEMOS_LOCK = threading.Lock()


def memo_for(url: str) -> VersionMemo:
    """The memo of one database, shared by the server's threads."""
    with _MEMOS_LOCK:
        return _MEMOS.setdefault(url, VersionMemo())


def route_page_json(
    store: PostgresController, flt: RouteFilter, offset: int, limit: int, *, drop_nulls: bool
) -> tuple[list[str], int]:
    """One page of the listing as JSON text, and the count of all matches (see the module).

    The usual request, the page after the one just served, is one round trip: the state
    version and the page's rows read together, kept if the version is the remembered one.
    """
    memo = memo_for(store.url)
    encode = _encoder(drop_nulls)
    known, start = memo.latest(("scans", flt)), memo.latest(("after", flt, offset))
    if limit > 0 and known is not None and start is not None and known[0] == start[0]:
        version, (filters, counts) = known
        index, after = start[1]
        now, rows = store._read_together([(store.VERSION_SQL, []), _page_query(store, flt, filters[index], after,
                                                                              limit)])
        if _version(now[0]) == version:
            page = _walk(store, memo, version, flt, filters, offset, limit, index, after, encode, rows)
            return page, sum(counts)
    version = store.state_version()
    filters, counts = memo.get(version, ("scans", flt), lambda: _plan(store, flt))
    total = sum(counts)
    if limit <= 0 or offset >= total:
        return [], total
    found = memo.peek(version, ("after", flt, offset)) or _page_start(store, filters, counts, offset)
    if found is None:
        return [], total
    index, after = found
    return _walk(store, memo, version, flt, filters, offset, limit, index, after, encode, None), total


def _version(row: tuple) -> str:
    return f"pg-{row[0] + row[1]}"


def _plan(store: PostgresController, flt: RouteFilter) -> tuple[list[RouteFilter], list[int]]:
    """One filter per vnet in listing order (the default first, then by name), and each one's count."""
    from warpcli.core.records import replace

    if flt.virtual_network_id is not None or flt.route_id is not None:
        filters = [flt]
    else:
        order = store._read("SELECT id FROM virtual_networks ORDER BY is_default DESC, name, created_at")
        filters = [replace(flt, virtual_network_id=vid) for (vid,) in order]
    counts = store._read_together([store._route_query(f, "count(*)") for f in filters])
    return filters, [int(rows[0][0]) for rows in counts]


def _page_query(store: PostgresController, flt: RouteFilter, scan: RouteFilter, after: tuple | None,
                limit: int) -> tuple[str, list]:
    """The next ``limit`` rows of one vnet's scan, after the key ``after`` (None: from its start)."""
    sql, params = store._route_query(scan, ROUTE_COLUMNS, ROUTE_JOINS)
    key = _order(flt)
    if after is not None:
        width = key.count(",") + 1
        sql += (" AND " if " WHERE " in sql else " WHERE ") + f"({key}) > ({', '.join('?' * width)})"
        params = [*params, *after[:width]]
    return f"{sql} ORDER BY {key} LIMIT ?", [*params, limit]


def _walk(store: PostgresController, memo: VersionMemo, version: str, flt: RouteFilter,
          filters: list[RouteFilter], offset: int, limit: int, index: int, after: tuple | None,
          encode: Callable[[tuple], str], rows: list[tuple] | None) -> list[str]:
    """The page from scan ``index`` after ``after`` (``rows``: its first scan's, if already read);
    remembers where the next page starts."""
    page: list[str] = []
    last = None
    for i in range(index, len(filters)):
        if rows is None:
            rows = store._read(*_page_query(store, flt, filters[i], after if i == index else None,
                                            limit - len(page)))
        page += [encode(row) for row in rows]
        if rows:
            last = (i, tuple(rows[-1][9:]))
        rows = None
        if len(page) >= limit:
            break
    if last is not None:  # where the next page starts, should it be asked for next
        memo.put(version, ("after", flt, offset + len(page)), last)
    return page


def _encoder(drop_nulls: bool) -> Callable[[tuple], str]:
    """A row of ``ROUTE_COLUMNS`` as the JSON text of its :meth:`Route.to_dict` (without null
    members if ``drop_nulls``, the Cloudflare API's style)."""
    from warpcli.core.jsontext import compact_encoder
    from warpcli.core.model import TUN_TYPE

    dumps = compact_encoder()

    def encode(row: tuple) -> str:
        values = (*row[:4], TUN_TYPE, *row[4:9])
        if drop_nulls:
            return dumps({k: v for k, v in zip(_NAMES, values, strict=True) if v is not None})
        return dumps(dict(zip(_NAMES, values, strict=True)))

    return encode


def _order(flt: RouteFilter) -> str:
    """The order of a page and the key it seeks after. Live routes are unique on (vnet, version,
    lo, prefixlen), the ``route_cidr`` index's order: without the id, the seek is an index
    condition and the planner walks the index and stops after one page (with it, it reads
    every row after the key and sorts them)."""
    return "r.version, r.lo, r.prefixlen" if flt.is_deleted is False else ROUTE_KEY


def _page_start(
    store: PostgresController, filters: list[RouteFilter], counts: list[int], offset: int
) -> tuple[int, tuple | None] | None:
    """Where row ``offset`` is, found by counting: (scan index, key of the row before it there, or None)."""
    skip = offset
    for index, n in enumerate(counts):
        if skip < n:
            if skip == 0:
                return index, None
            sql, params = store._route_query(filters[index], ROUTE_KEY)
            rows = store._read(f"{sql} ORDER BY {_order(filters[index])} LIMIT 1 OFFSET ?", [*params, skip - 1])
            return (index, tuple(rows[0])) if rows else None
        skip -= n
    return None
