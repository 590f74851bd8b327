"""What runs: the hub's reports of its connectors (latest handshake, HA role), stored without moving
the state version, on SQLite and PostgreSQL, through the served extension and its client; the
tunnel status derived from them (core.liveness), against a brute-force oracle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cfstub.server import CloudflareStandIn
from tests.conftest import ENGINES, dump_state, open_engine
from warpcli.controllers.cloudflare import ApiClient, CloudflareController
from warpcli.core.errors import InvalidInput, NotFound
from warpcli.core.keys import generate_keypair
from warpcli.core.liveness import RECENT, ConnectorReport, ha_status, tunnel_status

TIMEOUT = 10
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ago(seconds: float) -> str:
    return _iso(datetime.now(UTC) - timedelta(seconds=seconds))


# -- the status, against an oracle ---------------------------------------------------------------
def _oracle(ages: list[float | None]) -> str:
    """Cloudflare's words, literally: every connection up, some up, none up (but one was), never run."""
    up = [a is not None and a <= RECENT for a in ages]
    if ages and all(up):
        return "healthy"
    if any(up):
        return "degraded"
    if any(a is not None for a in ages):
        return "down"
    return "inactive"


AGES = st.one_of(st.none(), st.sampled_from([0.0, RECENT - 0.001, RECENT, RECENT + 0.001, 1e6]),
                 st.floats(min_value=0, max_value=2 * RECENT))


@settings(deadline=None, max_examples=300)
@given(st.lists(AGES, max_size=6))
def test_tunnel_status_matches_the_oracle_at_the_thresholds(ages: list[float | None]) -> None:
    seen = [None if a is None else _iso(NOW - timedelta(seconds=a)) for a in ages]
    assert tunnel_status(seen, NOW) == _oracle([None if a is None else round(a, 6) for a in ages])


def test_ha_status_is_offline_unless_recently_seen() -> None:
    fresh, stale = _iso(NOW - timedelta(seconds=5)), _iso(NOW - timedelta(seconds=RECENT + 1))
    assert ha_status("active", fresh, NOW) == "active"
    assert ha_status("standby", fresh, NOW) == "passive"
    assert ha_status("fault", fresh, NOW) == "offline"
    assert ha_status("active", stale, NOW) == "offline"
    assert ha_status(None, None, NOW) == "offline"


# -- the stores: reports never move the state version ---------------------------------------------
@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    ctl = open_engine(request.param, tmp_path / "state", request)
    yield ctl
    ctl.close()


def test_reports_are_stored_and_leave_the_state_version_alone(store) -> None:
    t = store.create_tunnel("site-a")
    other = store.create_tunnel("site-b")
    vnet = store.list_virtual_networks(is_default=True)[0]
    a = store.register_connector(t.id, generate_keypair().public_key, version="0.1.0")
    b = store.register_connector(t.id, generate_keypair().public_key)
    assert [c.version for c in store.list_connectors(tunnel_id=t.id)] == ["0.1.0", None]
    assert [x.status for x in store.list_tunnels()] == ["inactive", "inactive"]
    before = store.state_version(vnet.id)

    pending = store.report_connectors(vnet.id, [
        ConnectorReport(a.id, last_seen=_ago(3), role="active", priority=200, role_changed_at=_ago(60)),
        ConnectorReport(b.id, last_seen=_ago(RECENT + 30), role="standby", priority=100),
        ConnectorReport("not-a-connector", last_seen=_ago(1)),  # retired meanwhile: ignored
    ])
    assert pending == []
    assert store.state_version(vnet.id) == before
    got = {c.id: c for c in store.list_connectors(tunnel_id=t.id)}
    assert (got[a.id].role, got[a.id].priority, got[a.id].version) == ("active", 200, "0.1.0")
    assert got[a.id].last_seen and got[a.id].role_changed_at
    assert (got[b.id].role, got[b.id].priority) == ("standby", 100)
    assert store.get_tunnel(t.id).status == "degraded"
    assert store.get_tunnel(other.id).status == "inactive"

    # a later report with fewer fields keeps what it does not say
    store.report_connectors(vnet.id, [ConnectorReport(b.id, last_seen=_ago(1))])
    assert {c.id: c.role for c in store.list_connectors(tunnel_id=t.id)}[b.id] == "standby"
    assert store.get_tunnel(t.id).status == "healthy"
    store.report_connectors(vnet.id, [ConnectorReport(a.id, last_seen=_ago(RECENT * 2)),
                                      ConnectorReport(b.id, last_seen=_ago(RECENT * 2))])
    assert [x.status for x in store.list_tunnels() if x.id == t.id] == ["down"]
    assert store.state_version(vnet.id) == before

    # a real change still moves it
    store.create_route("10.1.0.0/24", t.id)
    assert store.state_version(vnet.id) != before


