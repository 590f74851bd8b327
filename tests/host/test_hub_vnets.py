"""The hub keeps virtual networks apart; `up` skips routes that would capture the host's own LAN."""

from __future__ import annotations

import pytest

from tests.host.sites import Site
from warpcli.controllers.local import LocalController
from warpcli.core.errors import NotFound
from warpcli.secret_stores import open_secret_store


def test_the_same_cidr_in_two_vnets_lives_in_two_hub_tables(site: Site) -> None:
    s = site
    s.warpcli("ctl", "vnet", "add", "staging")
    s.warpcli("ctl", "tunnel", "create", "prod-a")
    s.warpcli("ctl", "tunnel", "create", "stage-a")
    s.warpcli("ctl", "route", "add", "10.5.0.0/24", "--tunnel", "prod-a")
    s.warpcli("ctl", "route", "add", "10.5.0.0/24", "--tunnel", "stage-a", "--vnet", "staging")
    s.warpcli("cona", "enroll", "--tunnel", "prod-a", "--interface", s.wg["cona"])
    s.warpcli("conb", "enroll", "--tunnel", "stage-a", "--vnet", "staging", "--interface", s.wg["conb"])
    staging_if = s.lab.wg_name()
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51821", "--vnet", "staging", "--interface", staging_if)
    s.track_wireguard()
    routes = s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all", "proto", "245").stdout.splitlines()
    mine = sorted(line for line in routes if line.startswith("10.5.0.0/24"))
    assert len(mine) == 2, routes
    tables = {line.split(" table ")[1].split()[0] for line in mine}
    devs = {line.split(" dev ")[1].split()[0] for line in mine}
    assert len(tables) == 2 and devs == {s.wg["hub"], staging_if}
    rules = s.lab.sh(s.ns["hub"], "ip", "rule").stdout
    for ifname in (s.wg["hub"], staging_if):
        assert f"iif {ifname} lookup" in rules
    # each hub's WireGuard peer is the connector of its own vnet
    for ifname, port in ((s.wg["hub"], 51820), (staging_if, 51821)):
        dump = s.lab.python(s.ns["hub"], "import sys; from warpcli.host.wireguard.uapi import UapiClient; "
                            "d = UapiClient(sys.argv[1]).get_device(); "
                            "print(d.listen_port, len(d.peers), ' '.join(sorted(d.peers[0].allowed_ips)))", ifname)
        assert dump.returncode == 0, dump.stderr
        listen, peers, allowed = dump.stdout.split(" ", 2)
        assert (int(listen), int(peers)) == (port, 1) and "10.5.0.0/24" in allowed
    def forwarding() -> str:
        return s.lab.sh(s.ns["hub"], "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()

    assert forwarding() == "1"
    s.warpcli("hub", "hub", "down", "--interface", staging_if)
    assert forwarding() == "1"  # the other hub still forwards
    s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"])
    assert forwarding() == "0"  # the last one out restores the original
    assert "proto 245" not in s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all").stdout


def test_up_skips_a_remote_route_inside_the_hosts_own_lan_with_a_warning(site: Site) -> None:
    s = site
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    s.warpcli("ctl", "route", "add", "10.1.0.0/24", "--tunnel", "site-a")
    s.warpcli("ctl", "route", "add", "10.2.0.128/25", "--tunnel", "site-a")  # inside site B's LAN
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()
    r = s.warpcli("conb", "up")
    s.track_wireguard()
    assert "warning: route 10.2.0.128/25 would capture the directly connected network 10.2.0.0/24; skipped" \
        in r.stderr
    table = s.lab.sh(s.ns["conb"], "ip", "route", "show", "table", "24500").stdout
    assert "10.1.0.0/24" in table and "10.2.0.128/25" not in table
    s.warpcli("conb", "down")


def test_a_hub_up_that_fails_leaves_no_hub_announced(site: Site) -> None:
    """The controller must not hand connectors a hub whose interface never came up."""
    s = site
    missing = {"WARPCLI_WIREGUARD_GO": str(s.tmp / "no-such-wireguard-go")}
    r = s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"], check=False,
                  env=missing)
    assert r.returncode != 0 and "wireguard-go" in r.stderr, r.stderr
    state = s.tmp / "state"
    ctrl = LocalController(state, secrets=lambda: open_secret_store("file", state))
    try:
        with pytest.raises(NotFound):
            ctrl.get_hub(None)
        # a working hub, then a failing re-run with another endpoint: the working record stays
        s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
        s.track_wireguard()
        other = s.lab.wg_name()
        r = s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51999", "--interface", other, check=False,
                      env=missing)
        assert r.returncode != 0
        assert ctrl.get_hub(None).endpoint == "192.0.2.1:51820"
    finally:
        ctrl.close()
