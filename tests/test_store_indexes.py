"""The route indexes: which queries they serve (SQLite's own query plans) and the v3 -> v4 migration.

Row 3 of the performance issue asks for no full scans on a large store; these plans are
what makes that true, checked here without timing anything.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from warpcli.controllers.local import LocalController
from warpcli.controllers.local.schema import MIGRATIONS
from warpcli.core import service
from warpcli.core.cidr import parse_network
from warpcli.core.model import RouteFilter
from warpcli.secret_stores.file_store import FileStore


def _controller(state: Path) -> LocalController:
    return LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))


@pytest.fixture
def ctrl(tmp_path: Path):
    c = _controller(tmp_path / "s")
    t = c.create_tunnel("office")
    other = c.create_virtual_network("staging")
    for cidr in ("10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "2001:db8::/32"):
        c.create_route(parse_network(cidr), t.id)
        c.create_route(parse_network(cidr), t.id, virtual_network_id=other.id)
    yield c
    c.close()


def _plan(c: LocalController, sql: str, params: list | tuple = ()) -> str:
    return " | ".join(row[3] for row in c.conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_route_queries_seek_indexes_and_never_sort(ctrl: LocalController) -> None:
    vnet = ctrl.list_virtual_networks()[0].id
    filters = {
        "list": RouteFilter(virtual_network_id=vnet),
        "within": RouteFilter(virtual_network_id=vnet, network_subset=parse_network("10.0.0.0/8")),
        "contains": RouteFilter(virtual_network_id=vnet, network_superset=parse_network("10.1.2.3")),
        "within, every vnet": RouteFilter(network_subset=parse_network("10.0.0.0/8")),
    }
    for name, flt in filters.items():
        for scan in ctrl._scans(flt):
            sql, params = ctrl._route_query(scan)
            plan = _plan(ctrl, sql + " ORDER BY r.version, r.lo, r.prefixlen", params)
            assert "USING INDEX route_cidr" in plan and "TEMP B-TREE" not in plan, (name, plan)
            assert "SCAN r" not in plan, (name, plan)


def test_route_get_walks_the_candidates_downwards_without_sorting(ctrl: LocalController) -> None:
    vnet = ctrl.list_virtual_networks()[0].id
    seen: list[str] = []
    ctrl.conn.set_trace_callback(seen.append)
    try:
        assert ctrl.get_route_by_ip(4, 0x0A010203, virtual_network_id=vnet).network == "10.1.2.0/24"
        assert ctrl.get_route_by_ip(4, 0x0A020304, virtual_network_id=vnet).network == "10.0.0.0/8"
        assert ctrl.get_route_by_ip(4, 0x0B000001, virtual_network_id=vnet) is None
    finally:
        ctrl.conn.set_trace_callback(None)
    probe = next(sql for sql in seen if "LIMIT 1" in sql)
    plan = " | ".join(row[3] for row in ctrl.conn.execute("EXPLAIN QUERY PLAN " + probe))
    assert "USING INDEX route_cidr" in plan and "TEMP B-TREE" not in plan, plan


def test_the_overlap_input_streams_from_its_covering_index_in_address_order(ctrl: LocalController) -> None:
    sql = ("SELECT id, network, version, lo, prefixlen, tunnel_id, virtual_network_id FROM routes "
           "INDEXED BY route_sweep WHERE deleted_at IS NULL ORDER BY version, lo, prefixlen")
    plan = _plan(ctrl, sql)
    assert plan == "SCAN routes USING COVERING INDEX route_sweep", plan
    entries = list(ctrl.route_entries())
    assert [e[1] for e in entries] == ["10.0.0.0/8"] * 2 + ["10.1.0.0/16"] * 2 + ["10.1.2.0/24"] * 2 + \
        ["2001:db8::/32"] * 2
    report = service.overlaps(ctrl)
    assert sorted(len(g.inner) for g in report.nested) == [2, 2]
    assert [s.prefixlen for s in report.shared] == [8, 16, 24, 32]


def test_a_version_3_store_gets_the_version_4_indexes_with_its_routes_intact(tmp_path: Path) -> None:
    state = tmp_path / "s"
    state.mkdir()
    conn = sqlite3.connect(state / "state.db")
    for migration in MIGRATIONS[:3]:
        conn.executescript(migration)
    LocalController._seed(conn)
    vnet = conn.execute("SELECT id FROM virtual_networks").fetchone()[0]
    conn.execute("INSERT INTO tunnels(id, name, token_sha256, created_at) VALUES ('t1', 'old', 'x', 'now')")
    for i, (cidr, lo, hi, plen) in enumerate([("10.0.0.0/8", 0x0A000000, 0x0AFFFFFF, 8),
                                               ("10.1.0.0/16", 0x0A010000, 0x0A01FFFF, 16)]):
        conn.execute("INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, "
                     "created_at) VALUES (?, ?, 4, ?, ?, ?, 't1', ?, 'now')",
                     (f"r{i}", cidr, lo.to_bytes(4, "big"), hi.to_bytes(4, "big"), plen, vnet))
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()

    c = _controller(state)
    try:
        indexes = {name for (name,) in c.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                      "AND tbl_name = 'routes' AND name NOT LIKE 'sqlite_%'")}
        assert indexes == {"route_cidr", "route_sweep", "route_tunnel"}
        assert [e[0] for e in c.route_entries()] == ["r0", "r1"]
        assert c.get_route_by_ip(4, 0x0A010203).id == "r1"
        assert [g.inner[0][0].id for g in service.overlaps(c).nested] == ["r1"]
    finally:
        c.close()
