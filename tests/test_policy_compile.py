"""The hub's nftables compiler: the ordered rules become disjoint map elements, and a lookup in
them gives the same rule as first match (`decide`), checked point by point over a universe
that holds every address, protocol and port the generated rules can name."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_policy_model import FLOWS, policies
from warpcli.core.policy import Policy, decide
from warpcli.host.policy_nft.boxes import disjoint, elements, overlaps
from warpcli.host.policy_nft.ruleset import compile_policy, log_chain

PROTO = {"tcp": 6, "udp": 17, "icmp": 1}


def lookup(maps: dict, flow) -> int | None:
    """What the kernel does: one lookup in the map of the flow's family and kind."""
    version = flow.source[0]
    ported = flow.protocol in ("tcp", "udp")
    proto = PROTO[flow.protocol] if version == 4 or flow.protocol != "icmp" else 58
    point = (flow.source[1], flow.destination[1], proto) + ((flow.port,) if ported else ())
    hits = [i for box, i in maps[version, ported]
            if all(lo <= x <= hi for (lo, hi), x in zip(box, point, strict=True))]
    assert len(hits) <= 1, "elements overlap"
    return hits[0] if hits else None


@settings(deadline=None, max_examples=150)
@given(policies)
def test_map_lookup_equals_first_match(policy: Policy) -> None:
    maps = {(v, p): elements(policy, v, p) for v in (4, 6) for p in (True, False)}
    for flow in FLOWS[::3]:
        if flow.source[0] != flow.destination[0]:
            continue
        assert lookup(maps, flow) == decide(policy, flow).rule, flow


box = st.tuples(*[st.tuples(st.integers(0, 15), st.integers(0, 15)).map(sorted).map(tuple) for _ in range(3)])


@settings(deadline=None)
@given(st.lists(box, max_size=8))
def test_disjoint_pieces_cover_exactly_the_first_box_of_each_point(boxes) -> None:
    out, _ = disjoint(((b, i) for i, b in enumerate(boxes)), 32)
    for a in range(len(out)):
        for b in range(a + 1, len(out)):
            assert not overlaps(out[a][0], out[b][0])
    for x in range(0, 16, 3):
        for y in range(16):
            for z in range(0, 16, 5):
                first = next((i for i, b in enumerate(boxes) if all(lo <= v <= hi for (lo, hi), v in
                                                                   zip(b, (x, y, z), strict=True))), None)
                got = [i for b, i in out if all(lo <= v <= hi for (lo, hi), v in zip(b, (x, y, z), strict=True))]
                assert got == ([] if first is None else [first])


def test_one_transaction_replaces_the_table_and_logs_only_log_rules() -> None:
    from warpcli.core.policy import Rule, networks

    policy = Policy("deny", (Rule("web", "allow", networks(["10.2.0.0/24"]), networks(["10.1.0.5/32"]), "tcp",
                                  ((443, 443),)),
                             Rule("voip", "allow", (), (), "udp", ((5060, 5060),), log=True)))
    cmds = compile_policy(policy, "wg-hub", gen="g1")
    assert [next(iter(c)) for c in cmds[:3]] == ["add", "delete", "add"]
    chains = [c["add"]["chain"]["name"] for c in cmds if "chain" in c.get("add", {})]
    assert chains == [log_chain("voip"), "dflt", "sfx", "gen_g1", "forward"]
    logged = [c["add"]["rule"] for c in cmds if c.get("add", {}).get("rule", {}).get("chain") == log_chain("voip")]
    assert logged[0]["comment"] == "voip" and {"counter": {"packets": 0, "bytes": 0}} in logged[0]["expr"]


@settings(deadline=None, max_examples=150)
@given(policies)
def test_policy_test_fast_path_equals_first_match(policy: Policy) -> None:
    """`policy test` reads the stored rules without building the model; same answers as decide."""
    from warpcli.core.policies import first_match

    stored = [{"name": r.name, "action": r.action, "sources": [str(n) for n in r.sources],
               "destinations": [str(n) for n in r.destinations], "protocol": r.protocol,
               "ports": [f"{lo}-{hi}" for lo, hi in r.ports]} for r in policy.rules]
    for flow in FLOWS[::5]:
        i, _ = first_match(stored, flow, lambda name: [])
        d = decide(policy, flow)
        assert (None if i < 0 else i) == d.rule, flow
