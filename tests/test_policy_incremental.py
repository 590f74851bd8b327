"""The hub's incremental policy updates: a change compiled against the record of what was loaded
gives exactly what a full compile of the new policy gives.

For generated policies A and B (B: A with rules appended, deleted, edited, moved, the default
changed), the element set of A's full load with delta(A -> B) applied equals the element set of
B's full load, and the layout kept as the new record equals B's full layout (so the next change
starts from the truth). No kernel: the commands are checked by tests/host/test_policy_edge.py.
"""

from __future__ import annotations

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_policy_compile import lookup
from tests.test_policy_model import FLOWS
from warpcli.core.cidr import Network
from warpcli.core.policy import Policy, Rule, decide
from warpcli.host.policy_nft.boxes import MAPS, box_dims, map_name
from warpcli.host.policy_nft.compiler import compile_full, compile_update, decode
from warpcli.host.policy_nft.layout import Layout, Spec, read_record, record_path, sig_meta, write_record
from warpcli.host.policy_nft.ruleset import delta_commands, log_chain

V4, V6 = 0x0A000000, 0x20010DB8 << 96  # 10.0.0.0, 2001:db8::


def net(version: int) -> st.SearchStrategy[Network]:
    base, bits = (V4, 32) if version == 4 else (V6, 128)
    return st.builds(lambda plen, i: Network(version, base + ((i >> (bits - plen)) << (bits - plen)) if plen < bits
                                             else base + i, plen),
                     st.integers(bits - 4, bits), st.integers(0, 15)).map(
        lambda n: Network(n.version, n.value & ~((1 << (bits - n.prefixlen)) - 1), n.prefixlen))


nets = st.lists(st.one_of(net(4), net(4), net(6)), max_size=2).map(tuple)
port_range = st.tuples(st.integers(1, 8), st.integers(0, 3)).map(lambda t: (t[0], min(8, t[0] + t[1])))


@st.composite
def rule(draw, name: str) -> Rule:
    protocol = draw(st.sampled_from(["any", "tcp", "udp", "icmp"]))
    ports = tuple(draw(st.lists(port_range, max_size=2))) if protocol in ("tcp", "udp") else ()
    return Rule(name, draw(st.sampled_from(["allow", "deny"])), draw(nets), draw(nets), protocol, ports,
                log=draw(st.booleans()))


@st.composite
def changed(draw) -> tuple[Policy, Policy]:
    """A policy and the same after a few edits of the kinds `policy add/delete/move/default` make
    (an edit: a rule deleted and one of the same name added in its place)."""
    n = draw(st.integers(0, 7))
    rules = [draw(rule(f"r{i}")) for i in range(n)]
    a = Policy(draw(st.sampled_from(["allow", "deny"])), tuple(rules))
    fresh = iter(range(100, 1000))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["append", "append", "insert", "delete", "edit", "move", "default"]))
        if kind == "append" or (not rules and kind != "default"):
            rules.append(draw(rule(f"n{next(fresh)}")))
        elif kind == "insert":
            rules.insert(draw(st.integers(0, len(rules))), draw(rule(f"n{next(fresh)}")))
        elif kind == "delete":
            rules.pop(draw(st.integers(0, len(rules) - 1)))
        elif kind == "edit":
            i = draw(st.integers(0, len(rules) - 1))
            rules[i] = draw(rule(rules[i].name))
        elif kind == "move":
            moved = rules.pop(draw(st.integers(0, len(rules) - 1)))
            rules.insert(draw(st.integers(0, len(rules))), moved)
    default = draw(st.sampled_from([a.default, "allow", "deny"]))
    return a, Policy(default, tuple(rules))


def element_set(layout: Layout) -> set[tuple]:
    """(map, box, rule name, action, log) of every element of the layout's table."""
    out = set()
    for version, ported in MAPS:
        name = map_name(version, ported)
        for i, boxes in decode(layout.pieces[name], 0, box_dims(ported)).items():
            out |= {(name, box, *sig_meta(layout.sigs[i])) for box in boxes}
    return out


def comparable(layout: Layout) -> tuple:
    return (layout.default, layout.sigs, sorted(layout.dead), layout.cut, layout.logs, layout.pieces, layout.boxes)


@settings(deadline=None, max_examples=400)
@given(changed(), st.sampled_from([64, 64, 3, 1]))
def test_delta_applied_to_the_old_load_is_the_full_compile_of_the_new(pair: tuple[Policy, Policy], limit: int) -> None:
    a, b = pair
    with mock.patch("warpcli.host.policy_nft.boxes.PIECES_LIMIT", limit):
        old = compile_full(Spec.of_policy(a), "wg0")
        spec = Spec.of_policy(b)
        full = compile_full(Spec.of_policy(b), "wg0")
        got = compile_update(old, spec)
    if got is None:  # the full load: only for a change inside the ordered suffix, or into it
        assert old.cut < len(a.rules) or full.cut < len(b.rules)
        return
    layout, delta = got
    assert comparable(layout) == comparable(full)
    elems = element_set(old)
    for version, ported in MAPS:
        name = map_name(version, ported)
        for box in delta.delete.get(name, []):
            hit = [e for e in elems if e[0] == name and e[1] == box]
            assert len(hit) == 1, ("deleting an element that is not there", box)
            elems.discard(hit[0])
        for box, j in delta.add.get(name, []):
            assert not any(e[0] == name and e[1] == box for e in elems), ("adding an element that is there", box)
            elems.add((name, box, *sig_meta(layout.sigs[j])))
    assert elems == element_set(full)
    assert [j for j in delta.suffix] == [j for j in range(len(a.rules), len(b.rules)) if old.cut < len(a.rules)]
    cmds = delta_commands(old, layout, delta, spec, "wg0")
    deleted_chains = {c["delete"]["chain"]["name"] for c in cmds if "chain" in c.get("delete", {})}
    assert deleted_chains == {log_chain(n) for n in old.logs.keys() - full.logs.keys()}


