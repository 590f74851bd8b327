"""The pyroute2 adapter against real kernels, inside namespaces the tests create."""

from __future__ import annotations

import re

import pytest

from warpcli.host.constants import MAIN_TABLE, PRIORITY_SUPPRESS_MAIN, PRIORITY_TABLE, ROUTE_PROTO, TABLE
from warpcli.host.errors import HostError, NetlinkFailure
from warpcli.host.model import Address, KernelRoute, KernelRule
from warpcli.host.routing.netlink import Netlink

from .conftest import ip


@pytest.fixture
def host(lab):
    """One namespace with a veth pair to a second one: v0 = 10.9.0.1/24, fd00:9::1/64."""
    h, peer = lab.netns("h"), lab.netns("peer")
    lab.veth(h, peer, "10.9.0.1/24", "10.9.0.2/24")
    ip("-n", h, "addr", "add", "fd00:9::1/64", "dev", "v0", "nodad")
    return h


def test_links_and_addresses(host):
    with Netlink(host) as nl:
        v0 = nl.link("v0")
        assert v0.kind == "veth" and v0.up and v0.mtu == 1500
        assert set(nl.addresses("v0")) >= {Address("v0", "10.9.0.1/24"), Address("v0", "fd00:9::1/64")}
        nl.set_link("v0", mtu=1280, up=False)
        assert (nl.link("v0").mtu, nl.link("v0").up) == (1280, False)
        nl.set_link("v0", up=True)
        assert nl.link("v0").up
        extra = Address("v0", "100.96.0.5/12")
        nl.add_address(extra)
        assert extra in nl.addresses("v0")
        assert "100.96.0.5/12" in ip("-n", host, "addr", "show", "dev", "v0").stdout
        with pytest.raises(NetlinkFailure, match=re.escape("could not add address 100.96.0.5/12 dev v0: File exists")):
            nl.add_address(extra)
        nl.delete_address(extra)
        assert extra not in nl.addresses("v0")
        with pytest.raises(HostError, match="no interface nope0"):
            nl.set_link("nope0", up=True)


def test_routes_are_listed_and_purged_by_protocol_only(host):
    with Netlink(host) as nl:
        ours = [
            KernelRoute("10.50.0.0/24", table=TABLE, ifname="v0"),
            KernelRoute("10.51.0.0/24", table=TABLE, gateway="10.9.0.2"),
            KernelRoute("fd00:51::/48", table=TABLE, ifname="v0"),
            KernelRoute("10.52.0.0/24", table=MAIN_TABLE, gateway="10.9.0.2"),
        ]
        for r in ours:
            nl.add_route(r)
        # the kernel fills in the device of a gateway route
        ours = [r if r.ifname else KernelRoute(r.dst, table=r.table, gateway=r.gateway, ifname="v0") for r in ours]
        # other software's routes, one with exactly the same prefix in the same table
        ip("-n", host, "route", "add", "10.50.0.0/24", "dev", "v0", "table", str(TABLE), "proto", "static", "metric", "10")
        ip("-n", host, "route", "add", "10.53.0.0/24", "via", "10.9.0.2", "proto", "static")
        listed = nl.routes(proto=ROUTE_PROTO)
        assert sorted(listed, key=KernelRoute.sort_key) == sorted(ours, key=KernelRoute.sort_key)
        assert KernelRoute("10.50.0.0/24", table=TABLE, ifname="v0", proto=4, metric=10) in nl.routes(table=TABLE)
        text = ip("-n", host, "route", "show", "table", str(TABLE)).stdout
        assert "10.50.0.0/24 dev v0 proto 245 scope link" in text
        purged = nl.purge_routes(proto=ROUTE_PROTO)
        assert sorted(purged, key=KernelRoute.sort_key) == sorted(ours, key=KernelRoute.sort_key)
        assert nl.routes(proto=ROUTE_PROTO) == []
        survivors = ip("-n", host, "route", "show", "table", "all").stdout
        assert "10.50.0.0/24 dev v0 table 24500 proto static scope link metric 10" in survivors
        assert "10.53.0.0/24 via 10.9.0.2 dev v0 proto static" in survivors
        assert nl.purge_routes() == []  # idempotent


def test_delete_route_matches_the_protocol(host):
    ip("-n", host, "route", "add", "10.60.0.0/24", "dev", "v0", "table", str(TABLE), "proto", "static")
    with Netlink(host) as nl:
        with pytest.raises(NetlinkFailure, match=re.escape("could not delete route 10.60.0.0/24 dev v0 table 24500")):
            nl.delete_route(KernelRoute("10.60.0.0/24", table=TABLE, ifname="v0"))
        nl.delete_route(KernelRoute("10.60.0.0/24", table=TABLE, ifname="v0"), missing_ok=True)
        assert len(nl.routes(table=TABLE)) == 1


def test_bulk_add_reports_each_route(host):
    with Netlink(host) as nl:
        results = nl.add_routes([
            KernelRoute("10.70.0.0/24", table=TABLE, gateway="10.9.0.2"),
            KernelRoute("10.71.0.0/24", table=TABLE, gateway="10.99.0.1"),  # no route to this gateway
            KernelRoute("10.70.0.0/24", table=TABLE, gateway="10.9.0.2"),  # duplicate
            KernelRoute("10.72.0.0/24", table=TABLE, ifname="v0"),
        ])
        assert [r.ok for r in results] == [True, False, False, True]
        assert "Network is unreachable" in results[1].error and results[1].errno == 101
        assert "File exists" in results[2].error
        assert {r.dst for r in nl.routes(table=TABLE)} == {"10.70.0.0/24", "10.72.0.0/24"}


