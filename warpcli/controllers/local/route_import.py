"""``routes import`` on the SQLite engine: every row in one transaction, every bad row reported."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from warpcli.core.controller import RouteSpec
from warpcli.core.errors import (
    BulkImportError,
    WarpcliError,
)
from warpcli.core.model import utcnow

if TYPE_CHECKING:
    pass


from warpcli.controllers.local.interface import StorePart
from warpcli.controllers.local.route_sql import blob as _blob

#: SQLite's page cache while an import writes (negative: KiB), against the default 2 MB;
#: a few times fewer cache misses on a million rows, well inside the import's memory budget
IMPORT_CACHE_KB = -100_000


class RouteImport(StorePart):
    """Mixin: the bulk import (staged in a temporary table, checked in SQL)."""

    #: a version 4 UUID in its text form, from 16 random bytes in hex (``h``), as new_id() makes
    _SQL_UUID = (
        "substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' || "
        "substr('89ab', 1 + (unicode(substr(h, 17, 1)) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)"
    )

    def import_routes(self, specs: Iterable[RouteSpec], *, rejected: list[dict] | None = None) -> int:
        """All rows in one transaction; every duplicate (in the input or the store) is reported.

        The rows stream into a temporary table (no lock on the state is held meanwhile,
        and memory holds one batch); the checks are SQL over an index of that table,
        which also hands the rows to the routes table in its index order.
        """
        now = utcnow()
        blob = _blob
        staged = (
            (s.row, str(net), net.version, blob(net.version, net.value), blob(net.version, net.hi),
             net.prefixlen, s.tunnel_id, s.virtual_network_id, s.comment)
            for s in specs for net in (s.network,)
        )
        with self._errors():
            conn = self.conn
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS import_rows(row INTEGER, network TEXT, version INTEGER, "
                "lo BLOB, hi BLOB, prefixlen INTEGER, tunnel_id TEXT, virtual_network_id TEXT, comment TEXT)"
            )
            conn.execute("DROP INDEX IF EXISTS temp.import_key")
            conn.execute("DELETE FROM import_rows")
            conn.execute("BEGIN")  # the temporary database only: the state file is not locked
            try:
                conn.executemany("INSERT INTO import_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", staged)
                conn.execute("CREATE INDEX temp.import_key ON import_rows(virtual_network_id, version, lo, "
                             "prefixlen, row)")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("DELETE FROM import_rows")
                raise
        with self._errors():
            (cache,) = conn.execute("PRAGMA cache_size").fetchone()
            conn.execute(f"PRAGMA cache_size = {IMPORT_CACHE_KB}")  # the index inserts miss less
        failed = True
        try:
            imported = self._import_staged(now, rejected)
            failed = False
            return imported
        finally:
            try:
                with self._errors():
                    conn.execute(f"PRAGMA cache_size = {int(cache)}")
                    conn.execute("DROP INDEX IF EXISTS temp.import_key")
                    conn.execute("DELETE FROM import_rows")
            except WarpcliError:
                # after a full disk SQLite may have rolled back and dropped the temp table: the
                # import's own failure is what the user must see, not the cleanup's
                if not failed:
                    raise

    #: the first row of each (vnet, network) in the input: the others are its duplicates
    _FIRSTS = (
        "SELECT virtual_network_id, version, lo, prefixlen, min(row) AS first, count(*) AS n FROM import_rows "
        "GROUP BY virtual_network_id, version, lo, prefixlen"
    )

    def _import_staged(self, now: str, rejected: list[dict] | None) -> int:
        with self._write() as conn:
            duplicates = [
                {"row": row_no, "network": network, "reason": f"duplicate of row {first}"}
                for row_no, network, first in conn.execute(
                    "SELECT i.row, i.network, f.first FROM (" + self._FIRSTS + " HAVING n > 1) f "
                    "JOIN import_rows i ON i.virtual_network_id = f.virtual_network_id AND i.version = f.version "
                    "AND i.lo = f.lo AND i.prefixlen = f.prefixlen AND i.row > f.first"
                )
            ]
            skip = {p["row"] for p in duplicates}
            clashes = [
                {"row": row_no, "network": network,
                 "reason": f"already routed in {vname!r} through {tname!r} (route {rid})"}
                for row_no, network, rid, tname, vname in conn.execute(
                    "SELECT i.row, i.network, r.id, t.name, v.name FROM import_rows i "
                    "JOIN routes r ON r.virtual_network_id = i.virtual_network_id AND r.version = i.version "
                    "AND r.lo = i.lo AND r.prefixlen = i.prefixlen AND r.deleted_at IS NULL "
                    "JOIN tunnels t ON t.id = r.tunnel_id JOIN virtual_networks v ON v.id = r.virtual_network_id"
                )
                if row_no not in skip
            ]
            if rejected or (rejected is not None and duplicates):
                problems = sorted([*rejected, *duplicates, *clashes], key=lambda p: p["row"])
                raise BulkImportError(f"import refused: {len(problems)} bad row(s); nothing was imported", problems)
            problems = duplicates + clashes
            # deleted by another process since the rows were resolved (the few ids first, then their rows)
            gone = conn.execute(
                "SELECT 1 FROM (SELECT DISTINCT tunnel_id FROM import_rows) i "
                "LEFT JOIN tunnels t ON t.id = i.tunnel_id AND t.deleted_at IS NULL WHERE t.id IS NULL "
                "UNION ALL SELECT 1 FROM (SELECT DISTINCT virtual_network_id FROM import_rows) i "
                "LEFT JOIN virtual_networks v ON v.id = i.virtual_network_id AND v.deleted_at IS NULL "
                "WHERE v.id IS NULL LIMIT 1"
            ).fetchone()
            problems += [
                {"row": row_no, "network": network, "reason": "its tunnel or virtual network no longer exists"}
                for row_no, network in (conn.execute(
                    "SELECT i.row, i.network FROM import_rows i "
                    "LEFT JOIN tunnels t ON t.id = i.tunnel_id AND t.deleted_at IS NULL "
                    "LEFT JOIN virtual_networks v ON v.id = i.virtual_network_id AND v.deleted_at IS NULL "
                    "WHERE t.id IS NULL OR v.id IS NULL"
                ) if gone else ())
                if row_no not in skip
            ]
            if problems:
                problems.sort(key=lambda p: p["row"])
                raise BulkImportError(
                    f"import refused: {len(problems)} conflicting row(s); nothing was imported",
                    problems,
                    conflict=True,
                )
            cursor = conn.execute(
                "INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, "
                f"comment, created_at) SELECT {self._SQL_UUID}, network, version, lo, hi, prefixlen, tunnel_id, "
                "virtual_network_id, comment, ? FROM (SELECT *, lower(hex(randomblob(16))) AS h FROM import_rows "
                "INDEXED BY import_key ORDER BY virtual_network_id, version, lo, prefixlen)",
                (now,),
            )
            return cursor.rowcount

