"""Route creation on PostgreSQL in one statement: one round trip, one transaction.

The shared SQL (:meth:`LocalController.create_route`) reads the tunnel, the vnet and a
clashing route, then inserts: four round trips between BEGIN and COMMIT, each one a
wait for the database while the client holds its locks. Here the same rules are one
statement, run in autocommit (its own READ COMMITTED transaction):

- the tunnel and the vnet are read ``FOR KEY SHARE`` (a delete of either, which takes
  ``FOR UPDATE``, waits for this insert or makes it find nothing), as in the shared SQL;
- the CIDR is unique per vnet by the ``route_cidr`` partial unique index, and
  ``ON CONFLICT ... DO NOTHING`` makes a lost race an empty result, not an error: the
  loser waits for the winner's commit and answers 409 naming it, without a retry;
- the change row (``state_version``) is inserted only when the route was.

A connection found dead (the database restarted) is replaced and the statement sent
again; the route's id is chosen here, so a statement that did commit before its answer
was lost is recognised on the second try as this request's own route, never a 409.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warpcli.core import conflicts
from warpcli.core.errors import NotFound
from warpcli.core.model import Route, new_id, utcnow

if TYPE_CHECKING:
    from warpcli.controllers.local.postgres import PostgresController
    from warpcli.core.cidr import Network

_INSERT = """
WITH t AS (SELECT id, name FROM tunnels WHERE id = %s AND deleted_at IS NULL FOR KEY SHARE),
v AS (SELECT id, name FROM virtual_networks WHERE {vnet} AND deleted_at IS NULL FOR KEY SHARE),
ins AS (
    INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, comment, created_at)
    SELECT %s, %s, %s, %s, %s, %s, t.id, v.id, %s, %s FROM t, v
    ON CONFLICT (virtual_network_id, version, lo, prefixlen) WHERE deleted_at IS NULL DO NOTHING
    RETURNING 1
),
change AS (INSERT INTO state_changes SELECT 1 FROM ins)
SELECT (SELECT name FROM t), (SELECT id FROM v), (SELECT name FROM v), (SELECT count(*) FROM ins)
"""
#: the statement with the default vnet, and with one named by id
INSERT_DEFAULT = _INSERT.format(vnet="is_default = 1")
INSERT_IN_VNET = _INSERT.format(vnet="id = %s")


def create_route(store: PostgresController, network: Network, tunnel_id: str, virtual_network_id: str | None,
                 comment: str) -> Route:
    from warpcli.controllers.local.route_sql import blob as _blob

    rid, now = new_id(), utcnow()
    v = network.version
    values = (rid, str(network), v, _blob(v, network.lo), _blob(v, network.hi), network.prefixlen, comment, now)
    params: tuple
    if virtual_network_id is None:
        sql, params = INSERT_DEFAULT, (tunnel_id, *values)
    else:
        sql, params = INSERT_IN_VNET, (tunnel_id, virtual_network_id, *values)
    tunnel_name, vnet_id, vnet_name, inserted = store._write_statement(sql, params)[0]
    if tunnel_name is None:
        raise NotFound(f"no tunnel with id {tunnel_id}")
    if vnet_id is None:
        raise NotFound(f"no virtual network with id {virtual_network_id}")
    route = Route(id=rid, network=str(network), tunnel_id=tunnel_id, virtual_network_id=vnet_id, comment=comment,
                  created_at=now, tunnel_name=tunnel_name, virtual_network_name=vnet_name)
    if inserted:
        return route
    with store._errors():
        row = store._existing_route(store.conn, vnet_id, network)
    if row is None:  # the winner was deleted since: try again
        from warpcli.controllers.local.postgres import _LostRace

        raise _LostRace(f"{network} was taken and released meanwhile")
    if row[0] == rid:  # this request's own insert, committed before its answer was lost
        return route
    raise conflicts.route_taken(store._route(row, *store._name_maps()), vnet_name)