def test_rules_with_suppress_prefixlength(host):
    rules = [
        KernelRule(PRIORITY_SUPPRESS_MAIN, MAIN_TABLE, suppress_prefixlength=0),
        KernelRule(PRIORITY_TABLE, TABLE),
        KernelRule(PRIORITY_SUPPRESS_MAIN, MAIN_TABLE, family=6, suppress_prefixlength=0),
        KernelRule(PRIORITY_TABLE, TABLE, family=6),
        KernelRule(PRIORITY_TABLE + 1, TABLE + 1, iifname="v0", src="10.9.0.0/24"),
    ]
    ip("-n", host, "rule", "add", "priority", str(PRIORITY_TABLE), "lookup", "100")  # someone else's
    with Netlink(host) as nl:
        for r in rules:
            nl.add_rule(r)
        assert sorted(nl.rules(proto=ROUTE_PROTO), key=KernelRule.sort_key) == sorted(rules, key=KernelRule.sort_key)
        text = ip("-n", host, "rule").stdout
        assert f"{PRIORITY_SUPPRESS_MAIN}:\tfrom all lookup main suppress_prefixlength 0 proto 245" in text
        assert f"{PRIORITY_TABLE}:\tfrom all lookup {TABLE} proto 245" in text
        assert f"from 10.9.0.0/24 iif v0 lookup {TABLE + 1} proto 245" in text
        assert len(nl.purge_rules()) == 5
        assert nl.rules(proto=ROUTE_PROTO) == []
        assert f"{PRIORITY_TABLE}:\tfrom all lookup 100" in ip("-n", host, "rule").stdout


def test_connected_networks_and_default_route(host):
    ip("-n", host, "route", "add", "default", "via", "10.9.0.2")
    ip("-n", host, "route", "add", "10.30.0.0/16", "dev", "v0")  # on-link without an address
    with Netlink(host) as nl:
        nl.add_route(KernelRoute("10.31.0.0/16", ifname="v0"))  # warpcli's own: not "connected"
        connected = nl.connected_networks()
        assert {"10.9.0.0/24", "127.0.0.0/8", "10.30.0.0/16", "fd00:9::/64", "::1/128"} <= set(connected)
        assert "10.31.0.0/16" not in connected
        [default] = nl.default_routes()
        assert (default.dst, default.gateway, default.ifname) == ("0.0.0.0/0", "10.9.0.2", "v0")


def test_missing_namespace_is_not_created(lab):
    name = "wct-never-created-ns"
    with pytest.raises(HostError, match="does not exist"):
        Netlink(name).links()
    assert name not in ip("netns", "list").stdout


def test_raw_rtnetlink_lists_what_pyroute2_lists(host):
    """Links, addresses and rules come from warpcli.host.routing.rtnl (no pyroute2 on the paths of
    `up` and `down`); pyroute2's reading of the same kernel is the reference."""
    ip("-n", host, "link", "add", "br9", "type", "bridge")
    ip("-n", host, "link", "set", "br9", "mtu", "1400")
    ip("-n", host, "addr", "add", "10.77.0.1/16", "dev", "br9")
    ip("-n", host, "addr", "add", "fd00:77::1/64", "dev", "v0", "nodad")
    ip("-n", host, "rule", "add", "priority", "100", "from", "10.9.0.0/24", "to", "10.8.0.0/16", "lookup", "100")
    ip("-n", host, "rule", "add", "priority", "101", "fwmark", "7", "iif", "v0", "lookup", "30000", "proto", "245")
    ip("-n", host, "-6", "rule", "add", "priority", "102", "lookup", "main", "suppress_prefixlength", "0")
    with Netlink(host) as nl:
        assert nl.links() == nl._links_pyroute2()
        assert {(x.ifname, x.kind, x.mtu, x.up) for x in nl.links()} >= {("br9", "bridge", 1400, False),
                                                                          ("v0", "veth", 1500, True)}
        assert nl.addresses() == nl._addresses_pyroute2()
        assert Address("br9", "10.77.0.1/16") in nl.addresses("br9")
        for proto in (None, ROUTE_PROTO):
            assert nl.rules(proto=proto) == nl._rules_pyroute2(proto=proto)
        assert KernelRule(101, 30000, fwmark=7, iifname="v0") in nl.rules(proto=ROUTE_PROTO)
        with pytest.raises(NetlinkFailure, match=re.escape("could not delete rule")):
            nl.delete_rule(KernelRule(103, 100))
        nl.delete_rule(KernelRule(103, 100), missing_ok=True)


def test_links_are_created_and_deleted_over_raw_rtnetlink(host):
    with Netlink(host) as nl:
        nl.add_link("br7", "bridge")
        assert nl.link("br7").kind == "bridge"
        with pytest.raises(NetlinkFailure, match=re.escape("could not create bridge interface br7: File exists")):
            nl.add_link("br7", "bridge")
        with pytest.raises(NetlinkFailure, match="could not create nosuchkind interface x7") as err:
            nl.add_link("x7", "nosuchkind")
        assert err.value.errno == 95  # EOPNOTSUPP: what `create_interface` takes for "no kernel module"
        nl.delete_link("br7")
        assert nl.link("br7") is None
