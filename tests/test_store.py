"""The local controller on real SQLite files: lookups against brute force, rules, failure modes."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ENGINES, open_engine
from warpcli.controllers.local import LocalController
from warpcli.controllers.local.schema import SCHEMA_VERSION
from warpcli.controllers.local.store import DB_NAME, token_key
from warpcli.core import service
from warpcli.core.cidr import BITS, Network, network_of, parse_network
from warpcli.core.controller import RouteSpec
from warpcli.core.errors import BulkImportError, Conflict, NotFound, StateError
from warpcli.core.model import RouteFilter
from warpcli.core.tokens import parse_tunnel_token, token_digest
from warpcli.secret_stores.file_store import FileStore

BASE = {4: 0x0A000000, 6: 0x20010DB8 << 96}


def make_controller(state: Path, **kw) -> LocalController:
    return LocalController(state, secrets=lambda: FileStore(state / "secrets.json"), **kw)


@pytest.fixture(params=ENGINES)
def ctrl(request: pytest.FixtureRequest, tmp_path: Path):
    """The store on each engine: SQLite, and PostgreSQL on the session's private cluster."""
    c = open_engine(request.param, tmp_path / "state", request)
    yield c
    c.close()


def reopen(c: LocalController) -> LocalController:
    """A second controller on the same store."""
    from warpcli.controllers.local.interface import open_store

    return open_store(getattr(c, "url", None), c.state_dir, secrets=lambda: FileStore(c.state_dir / "secrets.json"))


def state_of(c: LocalController) -> dict:
    """Every row, whatever the engine (for "nothing changed" checks)."""
    from warpcli.controllers.local.copy import dump

    return dump(c)


def sql_dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def net(text: str) -> Network:
    return parse_network(text)


def ids(routes) -> set[str]:
    return {r.id for r in routes}


# -- property tests against brute force --------------------------------------------------------------


@st.composite
def small_networks(draw) -> Network:
    v = draw(st.sampled_from([4, 6]))
    bits = BITS[v]
    kind = draw(st.sampled_from(["low", "low", "low", "short", "edge"]))
    if kind == "low":  # 64 addresses: dense nesting
        return network_of(v, BASE[v] | draw(st.integers(0, 63)), draw(st.integers(bits - 6, bits)))
    if kind == "short":
        return network_of(v, BASE[v], draw(st.integers(0, bits - 6)))
    return network_of(v, draw(st.sampled_from([0, (1 << bits) - 1])), draw(st.integers(0, bits)))


@st.composite
def scenarios(draw):
    """Routes as (vnet index, network, tunnel index, fate); fate is live, deleted or deleted-then-re-added."""
    n_vnets = draw(st.integers(2, 3))
    size = draw(st.integers(0, 10))
    pool = draw(st.lists(small_networks(), min_size=size, max_size=size, unique=True))
    rows = []
    for n in pool:
        for v in range(n_vnets):
            if draw(st.booleans()):
                rows.append((v, n, draw(st.integers(0, 1)), draw(st.sampled_from(["live", "live", "deleted", "readded"]))))
    rows = draw(st.permutations(rows))
    queries = draw(st.lists(small_networks(), max_size=6))
    return n_vnets, rows, queries


def probe_addresses(nets) -> set[tuple[int, int]]:
    out = {(v, a) for v in (4, 6) for a in (0, (1 << BITS[v]) - 1, BASE[v], BASE[v] | 63, BASE[v] | 64)}
    for n in nets:
        for a in (n.lo, n.hi, n.lo - 1, n.hi + 1):
            if 0 <= a < 1 << BITS[n.version]:
                out.add((n.version, a))
    return out


@given(scenarios())
def test_lookups_and_filters_match_brute_force(scenario):
    n_vnets, rows, queries = scenario
    with tempfile.TemporaryDirectory() as tmp:
        c = make_controller(Path(tmp) / "state")
        try:
            _check_scenario(c, n_vnets, rows, queries)
        finally:
            c.close()


@pytest.mark.slow
@settings(max_examples=30)
@given(scenario=scenarios())
def test_lookups_and_filters_match_brute_force_on_postgresql(pg_cluster, scenario):
    """The same oracle on PostgreSQL (a fresh database per example; fewer examples: each costs one)."""
    from warpcli.controllers.local.postgres import PostgresController, close_pool

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        url = pg_cluster.new_database()
        c = PostgresController(url, state_dir=state, secrets=lambda: FileStore(state / "secrets.json"))
        try:
            _check_scenario(c, *scenario)
        finally:
            close_pool(url)


