"""The embedded controller: tunnels, vnets and routes, with every rule, in SQL both engines run.

:class:`LocalController` is made of one engine (:class:`~.sqlite_file.SqliteFile`; PostgreSQL's
subclass swaps it) and one mixin per job: :mod:`.route_import`, :mod:`.mesh` (connectors and
hubs), :mod:`.policy_store`, :mod:`.reports`, :mod:`.api_tokens`. The route query builder is
:mod:`.route_sql`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING

from warpcli.controllers.local.api_tokens import ApiTokenStore
from warpcli.controllers.local.reports import ReportStore
from warpcli.core import conflicts
from warpcli.core.cidr import BITS, Network, as_network
from warpcli.core.controller import Controller
from warpcli.core.errors import (
    Conflict,
    NotFound,
    WarpcliError,
)
from warpcli.core.model import (
    Route,
    RouteFilter,
    Tunnel,
    VirtualNetwork,
    new_id,
    utcnow,
)
from warpcli.core.names import MAX_VNET_COMMENT, validate_comment, validate_name
from warpcli.core.records import replace

if TYPE_CHECKING:
    pass


from warpcli.controllers.local.mesh import MeshStore
from warpcli.controllers.local.policy_store import PolicyStore
from warpcli.controllers.local.route_import import RouteImport
from warpcli.controllers.local.route_sql import (
    ROUTE_COLS,
    ROUTE_JOINS,
    route_json_object,
    route_query,
    scans_key,
    superset_probe,
)
from warpcli.controllers.local.route_sql import blob as _blob
from warpcli.controllers.local.sqlite_file import DB_NAME, SqliteFile

__all__ = ["DB_NAME", "LocalController", "token_key"]


def token_key(tunnel_id: str) -> str:
    return f"tunnel-token:{tunnel_id}"


class LocalController(MeshStore, PolicyStore, RouteImport, ReportStore, ApiTokenStore, SqliteFile, Controller):
    kind = "local"
    atomic_import = True

    # -- tunnels ------------------------------------------------------------------
    _TUNNEL_COLS = "id, name, status, created_at, deleted_at"

    def _tunnel(self, row: tuple, account: str) -> Tunnel:
        return Tunnel(
            id=row[0], name=row[1], status=row[2], created_at=row[3], deleted_at=row[4], account_tag=account
        )

    def _live_tunnel(self, conn: sqlite3.Connection, tunnel_id: str) -> Tunnel:
        row = conn.execute(
            f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE id = ? AND deleted_at IS NULL", (tunnel_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no tunnel with id {tunnel_id}")
        return self._tunnel(row, self.account_id)

    def create_tunnel(self, name: str) -> Tunnel:
        name = validate_name("tunnel", name)
        store = self.secrets  # fail before writing anything if no secret store is usable
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE name = ? AND deleted_at IS NULL", (name,)
            ).fetchone()
            if row is not None:
                existing = self._tunnel(row, self.account_id)
                raise conflicts.tunnel_name_taken(existing)
            live = conn.execute("SELECT name FROM tunnels WHERE deleted_at IS NULL")
            conflicts.name_looks_taken("tunnel", name, (n for (n,) in live))
            from warpcli.core.tokens import new_tunnel_token, token_digest

            tunnel = Tunnel(id=new_id(), name=name, account_tag=self.account_id, created_at=utcnow())
            token = new_tunnel_token(tunnel.account_tag, tunnel.id)
            conn.execute(
                "INSERT INTO tunnels(id, name, status, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (tunnel.id, name, tunnel.status, token_digest(token), tunnel.created_at),
            )
            store.set(token_key(tunnel.id), token)
            if self._txn is not None:
                self._txn.on_rollback.append(lambda: store.delete(token_key(tunnel.id)))
        return tunnel

    def list_tunnels(self, *, name: str | None = None, is_deleted: bool | None = False) -> list[Tunnel]:
        where, params = [], []
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if is_deleted is not None:
            where.append("deleted_at IS NOT NULL" if is_deleted else "deleted_at IS NULL")
        sql = f"SELECT {self._TUNNEL_COLS} FROM tunnels"
        if where:
            sql += " WHERE " + " AND ".join(where)
        account = self.account_id
        return self._with_status([self._tunnel(r, account) for r in self._read(sql + " ORDER BY name, created_at",
                                                                               params)])

    def get_tunnel(self, tunnel_id: str) -> Tunnel:
        with self._errors():
            return self._with_status([self._live_tunnel(self.conn, tunnel_id)])[0]

    def update_tunnel(self, tunnel_id: str, *, name: str | None = None) -> Tunnel:
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            if name is None:
                return tunnel
            name = validate_name("tunnel", name)
            if name == tunnel.name:
                return tunnel
            row = conn.execute(
                f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE name = ? AND deleted_at IS NULL AND id != ?",
                (name, tunnel_id),
            ).fetchone()
            if row is not None:
                raise conflicts.tunnel_name_taken(self._tunnel(row, tunnel.account_tag))
            others = conn.execute("SELECT name FROM tunnels WHERE deleted_at IS NULL AND id != ?", (tunnel_id,))
            conflicts.name_looks_taken("tunnel", name, (n for (n,) in others))
            conn.execute("UPDATE tunnels SET name = ? WHERE id = ?", (name, tunnel_id))
        return replace(tunnel, name=name)

    def delete_tunnel(self, tunnel_id: str, *, force: bool = False) -> Tunnel:
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            (n,) = conn.execute(
                "SELECT count(*) FROM routes WHERE tunnel_id = ? AND deleted_at IS NULL", (tunnel_id,)
            ).fetchone()
            if n and not force:
                raise conflicts.tunnel_has_routes(tunnel.name, n)
            now = utcnow()
            conn.execute(
                "UPDATE routes SET deleted_at = ? WHERE tunnel_id = ? AND deleted_at IS NULL", (now, tunnel_id)
            )
            conn.execute("UPDATE tunnels SET deleted_at = ? WHERE id = ?", (now, tunnel_id))
            conn.execute(
                "UPDATE connectors SET deleted_at = ? WHERE tunnel_id = ? AND deleted_at IS NULL", (now, tunnel_id)
            )
            if self._txn is not None:  # the token goes once the deletion is committed
                self._txn.on_commit.append(lambda: self.secrets.delete(token_key(tunnel_id)))
        if self._txn is None:
            try:
                self.secrets.delete(token_key(tunnel_id))
            except WarpcliError:
                pass  # the tunnel is gone; a stale secret is harmless and unusable
        return replace(tunnel, deleted_at=now)

    def get_tunnel_token(self, tunnel_id: str) -> str:
        tunnel = self.get_tunnel(tunnel_id)
        token = self.secrets.get(token_key(tunnel_id))
        if token is None:
            raise NotFound(
                f"the token of tunnel {tunnel.name!r} is not in {self.secrets.description}",
                hint="it was created with another secret backend or on another machine",
            )
        return token

    # -- virtual networks ---------------------------------------------------------
    _VNET_COLS = "id, name, comment, is_default, created_at, deleted_at"

    @staticmethod
    def _vnet(row: tuple) -> VirtualNetwork:
        return VirtualNetwork(
            id=row[0], name=row[1], comment=row[2], is_default_network=bool(row[3]),
            created_at=row[4], deleted_at=row[5],
        )

    def _live_vnet(self, conn: sqlite3.Connection, vnet_id: str | None) -> VirtualNetwork:
        if vnet_id is None:
            row = conn.execute(
                f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE is_default = 1 AND deleted_at IS NULL"
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE id = ? AND deleted_at IS NULL", (vnet_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no virtual network with id {vnet_id}")
        return self._vnet(row)

    def _check_vnet_name(self, conn: sqlite3.Connection, name: str, *, but: str | None = None) -> None:
        row = conn.execute(
            f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE name = ? AND deleted_at IS NULL", (name,)
        ).fetchone()
        if row is not None and row[0] != but:
            existing = self._vnet(row)
            raise conflicts.vnet_name_taken(existing)
        live = conn.execute("SELECT id, name FROM virtual_networks WHERE deleted_at IS NULL")
        conflicts.name_looks_taken("virtual network", name, (n for (vid, n) in live if vid != but))

    def create_virtual_network(self, name: str, *, comment: str = "", is_default: bool = False) -> VirtualNetwork:
        name = validate_name("virtual network", name)
        validate_comment(comment, MAX_VNET_COMMENT)
        with self._write() as conn:
            self._check_vnet_name(conn, name)
            if is_default:
                conn.execute("UPDATE virtual_networks SET is_default = 0 WHERE is_default = 1")
            vnet = VirtualNetwork(
                id=new_id(), name=name, comment=comment, is_default_network=is_default, created_at=utcnow()
            )
            conn.execute(
                "INSERT INTO virtual_networks(id, name, comment, is_default, created_at) VALUES (?, ?, ?, ?, ?)",
                (vnet.id, name, comment, int(is_default), vnet.created_at),
            )
        return vnet

    def list_virtual_networks(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        is_default: bool | None = None,
        is_deleted: bool | None = False,
    ) -> list[VirtualNetwork]:
        where: list[str] = []
        params: list[object] = []
        for col, value in (("id", id), ("name", name)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        if is_default is not None:
            where.append("is_default = ?")
            params.append(int(is_default))
        if is_deleted is not None:
            where.append("deleted_at IS NOT NULL" if is_deleted else "deleted_at IS NULL")
        sql = f"SELECT {self._VNET_COLS} FROM virtual_networks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [self._vnet(r) for r in self._read(sql + " ORDER BY is_default DESC, name", params)]

    def update_virtual_network(
        self,
        vnet_id: str,
        *,
        name: str | None = None,
        comment: str | None = None,
        is_default: bool | None = None,
    ) -> VirtualNetwork:
        with self._write() as conn:
            vnet = self._live_vnet(conn, vnet_id)
            if name is not None and name != vnet.name:
                name = validate_name("virtual network", name)
                self._check_vnet_name(conn, name, but=vnet_id)
                conn.execute("UPDATE virtual_networks SET name = ? WHERE id = ?", (name, vnet_id))
            if comment is not None:
                validate_comment(comment, MAX_VNET_COMMENT)
                conn.execute("UPDATE virtual_networks SET comment = ? WHERE id = ?", (comment, vnet_id))
            if is_default is True and not vnet.is_default_network:
                conn.execute("UPDATE virtual_networks SET is_default = 0 WHERE is_default = 1")
                conn.execute("UPDATE virtual_networks SET is_default = 1 WHERE id = ?", (vnet_id,))
            elif is_default is False and vnet.is_default_network:
                raise conflicts.default_vnet_required(vnet.name)
            return self._live_vnet(conn, vnet_id)

    def delete_virtual_network(self, vnet_id: str, *, force: bool = False) -> VirtualNetwork:
        with self._write() as conn:
            vnet = self._live_vnet(conn, vnet_id)
            if vnet.is_default_network:
                raise conflicts.default_vnet_undeletable(vnet.name)
            in_use = []
            for table, what in (("routes", "route(s)"), ("connectors", "enrolled connector(s)"), ("hubs", "hub")):
                (n,) = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE virtual_network_id = ? AND deleted_at IS NULL", (vnet_id,)
                ).fetchone()
                if n:
                    in_use.append(f"{n} {what}")
            if in_use and not force:
                raise conflicts.vnet_in_use(vnet.name, in_use)
            now = utcnow()
            for table in ("routes", "connectors", "hubs"):
                conn.execute(
                    f"UPDATE {table} SET deleted_at = ? WHERE virtual_network_id = ? AND deleted_at IS NULL",
                    (now, vnet_id),
                )
            conn.execute("UPDATE virtual_networks SET deleted_at = ? WHERE id = ?", (now, vnet_id))
        return replace(vnet, deleted_at=now)

    # -- routes -------------------------------------------------------------------
    _ROUTE_COLS = ROUTE_COLS
    #: the order of :meth:`list_routes` within one vnet (SQLite's index settles ties by rowid)
    _ROUTE_ORDER = "r.version, r.lo, r.prefixlen"

    def _name_maps(self) -> tuple[dict[str, str], dict[str, str]]:
        tunnels = dict(self._read("SELECT id, name FROM tunnels"))
        vnets = dict(self._read("SELECT id, name FROM virtual_networks"))
        return tunnels, vnets

    @staticmethod
    def _route(row: tuple, tunnels: dict[str, str], vnets: dict[str, str]) -> Route:
        return Route(
            id=row[0], network=row[1], tunnel_id=row[2], virtual_network_id=row[3], comment=row[4],
            created_at=row[5], deleted_at=row[6], tunnel_name=tunnels.get(row[2]),
            virtual_network_name=vnets.get(row[3]),
        )

    def _route_query(self, flt: RouteFilter, columns: str | None = None, joins: str = "") -> tuple[str, list]:
        return route_query(flt, columns or self._ROUTE_COLS, joins)

    def _scans(self, flt: RouteFilter) -> list[RouteFilter]:
        """One filter per vnet, in listing order (the default first, then by name)."""
        if flt.virtual_network_id is not None or flt.route_id is not None:
            return [flt]
        order = self._read("SELECT id FROM virtual_networks ORDER BY is_default DESC, name, created_at")
        return [replace(flt, virtual_network_id=vid) for (vid,) in order]

    def _stream(self, sql: str, params: list) -> Iterator[tuple]:
        with self._errors():
            cursor = self.conn.execute(sql, params)
            while True:
                rows = cursor.fetchmany(2000)
                if not rows:
                    break
                yield from rows

    def list_routes(self, flt: RouteFilter = RouteFilter()) -> Iterator[Route]:
        """Routes in a stable order: by virtual network (the default first, then by
        name), then by address and prefix length. One index range scan per vnet, so
        the rows stream without a sort however large the table."""
        tunnels, vnets = self._name_maps()
        for scan in self._scans(flt):
            sql, params = self._route_query(scan)
            for row in self._stream(f"{sql} ORDER BY {self._ROUTE_ORDER}", params):
                yield self._route(row, tunnels, vnets)

    #: Route.to_dict() built by SQLite itself: the same keys in the same order
    _ROUTE_JSON = route_json_object()

    def list_routes_json(self, flt: RouteFilter = RouteFilter()) -> Iterator[str]:
        """The JSON text of each route, encoded by SQLite's json_object (the fast path
        for ``routes --json``: no Python object per row)."""
        joins = ROUTE_JOINS
        for scan in self._scans(flt):
            sql, params = self._route_query(scan, self._ROUTE_JSON, joins)
            with self._errors():
                for (text,) in self.conn.execute(sql + " ORDER BY r.version, r.lo, r.prefixlen", params):
                    yield text

    #: ``_ROUTE_JSON`` without its null members (the Cloudflare API's style). A live route
    #: with both names, the usual row, leaves out deleted_at; any other goes through
    #: json_patch onto an empty object, which drops null members (RFC 7396) and keeps the
    #: order of the others (slower, hence not for every row).
    _ROUTE_JSON_NO_NULLS = (
        "CASE WHEN r.deleted_at IS NULL AND t.name IS NOT NULL AND v.name IS NOT NULL THEN "
        + route_json_object(without="deleted_at")
        + f" ELSE json_patch('{{}}', {_ROUTE_JSON}) END"
    )
    _ROUTE_JOINS = ROUTE_JOINS
    #: the listing order within one vnet; rowid settles ties between deleted routes
    _ROUTE_KEY = "r.version, r.lo, r.prefixlen, r.rowid"

    def route_page_json(
        self, flt: RouteFilter, offset: int, limit: int, *, drop_nulls: bool = False
    ) -> tuple[list[str], int]:
        """One page of :meth:`list_routes_json` and the count of all matches.

        The count is one ``count(*)`` per vnet, and the page starts with an index seek
        after the last row of the page before (keyset pagination) when that page was
        just served; neither is recomputed while the database is unchanged
        (:mod:`readcache`, shared by the server's threads). So walking a listing
        costs one page's rows per page, not a scan of everything before it.
        """
        filters = self._scans(flt)
        scans = [self._route_query(f) for f in filters]
        listing = scans_key(scans)
        with self._errors():
            conn, quiet, cache = self.conn, self._quiet, self._cache
            assert quiet is not None
            def count(sql: str, params: list) -> int:
                return cache.get(quiet, ("count", sql, tuple(params)),
                                 lambda: int(conn.execute(sql, params).fetchone()[0]))

            counts = [count(*self._route_query(f, "count(*)")) for f in filters]
            total = sum(counts)
            page: list[str] = []
            if limit <= 0 or offset >= total:
                return page, total
            stamp = cache.stamp()
            start = cache.peek(quiet, ("after", listing, offset)) or self._page_start(conn, filters, counts, offset)
            if start is None:
                return page, total
            index, after = start
            columns = (self._ROUTE_JSON_NO_NULLS if drop_nulls else self._ROUTE_JSON) + ", r.rowid"
            last = None
            for i in range(index, len(filters)):
                sql, params = self._route_query(filters[i], columns, self._ROUTE_JOINS)
                if after is not None and i == index:
                    sql += (" AND " if " WHERE " in sql else " WHERE ") + f"({self._ROUTE_KEY}) > (?, ?, ?, ?)"
                    params = [*params, *after]
                sql += f" ORDER BY {self._ROUTE_KEY} LIMIT ?"
                rows = conn.execute(sql, [*params, limit - len(page)]).fetchall()
                page += [text for text, _ in rows]
                if rows:
                    last = (i, rows[-1][1])
                if len(page) >= limit:
                    break
            if last is not None:  # where the next page starts, should it be asked for next
                key = conn.execute(
                    f"SELECT {self._ROUTE_KEY} FROM routes r WHERE r.rowid = ?", (last[1],)
                ).fetchone()
                cache.put(stamp, ("after", listing, offset + len(page)), (last[0], tuple(key)))
        return page, total

    def _page_start(
        self, conn: sqlite3.Connection, filters: list[RouteFilter], counts: list[int], offset: int
    ) -> tuple[int, tuple | None] | None:
        """Where row ``offset`` is, found by counting: (scan index, key of the row before it there, or None)."""
        skip = offset
        for index, n in enumerate(counts):
            if skip < n:
                if skip == 0:
                    return index, None
                sql, params = self._route_query(filters[index], self._ROUTE_KEY)
                row = conn.execute(f"{sql} ORDER BY {self._ROUTE_KEY} LIMIT 1 OFFSET ?", [*params, skip - 1]).fetchone()
                return (index, tuple(row)) if row is not None else None
            skip -= n
        return None

    def route_entries(self, virtual_network_id: str | None = None) -> Iterator[tuple]:
        """Raw ``(id, network, version, lo, prefixlen, tunnel_id, vnet_id)`` rows for the overlap sweep,
        in address order (IPv4 first).

        For the whole table the ``route_sweep`` index holds every column asked for, in
        that order, so the rows stream from the index alone (for one vnet SQLite picks
        between it and ``route_cidr``). The tunnel and vnet ids come back as one string
        object each, not one per row: a caller that keeps them (the overlap report does)
        holds a million fewer strings.
        """
        sql = (
            "SELECT id, network, version, lo, prefixlen, tunnel_id, virtual_network_id FROM routes "
            + ("INDEXED BY route_sweep WHERE deleted_at IS NULL" if virtual_network_id is None else
               "WHERE deleted_at IS NULL AND virtual_network_id = ?")
            + " ORDER BY version, lo, prefixlen"
        )
        params: tuple = () if virtual_network_id is None else (virtual_network_id,)
        ids: dict[str, str] = {}
        same = ids.setdefault
        decode = int.from_bytes
        with self._errors():
            for rid, network, version, lo, plen, tid, vid in self.conn.execute(sql, params):
                yield rid, network, version, decode(lo, "big"), plen, same(tid, tid), same(vid, vid)

    def route_networks(self, virtual_network_id: str, *, except_tunnel: str | None = None) -> list[str]:
        """One query, one string: SQLite joins the CIDRs (which hold no space) and Python splits
        them, instead of a row object per route (2-3x faster at 100k routes)."""
        with self._errors():
            (text,) = self.conn.execute(
                "SELECT group_concat(network, ' ') FROM routes WHERE deleted_at IS NULL AND virtual_network_id = ?"
                " AND tunnel_id IS NOT ?", (virtual_network_id, except_tunnel)).fetchone()
        return text.split(" ") if text else []

    def route_rows(self) -> Iterator[tuple]:
        """Live routes as plain rows for ``export`` and ``apply`` (no Route objects, no name joins)."""
        decode = int.from_bytes
        with self._errors():
            for rid, network, version, lo, plen, tid, vid, comment in self.conn.execute(
                "SELECT id, network, version, lo, prefixlen, tunnel_id, virtual_network_id, comment FROM routes "
                "WHERE deleted_at IS NULL"
            ):
                yield rid, network, version, decode(lo, "big"), plen, tid, vid, comment

    def _existing_route(self, conn: sqlite3.Connection, vnet_id: str, net: Network) -> tuple | None:
        return conn.execute(
            f"SELECT {self._ROUTE_COLS} FROM routes r WHERE r.virtual_network_id = ? AND r.version = ? "
            "AND r.prefixlen = ? AND r.lo = ? AND r.deleted_at IS NULL",
            (vnet_id, net.version, net.prefixlen, _blob(net.version, net.value)),
        ).fetchone()

    def _conflict(self, row: tuple, vnet: VirtualNetwork) -> Conflict:
        tunnels, vnets = self._name_maps()
        existing = self._route(row, tunnels, vnets)
        return conflicts.route_taken(existing, vnet.name)

    def create_route(
        self,
        network: Network | str,
        tunnel_id: str,
        *,
        virtual_network_id: str | None = None,
        comment: str = "",
    ) -> Route:
        network = as_network(network)
        validate_comment(comment)
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            vnet = self._live_vnet(conn, virtual_network_id)
            row = self._existing_route(conn, vnet.id, network)
            if row is not None:
                raise self._conflict(row, vnet)
            route = Route(
                id=new_id(), network=str(network), tunnel_id=tunnel.id, virtual_network_id=vnet.id,
                comment=comment, created_at=utcnow(), tunnel_name=tunnel.name, virtual_network_name=vnet.name,
            )
            conn.execute(
                "INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, "
                "comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    route.id, route.network, network.version, _blob(network.version, network.lo),
                    _blob(network.version, network.hi), network.prefixlen, tunnel.id, vnet.id, comment,
                    route.created_at,
                ),
            )
        return route

    def _live_route(self, conn: sqlite3.Connection, route_id: str) -> tuple:
        row = conn.execute(
            f"SELECT {self._ROUTE_COLS} FROM routes r WHERE r.id = ? AND r.deleted_at IS NULL", (route_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no route with id {route_id}")
        return row

    def get_route(self, route_id: str) -> Route:
        with self._errors():
            row = self._live_route(self.conn, route_id)
        return self._route(row, *self._name_maps())

    def update_route(
        self,
        route_id: str,
        *,
        network: Network | str | None = None,
        tunnel_id: str | None = None,
        virtual_network_id: str | None = None,
        comment: str | None = None,
    ) -> Route:
        network = None if network is None else as_network(network)
        if comment is not None:
            validate_comment(comment)
        with self._write() as conn:
            row = self._live_route(conn, route_id)
            tunnel = self._live_tunnel(conn, tunnel_id or row[2])
            vnet = self._live_vnet(conn, virtual_network_id or row[3])
            net = network or Route(*row[:6]).net
            clash = self._existing_route(conn, vnet.id, net)
            if clash is not None and clash[0] != route_id:
                raise self._conflict(clash, vnet)
            conn.execute(
                "UPDATE routes SET network = ?, version = ?, lo = ?, hi = ?, prefixlen = ?, tunnel_id = ?, "
                "virtual_network_id = ?, comment = ? WHERE id = ?",
                (
                    str(net), net.version, _blob(net.version, net.lo), _blob(net.version, net.hi), net.prefixlen,
                    tunnel.id, vnet.id, row[4] if comment is None else comment, route_id,
                ),
            )
        return self.get_route(route_id)

    def delete_route(self, route_id: str) -> Route:
        now = utcnow()
        with self._write() as conn:
            row = self._live_route(conn, route_id)
            conn.execute("UPDATE routes SET deleted_at = ? WHERE id = ?", (now, route_id))
        return replace(self._route(row, *self._name_maps()), deleted_at=now)

    def get_route_by_ip(
        self, version: int, address: int, *, virtual_network_id: str | None = None
    ) -> Route | None:
        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
        host = Network(version, address, BITS[version])
        probe, params = superset_probe(host)
        # The longest containing prefix starts highest (ties: the longer one), so walking
        # the candidate starts downwards stops at the first that reaches the address:
        # a few index seeks instead of one per prefix length.
        sql = (
            f"SELECT {self._ROUTE_COLS} FROM routes r WHERE r.virtual_network_id = ? "
            f"AND r.deleted_at IS NULL AND {probe} ORDER BY r.lo DESC, r.prefixlen DESC LIMIT 1"
        )
        rows = self._read(sql, [vnet.id, *params])
        if not rows:
            return None
        return self._route(rows[0], *self._name_maps())

