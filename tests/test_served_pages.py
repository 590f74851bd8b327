"""Paginated route listings: what a page answers, and what it costs the store.

The oracle is the generic ``Controller.route_page_json`` (read the stream, count it);
the local store counts and seeks in SQL instead and shares what it learned between
the server's threads (``warpcli.controllers.local.readcache``). Cost is counted in
SQLite virtual-machine steps (a progress handler), never in seconds.
"""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_server import AUTH, opener
from warpcli.controllers.local import LocalController
from warpcli.core.cidr import parse_network
from warpcli.core.controller import Controller, RouteSpec
from warpcli.core.model import RouteFilter
from warpcli.secret_stores import open_secret_store


def _store(state: Path) -> LocalController:
    return LocalController(state, secrets=lambda: open_secret_store("file", state))


def _fill(state: Path, per_vnet: int, vnets: int = 3) -> None:
    """``per_vnet`` routes in each of ``vnets`` vnets (the default one among them), over two tunnels."""
    with _store(state) as c:
        tunnels = [c.create_tunnel(f"t{i}").id for i in range(2)]
        ids = [c.list_virtual_networks(is_default=True)[0].id]
        ids += [c.create_virtual_network(f"v{i}").id for i in range(1, vnets)]
        c.import_routes(
            RouteSpec(parse_network(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"), tunnels[i % 2], vid, "", i)
            for vid in ids for i in range(per_vnet)
        )


# -- what a page answers --------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three vnets, two tunnels, v4 and v6, deleted routes and a CIDR deleted then added again."""
    state = tmp_path_factory.mktemp("pages") / "state"
    with _store(state) as c:
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
        again = made[7]  # deleted above: the same CIDR, live again
        c.create_route(again.net, again.tunnel_id, virtual_network_id=again.virtual_network_id)
    return state


def _filters(c: LocalController) -> st.SearchStrategy[RouteFilter]:
    vnets = [None, *(v.id for v in c.list_virtual_networks())]
    tunnels = [None, *(t.id for t in c.list_tunnels())]
    subsets = [None, parse_network("10.0.0.0/14"), parse_network("2001:db8::/32")]
    return st.builds(
        RouteFilter, virtual_network_id=st.sampled_from(vnets), tunnel_id=st.sampled_from(tunnels),
        network_subset=st.sampled_from(subsets), comment=st.sampled_from([None, "odd"]),
        is_deleted=st.sampled_from([False, True, None]),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_pages_are_the_streams_pages(mixed: Path, data: st.DataObject) -> None:
    """Any filter, any page size, walked page by page (the store remembers where each page
    ended) or asked at an arbitrary offset: the same rows and count as reading the stream."""
    with _store(mixed) as c:
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


def test_a_commit_elsewhere_is_seen_by_the_next_page(tmp_path: Path) -> None:
    """The shared cache never answers for a database that changed since: a route added or
    deleted through another connection changes the count and the rows of the next page."""
    state = tmp_path / "state"
    _fill(state, 30)
    with _store(state) as reader, _store(state) as other, _store(state) as writer:
        flt = RouteFilter()
        page1, total = reader.route_page_json(flt, 0, 10)
        assert (len(page1), total) == (10, 90)
        assert other.route_page_json(flt, 10, 10)[1] == 90  # the cache is warm for both
        default = writer.list_virtual_networks(is_default=True)[0].id
        added = writer.create_route(parse_network("9.9.9.0/24"), writer.list_tunnels()[0].id,
                                    virtual_network_id=default)
        for c in (reader, other, writer):
            first, total = c.route_page_json(flt, 0, 10)
            assert total == 91
            assert json.loads(first[0])["id"] == added.id  # 9.9.9.0/24 sorts before 10.*
        writer.delete_route(added.id)
        for c in (reader, other, writer):
            assert [json.loads(t) for t in c.route_page_json(flt, 10, 10)[0]] == \
                [json.loads(t) for t in Controller.route_page_json(c, flt, 10, 10)[0]]
            assert c.route_page_json(flt, 0, 10)[1] == 90


# -- through the server ------------------------------------------------------------------
class _Counting(LocalController):
    """A store whose connection counts the SQLite VM steps it runs (in hundreds)."""

    steps = itertools.count()

    def _open(self):
        conn = super()._open()
        conn.set_progress_handler(lambda: next(_Counting.steps) and 0, 100)
        return conn


def _walk(base: str, account: str, per_page: int) -> tuple[list[dict], list[int]]:
    """Every page of GET teamnet/routes in turn: the routes, and the VM steps each page took."""
    routes, costs, page = [], [], 1
    with requests.Session() as s:
        while True:
            before = next(_Counting.steps)
            r = s.get(f"{base}/accounts/{account}/teamnet/routes", headers=AUTH,
                      params={"page": page, "per_page": per_page, "is_deleted": "false"}, timeout=60)
            costs.append(next(_Counting.steps) - before - 1)
            assert r.status_code == 200, r.text
            body = r.json()
            routes += body["result"]
            assert body["result_info"]["count"] == len(body["result"])
            if len(body["result"]) < per_page:
                return routes, costs
            page += 1


@pytest.mark.slow
def test_a_page_deep_in_the_listing_costs_what_an_early_one_does(tmp_path: Path) -> None:
    """At 10x the routes, a page near the end of the listing costs the store about what it
    does at 1x, and about what the second page costs (reading the stream to count, or
    skipping with OFFSET, would make it grow with the routes before it)."""
    per_page, pages = {}, {}
    for n in (1_500, 15_000):  # per vnet, three vnets
        state = tmp_path / f"s{n}"
        _fill(state, n)
        with _serve(state, threads=4) as (base, account):
            routes, costs = _walk(base, account, 500)
        assert len(routes) == 3 * n
        assert len({r["id"] for r in routes}) == 3 * n
        per_page[n] = statistics.median(costs[-10:])
        pages[n] = costs
    assert per_page[15_000] <= 1.5 * per_page[1_500] + 50, per_page
    assert per_page[15_000] <= 1.5 * statistics.median(pages[15_000][1:11]) + 50, pages[15_000][:12]


def _serve(state: Path, **server_args):
    from contextlib import contextmanager

    from warpcli.server import close_controllers, create_app, make_server

    @contextmanager
    def run():
        with opener(state)() as c:
            account = c.account_id
        app = create_app(opener(state, _Counting), account_id=account, authorize=lambda t: t == AUTH_TOKEN)
        server = make_server(app, "127.0.0.1", 0, **server_args)
        server.start_in_thread()
        try:
            yield f"{server.url}/client/v4", account
        finally:
            server.stop()
            close_controllers(app)

    return run()


AUTH_TOKEN = AUTH["Authorization"].split()[1]


def test_the_served_listing_is_the_embedded_one(tmp_path: Path) -> None:
    """Every route once, in the embedded order, with total_count on every page, across
    server threads; a route added between two pages is counted by the next one."""
    state = tmp_path / "state"
    _fill(state, 40)
    with _store(state) as c:
        want = [{k: v for k, v in json.loads(t).items() if v is not None} for t in c.list_routes_json()]
    with _serve(state, threads=4) as (base, account):
        routes, _ = _walk(base, account, 7)
        assert routes == want
        url = f"{base}/accounts/{account}/teamnet/routes"
        with requests.Session() as s:
            totals = {s.get(url, headers=AUTH, params={"per_page": 5, "page": p}).json()["result_info"]["total_count"]
                      for p in range(1, 9)}
            assert totals == {120}
            r = s.post(url, headers=AUTH, json={"network": "192.0.2.0/24", "tunnel_id": want[0]["tunnel_id"]})
            assert r.status_code == 200, r.text
            totals = {s.get(url, headers=AUTH, params={"per_page": 5, "page": p}).json()["result_info"]["total_count"]
                      for p in range(1, 9)}
            assert totals == {121}
