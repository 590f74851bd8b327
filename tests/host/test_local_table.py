"""The local table: a LAN host that does not use the connector as its gateway reaches the other site
through `warpcli route add CIDR --table local --via CONNECTOR_IP`; overlaps with connected networks."""

from __future__ import annotations

import json

from tests.host.conftest import tcp_exchange
from tests.host.sites import Site, assert_same, bring_up


def test_local_route_reaches_the_other_site_and_goes_away_cleanly(site: Site) -> None:
    s = site
    bring_up(s)
    before = s.snapshot()
    # host B2 has no default route: site A is unreachable until the local route is in
    plan = s.warpcli("hostb2", "route", "add", "10.1.0.0/24", "--table", "local", "--via", "10.2.0.1", "--dry-run")
    assert "10.1.0.0/24 via 10.2.0.1" in plan.stdout and "suppress_prefixlength 0" in plan.stdout
    assert_same(before, s.snapshot())
    added = json.loads(s.warpcli("hostb2", "route", "add", "10.1.0.0/24", "--table", "local", "--via", "10.2.0.1",
                                 "--json").stdout)
    assert added["network"] == "10.1.0.0/24" and added["via"] == "10.2.0.1" and added["changed"] is True
    again = json.loads(s.warpcli("hostb2", "route", "add", "10.1.0.0/24", "--table", "local", "--via", "10.2.0.1",
                                 "--json").stdout)
    assert again["changed"] is False
    listed = json.loads(s.warpcli("hostb2", "routes", "--table", "local", "--json").stdout)
    assert listed == [{"network": "10.1.0.0/24", "via": "10.2.0.1", "dev": "eth0", "table": "local"}]

    reply, peer = tcp_exchange(s.lab, s.ns["hosta"], s.ns["hostb2"], "10.1.0.10", 8090, "from-b2")
    assert reply == "echo:from-b2" and peer == "10.2.0.20"  # true source, through two connectors and the hub

    s.warpcli("hostb2", "route", "delete", "10.1.0.0/24", "--table", "local")
    assert_same(before, s.snapshot())  # the route and both rules are gone
    gone = s.warpcli("hostb2", "route", "delete", "10.1.0.0/24", "--table", "local", check=False)
    assert gone.returncode == 3 and len(gone.stderr.splitlines()) == 1


def test_local_routes_never_capture_the_hosts_own_networks(site: Site) -> None:
    s = site
    before = s.snapshot()
    for cidr, reason in (("10.2.0.0/25", "directly connected network 10.2.0.0/24"),
                         ("10.2.0.0/24", "directly connected network"), ("0.0.0.0/0", "default route")):
        r = s.warpcli("hostb2", "route", "add", cidr, "--table", "local", "--via", "10.2.0.1", check=False)
        assert r.returncode == 4, r.stderr
        assert reason in r.stderr and len(r.stderr.splitlines()) == 1
    bad = s.warpcli("hostb2", "route", "add", "10.1.0.0/24", "--table", "local", "--via", "2001:db8::1", check=False)
    assert bad.returncode == 2
    own = s.warpcli("hostb2", "route", "add", "10.1.0.0/24", "--table", "local", "--via", "10.2.0.20", check=False)
    assert own.returncode == 2 and "own address" in own.stderr and len(own.stderr.splitlines()) == 1  # (the kernel takes it)
    unreachable = s.warpcli("hostb2", "route", "add", "10.1.0.0/24", "--table", "local", "--via", "192.0.2.99",
                            check=False)
    assert unreachable.returncode == 1 and "unreachable" in unreachable.stderr.lower()
    assert len(unreachable.stderr.splitlines()) == 1
    assert_same(before, s.snapshot())


def test_overlaps_report_gateway_routes_that_cover_this_hosts_networks(site: Site) -> None:
    s = site
    s.warpcli("ctl", "tunnel", "create", "site-b")
    s.warpcli("ctl", "route", "add", "10.2.0.0/16", "--tunnel", "site-b")
    s.warpcli("ctl", "route", "add", "10.9.0.0/16", "--tunnel", "site-b")
    report = json.loads(s.warpcli("hostb2", "routes", "--overlaps", "--json").stdout)
    assert [(c["connected"], c["network"], c["tunnel_name"]) for c in report["connected"]] == [
        ("10.2.0.0/24", "10.2.0.0/16", "site-b")
    ]
    people = s.warpcli("hostb2", "routes", "--overlaps").stdout
    assert "Routes over this host's own networks" in people and "10.2.0.0/16" in people