def test_failover_requests_wait_until_their_replica_is_active(store) -> None:
    t = store.create_tunnel("site-a")
    vnet = store.list_virtual_networks(is_default=True)[0]
    a = store.register_connector(t.id, generate_keypair().public_key)
    b = store.register_connector(t.id, generate_keypair().public_key)
    before = store.state_version(vnet.id)
    asked = store.request_failover(t.id, b.id)
    assert (asked.connector_id, asked.address) == (b.id, b.address)
    pending = store.report_connectors(vnet.id, [ConnectorReport(a.id, role="active"),
                                                ConnectorReport(b.id, role="standby")])
    assert [(p.tunnel_id, p.connector_id, p.address) for p in pending] == [(t.id, b.id, b.address)]
    assert store.report_connectors(vnet.id, [ConnectorReport(b.id, role="active")]) == []
    assert store.report_connectors(vnet.id, []) == []
    assert store.state_version(vnet.id) == before
    with pytest.raises(NotFound):
        store.request_failover(t.id, "00000000-0000-4000-8000-000000000000")


def test_ha_settings_follow_cloudflares_modes(store) -> None:
    t = store.create_ha_tunnel("site-a")
    plain = store.create_tunnel("site-b")
    assert store.get_tunnel_ha(t.id).ha_mode == "none"
    assert (store.get_tunnel_ha(plain.id).ha_mode, store.get_tunnel_ha(plain.id).configuration_version) == \
        ("disabled", 0)
    local = store.set_tunnel_ha(t.id, "local", {"vips": [{"address": "10.1.0.1"}]})
    assert local.to_dict()["config"] == {"vips": [{"address": "10.1.0.1"}]}
    assert local.configuration_version == 2 and local.updated_at
    with pytest.raises(InvalidInput):
        store.set_tunnel_ha(t.id, "sideways")
    with pytest.raises(InvalidInput):
        store.set_tunnel_ha(t.id, "disabled", {"vips": []})
    # what is stored is answered back to Cloudflare's clients: only their shape goes in
    # (schemathesis found `{"#": {}}` stored and echoed, which the SDK's model cannot read)
    for bad in ({"#": {}}, {"vips": [{"address": "10.1.0.1"}], "extra": 1}, {"vips": "10.1.0.1"},
                {"vips": [{"address": "not-an-ip"}]}, {"vips": [{"address": "10.1.0.1", "x": 1}]},
                {"vips_previous": []}, {"vips": [{"address": "10.1.0.1"}] * 65}):
        with pytest.raises(InvalidInput):
            store.set_tunnel_ha(t.id, "local", bad)
    assert store.get_tunnel_ha(t.id) == local


def test_malformed_reports_are_refused_and_store_nothing(store) -> None:
    t = store.create_tunnel("site-a")
    vnet = store.list_virtual_networks(is_default=True)[0]
    a = store.register_connector(t.id, generate_keypair().public_key)
    for bad in (ConnectorReport(a.id, role="leader"), ConnectorReport(a.id, priority=300),
                ConnectorReport(a.id, last_seen="yesterday"), ConnectorReport(a.id, last_seen="2026-12-05T09:00:00")):
        with pytest.raises(InvalidInput):
            store.report_connectors(vnet.id, [ConnectorReport(a.id, role="active"), bad])
    assert store.list_connectors()[0].role is None


# -- over HTTP: the extension's report endpoint and its client ------------------------------------
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