def _check_scenario(c: LocalController, n_vnets: int, rows, queries) -> None:
    tunnels = [c.create_tunnel("t0"), c.create_tunnel("t1")]
    vnets = [c.list_virtual_networks(is_default=True)[0]]
    vnets += [c.create_virtual_network(f"v{i}") for i in range(1, n_vnets)]

    live: list[tuple[int, Network, str]] = []  # (vnet index, network, route id)
    deleted: set[str] = set()
    for v, n, t, fate in rows:
        route = c.create_route(n, tunnels[t].id, virtual_network_id=vnets[v].id)
        if fate == "live":
            live.append((v, n, route.id))
            continue
        c.delete_route(route.id)
        deleted.add(route.id)
        if fate == "readded":  # a soft-deleted CIDR does not block the same CIDR again
            again = c.create_route(n, tunnels[1 - t].id, virtual_network_id=vnets[v].id)
            live.append((v, n, again.id))

    # every live route, in each vnet, by the default filter; deleted ones only when asked for
    assert ids(c.list_routes()) == {rid for _, _, rid in live}
    assert ids(c.list_routes(RouteFilter(is_deleted=True))) == deleted
    assert ids(c.list_routes(RouteFilter(is_deleted=None))) == {rid for _, _, rid in live} | deleted
    for v, vnet in enumerate(vnets):
        assert ids(c.list_routes(RouteFilter(virtual_network_id=vnet.id))) == {
            rid for w, _, rid in live if w == v
        }
    for r in c.list_routes(RouteFilter(is_deleted=True)):
        assert r.deleted_at is not None

    # route get: the longest-prefix match within the vnet
    all_nets = [n for _, n, _, _ in rows] + list(queries)
    for version, address in probe_addresses(all_nets):
        for v, vnet in enumerate(vnets):
            containing = [(n.prefixlen, rid) for w, n, rid in live if w == v and n.contains_address(version, address)]
            expected = max(containing)[1] if containing else None
            got = c.get_route_by_ip(version, address, virtual_network_id=vnet.id)
            assert (got.id if got else None) == expected, (vnet.name, version, hex(address))
            if v == 0:
                default = c.get_route_by_ip(version, address)
                assert (default.id if default else None) == expected

    # --within (network_subset) and --contains (network_superset), with and without a vnet
    for q in set(all_nets):
        subset = {(w, rid) for w, n, rid in live if q.contains(n)}
        superset = {(w, rid) for w, n, rid in live if n.contains(q)}
        assert ids(c.list_routes(RouteFilter(network_subset=q))) == {rid for _, rid in subset}
        assert ids(c.list_routes(RouteFilter(network_superset=q))) == {rid for _, rid in superset}
        for v, vnet in enumerate(vnets):
            got = ids(c.list_routes(RouteFilter(network_subset=q, virtual_network_id=vnet.id)))
            assert got == {rid for w, rid in subset if w == v}
            got = ids(c.list_routes(RouteFilter(network_superset=q, virtual_network_id=vnet.id)))
            assert got == {rid for w, rid in superset if w == v}
        deleted_within = ids(c.list_routes(RouteFilter(network_subset=q, is_deleted=True)))
        assert deleted_within <= deleted

    # the overlap sweep's input: every live route once, in address order (from the route_sweep index)
    entries = list(c.route_entries())
    assert sorted(e[0] for e in entries) == sorted(rid for _, _, rid in live)
    order = [(version, lo, plen) for _, _, version, lo, plen, _, _ in entries]
    assert order == sorted(order)
    # routes over this host's networks: inside or around each one, each once, by indexed queries
    connected = sorted({str(q) for q in queries})
    hits = service.connected_overlaps(c, connected)
    assert len(hits) == len({(h["connected"], h["id"]) for h in hits})
    assert {(h["connected"], h["id"]) for h in hits} == {
        (str(q), rid) for q in map(net, connected) for _, n, rid in live if q.contains(n) or n.contains(q)
    }


# -- routes -------------------------------------------------------------------------------------------


