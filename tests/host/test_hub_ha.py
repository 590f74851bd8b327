"""Hub redundancy through real kernels (issue 13): two hubs, three sites, wireguard-go.

Every connector peers with both hubs and routes through the best one it reaches, judged by
its probes through the tunnel; the hubs are peers of each other, so sites that chose different
hubs still reach each other. Long-lived TCP connections and UDP streams run between every pair
of sites; after each event the same connections carry on and every reply names the true source.
Topology: tests/host/hub_lab.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

from tests.host.conftest import Lab
from tests.host.hub_lab import SITES, HubSite, bring_up, build, wait_for
from tests.host.sites import assert_same
from tests.test_docs import _conforms, _field_tables

pytestmark = pytest.mark.slow

CONNECTORS = tuple(f"c{site}" for site in SITES)
#: site C's path to hub1 (WireGuard's UDP both ways) dropped, in site C's namespace only
FILTER_HUB1 = """
table inet wct-filter {
    chain out { type filter hook output priority 0; ip daddr 192.0.2.1 drop; }
    chain in { type filter hook input priority 0; ip saddr 192.0.2.1 drop; }
}
"""


@pytest.fixture
def hubs(lab: Lab, wireguard_go: str, tmp_path: Path):
    s = build(lab, tmp_path)
    try:
        yield s
    finally:
        s.track()


def _all_on(s: HubSite, address: str, roles=CONNECTORS) -> bool:
    return all(s.active_hub(r) == address for r in roles)


def test_losing_the_active_hub_moves_every_site_to_the_other_and_back(hubs: HubSite) -> None:
    s = hubs
    before = s.snapshot()
    bring_up(s)
    addr = s.hub_addresses()
    wait_for(lambda: _all_on(s, addr["hub1"]), "every connector on hub1 (the higher priority)", s=s)
    s.start_traffic()
    first = s.wait_flowing()

    # the controller goes away for the rest of the failover: its state directory is gone
    state = s.tmp / "state"
    state.rename(s.tmp / "state.away")
    os.kill(s.wireguard_pid("hub1"), signal.SIGKILL)
    wait_for(lambda: _all_on(s, addr["hub2"]), "every connector on hub2 after hub1 died", s=s)
    after = s.wait_flowing(since=s.reports())
    s.check_traffic(first, after)
    (s.tmp / "state.away").rename(state)
    # status: degraded (exit 8), the vnet runs on its last hub; it names the hub in use
    p = s.warpcli("ca", "status", "--json", check=False)
    st = json.loads(p.stdout)
    assert p.returncode == 8 and any("last hub" in x for x in st["problems"]), st["problems"]
    assert st["active_hub"]["endpoint"] == "192.0.2.2:51820" and st["active_hub"]["address"] == addr["hub2"]
    assert {h["endpoint"]: h["role"] for h in st["hubs"]} == {"192.0.2.1:51820": "down", "192.0.2.2:51820": "active"}
    _conforms(st, _field_tables()["Status report"], "status --json")

    # hub1 comes back: connectors prefer it again (preempt), the same connections carry on
    s.warpcli("hub1", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub1"])
    s.track()
    wait_for(lambda: _all_on(s, addr["hub1"]), "every connector back on hub1", s=s)
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # the hub's own view (`hub status`): every connector and the other hub, each connector
    # routing through hub1 as it told hub1 in its probes, with handshakes and bytes
    def hub1_view() -> dict:
        (only,) = json.loads(s.warpcli("hub1", "hub", "status", "--json").stdout)
        return only

    wait_for(lambda: all(p["routes_via"] == addr["hub1"] for p in hub1_view()["peers"] if p["kind"] == "connector"),
             "hub1 hears every connector route through it", s=s)
    view = hub1_view()
    _conforms(view, _field_tables()["Hub view"], "hub status --json")
    for peer in view["peers"]:
        _conforms(peer, _field_tables()["Hub peer"], "hub status --json .peers[]")
    assert view["up"] and view["address"] == addr["hub1"] and view["responder"] and not view["draining"]
    assert sorted(p["kind"] for p in view["peers"]) == ["connector", "connector", "connector", "hub"]
    other = next(p for p in view["peers"] if p["kind"] == "hub")
    assert other["address"] == addr["hub2"] and other["last_probe_seconds_ago"] is not None
    assert all(p["last_handshake_seconds_ago"] is not None and p["rx_bytes"] > 0 for p in view["peers"])
    shown = s.warpcli("hub1", "hub", "status").stdout
    assert addr["hub2"] in shown and "VIA HUB" in shown and re.search(r"\d+(\.\d+)? (B|KiB|MiB)", shown), shown
    p = s.warpcli("cb", "status", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"hub {addr['hub1']}" in p.stdout and "active" in p.stdout and "probe" in p.stdout, p.stdout
    st = json.loads(s.warpcli("cb", "status", "--json").stdout)
    assert [(h["role"], h["priority"]) for h in st["hubs"]] == [("active", 200), ("standby", 100)]
    assert all(h["probe_rtt_ms"] is not None and h["last_handshake_seconds_ago"] is not None for h in st["hubs"])

    # site C cannot reach hub1 (its path filtered): it routes through hub2, the others through
    # hub1, and the hubs carry traffic between them
    rules = s.tmp / "filter.nft"
    rules.write_text(FILTER_HUB1)
    s.lab.sh(s.ns["cc"], "nft", "-f", str(rules))
    wait_for(lambda: s.active_hub("cc") == addr["hub2"], "site C on hub2", s=s)
    assert _all_on(s, addr["hub1"], ("ca", "cb"))
    wait_for(lambda: s.carries("hub1", "10.3.0.0/24") == addr["hub2"], "hub1 routes site C via hub2", s=s)
    wait_for(lambda: s.carries("hub2", "10.1.0.0/24") == addr["hub1"], "hub2 routes site A via hub1", s=s)
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    s.lab.sh(s.ns["cc"], "nft", "delete", "table", "inet", "wct-filter")
    wait_for(lambda: s.active_hub("cc") == addr["hub1"], "site C back on hub1", s=s)
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # planned: `hub down` on hub1 moves every connector to hub2 first; no connection lost
    out = s.warpcli("hub1", "hub", "down", "--interface", s.wg["hub1"]).stdout
    assert "connectors moved" in out, out
    assert _all_on(s, addr["hub2"])
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # everything down: the kernels as they were, in every namespace
    s.stop_traffic()
    for role in CONNECTORS:
        s.warpcli(role, "down")
    s.warpcli("hub2", "hub", "down", "--interface", s.wg["hub2"])
    for role in CONNECTORS:
        assert not list(s.run_dir(role).glob("hubs-*")), "hub watcher files left"
    assert_same(before, s.snapshot())
