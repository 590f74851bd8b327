"""The overlap report (one sort-and-sweep) against a brute-force O(n^2) oracle."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.core import overlaps
from warpcli.core.cidr import BITS, Network, network_of, parse_network
from warpcli.core.overlaps import Entry, overlap_report

BASE = {4: 0x0A000000, 6: 0x20010DB8 << 96}


@st.composite
def small_networks(draw) -> Network:
    """CIDRs from a small address space, so nesting and sharing are frequent."""
    v = draw(st.sampled_from([4, 6]))
    bits = BITS[v]
    kind = draw(st.sampled_from(["low", "low", "low", "short", "edge"]))
    if kind == "low":  # inside BASE/(bits-6): 64 addresses
        return network_of(v, BASE[v] | draw(st.integers(0, 63)), draw(st.integers(bits - 6, bits)))
    if kind == "short":  # encloses the whole small space
        return network_of(v, BASE[v], draw(st.integers(0, bits - 6)))
    return network_of(v, draw(st.sampled_from([0, (1 << bits) - 1])), draw(st.integers(0, bits)))


@dataclass(frozen=True)
class Ref:
    """A distinct object per route, as the caller's payload."""

    n: int
    vnet: str
    net: Network


@st.composite
def route_sets(draw) -> list[Ref]:
    # a small pool of CIDRs spread over several vnets: nesting and sharing are frequent
    size = draw(st.integers(0, 16))
    pool = draw(st.lists(small_networks(), min_size=size, max_size=size, unique=True))
    # each CIDR in each vnet at most once (the store's rule), each pair present with p=1/2
    pairs = [(vnet, net) for net in pool for vnet in ("a", "b", "c")]
    present = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    rows = [pair for pair, keep in zip(pairs, present, strict=False) if keep]
    order = draw(st.permutations(range(len(rows))))
    return [Ref(i, *rows[j]) for i, j in enumerate(order)]


def entries(refs):
    return [Entry(r.vnet, r.net.version, r.net.lo, r.net.prefixlen, r) for r in refs]


def strict_enclosing(r: Ref, refs) -> list[Ref]:
    return [s for s in refs if s is not r and s.vnet == r.vnet and s.net.contains(r.net)]


def descendants(r: Ref, refs) -> set[Ref]:
    return {s for s in refs if s is not r and s.vnet == r.vnet and r.net.contains(s.net)}


@given(route_sets())
def test_nested_groups_match_brute_force(refs):
    report = overlap_report(entries(refs))

    seen: list[Ref] = []
    parent_of: dict[Ref, Ref] = {}
    outers: list[Ref] = []
    for group in report.nested:
        assert group.inner, "a group without members"
        outers.append(group.outer)
        seen.append(group.outer)
        assert group.vnet == group.outer.vnet
        members = set()
        for route, parent in group.inner:
            seen.append(route)
            members.add(route)
            parent_of[route] = parent
            assert route.vnet == group.vnet
        assert members == descendants(group.outer, refs)

    assert len(seen) == len(set(seen)), "a route appears twice in the report"

    for r in refs:
        enclosing = strict_enclosing(r, refs)
        if enclosing:
            nearest = max(enclosing, key=lambda s: s.net.prefixlen)  # the smallest enclosing route
            assert parent_of.get(r) is nearest, f"{r} should nest under {nearest}"
            assert r not in outers
        else:
            assert r not in parent_of
            assert (r in outers) == bool(descendants(r, refs))


@given(route_sets())
def test_shared_cidrs_match_brute_force(refs):
    report = overlap_report(entries(refs))

    expected: dict[Network, set[Ref]] = {}
    for r in refs:
        expected.setdefault(r.net, set()).add(r)
    expected = {net: rs for net, rs in expected.items() if len({r.vnet for r in rs}) >= 2}

    got: dict[Network, set[Ref]] = {}
    for shared in report.shared:
        net = Network(shared.version, shared.lo, shared.prefixlen)
        assert net not in got, f"{net} reported twice"
        assert len(shared.routes) == len(set(shared.routes))
        got[net] = set(shared.routes)
    assert got == expected


def test_empty_report():
    report = overlap_report([])
    assert report.nested == [] and report.shared == []