def test_duplicate_cidr_in_a_vnet_is_a_conflict_naming_the_tunnel(ctrl):
    t1, t2 = ctrl.create_tunnel("site-a"), ctrl.create_tunnel("site-b")
    first = ctrl.create_route(net("10.0.0.0/24"), t1.id, comment="first")
    before = state_of(ctrl)
    with pytest.raises(Conflict) as err:
        ctrl.create_route(net("10.0.0.0/24"), t2.id)
    assert err.value.existing is not None
    assert err.value.existing.id == first.id
    assert err.value.existing.network == "10.0.0.0/24"
    assert err.value.existing.tunnel_id == t1.id
    assert "'site-a'" in str(err.value)
    assert "10.0.0.0/24" in str(err.value)
    assert state_of(ctrl) == before


def test_same_cidr_in_another_vnet_is_allowed(ctrl):
    t = ctrl.create_tunnel("site-a")
    other = ctrl.create_virtual_network("staging")
    a = ctrl.create_route(net("10.0.0.0/24"), t.id)
    b = ctrl.create_route(net("10.0.0.0/24"), t.id, virtual_network_id=other.id)
    assert a.id != b.id and a.virtual_network_id != b.virtual_network_id
    assert ctrl.get_route_by_ip(4, 0x0A000001).id == a.id
    assert ctrl.get_route_by_ip(4, 0x0A000001, virtual_network_id=other.id).id == b.id


def test_update_route_into_a_clash_is_refused(ctrl):
    t = ctrl.create_tunnel("site-a")
    a = ctrl.create_route(net("10.0.0.0/24"), t.id)
    b = ctrl.create_route(net("10.0.1.0/24"), t.id)
    with pytest.raises(Conflict) as err:
        ctrl.update_route(b.id, network=net("10.0.0.0/24"))
    assert err.value.existing.id == a.id
    assert ctrl.update_route(b.id, comment="x").comment == "x"


def test_lookup_in_an_unknown_vnet_is_not_found(ctrl):
    with pytest.raises(NotFound):
        ctrl.get_route_by_ip(4, 1, virtual_network_id="00000000-0000-0000-0000-000000000000")


# -- deleting what routes depend on ------------------------------------------------------------------


def test_deleting_a_tunnel_with_routes_needs_force(ctrl):
    t = ctrl.create_tunnel("site-a")
    keep = ctrl.create_tunnel("site-b")
    r = ctrl.create_route(net("10.0.0.0/24"), t.id)
    other = ctrl.create_route(net("10.0.1.0/24"), keep.id)
    before = state_of(ctrl)
    with pytest.raises(Conflict) as err:
        ctrl.delete_tunnel(t.id)
    assert "1 route" in str(err.value)
    assert state_of(ctrl) == before

    gone = ctrl.delete_tunnel(t.id, force=True)
    assert gone.deleted_at is not None
    with pytest.raises(NotFound):
        ctrl.get_tunnel(t.id)
    assert ids(ctrl.list_routes()) == {other.id}
    assert ids(ctrl.list_routes(RouteFilter(is_deleted=True))) == {r.id}
    assert [x.id for x in ctrl.list_tunnels(is_deleted=True)] == [t.id]
    # the token went with it
    assert FileStore(ctrl.state_dir / "secrets.json").get(token_key(t.id)) is None


def test_deleting_a_tunnel_without_routes_needs_no_force(ctrl):
    t = ctrl.create_tunnel("site-a")
    ctrl.delete_tunnel(t.id)
    assert ctrl.list_tunnels() == []
    # the name is free again
    assert ctrl.create_tunnel("site-a").id != t.id


def test_deleting_a_vnet_with_routes_needs_force(ctrl):
    t = ctrl.create_tunnel("site-a")
    v = ctrl.create_virtual_network("staging")
    r = ctrl.create_route(net("10.0.0.0/24"), t.id, virtual_network_id=v.id)
    kept = ctrl.create_route(net("10.0.0.0/24"), t.id)
    before = state_of(ctrl)
    with pytest.raises(Conflict):
        ctrl.delete_virtual_network(v.id)
    assert state_of(ctrl) == before
    ctrl.delete_virtual_network(v.id, force=True)
    assert [x.name for x in ctrl.list_virtual_networks()] == ["default"]
    assert ids(ctrl.list_routes()) == {kept.id}
    assert ids(ctrl.list_routes(RouteFilter(is_deleted=True))) == {r.id}
    with pytest.raises(NotFound):
        ctrl.get_route_by_ip(4, 0x0A000001, virtual_network_id=v.id)