@settings(deadline=None, max_examples=150)
@given(changed())
def test_the_updated_maps_decide_as_the_model(pair: tuple[Policy, Policy]) -> None:
    """The same, seen from the packets: a lookup in the updated elements is B's first match."""
    a, b = pair
    got = compile_update(compile_full(Spec.of_policy(a), "wg0"), Spec.of_policy(b))
    if got is None:
        return
    layout = got[0]
    maps = {}
    for version, ported in MAPS:
        decoded = decode(layout.pieces[map_name(version, ported)], 0, box_dims(ported))
        maps[version, ported] = [(box, i) for i, boxes in decoded.items() for box in boxes]
    for flow in FLOWS[::3]:
        if flow.source[0] != flow.destination[0]:
            continue
        assert lookup(maps, flow) == decide(b, flow).rule, flow


def test_an_appended_rule_is_cut_only_against_the_pieces_it_meets() -> None:
    from warpcli.core.policy import networks

    rules = tuple(Rule(f"r{i}", "allow", networks([f"10.{i >> 8}.{i & 255}.0/24"]), networks(["172.16.0.1"]), "tcp",
                       ((443, 443),)) for i in range(2000))
    old = compile_full(Spec.of_policy(Policy("deny", rules)), "wg0")
    extra = Rule("x", "deny", networks(["10.0.5.0/25"]), (), "tcp", ())
    layout, delta = compile_update(old, Spec.of_policy(Policy("deny", (*rules, extra)))) or (None, None)
    assert layout is not None and delta is not None
    added = delta.add["p4"]
    assert not delta.delete and all(j == 2000 for _, j in added)
    # 10.0.5.0/25 . any . any port minus r5's 10.0.5.0/24 . 172.16.0.1 . 443: the destinations
    # below and above, then at 172.16.0.1 the ports below and above
    assert len(added) == 4


def test_a_tunnel_rule_follows_its_routes() -> None:
    from warpcli.core.cidr import parse_network

    routes = {"site-a": [parse_network("10.1.0.0/24")]}
    doc = {"default": "deny", "rules": [
        {"name": "web", "action": "allow", "sources": ["site-a"], "destinations": ["10.9.0.0/24"], "protocol": "tcp",
         "ports": ["443"], "log": True, "comment": ""},
        {"name": "ghost", "action": "allow", "sources": ["site-b"], "destinations": [], "protocol": "any",
         "ports": [], "log": False, "comment": ""}]}
    first = Spec.of_document(doc, lambda name: routes.get(name, []))
    old = compile_full(first, "wg0")
    assert old.dead == [1] and old.logs == {"web": "allow"}
    routes["site-a"] = [parse_network("10.1.0.0/24"), parse_network("10.1.1.0/24")]
    routes["site-b"] = [parse_network("10.2.0.0/24")]
    second = Spec.of_document(doc, lambda name: routes.get(name, []))
    assert second.fingerprint("wg0") != first.fingerprint("wg0")
    got = compile_update(old, second)
    assert got is not None
    layout, delta = got
    assert comparable(layout) == comparable(compile_full(Spec.of_document(doc, lambda name: routes.get(name, [])),
                                                         "wg0"))
    assert layout.dead == []
    assert {j for _, j in delta.add["p4"]} == {0, 1} and {j for _, j in delta.add["o4"]} == {1}


def test_the_record_reads_back_as_written(tmp_path) -> None:
    from warpcli.core.policy import networks

    policy = Policy("deny", (Rule("a", "allow", networks(["10.0.0.0/8", "2001:db8::/32"]), (), "udp", ((53, 53),),
                                  log=True),))
    layout = compile_full(Spec.of_policy(policy), "wg0")
    layout.gen, layout.fingerprint = "abc", "def"
    write_record(record_path(tmp_path, "wg0"), layout)
    again = read_record(tmp_path, "wg0")
    assert again == layout
    assert read_record(tmp_path, "wg1") is None  # another interface's
    data = record_path(tmp_path, "wg0").read_bytes()
    record_path(tmp_path, "wg0").write_bytes(data[:-10])
    assert read_record(tmp_path, "wg0") is None  # torn: a full load
    record_path(tmp_path, "wg0").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert read_record(tmp_path, "wg0") is None  # damaged: the digest does not match
