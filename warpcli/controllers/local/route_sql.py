"""The route query builder: SQL over the routes table's (vnet, version, lo, hi, prefixlen) columns.

Networks are stored as big-endian blobs of their first and last address (``lo``, ``hi``), so
"contained in" and "contains" are index range scans. Both engines run this SQL (``?``
placeholders; the PostgreSQL engine translates them).
"""

from __future__ import annotations

from warpcli.core.cidr import Network, mask
from warpcli.core.model import TUN_TYPE, Route, RouteFilter
from warpcli.core.records import field_names

_LEN = {4: 4, 6: 16}

#: the columns a Route is built from (alias r)
ROUTE_COLS = "r.id, r.network, r.tunnel_id, r.virtual_network_id, r.comment, r.created_at, r.deleted_at"
#: what a route's tunnel and vnet names are read through
ROUTE_JOINS = "LEFT JOIN tunnels t ON t.id = r.tunnel_id LEFT JOIN virtual_networks v ON v.id = r.virtual_network_id"

#: where each field of Route comes from in the route query (alias r, its tunnel t, its vnet v)
_ROUTE_SQL = {"id": "r.id", "network": "r.network", "tunnel_id": "r.tunnel_id",
              "virtual_network_id": "r.virtual_network_id", "comment": "r.comment", "created_at": "r.created_at",
              "tunnel_name": "t.name", "virtual_network_name": "v.name", "tun_type": f"'{TUN_TYPE}'",
              "deleted_at": "r.deleted_at"}


def blob(version: int, value: int) -> bytes:
    """An address as stored: big-endian, 4 or 16 bytes (so byte order is address order)."""
    return value.to_bytes(_LEN[version], "big")


def scans_key(scans: list[tuple[str, list]]) -> tuple:
    """A hashable key for a listing's scans (their SQL and parameters)."""
    return tuple((sql, tuple(params)) for sql, params in scans)


def route_json_object(without: str | None = None) -> str:
    """SQLite's json_object() of a route: Route's field list decides the keys and their order."""
    return "json_object(" + ", ".join(f"'{f}', {_ROUTE_SQL[f]}" for f in field_names(Route) if f != without) + ")"


def superset_probe(net: Network) -> tuple[str, list]:
    """SQL matching the prefixes that contain ``net``.

    A containing prefix starts at ``net`` masked to its own length, so its ``lo``
    is one of at most 33 (129) values: an ``IN`` list of index seeks on
    ``(vnet, version, lo)``, then ``hi >= net.hi`` keeps the ones that reach far enough.
    """
    los = sorted({net.value & mask(net.version, p) for p in range(net.prefixlen + 1)})
    marks = ", ".join("?" for _ in los)
    params: list = [net.version, *(blob(net.version, lo) for lo in los), blob(net.version, net.hi)]
    return f"r.version = ? AND r.lo IN ({marks}) AND r.hi >= ?", params


def route_query(flt: RouteFilter, columns: str = ROUTE_COLS, joins: str = "") -> tuple[str, list]:
    """``SELECT columns FROM routes r joins WHERE …`` for one filter, and its parameters."""
    where: list[str] = []
    params: list = []
    if flt.is_deleted is not None:
        where.append("r.deleted_at IS NOT NULL" if flt.is_deleted else "r.deleted_at IS NULL")
    if flt.route_id is not None:
        where.append("r.id = ?")
        params.append(flt.route_id)
    if flt.virtual_network_id is not None:
        where.append("r.virtual_network_id = ?")
        params.append(flt.virtual_network_id)
    elif flt.network_subset or flt.network_superset:
        # lets SQLite use the (vnet, version, lo) index for each vnet in turn
        where.append("r.virtual_network_id IN (SELECT id FROM virtual_networks)")
    if flt.tunnel_id is not None:
        where.append("r.tunnel_id = ?")
        params.append(flt.tunnel_id)
    if flt.comment is not None:
        where.append("r.comment = ?")
        params.append(flt.comment)
    if flt.network_subset is not None:
        n = flt.network_subset
        where.append("r.version = ? AND r.lo >= ? AND r.lo <= ? AND r.hi <= ?")
        params += [n.version, blob(n.version, n.lo), blob(n.version, n.hi), blob(n.version, n.hi)]
    if flt.network_superset is not None:
        sql, p = superset_probe(flt.network_superset)
        where.append(sql)
        params += p
    sql = f"SELECT {columns} FROM routes r {joins}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params