# -- the default virtual network ---------------------------------------------------------------------


def test_default_vnet_cannot_be_deleted_nor_undefaulted(ctrl):
    (default,) = ctrl.list_virtual_networks(is_default=True)
    before = state_of(ctrl)
    for force in (False, True):
        with pytest.raises(Conflict):
            ctrl.delete_virtual_network(default.id, force=force)
    with pytest.raises(Conflict):
        ctrl.update_virtual_network(default.id, is_default=False)
    assert state_of(ctrl) == before
    assert ctrl.list_virtual_networks(is_default=True) == [default]


def test_exactly_one_default_after_update(ctrl):
    (old,) = ctrl.list_virtual_networks(is_default=True)
    a = ctrl.create_virtual_network("a")
    b = ctrl.create_virtual_network("b")
    t = ctrl.create_tunnel("site")
    rb = ctrl.create_route(net("10.0.0.0/8"), t.id, virtual_network_id=b.id)
    for target in (a, b, b, old, a):
        updated = ctrl.update_virtual_network(target.id, is_default=True)
        assert updated.is_default_network
        defaults = ctrl.list_virtual_networks(is_default=True)
        assert [v.id for v in defaults] == [target.id]
        assert sum(v.is_default_network for v in ctrl.list_virtual_networks()) == 1
    ctrl.update_virtual_network(b.id, is_default=True)
    # None means the default vnet everywhere
    assert ctrl.get_route_by_ip(4, 0x0A000001).id == rb.id
    # the old default can now be deleted
    ctrl.delete_virtual_network(old.id)
    assert ctrl.create_virtual_network("c", is_default=True).is_default_network
    assert [v.name for v in ctrl.list_virtual_networks(is_default=True)] == ["c"]


# -- bulk import --------------------------------------------------------------------------------------


def test_import_is_all_or_nothing_and_reports_every_conflict(ctrl):
    t = ctrl.create_tunnel("site-a")
    (default,) = ctrl.list_virtual_networks(is_default=True)
    other = ctrl.create_virtual_network("other")
    existing = ctrl.create_route(net("10.0.0.0/24"), t.id)
    existing6 = ctrl.create_route(net("2001:db8::/64"), t.id, virtual_network_id=other.id)
    before = state_of(ctrl)

    specs = [
        RouteSpec(net("10.0.1.0/24"), t.id, default.id, row=1),
        RouteSpec(net("10.0.0.0/24"), t.id, default.id, row=2),  # clashes with an existing route
        RouteSpec(net("10.0.0.0/24"), t.id, other.id, row=3),  # fine: another vnet
        RouteSpec(net("10.0.1.0/24"), t.id, default.id, row=4),  # duplicate of row 1
        RouteSpec(net("2001:db8::/64"), t.id, other.id, row=5),  # clashes in the other vnet
        RouteSpec(net("10.0.2.0/24"), t.id, default.id, row=6),
        RouteSpec(net("10.0.1.0/24"), t.id, default.id, row=7),  # duplicate of row 1 again
    ]
    with pytest.raises(BulkImportError) as err:
        ctrl.import_routes(specs)
    problems = err.value.problems
    assert [p["row"] for p in problems] == [2, 4, 5, 7]
    by_row = {p["row"]: p for p in problems}
    assert by_row[2]["network"] == "10.0.0.0/24" and existing.id in by_row[2]["reason"]
    assert existing6.id in by_row[5]["reason"]
    assert "row 1" in by_row[4]["reason"] and "row 1" in by_row[7]["reason"]
    assert err.value.conflict
    assert state_of(ctrl) == before

    # the good rows alone go in, in one piece
    good = [s for s in specs if s.row in (1, 3, 6)]
    assert ctrl.import_routes(good) == 3
    assert {r.network for r in ctrl.list_routes(RouteFilter(virtual_network_id=default.id))} == {
        "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"
    }
    assert {r.network for r in ctrl.list_routes(RouteFilter(virtual_network_id=other.id))} == {
        "10.0.0.0/24", "2001:db8::/64"
    }
    # a second import of the same rows conflicts on every row
    with pytest.raises(BulkImportError) as err:
        ctrl.import_routes(good)
    assert [p["row"] for p in err.value.problems] == [1, 3, 6]