def test_example_deep_nest_is_one_group():
    nets = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "10.2.0.0/16", "11.0.0.0/8", "::/0"]
    refs = [Ref(i, "a", parse_network(n)) for i, n in enumerate(nets)]
    report = overlap_report(entries(refs))
    assert len(report.nested) == 1
    (group,) = report.nested
    assert group.outer is refs[0]
    assert [(r.n, p.n) for r, p in group.inner] == [(1, 0), (2, 1), (3, 2), (4, 0)]
    assert report.shared == []


def test_example_ipv4_and_ipv6_never_nest():
    # ::/0 starts at 0 like 0.0.0.0/0, but a different family never encloses
    refs = [Ref(0, "a", parse_network("::/0")), Ref(1, "a", parse_network("0.0.0.0/0")),
            Ref(2, "a", parse_network("0.0.0.0/32")), Ref(3, "a", parse_network("::/128"))]
    report = overlap_report(entries(refs))
    pairs = {(r.n, p.n) for g in report.nested for r, p in g.inner}
    assert pairs == {(2, 1), (3, 0)}


def reference_report(entries):
    """The whole report, order included, by the plainest means (tuples, dicts, one bucket per vnet).

    Groups per (vnet, version) in first-seen order, then by address; shared CIDRs by
    (version, address, prefix length), each with its routes in input order.
    """
    buckets: dict = {}
    for i, (vnet, version, lo, plen, ref) in enumerate(entries):
        buckets.setdefault((vnet, version), []).append((lo, plen, i, ref))
    nested = []
    for (vnet, version), items in buckets.items():
        items.sort(key=lambda item: item[:3])
        stack: list = []  # (last address, ref), innermost last
        group = None
        for lo, plen, _, ref in items:
            while stack and stack[-1][0] < lo:
                stack.pop()
            if stack:
                if group is None or group[1] is not stack[0][1]:
                    group = (vnet, stack[0][1], [])
                    nested.append(group)
                group[2].append((ref, stack[-1][1]))
            stack.append((lo | ((1 << (BITS[version] - plen)) - 1), ref))
    by_cidr: dict = {}
    for _vnet, version, lo, plen, ref in entries:
        by_cidr.setdefault((version, lo, plen), []).append(ref)
    shared = [(*cidr, refs) for cidr, refs in sorted(by_cidr.items()) if len(refs) > 1]
    return nested, shared


def as_plain(report):
    return ([(g.vnet, g.outer, g.inner) for g in report.nested],
            [(s.version, s.lo, s.prefixlen, s.routes) for s in report.shared])


@given(route_sets())
def test_report_order_matches_reference(refs):
    assert as_plain(overlap_report(iter(entries(refs)))) == reference_report(entries(refs))


@given(st.lists(st.tuples(st.sampled_from("abcd"), small_networks()), max_size=40, unique=True))
def test_plain_tuples_and_many_vnets_match_reference(rows):
    """Plain 5-tuples as input, plain ints as refs, up to four vnets."""
    rows = [(vnet, net.version, net.lo, net.prefixlen, i) for i, (vnet, net) in enumerate(rows)]
    assert as_plain(overlap_report(rows)) == reference_report(rows)


@given(st.lists(st.tuples(st.sampled_from("ab"), small_networks()), max_size=60, unique=True))
def test_widening_the_slot_field_changes_nothing(rows):
    """Past 2 million routes the keys get a wider slot field; a 2-bit start widens after 2 routes."""
    rows = [(vnet, net.version, net.lo, net.prefixlen, i) for i, (vnet, net) in enumerate(rows)]
    with mock.patch.object(overlaps, "_FIRST_SLOT_BITS", 2):
        assert as_plain(overlap_report(rows)) == reference_report(rows)


def test_the_garbage_collector_is_left_as_found():
    refs = [Ref(i, "a", parse_network(n)) for i, n in enumerate(["10.0.0.0/8", "10.1.0.0/16"])]
    assert gc.isenabled()
    overlap_report(entries(refs))
    assert gc.isenabled()
    gc.disable()
    try:
        overlap_report(entries(refs))
        assert not gc.isenabled()
    finally:
        gc.enable()
    gc.freeze()  # an application that keeps objects frozen (e.g. before fork) keeps them frozen
    try:
        frozen = gc.get_freeze_count()
        overlap_report(entries(refs))
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_failing_input_leaves_the_collector_enabled():
    def broken():
        yield ("a", 4, 0, 8, 0)
        raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        overlap_report(broken())
    assert gc.isenabled()
