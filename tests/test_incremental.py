"""`up --follow`'s incremental reconcile (warpcli.host.incremental): a delta from the previous
baseline must leave exactly what a full plan from scratch would, and its size follows the change."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from warpcli.core.model import DEVICE_RANGE
from warpcli.host.constants import TABLE
from warpcli.host.incremental import FULL_EVERY, Baseline, common_prefix, common_suffix, delta, still_valid
from warpcli.host.model import KernelRoute
from warpcli.host.routing.plan import Shadowing, split_shadowing

IFACE = "wgt0"
ENDPOINTS = ("192.0.2.1",)


def full(remote: list[str], connected: frozenset[str]) -> tuple[set[str], set[tuple]]:
    """The oracle: what a full reconcile installs and skips for ``remote`` (no baseline)."""
    wanted = set(remote) | {DEVICE_RANGE}
    kept, skipped = split_shadowing([KernelRoute(c, table=TABLE, ifname=IFACE) for c in sorted(wanted)],
                                    connected=connected, endpoints=ENDPOINTS)
    return {r.dst for r in kept}, {(s.route, s.reason, s.conflict) for s in skipped}


def baseline(remote: list[str], connected: frozenset[str]) -> Baseline:
    installed, skipped = full(remote, connected)
    return Baseline(IFACE, 7, 1280, "userspace", ("key", "192.0.2.1:51820"), ENDPOINTS, connected,
                    tuple(remote), tuple(Shadowing(*s) for s in skipped), len(installed), time.monotonic())


# small universes, so that old and new lists overlap and some CIDRs hit the connected networks
cidrs = st.builds(lambda a, b, plen: f"10.{a}.{b}.0/{plen}" if plen == 24 else f"10.{a}.0.0/16",
                  st.integers(0, 3), st.integers(0, 3), st.sampled_from([16, 24]))
special = st.sampled_from(["0.0.0.0/0", "192.0.2.0/24", "192.0.2.1/32", "10.9.0.0/24", "2001:db8::/48", DEVICE_RANGE])
lists = st.lists(st.one_of(cidrs, special), max_size=12, unique=True)
connected_sets = st.sets(st.sampled_from(["10.1.0.0/24", "10.2.0.0/16", "192.0.2.0/24", "10.9.0.0/24"]), max_size=3)


@st.composite
def old_and_new(draw) -> tuple[list[str], list[str]]:
    """Two listings: unrelated, or the second one the first with a few edits (same order)."""
    old = draw(lists)
    if draw(st.booleans()):
        return old, draw(lists)
    new = list(old)
    for _ in range(draw(st.integers(1, 3))):
        if new and draw(st.booleans()):
            new.pop(draw(st.integers(0, len(new) - 1)))
        else:
            c = draw(st.one_of(cidrs, special))
            if c not in new:
                new.insert(draw(st.integers(0, len(new))), c)
    return old, new


@settings(deadline=None, max_examples=400)
@given(lists=old_and_new(), connected=connected_sets)
def test_a_delta_leaves_what_a_full_plan_would(lists: tuple[list[str], list[str]], connected: set[str]) -> None:
    old, new = lists
    conn = frozenset(connected)
    since = baseline(old, conn)
    d = delta(since, new)
    want_installed, want_skipped = full(new, conn)
    # the kernel after the delta: the old routes, less the deletes, plus the adds
    after = (set(since.installed) - {r.dst for r in d.deletes}) | {r.dst for r in d.adds}
    assert after == want_installed == set(d.baseline.installed)
    assert d.baseline.installed_count == len(want_installed)
    assert {(s.route, s.reason, s.conflict) for s in d.baseline.skipped} == want_skipped
    assert d.baseline.remote == tuple(new)
    # nothing is added twice or deleted when absent; the plan is exactly the change
    assert not {r.dst for r in d.adds} & set(since.installed)
    assert {r.dst for r in d.deletes} <= set(since.installed)
    assert len(d.plan()) == len(set(since.installed) ^ want_installed)
    assert all(r.table == TABLE and r.ifname == IFACE for r in (*d.adds, *d.deletes))


@settings(deadline=None, max_examples=200)
@given(a=st.lists(st.integers(0, 3), max_size=40), b=st.lists(st.integers(0, 3), max_size=40), pad=st.booleans())
def test_common_prefix_and_suffix_against_a_plain_scan(a: list[int], b: list[int], pad: bool) -> None:
    sa, sb = [str(x) for x in a], [str(x) for x in b]
    if pad:  # common runs longer than a chunk, so the chunked comparison is exercised
        sa, sb = sa + ["7"] * 2100, sb + ["7"] * 2100
        sa, sb = ["5"] * 2100 + sa, ["5"] * 2100 + sb
    n = min(len(sa), len(sb))
    i = next((k for k in range(n) if sa[k] != sb[k]), n)
    assert common_prefix(sa, sb) == i
    limit = n - i
    j = next((k for k in range(limit) if sa[-1 - k] != sb[-1 - k]), limit)
    assert common_suffix(sa, sb, limit) == j


def test_one_change_is_one_action_whatever_the_table_size() -> None:
    for n in (5_000, 50_000):
        old = [f"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}/32" for i in range(n)]
        since = baseline(old, frozenset({"192.0.2.0/24"}))
        d = delta(since, [*old[:n // 2], "10.7.0.0/24", *old[n // 2:]])
        assert [a.describe() for a in d.plan()] == [f"+ route 10.7.0.0/24 dev {IFACE} table {TABLE}"]
        d = delta(d.baseline, old[1:])
        assert [(a.op, a.obj.dst) for a in d.plan()] == [("delete", "10.7.0.0/24"), ("delete", "172.16.0.0/32")]
        assert d.baseline.installed_count == n  # the device range and n - 1 CIDRs
        assert delta(d.baseline, old[1:]).empty


def test_a_baseline_holds_only_while_what_it_assumed_holds() -> None:
    conn = frozenset({"192.0.2.0/24"})
    since = baseline(["10.1.0.0/24"], conn)
    same = dict(hub=since.hub, ifindex=7, mtu=1280, up=True, connected=conn, endpoints=ENDPOINTS)
    assert still_valid(since, **same)
    for change in (dict(hub=("other", "192.0.2.1:51820")), dict(hub=("key", "192.0.2.9:51820")),
                   dict(ifindex=8), dict(mtu=1420), dict(up=False), dict(connected=conn | {"10.5.0.0/24"}),
                   dict(endpoints=("192.0.2.9",))):
        assert not still_valid(since, **{**same, **change}), change
    assert not still_valid(since, **same, now=since.made_at + FULL_EVERY)


# --- the controller read each reconcile starts with ------------------------------------------

@settings(deadline=None, max_examples=25)
@given(rows=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 2), st.integers(0, 1)), max_size=30),
       deleted=st.sets(st.integers(0, 29), max_size=10), moved=st.sets(st.integers(0, 29), max_size=5))
def test_route_networks_is_the_vnets_routes_less_one_tunnels(tmp_path_factory, rows, deleted, moved) -> None:
    """The store's one-query read against the obvious one (every route of the vnet, filtered)."""
    from warpcli.controllers.local import LocalController
    from warpcli.core.controller import Controller
    from warpcli.core.model import RouteFilter
    from warpcli.secret_stores.file_store import FileStore

    state = tmp_path_factory.mktemp("state")
    with LocalController(state, secrets=lambda: FileStore(state / "secrets.json")) as c:
        vnets = [c.list_virtual_networks(is_default=True)[0].id, c.create_virtual_network("v2").id]
        tunnels = [c.create_tunnel(f"t{i}").id for i in range(3)]
        made = []
        for i, (net, tunnel, vnet) in enumerate(rows):
            cidr = f"10.{net}.0.0/16" if i % 2 else f"2001:db8:{net:x}::/48"
            if any(str(r.network) == cidr and r.virtual_network_id == vnets[vnet] for r in made):
                continue
            made.append(c.create_route(cidr, tunnels[tunnel], virtual_network_id=vnets[vnet]))
        for i in sorted(deleted):
            if i < len(made):
                c.delete_route(made[i].id)
        for i in sorted(moved - deleted):
            if i < len(made):
                c.update_route(made[i].id, tunnel_id=tunnels[(tunnels.index(made[i].tunnel_id) + 1) % 3])
        for vnet in vnets:
            for tunnel in (None, *tunnels):
                got = c.route_networks(vnet, except_tunnel=tunnel)
                want = [r.network for r in c.list_routes(RouteFilter(virtual_network_id=vnet))
                        if r.tunnel_id != tunnel]
                assert sorted(got) == sorted(want) == sorted(Controller.route_networks(c, vnet, except_tunnel=tunnel))
                assert len(got) == len(set(got))