def test_import_of_only_input_duplicates_changes_nothing(ctrl):
    t = ctrl.create_tunnel("site-a")
    (default,) = ctrl.list_virtual_networks(is_default=True)
    before = state_of(ctrl)
    specs = [RouteSpec(net("10.0.0.0/8"), t.id, default.id, row=i) for i in (1, 2)]
    with pytest.raises(BulkImportError) as err:
        ctrl.import_routes(specs)
    assert [p["row"] for p in err.value.problems] == [2]
    assert state_of(ctrl) == before


# -- secrets ------------------------------------------------------------------------------------------


def test_tunnel_token_round_trips_and_never_reaches_the_database(ctrl):
    t = ctrl.create_tunnel("site-a")
    token = ctrl.get_tunnel_token(t.id)
    assert FileStore(ctrl.state_dir / "secrets.json").get(token_key(t.id)) == token
    fields = parse_tunnel_token(token)
    assert fields["t"] == t.id and fields["a"] == t.account_tag
    # a second controller on the same state reads the same token
    again = reopen(ctrl)
    try:
        assert again.get_tunnel_token(t.id) == token
    finally:
        again.close()

    dump = repr(state_of(ctrl))
    assert token not in dump
    assert fields["s"] not in dump
    assert token_digest(token) in dump  # only the digest is kept
    for f in ctrl.state_dir.glob(DB_NAME + "*"):
        raw = f.read_bytes()
        assert token.encode() not in raw and fields["s"].encode() not in raw
    for tunnel in ctrl.list_tunnels():
        assert token not in json.dumps(tunnel.to_dict())


def test_missing_token_is_not_found(ctrl):
    t = ctrl.create_tunnel("site-a")
    FileStore(ctrl.state_dir / "secrets.json").delete(token_key(t.id))
    with pytest.raises(NotFound):
        ctrl.get_tunnel_token(t.id)


# -- unusable state ------------------------------------------------------------------------------------


def _assert_refused_unchanged(state: Path) -> None:
    db = state / DB_NAME
    before = db.read_bytes()
    listing = sorted(p.name for p in state.iterdir())
    c = make_controller(state)
    try:
        for op in (c.list_tunnels, lambda: c.create_virtual_network("x"), lambda: c.get_route_by_ip(4, 1)):
            with pytest.raises(StateError) as err:
                op()
            assert str(db) in str(err.value)
            assert "\n" not in str(err.value)
    finally:
        c.close()
    assert db.read_bytes() == before
    assert sorted(p.name for p in state.iterdir()) == listing


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / DB_NAME).write_bytes(b"this is not a database, it is a text file\n" * 200)
    _assert_refused_unchanged(state)


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_a_newer_schema_is_refused_untouched(tmp_path, journal_mode):
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / DB_NAME)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE future (x)")
    conn.execute("INSERT INTO future VALUES (1)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    _assert_refused_unchanged(state)
    c = make_controller(state)
    try:
        with pytest.raises(StateError) as err:
            c.list_tunnels()
        assert "newer" in str(err.value)
    finally:
        c.close()


def test_a_locked_database_makes_writes_fail_with_state_error(tmp_path):
    state = tmp_path / "state"
    c = make_controller(state, lock_timeout=0.2)
    c.create_tunnel("before")
    secrets_before = (state / "secrets.json").read_bytes()
    holder = sqlite3.connect(state / DB_NAME, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StateError) as err:
            c.create_tunnel("during")
        assert "locked" in str(err.value)
        with pytest.raises(StateError):
            c.create_virtual_network("during")
        # a controller opened while the lock is held fails the same way
        late = make_controller(state, lock_timeout=0.2)
        try:
            with pytest.raises(StateError):
                late.create_virtual_network("during")
        finally:
            late.close()
        assert (state / "secrets.json").read_bytes() == secrets_before
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # once released, writes go through and nothing half-done remains
    c.create_tunnel("after")
    assert [t.name for t in c.list_tunnels()] == ["after", "before"]
    assert [v.name for v in c.list_virtual_networks()] == ["default"]
    c.close()
