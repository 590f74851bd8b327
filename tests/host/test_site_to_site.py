"""Site to site through real kernels: a hub and two connectors in network namespaces.

WAN: a bridge namespace joining the hub (192.0.2.1) and both connectors (.11, .12).
Site A: connector A with LAN 10.1.0.0/24, host A (10.1.0.10) whose default gateway is A.
Site B: connector B with LAN bridge 10.2.0.0/24, host B (10.2.0.10, default via B), and
host B2 (10.2.0.20) with no default route, which reaches site A only through
`warpcli route add 10.1.0.0/24 --table local --via 10.2.0.1`.

Every warpcli command runs as the installed entry point inside the namespace of its
host, with its own config and run dirs; the controller (a SQLite file) is shared.
"""


from __future__ import annotations

import json

from tests.host.conftest import ip, tcp_exchange
from tests.host.sites import Site, assert_same, bring_up
from tests.test_docs import _conforms, _field_tables


def test_site_to_site_true_source_both_ways_and_clean_down(site: Site) -> None:
    s = site
    before = s.snapshot()
    bring_up(s)

    # site A -> site B: the server sees site A's host itself (no NAT anywhere)
    reply, peer = tcp_exchange(s.lab, s.ns["hostb"], s.ns["hosta"], "10.2.0.10", 8080, "from-a")
    assert reply == "echo:from-a"
    assert peer == "10.1.0.10"
    # server-initiated, the other way: site B's host opens to site A's host
    reply, peer = tcp_exchange(s.lab, s.ns["hosta"], s.ns["hostb"], "10.1.0.10", 8081, "from-b")
    assert reply == "echo:from-b"
    assert peer == "10.2.0.10"

    # idempotent: a second up changes nothing and says so
    again = s.warpcli("cona", "up")
    assert again.stdout.strip() == "no changes"
    assert s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"]).stdout \
        .strip().endswith("no changes")
    docs = _field_tables()
    up_json = json.loads(s.warpcli("conb", "up", "--json").stdout)
    _conforms(up_json, docs["Up result"], "up --json")
    assert up_json == {"changed": False, "applied": False, "plan": ["no changes"], "skipped": []}
    hub_json = json.loads(s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"],
                                    "--json").stdout)
    _conforms(hub_json, docs["Hub result"], "hub up --json")
    assert hub_json["peers"] == 2 and hub_json["changed"] is False

    status = json.loads(s.warpcli("cona", "status", "--json").stdout)
    _conforms(status, docs["Status report"], "status --json")
    assert status["healthy"] is True
    assert status["peer"]["last_handshake_seconds_ago"] is not None
    assert status["peer"]["rx_bytes"] > 0 and status["peer"]["tx_bytes"] > 0
    assert set(status["routes"]["installed"]) == {"10.2.0.0/24", "100.96.0.0/12"}

    # a route added on the controller reaches the other side after re-running up / hub up
    s.warpcli("ctl", "route", "add", "10.1.7.0/24", "--tunnel", "site-a")
    drift = s.warpcli("conb", "status", "--json", check=False)
    assert drift.returncode == 8 and json.loads(drift.stdout)["routes"]["missing"] == ["10.1.7.0/24"]
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    assert "10.1.7.0/24" in s.warpcli("conb", "up").stdout
    assert "10.1.7.0/24" in s.lab.sh(s.ns["conb"], "ip", "route", "show", "table", "all").stdout
    assert "10.1.7.0/24" in s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all").stdout
    # ... and a deleted one disappears
    s.warpcli("ctl", "route", "delete", "10.1.7.0/24")
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.warpcli("conb", "up")
    assert "10.1.7.0/24" not in s.lab.sh(s.ns["conb"], "ip", "route", "show", "table", "all").stdout
    assert "10.1.7.0/24" not in s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all").stdout

    # down removes exactly what up installed and restores the sysctls
    down_json = json.loads(s.warpcli("cona", "down", "--json").stdout)
    _conforms(down_json, docs["Down result"], "down --json")
    assert down_json["changed"] is True and any("interface" in x for x in down_json["removed"])
    s.warpcli("conb", "down")
    hubs = json.loads(s.warpcli("hub", "hub", "list", "--json").stdout)
    assert [h["interface"] for h in hubs] == [s.wg["hub"]]
    _conforms(hubs[0], docs["Hub"], "hub list --json")
    assert hubs[0]["up"] is True and hubs[0]["peers"] == 2 and hubs[0]["handshakes"] == 2
    # no --interface: the one hub this host runs (it was brought up with --interface NAME)
    hub_down = json.loads(s.warpcli("hub", "hub", "down", "--json").stdout)
    _conforms(hub_down, docs["Hub down result"], "hub down --json")
    assert any(s.wg["hub"] in line for line in hub_down["removed"])
    assert json.loads(s.warpcli("hub", "hub", "list", "--json").stdout) == []
    assert_same(before, s.snapshot())
    assert s.warpcli("cona", "down").stdout.strip() == "nothing to remove"


def test_dry_run_changes_nothing_and_other_softwares_routes_survive(site: Site) -> None:
    s = site
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    s.warpcli("ctl", "route", "add", "10.1.0.0/24", "--tunnel", "site-a")
    s.warpcli("ctl", "route", "add", "10.2.0.0/24", "--tunnel", "site-b")
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()
    # another program's route to the same prefix, in the main table
    ip("-n", s.ns["conb"], "route", "add", "10.1.0.0/24", "via", "192.0.2.1", "proto", "static")
    before = s.snapshot()
    plan = s.warpcli("conb", "up", "--dry-run")
    assert "+ interface" in plan.stdout and "10.1.0.0/24" in plan.stdout
    assert_same(before, s.snapshot())
    s.warpcli("conb", "up")
    s.track_wireguard()
    s.warpcli("conb", "down")
    after = s.lab.sh(s.ns["conb"], "ip", "route", "show", "10.1.0.0/24").stdout
    assert "proto static" in after
    assert_same(before, s.snapshot())


def test_up_needs_enrollment_and_root_errors_are_one_line(site: Site) -> None:
    s = site
    r = s.warpcli("cona", "up", check=False)
    assert r.returncode == 3 and r.stderr.startswith("warpcli: error: this host is not enrolled")
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("cona", "enroll", "--tunnel", "site-a", "--interface", s.wg["cona"])
    r = s.warpcli("cona", "up", check=False)
    assert r.returncode == 3 and "has no hub yet" in r.stderr and len(r.stderr.splitlines()) == 1
    degraded = s.warpcli("cona", "status", "--json", check=False)  # reports it, as monitoring needs
    assert degraded.returncode == 8
    assert any("has no hub yet" in p for p in json.loads(degraded.stdout)["problems"])
    # an interface of that name that is not warpcli's
    ip("-n", s.ns["cona"], "link", "add", s.wg["cona"], "type", "bridge")
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()
    before = s.snapshot()
    r = s.warpcli("cona", "up", check=False)
    assert r.returncode == 4 and "is not warpcli's" in r.stderr and len(r.stderr.splitlines()) == 1
    assert_same(before, s.snapshot())
