"""Paginated route listings on PostgreSQL: what a page answers, and what it costs (issue 14).

The oracle is the generic ``Controller.route_page_json`` (read the stream, count it); the
PostgreSQL store counts and seeks in SQL instead (``warpcli.controllers.local.pgpages``).
Cost is counted in rows the database read (the ``actual rows`` of every plan node of
every statement a page ran, from ``EXPLAIN ANALYZE``), never in seconds.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warpcli.controllers.local.interface import open_store
from warpcli.controllers.local.postgres import PostgresController
from warpcli.core.cidr import parse_network
from warpcli.core.controller import Controller, RouteSpec
from warpcli.core.model import RouteFilter
from warpcli.secret_stores.file_store import FileStore


def _store(url: str, state: Path) -> PostgresController:
    store = open_store(url, state, secrets=lambda: FileStore(state / "secrets.json"))
    assert isinstance(store, PostgresController)
    return store


def _fill(c: PostgresController, per_vnet: int, vnets: int = 3) -> None:
    """``per_vnet`` routes in each of ``vnets`` vnets (the default one among them), over two tunnels."""
    tunnels = [c.create_tunnel(f"t{i}").id for i in range(2)]
    ids = [c.list_virtual_networks(is_default=True)[0].id]
    ids += [c.create_virtual_network(f"v{i}").id for i in range(1, vnets)]
    c.import_routes(
        RouteSpec(parse_network(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"), tunnels[i % 2], vid, "", i)
        for vid in ids for i in range(per_vnet)
    )


@pytest.fixture(scope="module")
def mixed(pg_cluster, tmp_path_factory: pytest.TempPathFactory):
    """Three vnets, two tunnels, v4 and v6, deleted routes and a CIDR deleted then added again."""
    url = pg_cluster.new_database()
    c = _store(url, tmp_path_factory.mktemp("pgpages"))
    tunnels = [c.create_tunnel(f"t{i}").id for i in range(2)]
    ids = [c.list_virtual_networks(is_default=True)[0].id, c.create_virtual_network("b").id,
           c.create_virtual_network("a", comment="x").id]
    made = []
    for i in range(60):
        net = f"10.{i % 4}.{i}.0/24" if i % 3 else f"2001:db8:{i:x}::/48"
        made.append(c.create_route(parse_network(net), tunnels[i % 2], virtual_network_id=ids[i % 3],
                                   comment="odd" if i % 2 else ""))
    for r in made[::7]:
        c.delete_route(r.id)
    again = made[7]  # deleted above: the same CIDR live again, deleted again, and live again
    r = c.create_route(again.net, again.tunnel_id, virtual_network_id=again.virtual_network_id)
    c.delete_route(r.id)
    c.create_route(again.net, again.tunnel_id, virtual_network_id=again.virtual_network_id)
    yield c
    c.close()


def _filters(c: PostgresController) -> st.SearchStrategy[RouteFilter]:
    vnets = [None, *(v.id for v in c.list_virtual_networks())]
    tunnels = [None, *(t.id for t in c.list_tunnels())]
    subsets = [None, parse_network("10.0.0.0/14"), parse_network("2001:db8::/32")]
    return st.builds(
        RouteFilter, virtual_network_id=st.sampled_from(vnets), tunnel_id=st.sampled_from(tunnels),
        network_subset=st.sampled_from(subsets), comment=st.sampled_from([None, "odd"]),
        is_deleted=st.sampled_from([False, True, None]),
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pages_are_the_streams_pages(mixed: PostgresController, data: st.DataObject) -> None:
    """Any filter, any page size, walked page by page (the store remembers where each page
    ended) or asked at an arbitrary offset: the same rows and count as reading the stream."""
    c = mixed
    flt = data.draw(_filters(c), label="filter")
    limit = data.draw(st.integers(1, 25), label="limit")
    drop = data.draw(st.booleans(), label="drop_nulls")
    offset = data.draw(st.sampled_from([0, limit, 2 * limit]) | st.integers(0, 80), label="offset")
    for _ in range(3):  # consecutive pages: the second and third start from the remembered key
        want = Controller.route_page_json(c, flt, offset, limit, drop_nulls=drop)
        got = c.route_page_json(flt, offset, limit, drop_nulls=drop)
        assert [json.loads(t) for t in got[0]] == [json.loads(t) for t in want[0]]
        assert got[1] == want[1]
        offset += limit


def test_a_commit_through_another_store_is_seen_by_the_next_page(pg_url: str, tmp_path: Path) -> None:
    """The memo never answers for a database that changed since: a route added or deleted
    through another store (another replica) changes the count and rows of the next page."""
    reader, writer = _store(pg_url, tmp_path), _store(pg_url, tmp_path)
    _fill(writer, 30)
    flt = RouteFilter()
    page1, total = reader.route_page_json(flt, 0, 10)
    assert (len(page1), total) == (10, 90)
    assert reader.route_page_json(flt, 10, 10)[1] == 90  # the memo is warm, the next start known
    default = writer.list_virtual_networks(is_default=True)[0].id
    added = writer.create_route(parse_network("9.9.9.0/24"), writer.list_tunnels()[0].id,
                                virtual_network_id=default)
    first, total = reader.route_page_json(flt, 0, 10)
    assert total == 91
    assert json.loads(first[0])["id"] == added.id  # 9.9.9.0/24 sorts before 10.*
    writer.delete_route(added.id)
    assert [json.loads(t) for t in reader.route_page_json(flt, 10, 10)[0]] == \
        [json.loads(t) for t in Controller.route_page_json(reader, flt, 10, 10)[0]]
    assert reader.route_page_json(flt, 0, 10)[1] == 90


class _RowsRead:
    """Every statement a store reads with (``_read``, ``_read_together``, ``_stream``), replayed under
    EXPLAIN ANALYZE: the rows each plan node produced or filtered out, summed (loops included)."""

    def __init__(self, store: PostgresController) -> None:
        self.store = store
        self.statements: list[tuple[str, list]] = []
        read, together = store._read, store._read_together

        def recording(sql: str, params=()) -> list[tuple]:
            self.statements.append((sql, list(params)))
            return read(sql, params)

        def recording_together(statements: list[tuple[str, list]]) -> list[list[tuple]]:
            self.statements += [(sql, list(params)) for sql, params in statements]
            return together(statements)

        def recording_stream(sql: str, params: list):
            self.statements.append((sql, list(params)))
            return stream(sql, params)

        stream = store._stream
        store._read = recording  # type: ignore[method-assign]
        store._read_together = recording_together  # type: ignore[method-assign]
        store._stream = recording_stream  # type: ignore[method-assign]
        self._plain = read

    def rows(self) -> int:
        total = 0
        for sql, params in self.statements:
            (plan,), = self._plain(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)[0]
            total += _node_rows(plan["Plan"])
        self.statements.clear()
        return total


def _node_rows(node: dict) -> int:
    own = int(node.get("Actual Rows", 0) * node.get("Actual Loops", 1))
    own += int(node.get("Rows Removed by Filter", 0) * node.get("Actual Loops", 1))
    return own + sum(_node_rows(child) for child in node.get("Plans", []))


@pytest.mark.slow
def test_a_page_deep_in_the_listing_costs_what_an_early_one_does(pg_cluster, tmp_path: Path) -> None:
    """At 10x the routes, a page near the end of the listing reads about as many rows as at
    1x, and about as many as the second page (reading the stream to count, or skipping with
    OFFSET, would make it grow with the routes before it)."""
    per_page: dict[tuple, float] = {}
    pages: dict[tuple, list[int]] = {}
    for n in (1_500, 15_000):  # per vnet, three vnets
        c = _store(pg_cluster.new_database(), tmp_path / f"s{n}")
        _fill(c, n)
        c._read("ANALYZE")
        counter = _RowsRead(c)
        for deleted in (False, None):  # live routes; every route (the API's default)
            seen, costs, offset = set(), [], 0
            while True:
                texts, total = c.route_page_json(RouteFilter(is_deleted=deleted), offset, 500, drop_nulls=True)
                costs.append(counter.rows())
                seen |= {json.loads(t)["id"] for t in texts}
                offset += len(texts)
                if len(texts) < 500:
                    break
            assert total == len(seen) == 3 * n
            per_page[n, deleted] = statistics.median(costs[-10:])
            pages[n, deleted] = costs
        c.close()
    for deleted in (False, None):
        big = pages[15_000, deleted]
        assert per_page[15_000, deleted] <= 1.5 * per_page[1_500, deleted] + 50, per_page
        assert per_page[15_000, deleted] <= 1.5 * statistics.median(big[1:11]) + 50, big[:12]