def test_the_hub_reports_through_the_served_controller(served: CloudflareStandIn) -> None:
    ctl = served.controller()
    t = ctl.create_tunnel("site-a")
    vnet = ctl.list_virtual_networks(is_default=True)[0]
    token = ctl.get_tunnel_token(t.id)
    connector = _client(served, token, t.id)
    a = connector.register_connector(t.id, generate_keypair().public_key, version="9.9.9")
    assert a.version == "9.9.9"
    api = _client(served, served.token)
    version = api.state_version(vnet.id)
    state = dump_state(served.state_dir)

    assert api.report_connectors(vnet.id, [ConnectorReport(a.id, last_seen=_ago(2), role="active",
                                                           priority=150)]) == []
    assert api.state_version(vnet.id) == version
    [seen] = api.list_connectors()
    assert (seen.version, seen.role, seen.priority) == ("9.9.9", "active", 150) and seen.last_seen
    assert api.get_tunnel(t.id).status == "healthy"
    assert dump_state(served.state_dir) != state  # stored (in the reports table), yet no version moved

    api.request_failover(t.id, a.id)
    [pending] = api.report_connectors(vnet.id, [])
    assert (pending.tunnel_id, pending.connector_id, pending.address) == (t.id, a.id, a.address)

    path = f"{served.url}/accounts/{served.account_id}/warpcli/virtual_networks/{vnet.id}/hub/report"
    for body in ({"connectors": [{"id": a.id, "role": "boss"}]}, {"connectors": "all"},
                 {"connectors": [{"id": a.id, "priority": "high"}]}, {"connectors": [{"id": a.id, "x": 1}]}):
        resp = requests.post(path, json=body, headers={"Authorization": f"Bearer {served.token}"}, timeout=TIMEOUT)
        assert resp.status_code == 400, body
        assert resp.json()["errors"][0]["code"] == 1001
    # a connector's tunnel token may not report for the hub
    resp = requests.post(path, json={"connectors": []}, headers={"Authorization": f"Bearer {token}"},
                         timeout=TIMEOUT)
    assert resp.status_code == 403
    assert api.list_connectors()[0].role == "active"
    api.close()
    connector.close()


# -- the hub's side: what it reports, and failovers through the responder --------------------------
def test_the_hub_reports_handshakes_and_the_roles_its_responder_hears() -> None:
    from warpcli.core.model import Connector
    from warpcli.host.ha.hub_report import reports

    def conn(n: int, tunnel: str = "t1") -> Connector:
        return Connector(f"c{n}", tunnel, "v", f"key{n}", f"100.96.0.{n}", "2026-01-01T00:00:00Z")

    a, b, c, d = conn(2), conn(3), conn(4), conn(5, "t2")
    now = 1_800_000_000.0
    state = {"updated_at": now - 0.3,
             "replicas": {"t1": {"100.96.0.2": ["active", 200, 0.1], "100.96.0.3": ["standby", 100, 4.0]}},
             "changed": {"t1": {"100.96.0.2": now - 60}}}
    got = {r.connector_id: r for r in reports([a, b, c, d], {"key2": now - 5, "key3": now - 7}, state, now)}
    assert set(got) == {"c2", "c3"}  # c4, c5: never a handshake, no role: nothing to say
    assert (got["c2"].role, got["c2"].priority) == ("active", 200) and got["c2"].role_changed_at
    assert got["c3"].role == "fault"  # not heard for longer than a claim lasts
    assert got["c2"].last_seen.endswith("Z")
    stale = reports([a], {"key2": now - 5}, {**state, "updated_at": now - 60}, now)
    assert stale[0].role is None  # a responder that stopped writing says nothing of roles


def test_the_responder_passes_a_failover_to_its_replica_until_it_is_done(tmp_path: Path) -> None:
    import json

    from warpcli.host.ha import election
    from warpcli.host.ha.prober import HubResponder

    d = tmp_path / "hub-ha-wg0"
    d.mkdir()
    peers = {"100.96.0.2": {"public_key": "k2", "tunnel_id": "t1", "cidrs": []},
             "100.96.0.3": {"public_key": "k3", "tunnel_id": "t1", "cidrs": []}}
    (d / "peers.json").write_text(json.dumps({"ifname": "wg-none", "peers": peers}))
    (d / "failover.json").write_text(json.dumps({"t1": ["100.96.0.3", "req-1"]}))
    r = HubResponder(d)
    r.owners = {"t1": "100.96.0.2"}

    def probe(address: str, role: str, seq: int) -> election.Ack:
        ack = r.on_probe(election.Probe("t1", address, role, 100, seq).encode(), address, float(seq))
        assert ack is not None
        return election.decode_ack(ack.encode())

    assert probe("100.96.0.2", "active", 1).failover == ["100.96.0.3", "req-1"]
    assert probe("100.96.0.3", "standby", 2).failover == ["100.96.0.3", "req-1"]
    r.owners = {"t1": "100.96.0.3"}  # the responder moved the CIDRs (no interface in this test)
    assert probe("100.96.0.3", "active", 3).failover is None
    r._publish(4.0)
    published = json.loads((d / "state.json").read_text())
    assert set(published["changed"]["t1"]) == {"100.96.0.2", "100.96.0.3"}
