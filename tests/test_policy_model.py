"""The policy model: first match wins (`policy test`), and lint finds rules an earlier rule covers.

Both are checked against brute force over a small universe that holds every address and port the
generated rules can name, plus one of each outside them (so "any" and "these" differ): a rule covers
another exactly when it matches every flow of the universe the other matches.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.core.cidr import Network
from warpcli.core.errors import InvalidInput
from warpcli.core.policy import Flow, Policy, Rule, covers, decide, lint, matches, parse_flow, parse_ports

BASE = 0x0A000000  # 10.0.0.0
# addresses 10.0.0.0 .. 10.0.0.15 (rules name only these), plus 10.0.0.16 (outside every rule but "any")
ADDRESSES = [(4, BASE + i) for i in range(17)] + [(6, 1)]
PORTS = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # rules name ports 1-8; 9 is outside every rule but "any"
PROTOCOLS = ["tcp", "udp", "icmp"]


def universe():
    for src, dst, proto in itertools.product(ADDRESSES, ADDRESSES, PROTOCOLS):
        for port in (PORTS if proto in ("tcp", "udp") else [None]):
            yield Flow(src, dst, proto, port)


FLOWS = list(universe())

net = st.builds(lambda plen, i: Network(4, BASE + (i << (32 - plen)) % 16 if plen >= 28 else BASE, plen),
                st.integers(28, 32), st.integers(0, 15)).map(lambda n: Network(4, n.value & ~((1 << (32 - n.prefixlen)) - 1) & 0xFFFFFFFF, n.prefixlen))
nets = st.lists(net, max_size=2).map(tuple)
port_range = st.tuples(st.integers(1, 8), st.integers(0, 3)).map(lambda t: (t[0], min(8, t[0] + t[1])))


@st.composite
def rules(draw, name: str) -> Rule:
    protocol = draw(st.sampled_from(["any", "tcp", "udp", "icmp"]))
    ports = tuple(draw(st.lists(port_range, max_size=2))) if protocol in ("tcp", "udp") else ()
    return Rule(name, draw(st.sampled_from(["allow", "deny"])), draw(nets), draw(nets), protocol, ports)


policies = st.integers(0, 6).flatmap(
    lambda n: st.tuples(*(rules(f"r{i}") for i in range(n)), st.sampled_from(["allow", "deny"]))
).map(lambda t: Policy(t[-1], tuple(t[:-1])))


@given(policies)
def test_decide_is_the_first_matching_rule(policy: Policy) -> None:
    for flow in FLOWS[::7]:
        d = decide(policy, flow)
        first = next((i for i, r in enumerate(policy.rules) if matches(r, flow)), None)
        assert d.rule == first
        assert d.action == (policy.rules[first].action if first is not None else policy.default)


def _brute_match(rule: Rule, flow: Flow) -> bool:
    """The oracle's own matcher, written from the definitions."""
    if rule.protocol not in ("any", flow.protocol):
        return False
    if rule.ports and not any(lo <= (flow.port or 0) <= hi for lo, hi in rule.ports):
        return False
    def inside(ns, a):
        return not ns or any(n.version == a[0] and n.value <= a[1] < n.value + (1 << (32 - n.prefixlen)) for n in ns)
    return inside(rule.sources, flow.source) and inside(rule.destinations, flow.destination)


@given(rules("a"), rules("b"))
def test_covers_matches_brute_force(a: Rule, b: Rule) -> None:
    for flow in FLOWS[::5]:
        assert matches(a, flow) == _brute_match(a, flow)
    expected = all(_brute_match(a, f) for f in FLOWS if _brute_match(b, f))
    assert covers(a, b) == expected


@given(policies)
def test_lint_reports_exactly_the_rules_a_single_earlier_rule_covers(policy: Policy) -> None:
    matched = [{i for i, f in enumerate(FLOWS) if _brute_match(r, f)} for r in policy.rules]
    expected = {}
    for j in range(len(policy.rules)):
        by = next((i for i in range(j) if matched[j] <= matched[i]), None)
        if by is not None:
            expected[j] = (by, "shadowed" if policy.rules[by].action == policy.rules[j].action else "conflicting")
    assert {f.rule: (f.by, f.kind) for f in lint(policy)} == expected


def test_a_shadowed_rule_never_decides() -> None:
    wide = Rule("wide", "allow", (Network(4, BASE, 24),), (), "tcp", ((1, 1024),))
    narrow = Rule("narrow", "deny", (Network(4, BASE, 28),), (), "tcp", ((443, 443),))
    findings = lint(Policy("deny", (wide, narrow)))
    assert [(f.name, f.kind, f.by_name) for f in findings] == [("narrow", "conflicting", "wide")]
    assert "never takes effect" in findings[0].message()


@pytest.mark.parametrize(("text", "expected"), [
    ("443", ((443, 443),)), ("443,8443", ((443, 443), (8443, 8443))), ("10000-20000", ((10000, 20000),)),
])
def test_ports(text, expected) -> None:
    assert parse_ports(text) == expected


@pytest.mark.parametrize("text", ["0", "65536", "20-10", "http", "1-", "٣"])
def test_bad_ports_are_refused(text) -> None:
    with pytest.raises(InvalidInput):
        parse_ports(text)


def test_flows_parse() -> None:
    f = parse_flow("10.2.0.7", "10.1.0.5:443/tcp")
    assert f.protocol == "tcp" and f.port == 443 and f.destination == (4, 0x0A010005)
    assert parse_flow("10.2.0.7", "10.1.0.5/icmp").port is None
    assert parse_flow("2001:db8::1", "[2001:db8::5]:53/udp").port == 53
    with pytest.raises(InvalidInput):
        parse_flow("10.2.0.7", "10.1.0.5:443/icmp")


def test_bad_rules_are_refused() -> None:
    with pytest.raises(InvalidInput, match="ports apply to tcp and udp"):
        Rule("x", "allow", protocol="icmp", ports=((1, 2),))
    with pytest.raises(InvalidInput, match="two rules are named"):
        Policy("deny", (Rule("x", "allow"), Rule("x", "deny")))


def test_adjacent_networks_together_cover_their_union() -> None:
    halves = Rule("halves", "allow", (), (Network(4, BASE, 29), Network(4, BASE + 8, 29)), "any", ())
    whole = Rule("whole", "allow", (), (Network(4, BASE, 28),), "any", ())
    assert covers(halves, whole) and covers(whole, halves)
    assert [(f.rule, f.by, f.kind) for f in lint(Policy("deny", (halves, whole)))] == [(1, 0, "shadowed")]
