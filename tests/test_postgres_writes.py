"""Route creates on PostgreSQL in one statement (``warpcli.controllers.local.pgwrites``).

Real PostgreSQL (tests/pg.py), several stores on one database standing in for replicas,
real threads. What must hold as with the shared SQL: each CIDR once per vnet, exactly one
winner of a race and a 409 naming it for the others, no route on a deleted tunnel,
``state_version`` moving on every create and not on a refused one.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from warpcli.controllers.local.interface import open_store
from warpcli.controllers.local.postgres import PostgresController
from warpcli.core.cidr import parse_network
from warpcli.core.errors import Conflict, NotFound
from warpcli.core.model import RouteFilter
from warpcli.secret_stores.file_store import FileStore


def _store(url: str, state: Path) -> PostgresController:
    store = open_store(url, state, secrets=lambda: FileStore(state / "secrets.json"))
    assert isinstance(store, PostgresController)
    return store


def test_create_answers_what_the_shared_sql_answers(pg_url: str, tmp_path: Path) -> None:
    c = _store(pg_url, tmp_path)
    t = c.create_tunnel("office")
    v = c.create_virtual_network("lab")
    before = c.state_version()
    r = c.create_route(parse_network("10.1.0.0/16"), t.id, comment="hq")
    assert (r.tunnel_name, r.virtual_network_name, r.comment) == ("office", "default", "hq")
    assert c.get_route(r.id) == r
    assert c.state_version() != before
    r2 = c.create_route(parse_network("10.1.0.0/16"), t.id, virtual_network_id=v.id)  # another vnet: fine
    assert r2.virtual_network_id == v.id and r2.virtual_network_name == "lab"
    moved = c.state_version()
    with pytest.raises(Conflict, match=rf"already routed in virtual network 'default' through tunnel 'office' \(route {r.id}\)"):
        c.create_route(parse_network("10.1.0.0/16"), t.id)
    with pytest.raises(NotFound, match="no tunnel with id nope"):
        c.create_route(parse_network("10.2.0.0/16"), "nope")
    with pytest.raises(NotFound, match="no virtual network with id nope"):
        c.create_route(parse_network("10.2.0.0/16"), t.id, virtual_network_id="nope")
    assert c.state_version() == moved  # nothing was written
    c.delete_route(r.id)
    again = c.create_route(parse_network("10.1.0.0/16"), t.id)  # a deleted CIDR is free again
    assert again.id != r.id
    c.delete_tunnel(t.id, force=True)
    with pytest.raises(NotFound):
        c.create_route(parse_network("10.3.0.0/16"), t.id)
    c.close()


def test_racing_creates_through_several_stores_have_one_winner_each(pg_url: str, tmp_path: Path) -> None:
    """12 threads over 3 stores (one pool each would be one per replica; here they share the
    process's pool, and each thread its own connection) create overlapping CIDRs: each CIDR
    is created once, every other attempt is a 409 naming the winner."""
    stores = [_store(pg_url, tmp_path) for _ in range(3)]
    tunnel = stores[0].create_tunnel("t").id
    cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(60)]
    start = threading.Barrier(12)

    def run(k: int) -> list[tuple[str, str, str]]:
        c = stores[k % 3]
        start.wait(timeout=60)
        out = []
        for cidr in cidrs[k % 4::2] + cidrs[::-7]:
            try:
                out.append(("ok", cidr, c.create_route(parse_network(cidr), tunnel).id))
            except Conflict as exc:
                out.append(("409", cidr, exc.existing.id))  # type: ignore[attr-defined]
        return out

    with ThreadPoolExecutor(12) as pool:
        results = [x for part in pool.map(run, range(12)) for x in part]
    live = {r.network: r.id for r in stores[0].list_routes(RouteFilter())}
    assert sorted(live) == sorted(set(cidrs) & {c for _, c, _ in results})
    wins = Counter(cidr for what, cidr, _ in results if what == "ok")
    assert set(wins.values()) == {1}
    for what, cidr, rid in results:
        assert rid == live[cidr], (what, cidr)
    for c in stores:
        c.close()


def test_a_create_racing_a_tunnel_delete_never_leaves_a_route_on_it(pg_url: str, tmp_path: Path) -> None:
    a, b = _store(pg_url, tmp_path), _store(pg_url, tmp_path)
    for round_ in range(10):
        t = a.create_tunnel(f"t{round_}")
        go = threading.Barrier(2)

        def create(t_id: str = t.id, n: int = round_, go: threading.Barrier = go) -> None:
            go.wait(timeout=60)
            try:
                a.create_route(parse_network(f"10.9.{n}.0/24"), t_id)
            except NotFound:
                pass

        def delete(t_id: str = t.id, go: threading.Barrier = go) -> None:
            go.wait(timeout=60)
            b.delete_tunnel(t_id, force=True)

        threads = [threading.Thread(target=create), threading.Thread(target=delete)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        assert not [r for r in a.list_routes(RouteFilter()) if r.tunnel_id == t.id]
    a.close()
    b.close()


def test_a_connection_the_database_dropped_is_replaced_and_the_create_lands_once(
        pg_cluster, pg_url: str, tmp_path: Path) -> None:
    c = _store(pg_url, tmp_path)
    t = c.create_tunnel("t")
    c.create_route(parse_network("10.0.0.0/24"), t.id)  # the pool has a connection now
    dbname = pg_url.rsplit("/", 1)[1].split("?")[0]
    pg_cluster.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}' "
                     "AND pid <> pg_backend_pid()")
    r = c.create_route(parse_network("10.0.1.0/24"), t.id)
    assert [x.id for x in c.list_routes(RouteFilter()) if x.network == "10.0.1.0/24"] == [r.id]
    c.close()
