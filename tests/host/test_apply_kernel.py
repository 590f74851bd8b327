"""Plans applied to a real kernel: converge, "no changes" the second time, tear down to the
exact previous state, and roll back when the kernel refuses a route mid-apply."""

from __future__ import annotations

import time

import pytest

from warpcli.host.constants import MAIN_TABLE, PRIORITY_SUPPRESS_MAIN, PRIORITY_TABLE, TABLE
from warpcli.host.errors import ApplyError
from warpcli.host.model import Address, HostState, KernelRoute, KernelRule, LinkState, Sysctl
from warpcli.host.routing import kernel
from warpcli.host.routing.plan import apply, diff

from .conftest import ip

SYSCTLS = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net/ipv4/conf/v0/rp_filter"]


def _settled(ns_: str) -> None:
    """Wait (bounded) until IPv6 duplicate address detection is over: a link-local address that is
    still ``tentative`` in one snapshot and not in the next is the kernel's timing, not a change."""
    deadline = time.monotonic() + 10
    while "tentative" in ip("-n", ns_, "-6", "addr").stdout and time.monotonic() < deadline:
        time.sleep(0.05)


def snapshot(lab, ns_: str) -> dict:
    _settled(ns_)
    out = {
        "link": ip("-n", ns_, "-d", "link").stdout,
        "addr": ip("-n", ns_, "addr").stdout,
        "route4": ip("-n", ns_, "route", "show", "table", "all").stdout,
        "route6": ip("-n", ns_, "-6", "route", "show", "table", "all").stdout,
        "rule4": ip("-n", ns_, "rule").stdout,
        "rule6": ip("-n", ns_, "-6", "rule").stdout,
    }
    out["sysctl"] = lab.sh(ns_, "sysctl", *[k.replace("/", ".") for k in SYSCTLS[:2]],
                           "net.ipv4.conf.v0.rp_filter").stdout
    return out


def desired_state(bad_gateway: bool = False) -> HostState:
    routes = [
        KernelRoute("10.20.0.0/24", table=TABLE, ifname="v0"),
        KernelRoute("10.21.0.0/24", table=TABLE, gateway="10.9.0.2", ifname="v0"),
        KernelRoute("fd00:21::/64", table=TABLE, ifname="v0"),
    ]
    if bad_gateway:  # sorted after the others; the kernel refuses it: no route to 10.99.0.1
        routes.append(KernelRoute("10.22.0.0/24", table=TABLE, gateway="10.99.0.1"))
    return HostState(
        addresses=[Address("v0", "10.9.0.1/24"), Address("v0", "100.96.0.2/12")],
        links=[LinkState("v0", mtu=1280, up=True)],
        routes=routes,
        rules=[KernelRule(PRIORITY_SUPPRESS_MAIN, MAIN_TABLE, suppress_prefixlength=0), KernelRule(PRIORITY_TABLE, TABLE),
               KernelRule(PRIORITY_SUPPRESS_MAIN, MAIN_TABLE, family=6, suppress_prefixlength=0),
               KernelRule(PRIORITY_TABLE, TABLE, family=6)],
        sysctls=[Sysctl("net.ipv4.ip_forward", "1"), Sysctl("net.ipv6.conf.all.forwarding", "1"),
                 Sysctl("net/ipv4/conf/v0/rp_filter", "2")],
    )


def observe(ns_: str):
    return kernel.observe(ns_, tables=[TABLE], interfaces=["v0"], sysctl_keys=SYSCTLS)


@pytest.fixture
def host(lab):
    h, peer = lab.netns("h"), lab.netns("peer")
    lab.veth(h, peer, "10.9.0.1/24", "10.9.0.2/24")
    ip("-n", h, "route", "add", "10.20.0.0/24", "dev", "v0", "table", str(TABLE), "proto", "static", "metric", "7")
    return h


def test_up_twice_then_down_restores_everything(lab, host):
    before = snapshot(lab, host)
    start = observe(host)
    assert start.addresses == [Address("v0", "10.9.0.1/24")]  # link-local ones are left out
    plan = diff(desired_state(), start)
    with kernel.KernelExecutor(host) as ex:
        apply(plan, ex)
    assert "10.20.0.0/24 dev v0 proto 245 scope link" in ip("-n", host, "route", "show", "table", str(TABLE)).stdout
    assert "100.96.0.2/12" in ip("-n", host, "addr").stdout

    now = observe(host)
    assert diff(desired_state(), now).lines() == ["no changes"]

    # down: remove what is warpcli's, restore link settings and sysctls from the first observation
    down = HostState(addresses=start.addresses, links=start.links, sysctls=start.sysctls)
    with kernel.KernelExecutor(host) as ex:
        apply(diff(down, now), ex)
    assert snapshot(lab, host) == before


def test_a_refused_route_rolls_back_what_the_run_applied(lab, host):
    before = snapshot(lab, host)
    plan = diff(desired_state(bad_gateway=True), observe(host))
    with kernel.KernelExecutor(host) as ex, pytest.raises(ApplyError) as err:
        apply(plan, ex)
    # the routes went in one batch: the kernel's extended-ack text follows its reason
    assert str(err.value).startswith(
        "+ route 10.22.0.0/24 via 10.99.0.1 table 24500 failed: could not add route 10.22.0.0/24 via "
        "10.99.0.1 table 24500: Network is unreachable (Nexthop has invalid gateway); rolled back")
    assert err.value.errno == 101 and err.value.rollback_errors == []
    kinds = {type(a.obj).__name__ for a in err.value.rolled_back}
    assert kinds == {"KernelRoute", "Address", "LinkState"}  # earlier routes, the address and the MTU
    assert snapshot(lab, host) == before
