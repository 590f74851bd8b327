"""Several hubs per virtual network (issue 13): the model in the embedded store (SQLite and
PostgreSQL), the served controller's extension API and its client, the old single-hub calls."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cfstub.server import CloudflareStandIn
from tests.conftest import ENGINES, open_engine
from warpcli.controllers.cloudflare import ApiClient, CloudflareController
from warpcli.controllers.local import LocalController
from warpcli.controllers.local.schema import MIGRATIONS
from warpcli.core.cidr import format_address, parse_address
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.core.keys import generate_keypair
from warpcli.core.model import HUB_ADDRESS, Hub, best_hub
from warpcli.secret_stores.file_store import FileStore


def _key() -> str:
    return generate_keypair().public_key


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path):
    s = open_engine(request.param, tmp_path / "s", request)
    yield s
    s.close()


def test_a_vnet_holds_several_hubs_preferred_first(store) -> None:
    t = store.create_tunnel("office")
    c1 = store.register_connector(t.id, _key())
    k1, k2, k3 = _key(), _key(), _key()
    h1 = store.register_hub(k1, "192.0.2.1:51820", priority=100)
    h2 = store.register_hub(k2, "192.0.2.2:51820", priority=200)
    c2 = store.register_connector(t.id, _key())
    h3 = store.register_hub(k3, "192.0.2.3:51820")
    # the first hub keeps the well-known address; the others share the connectors' pool
    assert h1.address == HUB_ADDRESS
    addresses = [h1.address, h2.address, h3.address, c1.address, c2.address]
    assert len(set(addresses)) == 5, addresses
    assert (c1.address, h2.address, c2.address, h3.address) == ("100.96.0.2", "100.96.0.3", "100.96.0.4",
                                                                "100.96.0.5")
    assert h3.priority == 100
    assert [h.id for h in store.list_hubs()] == [h2.id, h1.id, h3.id]  # priority, then address
    assert store.get_hub().id == h2.id  # the old single-hub call: the preferred hub
    # re-registering keeps the address and (without a priority) the priority
    again = store.register_hub(k2, "192.0.2.2:51820")
    assert (again.id, again.address, again.priority) == (h2.id, h2.address, 200)
    lowered = store.register_hub(k2, "192.0.2.2:51820", priority=50)
    assert lowered.priority == 50 and store.get_hub().id == h1.id
    with pytest.raises(Conflict, match="another hub"):
        store.register_hub(k2, "192.0.2.1:51820")  # moving onto another hub's endpoint
    with pytest.raises(InvalidInput):
        store.register_hub(_key(), "192.0.2.9:51820", priority=255)
    with pytest.raises(Conflict, match="3 hubs"):
        store.delete_hub()  # several: say which
    assert store.delete_hub(hub_id=h1.id).id == h1.id
    with pytest.raises(NotFound):
        store.delete_hub(hub_id=h1.id)
    assert [h.id for h in store.list_hubs()] == [h3.id, h2.id]
    # the freed well-known address goes to the next hub added
    h4 = store.register_hub(_key(), "192.0.2.4:51820")
    assert h4.address == HUB_ADDRESS
    versions = {store.state_version(None)}
    store.register_hub(k3, "192.0.2.3:51820", priority=7)
    versions.add(store.state_version(None))
    assert len(versions) == 2, "a hub's priority is part of the state connectors follow"


def test_hub_and_connector_keys_stay_apart(store) -> None:
    t = store.create_tunnel("office")
    hk = _key()
    store.register_hub(hk, "192.0.2.1:51820")
    store.register_hub(_key(), "192.0.2.2:51820")
    with pytest.raises(Conflict):
        store.register_connector(t.id, hk)
    ck = store.register_connector(t.id, _key()).public_key
    with pytest.raises(Conflict):
        store.register_hub(ck, "192.0.2.3:51820")


def test_a_schema_4_state_keeps_its_hub(tmp_path: Path) -> None:
    state = tmp_path / "s"
    state.mkdir()
    conn = sqlite3.connect(state / "state.db")
    for step in MIGRATIONS[:4]:
        conn.executescript(step)
    LocalController._seed(conn)
    vnet = conn.execute("SELECT id FROM virtual_networks").fetchone()[0]
    conn.execute("INSERT INTO hubs(id, virtual_network_id, public_key, endpoint, created_at, updated_at) "
                 "VALUES ('h1', ?, 'k1', '192.0.2.1:51820', 'now', 'now')", (vnet,))
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    ctrl = LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))
    try:
        old = ctrl.get_hub()
        assert (old.id, old.address, old.priority) == ("h1", HUB_ADDRESS, 100)
        new = ctrl.register_hub("k2", "192.0.2.2:51820", priority=150)
        assert new.address == "100.96.0.2" and [h.id for h in ctrl.list_hubs()] == [new.id, "h1"]
    finally:
        ctrl.close()


# -- address allocation against an oracle ------------------------------------------------------
_OPS = st.lists(st.tuples(st.sampled_from(["connector", "hub", "drop-connector", "drop-hub"]),
                          st.integers(0, 7)), max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_device_addresses_are_the_lowest_free_across_connectors_and_hubs(tmp_path_factory, ops) -> None:
    state = tmp_path_factory.mktemp("alloc")
    ctrl = LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))
    try:
        t = ctrl.create_tunnel("office")
        base = parse_address(HUB_ADDRESS)[1]
        taken: dict[str, int] = {}  # oracle: key -> address (the vnet's first hub aside)
        hubs: dict[str, str] = {}  # key -> hub id
        connectors: dict[str, str] = {}
        for op, n in ops:
            if op == "connector":
                c = ctrl.register_connector(t.id, f"c{n}")
                if f"c{n}" not in taken:
                    want = next(a for a in range(base + 1, base + 100) if a not in taken.values())
                    taken[f"c{n}"] = want
                    connectors[f"c{n}"] = c.id
                assert parse_address(c.address)[1] == taken[f"c{n}"]
            elif op == "hub":
                h = ctrl.register_hub(f"h{n}", f"192.0.2.{n}:51820")
                if f"h{n}" not in taken:
                    if base not in taken.values():
                        want = base
                    else:
                        want = next(a for a in range(base + 1, base + 100) if a not in taken.values())
                    taken[f"h{n}"] = want
                    hubs[f"h{n}"] = h.id
                assert h.address == format_address(4, taken[f"h{n}"])
            elif op == "drop-connector" and f"c{n}" in connectors:
                ctrl.delete_connector(connectors.pop(f"c{n}"))
                del taken[f"c{n}"]
            elif op == "drop-hub" and f"h{n}" in hubs:
                ctrl.delete_hub(hub_id=hubs.pop(f"h{n}"))
                del taken[f"h{n}"]
        live = [c.address for c in ctrl.list_connectors()] + [h.address for h in ctrl.list_hubs()]
        assert len(live) == len(set(live))
    finally:
        ctrl.close()


@given(st.lists(st.tuples(st.integers(1, 254), st.integers(1, 50)), min_size=1, max_size=8, unique_by=lambda x: x[1]))
def test_the_best_hub_is_the_highest_priority_then_the_lowest_address(pairs) -> None:
    hubs = [Hub(id=str(i), virtual_network_id="v", public_key="k", endpoint="e", address=f"100.96.0.{a}",
                created_at="", updated_at="", priority=p) for i, (p, a) in enumerate(pairs)]
    best = best_hub(hubs)
    assert best is not None
    for h in hubs:  # brute force: nobody beats it
        assert (h.priority, -parse_address(h.address)[1]) <= (best.priority, -parse_address(best.address)[1])


# -- the served controller --------------------------------------------------------------------
@pytest.fixture
def served(tmp_path: Path) -> Iterator[CloudflareStandIn]:
    stand_in = CloudflareStandIn(tmp_path / "cf-state", warpcli_extension=True).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
    problems = stand_in.problems()
    assert not problems, "the server saw problems:\n  " + "\n  ".join(problems)


def _client(cf: CloudflareStandIn, token: str, tunnel_id: str | None = None) -> CloudflareController:
    return CloudflareController(ApiClient(cf.url, token, tunnel_token=tunnel_id is not None), cf.account_id,
                                tunnel_id=tunnel_id)


def test_the_served_controller_lists_and_removes_hubs(served: CloudflareStandIn) -> None:
    admin = _client(served, served.token)
    local = served.controller()
    t = local.create_tunnel("site-a")
    token = local.get_tunnel_token(t.id)
    default = local.list_virtual_networks(is_default=True)[0]
    h1 = admin.register_hub(_key(), "192.0.2.1:51820", priority=100)
    h2 = admin.register_hub(_key(), "192.0.2.2:51820", priority=200)
    assert (h1.priority, h2.priority, h1.address, h2.address) == (100, 200, HUB_ADDRESS, "100.96.0.2")
    assert admin.list_hubs() == [h2, h1]
    assert admin.get_hub() == h2  # the old single-hub endpoint answers the preferred hub
    # a connector with only its tunnel token sees every hub (peers and enrolment answers)
    conn = _client(served, token, tunnel_id=t.id)
    c = conn.register_connector(t.id, _key())
    assert c.address == "100.96.0.3"
    assert conn.list_hubs(default.id) == [h2, h1] and conn.get_hub(default.id) == h2
    url = f"{served.url}/accounts/{served.account_id}/warpcli/virtual_networks/{default.id}"
    auth = {"Authorization": f"Bearer {served.token}"}
    r = requests.put(f"{url}/hub", json={"public_key": _key(), "endpoint": "192.0.2.3:51820", "priority": 0},
                     headers=auth, timeout=10)
    assert r.status_code == 400 and "priority" in r.json()["errors"][0]["message"]
    r = requests.put(f"{url}/hub", json={"public_key": _key(), "endpoint": "192.0.2.3:51820", "priority": "9"},
                     headers=auth, timeout=10)
    assert r.status_code == 400
    r = requests.delete(f"{url}/hub", headers=auth, timeout=10)
    assert r.status_code == 409, r.text  # several hubs: the old DELETE refuses to guess
    assert admin.delete_hub(hub_id=h2.id) == h2
    assert admin.list_hubs() == [h1]
    with pytest.raises(NotFound):
        admin.delete_hub(hub_id=h2.id)
    assert admin.delete_hub() == h1  # one hub left: the old DELETE removes it
    assert admin.list_hubs() == [] and conn.list_hubs(default.id) == []
    admin.close()
    conn.close()
