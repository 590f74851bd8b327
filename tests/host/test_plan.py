"""Plan, diff, apply and rollback (pure), and the no-lockout check."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.host.errors import ApplyError, HostError
from warpcli.host.model import Address, HostState, KernelRoute, KernelRule, LinkState, Sysctl
from warpcli.host.routing.plan import Action, KernelPlan, apply, diff, find_shadowing, split_shadowing


class MemoryKernel:
    """A pure in-memory stand-in for one namespace, strict like the kernel: adding what
    exists or deleting what does not fails. ``fail_on(action)`` injects a refusal."""

    def __init__(self, state: HostState, fail_on=lambda action: False) -> None:
        self.addresses = set(state.addresses)
        self.routes = set(state.routes)
        self.rules = set(state.rules)
        self.links = {link.ifname: link for link in state.links}
        self.sysctls = {s.key: s.value for s in state.sysctls}
        self.fail_on = fail_on
        self.log: list[Action] = []

    def execute(self, action: Action) -> None:
        if self.fail_on(action):
            raise HostError("Network is unreachable", errno=101)
        obj = action.obj
        self.log.append(action)
        if isinstance(obj, LinkState):
            old = self.links[obj.ifname]
            self.links[obj.ifname] = LinkState(obj.ifname, obj.mtu if obj.mtu is not None else old.mtu,
                                               obj.up if obj.up is not None else old.up)
            return
        if isinstance(obj, Sysctl):
            self.sysctls[obj.key] = obj.value
            return
        pool = {Address: self.addresses, KernelRoute: self.routes, KernelRule: self.rules}[type(obj)]
        if action.op == "add":
            if obj in pool or (isinstance(obj, KernelRoute) and any(r.key == obj.key for r in pool)):
                raise HostError("File exists", errno=17)
            pool.add(obj)
        else:
            if obj not in pool:
                raise HostError("No such process", errno=3)
            pool.remove(obj)

    def state(self) -> HostState:
        return HostState(addresses=sorted(self.addresses), links=sorted(self.links.values(), key=lambda x: x.ifname),
                         routes=sorted(self.routes, key=KernelRoute.sort_key), rules=sorted(self.rules, key=KernelRule.sort_key),
                         sysctls=sorted((Sysctl(k, v) for k, v in self.sysctls.items()), key=lambda s: s.key))


def same(a: HostState, b: HostState) -> bool:
    return (set(a.addresses), set(a.routes), set(a.rules), set(a.links), set(a.sysctls)) == (
        set(b.addresses), set(b.routes), set(b.rules), set(b.links), set(b.sysctls))


# --- strategies: small pools so that desired and observed overlap often ---------------
routes = st.builds(KernelRoute, dst=st.sampled_from(["10.1.0.0/24", "10.2.0.0/24", "10.0.0.0/8", "fd00:1::/64"]),
                   table=st.sampled_from([24500, 24501]), ifname=st.sampled_from(["wg0", "wg1"]),
                   metric=st.sampled_from([None, 5]))
rules = st.builds(KernelRule, priority=st.sampled_from([24500, 24510]), table=st.sampled_from([254, 24500]),
                  family=st.sampled_from([4, 6]), suppress_prefixlength=st.sampled_from([None, 0]))
addresses = st.builds(Address, ifname=st.just("wg0"),
                      address=st.sampled_from(["100.96.0.1/12", "100.96.0.2/12", "fd00:100::1/64"]))
SYSCTL_KEYS = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"]


def _unique_keys(rs):
    seen = {}
    for r in rs:
        seen.setdefault(r.key, r)
    return list(seen.values())


@st.composite
def states(draw, observed: bool):
    rs = _unique_keys(draw(st.lists(routes, max_size=6)))
    links = [LinkState("wg0", mtu=draw(st.sampled_from([1280, 1420])), up=draw(st.booleans()))]
    if not observed:
        links = [LinkState("wg0", mtu=draw(st.sampled_from([None, 1280])), up=draw(st.sampled_from([None, True])))]
    sysctls = [Sysctl(k, draw(st.sampled_from(["0", "1"]))) for k in SYSCTL_KEYS]
    if not observed:
        sysctls = draw(st.lists(st.sampled_from([Sysctl(k, "1") for k in SYSCTL_KEYS]), unique=True))
    return HostState(addresses=draw(st.lists(addresses, unique=True, max_size=3)), links=links, routes=rs,
                     rules=draw(st.lists(rules, unique=True, max_size=4)), sysctls=sysctls)


def converged(desired: HostState, kernel: MemoryKernel) -> bool:
    state = kernel.state()
    links = {link.ifname: link for link in state.links}
    values = {s.key: s.value for s in state.sysctls}
    return (set(state.addresses) == set(desired.addresses) and set(state.routes) == set(desired.routes)
            and set(state.rules) == set(desired.rules)
            and all(values[s.key] == s.value for s in desired.sysctls)
            and all((d.mtu is None or links[d.ifname].mtu == d.mtu) and (d.up is None or links[d.ifname].up == d.up)
                    for d in desired.links))


@given(states(observed=False), states(observed=True))
def test_apply_converges_and_a_second_plan_is_empty(desired, observed):
    kernel = MemoryKernel(observed)
    apply(diff(desired, observed), kernel)
    assert converged(desired, kernel)
    assert diff(desired, kernel.state()).empty


@given(states(observed=False), states(observed=True), st.integers(min_value=0, max_value=40))
def test_a_failure_at_any_step_restores_the_initial_state(desired, observed, k):
    plan = diff(desired, observed)
    if plan.empty:
        return
    failing = plan.actions[k % len(plan)]
    kernel = MemoryKernel(observed, fail_on=lambda a: a is failing)
    with pytest.raises(ApplyError) as err:
        apply(plan, kernel)
    assert err.value.failed is failing
    assert err.value.rollback_errors == []
    assert len(err.value.rolled_back) == k % len(plan)
    assert "Network is unreachable" in str(err.value)
    assert same(kernel.state(), MemoryKernel(observed).state())


def test_plan_order_and_text():
    wg = "wg0"
    observed = HostState(
        addresses=[Address(wg, "100.96.0.9/12")],
        links=[LinkState(wg, mtu=1420, up=False)],
        routes=[KernelRoute("10.9.0.0/24", table=24500, ifname=wg), KernelRoute("10.2.0.0/24", table=24500, ifname="wg1")],
        rules=[KernelRule(24600, 24500)],
        sysctls=[Sysctl("net.ipv4.ip_forward", "0")],
    )
    desired = HostState(
        addresses=[Address(wg, "100.96.0.2/12")],
        links=[LinkState(wg, mtu=1280, up=True)],
        routes=[KernelRoute("10.2.0.0/24", table=24500, ifname=wg), KernelRoute("10.1.0.0/24", table=24500, ifname=wg)],
        rules=[KernelRule(24510, 24500), KernelRule(24500, 254, suppress_prefixlength=0)],
        sysctls=[Sysctl("net.ipv4.ip_forward", "1")],
    )
    assert diff(desired, observed).lines() == [
        "- rule 24600: from all lookup 24500",
        "- route 10.2.0.0/24 dev wg1 table 24500",  # changed device: delete, then add
        "- route 10.9.0.0/24 dev wg0 table 24500",
        "- address 100.96.0.9/12 dev wg0",
        "~ link wg0 mtu 1280 up (was link wg0 mtu 1420 down)",
        "+ address 100.96.0.2/12 dev wg0",
        "+ route 10.1.0.0/24 dev wg0 table 24500",
        "+ route 10.2.0.0/24 dev wg0 table 24500",
        "+ rule 24500: from all lookup main suppress_prefixlength 0",
        "+ rule 24510: from all lookup 24500",
        "~ sysctl net.ipv4.ip_forward: 0 -> 1",
    ]
    assert KernelPlan().lines() == ["no changes"]


def test_gateway_route_accepts_the_device_the_kernel_chose():
    want = KernelRoute("10.5.0.0/24", table=24500, gateway="100.96.0.1")
    have = KernelRoute("10.5.0.0/24", table=24500, gateway="100.96.0.1", ifname="wg0")
    assert diff(HostState(routes=[want]), HostState(routes=[have])).empty
    other = KernelRoute("10.5.0.0/24", table=24500, gateway="100.96.0.7", ifname="wg0")
    assert [a.op for a in diff(HostState(routes=[want]), HostState(routes=[other]))] == ["delete", "add"]


def test_teardown_plan_deletes_everything_and_restores_sysctls():
    observed = HostState(routes=[KernelRoute("10.1.0.0/24", table=24500, ifname="wg0")], rules=[KernelRule(24510, 24500)],
                         sysctls=[Sysctl("net.ipv4.ip_forward", "1")])
    down = diff(HostState(sysctls=[Sysctl("net.ipv4.ip_forward", "0")]), observed)
    assert down.lines() == ["- rule 24510: from all lookup 24500", "- route 10.1.0.0/24 dev wg0 table 24500",
                            "~ sysctl net.ipv4.ip_forward: 1 -> 0"]


def test_planning_needs_observed_links_and_sysctls():
    with pytest.raises(HostError, match=re.escape("sysctl net.ipv4.ip_forward was not observed")):
        diff(HostState(sysctls=[Sysctl("net.ipv4.ip_forward", "1")]), HostState())
    with pytest.raises(HostError, match="link wg0 does not exist"):
        diff(HostState(links=[LinkState("wg0", mtu=1280)]), HostState())
    clash = [KernelRoute("10.1.0.0/24", table=1, ifname="a"), KernelRoute("10.1.0.0/24", table=1, ifname="b")]
    with pytest.raises(HostError, match="share one kernel key"):
        diff(HostState(routes=clash), HostState())


def test_rollback_keeps_going_and_reports_undo_failures():
    r1, r2, r3 = (KernelRoute(f"10.{i}.0.0/24", table=1, ifname="wg0") for i in (1, 2, 3))
    plan = diff(HostState(routes=[r1, r2, r3]), HostState())
    kernel = MemoryKernel(HostState(), fail_on=lambda a: a.obj == r3 or (a.op == "delete" and a.obj == r2))
    with pytest.raises(ApplyError) as err:
        apply(plan, kernel)
    assert [a.obj for a in err.value.rolled_back] == [r1]
    assert len(err.value.rollback_errors) == 1 and "10.2.0.0/24" in err.value.rollback_errors[0]
    assert "could not be undone" in str(err.value)


def test_model_canonicalises():
    assert KernelRoute("10.1.0.0/24").metric == 0 and KernelRoute("fd00::/64").metric == 1024
    assert KernelRoute("fd00:0::/64", gateway="fd00::0:1").gateway == "fd00::1"
    assert KernelRoute("fd00::/64") == KernelRoute("fd00:0::/64", metric=1024)
    assert Address("wg0", "fd00:0::1/64").address == "fd00::1/64"
    with pytest.raises(Exception, match="host bits"):
        KernelRoute("10.1.0.1/24")


# --- no lockout ---------------------------------------------------------------------------

def test_shadowing_reasons():
    found = find_shadowing(
        ["10.1.0.0/24", "10.1.0.128/25", "10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/24", "10.9.0.0/24", "::/0"],
        connected=["10.1.0.0/24", "fd00::/64"],
        endpoints=["192.0.2.10"],
    )
    assert [(s.route, s.reason) for s in found] == [
        ("10.1.0.0/24", "connected"),
        ("10.1.0.128/25", "connected"),
        ("0.0.0.0/0", "default"),
        ("0.0.0.0/0", "endpoint"),
        ("192.0.2.0/24", "endpoint"),
        ("::/0", "default"),
    ]
    assert found[0].message() == "route 10.1.0.0/24 would capture the directly connected network 10.1.0.0/24"
    assert found[4].message() == "route 192.0.2.0/24 would capture the path to the hub endpoint 192.0.2.10"


def test_split_shadowing_keeps_the_safe_routes():
    ok = KernelRoute("10.2.0.0/24", table=24500, ifname="wg0")
    bad = KernelRoute("10.1.0.0/24", table=24500, ifname="wg0")
    kept, skipped = split_shadowing([ok, bad], connected=["10.1.0.0/16"])
    assert kept == [ok] and [s.route for s in skipped] == ["10.1.0.0/24"]


@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_shadowing_against_ipaddress_oracle(a, alen, b, blen):
    import ipaddress

    route = ipaddress.ip_network((a, alen), strict=False)
    conn = ipaddress.ip_network((b, blen), strict=False)
    got = {s.reason for s in find_shadowing([str(route)], connected=[str(conn)], endpoints=[str(conn[0])])}
    assert ("connected" in got) == route.subnet_of(conn)
    assert ("endpoint" in got) == (conn[0] in route)
    assert ("default" in got) == (alen == 0)


def test_action_inverse():
    s = Action("set", Sysctl("k", "1"), Sysctl("k", "0"))
    assert s.inverse() == Action("set", Sysctl("k", "0"), Sysctl("k", "1"))
    r = KernelRoute("10.0.0.0/8")
    assert Action("add", r).inverse() == Action("delete", r) and Action("delete", r).inverse() == Action("add", r)
    with pytest.raises(ValueError):
        Action("set", Sysctl("k", "1")).inverse()
