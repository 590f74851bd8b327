"""The network file and the planner, without a controller (issue 15).

The planner is checked against a brute-force oracle: the plan, carried out on a plain
model of the state, must give exactly the state the file describes (what --prune keeps
included), touch each object at most once, change nothing that already matches, and
respect the dependency order. The file's reader is checked against the JSON Schema
in docs/ and against what the writer produces.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.core import apply as A
from warpcli.core.cidr import parse_network
from warpcli.core.model import Connector, Route, Tunnel, VirtualNetwork
from warpcli.core.netfile import NetworkFileError, dump_toml, entry_lines, parse
from warpcli.core.policies import RuleSpec

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "network-file.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

VNETS = ["default", "blue", "green", "red"]
TUNNELS = ["t1", "t2", "t3", "t4"]
NETS = ["10.0.0.0/24", "10.0.0.0/16", "10.1.0.0/24", "192.168.1.7/32", "2001:db8::/32", "2001:db8:1::/48"]
COMMENTS = ["", "x", 'quoted "q" ünï']
RULE_NAMES = ["ci", "voip", "deny-all"]
RULE_CIDRS = ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]


@st.composite
def rule_docs(draw, tunnels: list[str]) -> list[dict]:
    """A policy's rules as a file writes them (unique names; ends: CIDRs or the given tunnels)."""
    out = []
    for name in draw(st.lists(st.sampled_from(RULE_NAMES), max_size=3, unique=True)):
        r: dict = {"name": name, "action": draw(st.sampled_from(["allow", "deny"]))}
        for key in ("sources", "destinations"):
            ends = draw(st.lists(st.sampled_from([*RULE_CIDRS, *tunnels]), max_size=2, unique=True))
            if ends:
                r[key] = ends
        proto = draw(st.sampled_from(["any", "tcp", "udp", "icmp"]))
        if proto != "any":
            r["protocol"] = proto
        if proto in ("tcp", "udp") and draw(st.booleans()):
            r["ports"] = draw(st.sampled_from([[443], [443, 8443], ["10000-20000"], [53, "1000-1001"]]))
        if draw(st.booleans()) and draw(st.booleans()):
            r["log"] = True
        c = draw(st.sampled_from(COMMENTS))
        if c:
            r["comment"] = c
        out.append(r)
    return out


def rule_spec(r: dict):
    from warpcli.core.policies import make_rule

    ports = ",".join(str(x) for x in r["ports"]) if r.get("ports") else None
    return make_rule(r["name"], action=r["action"], sources=r.get("sources", []),
                     destinations=r.get("destinations", []), protocol=r.get("protocol", "any"), port=ports,
                     log=r.get("log", False), comment=r.get("comment", ""), tunnel_exists=lambda _: True)


# -- generated states and files ------------------------------------------------------------
@st.composite
def states(draw) -> A.State:
    """A controller state: one default vnet, some tunnels, routes in them."""
    vnames = draw(st.lists(st.sampled_from(VNETS), min_size=1, max_size=4, unique=True))
    default = draw(st.sampled_from(vnames))
    vnets = tuple(VirtualNetwork(f"v-{n}", n, draw(st.sampled_from(COMMENTS)), n == default, "t0") for n in vnames)
    tnames = draw(st.lists(st.sampled_from(TUNNELS), max_size=4, unique=True))
    tunnels = tuple(Tunnel(f"t-{n}", n, "acct", "t0") for n in tnames)
    routes: list[Route] = []
    if tnames:
        keys = draw(st.lists(st.tuples(st.sampled_from(vnames), st.sampled_from(NETS)), unique=True, max_size=8))
        for i, (v, net) in enumerate(keys):
            t = draw(st.sampled_from(tnames))
            routes.append(Route(f"r-{i}", net, f"t-{t}", f"v-{v}", draw(st.sampled_from(COMMENTS)), "t0", t, v))
    from warpcli.core.policies import PolicySpec

    policies = []
    for n in draw(st.lists(st.sampled_from(vnames), max_size=2, unique=True)):
        spec = PolicySpec(draw(st.sampled_from(["allow", "deny"])),
                          tuple(rule_spec(r) for r in draw(rule_docs(tnames))), draw(st.integers(1, 9)))
        if spec.default == "deny" or spec.rules:
            policies.append((f"v-{n}", spec))
    return A.State.of(vnets, tunnels, tuple(routes), policies)


@st.composite
def documents(draw) -> dict:
    """A valid network file's document (vnet default marks, omitted vnets and comments included)."""
    vnames = draw(st.lists(st.sampled_from(VNETS), max_size=4, unique=True))
    default = draw(st.none() | st.sampled_from(vnames)) if vnames else None
    vnets = []
    for n in vnames:
        v: dict = {"name": n}
        c = draw(st.sampled_from(COMMENTS))
        if c or draw(st.booleans()):
            v["comment"] = c
        if n == default:
            v["default"] = True
        elif draw(st.booleans()) and draw(st.booleans()):
            v["default"] = False
        vnets.append(v)
    tnames = draw(st.lists(st.sampled_from(TUNNELS), max_size=4, unique=True))
    routes = []
    if tnames:
        targets = [*vnames, None] if vnames else [None, "default"]
        keys = draw(st.lists(st.tuples(st.sampled_from(targets), st.sampled_from(NETS)), unique=True, max_size=8))
        for v, net in keys:
            r = {"network": net, "tunnel": draw(st.sampled_from(tnames))}
            if v is not None:
                r["vnet"] = v
            c = draw(st.sampled_from(COMMENTS))
            if c:
                r["comment"] = c
            routes.append(r)
    policies = []
    for v in draw(st.lists(st.sampled_from([*vnames, None] if vnames else [None, "default"]), max_size=2,
                           unique=True)):
        pol: dict = {} if v is None else {"vnet": v}
        if draw(st.booleans()):
            pol["default"] = draw(st.sampled_from(["allow", "deny"]))
        rules = draw(rule_docs(tnames))
        if rules or draw(st.booleans()):
            pol["rules"] = rules
        policies.append(pol)
    doc = {"version": 1, "vnets": vnets, "tunnels": [{"name": n} for n in tnames], "routes": routes}
    if policies:
        doc["policies"] = policies
    return doc


def to_toml(doc: dict) -> str:
    """A writer independent of the exporter's: [[tables]] for everything."""
    out = [f"{k} = {json.dumps(v)}\n" for k, v in doc.items() if not isinstance(v, list)]
    for section in [k for k, v in doc.items() if isinstance(v, list)]:
        for item in doc[section]:
            out.append(f"\n[[{section}]]\n")
            for k, v in item.items():
                if section == "policies" and k == "rules" and isinstance(v, list) and v:
                    continue
                out.append(f"{k} = {json.dumps(v, ensure_ascii=False)}\n")
            if section == "policies" and isinstance(item.get("rules"), list):
                for rule in item["rules"]:
                    out.append("[[policies.rules]]\n")
                    out += [f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in rule.items()]
    return "".join(out)


# -- the oracle ------------------------------------------------------------------------------
def model(state: A.State) -> dict:
    vn = {v.id: v.name for v in state.vnets}
    tn = {t.id: t.name for t in state.tunnels}
    return {
        "vnets": {v.name: (v.comment, v.is_default_network) for v in state.vnets},
        "tunnels": {t.name for t in state.tunnels},
        "routes": {(vn[vid], parse_network(network)): (tn[tid], comment)
                   for _, network, _, _, _, tid, vid, comment in state.routes},
        "policies": {vn[vid]: (spec.default, spec.rules) for vid, spec in state.policies},
    }


def expected(doc: dict, state: A.State, prune: bool, force: bool) -> dict | None:
    """What the state must be after applying ``doc``; None when the file must be refused."""
    cur = model(state)
    cur_default = next(n for n, (_, d) in cur["vnets"].items() if d)
    file_default = next((v["name"] for v in doc["vnets"] if v.get("default")), None)
    default = file_default or cur_default
    if any(v.get("default") is False and v["name"] == default for v in doc["vnets"]):
        return None
    vnets = {v["name"]: v.get("comment", "") for v in doc["vnets"]}
    tunnels = {t["name"] for t in doc["tunnels"]}
    if prune:
        for n, (comment, is_default) in cur["vnets"].items():
            if n not in vnets and is_default and not (force and file_default):
                vnets[n] = comment  # the default vnet is kept
    else:
        for n, (comment, _) in cur["vnets"].items():
            vnets.setdefault(n, comment)
        tunnels |= cur["tunnels"]
    routes = {} if prune else dict(cur["routes"])
    seen = set()
    for r in doc["routes"]:
        key = (r.get("vnet") or default, parse_network(r["network"]))
        if key[0] not in vnets or r["tunnel"] not in tunnels or key in seen:
            return None
        seen.add(key)
        routes[key] = (r["tunnel"], r.get("comment", ""))
    # policies: the file's replace the named vnets'; --prune empties every other one (a deleted
    # vnet's goes with it); an empty policy (allow, no rules) is no policy
    policies = {} if prune else {v: p for v, p in cur["policies"].items() if v in vnets}
    named = set()
    for pol in doc.get("policies", []):
        vname = pol.get("vnet") or default
        rules = tuple(rule_spec(r) for r in pol.get("rules", []))
        if vname in named:
            return None  # the default vnet's policy twice: by its name and left out
        named.add(vname)
        if vname not in vnets or any("/" not in e and e not in tunnels for r in rules
                                     for e in (*r.sources, *r.destinations)):
            return None
        policies[vname] = (pol.get("default", "allow"), rules)
    policies = {v: p for v, p in policies.items() if p[0] == "deny" or p[1]}
    return {"vnets": {n: (c, n == default) for n, c in vnets.items()}, "tunnels": tunnels, "routes": routes,
            "policies": policies}


def simulate(state: A.State, plan: A.Plan) -> dict:
    """Carry a plan out on the plain model, checking each step is possible there."""
    m = model(state)
    touched = set()
    for c in plan.changes:
        key = (c.kind, c.vnet, c.name)
        assert key not in touched, f"{c.line()}: the object is in the plan twice"
        touched.add(key)
        if c.action == A.KEEP:
            continue
        if c.kind == "policy":
            assert c.name == c.vnet and c.name in m["vnets"], f"{c.line()}: its vnet does not exist (yet)"
            old = m["policies"].get(c.name, ("allow", ()))
            after = {"default": old[0], "rules": [r.to_dict() for r in old[1]], **c.after}
            rules = tuple(RuleSpec.from_dict(r) for r in after["rules"])
            for r in rules:
                for end in (*r.sources, *r.destinations):
                    assert "/" in end or end in m["tunnels"], f"{c.line()}: tunnel {end} does not exist (yet)"
            if after["default"] == "deny" or rules:
                m["policies"][c.name] = (after["default"], rules)
            else:
                m["policies"].pop(c.name, None)
            continue
        if c.kind == "vnet":
            if c.action == A.CREATE:
                assert c.name not in m["vnets"]
                m["vnets"][c.name] = (c.after["comment"], False)
            elif c.action == A.DELETE:
                assert not any(v == c.name for v, _ in m["routes"]), f"{c.line()}: routes still in it"
                assert not m["vnets"][c.name][1], f"{c.line()}: deleting the default virtual network"
                del m["vnets"][c.name]
                m["policies"].pop(c.name, None)
                continue
            comment = c.after.get("comment", m["vnets"][c.name][0])
            is_default = m["vnets"][c.name][1]
            if c.after.get("default"):
                m["vnets"] = {n: (cm, False) for n, (cm, _) in m["vnets"].items()}
                is_default = True
            m["vnets"][c.name] = (comment, is_default)
        elif c.kind == "tunnel":
            if c.action == A.CREATE:
                assert c.name not in m["tunnels"]
                m["tunnels"].add(c.name)
            else:
                assert not any(t == c.name for t, _ in m["routes"].values()), f"{c.line()}: routes still use it"
                going = {x.name for x in plan.changes if x.kind == "vnet" and x.action == A.DELETE}
                assert not any(c.name in (*r.sources, *r.destinations) for v, (_, rules) in m["policies"].items()
                               if v not in going for r in rules), f"{c.line()}: a policy still names it"
                m["tunnels"].remove(c.name)
        else:
            key = (c.vnet, parse_network(c.name))
            if c.action == A.DELETE:
                del m["routes"][key]
                continue
            assert c.vnet in m["vnets"], f"{c.line()}: its vnet does not exist yet"
            tunnel = c.after.get("tunnel", m["routes"].get(key, (None,))[0])
            assert tunnel in m["tunnels"], f"{c.line()}: its tunnel does not exist yet"
            if c.action == A.CREATE:
                assert key not in m["routes"]
            m["routes"][key] = (tunnel, c.after.get("comment", m["routes"].get(key, (None, ""))[1]))
    return m


@given(states(), documents(), st.booleans(), st.booleans())
def test_the_plan_reaches_exactly_what_the_file_says(state, doc, prune, force) -> None:
    want = expected(doc, state, prune, force)
    desired = parse(to_toml(doc), "net.toml")
    assert not desired.problems
    if want is None:
        with pytest.raises(NetworkFileError) as info:
            A.plan(desired, state, prune=prune, force=force)
        assert info.value.problems and all(p["file"] == "net.toml" for p in info.value.problems)
        return
    p = A.plan(desired, state, prune=prune, force=force)
    got = simulate(state, p)
    assert got == want
    # nothing that already matches is touched; updates carry only what differs
    for c in p.changes:
        if c.action == A.UPDATE:
            assert c.after and all(c.before[k] != c.after[k] for k in c.after)
    if not prune:
        assert all(c.action in (A.CREATE, A.UPDATE) for c in p.changes)
    # the plan is deterministic and, planned again from where it leads, empty
    assert A.plan(desired, state, prune=prune, force=force) == p


@given(states())
def test_the_export_of_a_state_plans_to_nothing_even_with_prune(state) -> None:
    doc = A.export_document(state)
    assert VALIDATOR.is_valid(doc), list(VALIDATOR.iter_errors(doc))
    text = "".join(dump_toml(doc))
    assert VALIDATOR.is_valid(tomllib.loads(text))
    desired = parse(text, "export.toml")
    assert not desired.problems
    for prune in (False, True):
        p = A.plan(desired, state, prune=prune, force=True)
        assert p.changes == () and p.lines() == ["no changes"]


@given(documents())
def test_the_writers_agree_and_the_schema_accepts_valid_files(doc) -> None:
    assert VALIDATOR.is_valid(doc)
    text = to_toml(doc)
    assert tomllib.loads(text) == {k: v for k, v in doc.items() if v}
    parsed = parse(text, "f.toml")
    assert not parsed.problems
    assert [str(r.network) for r in parsed.routes] == [r["network"] for r in doc["routes"]]


# -- the ordering and the plan's words ----------------------------------------------------------
def test_creates_and_updates_come_before_deletes_in_dependency_order() -> None:
    state = A.State.of(
        (VirtualNetwork("v1", "default", "", True, "t"), VirtualNetwork("v2", "old", "", False, "t")),
        (Tunnel("t1", "gone", "a", "t"),),
        (Route("r1", "10.9.0.0/16", "t1", "v2", "", "t", "gone", "old"),),
    )
    doc = {"version": 1, "vnets": [{"name": "new", "default": True}], "tunnels": [{"name": "t"}],
           "routes": [{"network": "10.0.0.0/24", "tunnel": "t"}]}
    p = A.plan(parse(to_toml(doc)), state, prune=True, force=True)
    assert p.lines() == [
        "+ vnet new (default)",
        "+ tunnel t",
        "+ route 10.0.0.0/24 in new via t",
        "- route 10.9.0.0/16 in old via gone",
        "- tunnel gone",
        "- vnet default",
        "- vnet old",
    ]
    assert p.summary() == "3 to create, 0 to update, 4 to delete"


def test_prune_keeps_the_default_vnet_and_tunnels_with_connectors_unless_forced() -> None:
    state = A.State.of(
        (VirtualNetwork("v1", "default", "", True, "t"),),
        (Tunnel("t1", "edge", "a", "t"),),
        (),
    )
    conn = [Connector("c1", "t1", "v1", "key", "100.96.0.2", "t")]
    desired = parse('version = 1\nvnets = [{ name = "blue" }]\n')
    p = A.plan(desired, state, prune=True, connectors=conn)
    assert p.lines() == [
        "+ vnet blue",
        "! tunnel edge: not deleted, it has 1 connector(s); --force deletes it",
        "! vnet default: not deleted, it is the default virtual network; --force deletes it once the file "
        "marks another one `default = true`",
    ]
    assert A.plan(desired, state, prune=True, force=True, connectors=conn).lines() == [
        "+ vnet blue", "- tunnel edge",
        "! vnet default: not deleted, it is the default virtual network; mark another one `default = true` "
        "in the file"]


# -- bad files: every problem, with its line --------------------------------------------------------
BAD = """version = 1
vnets = [
  { name = "default", default = true },
  { name = "blue", colour = "x" },
  { name = "default" },
]
tunnels = [{ name = "t" }]

[[routes]]
network = "10.0.0.1/24"
tunnel = "t"

[[routes]]
network = "10.1.0.0/24"
tunnel = "nope"

[[routes]]
network = "10.2.0.0/24"
tunnel = "t"

[[routes]]
network = "10.2.0.0/24"
tunnel = "t"
vnet = "default"

[[routes]]
network = "10.3.0.0/24"
tunnel = 7
"""


def test_every_bad_entry_is_reported_with_its_line() -> None:
    state = A.State.of((VirtualNetwork("v1", "default", "", True, "t"),), (), ())
    with pytest.raises(NetworkFileError) as info:
        A.plan(parse(BAD, "net.toml"), state)
    got = [(p["line"], p["entry"], p["reason"]) for p in info.value.problems]
    assert got == [
        (4, "vnets[1] blue", "unknown key(s) colour; expected name, comment, default"),
        (5, "vnets[2] default", "virtual network 'default' is already named by line 3"),
        (9, "routes[0] 10.0.0.1/24", got[2][2]),
        (13, "routes[1] 10.1.0.0/24",
         "unknown tunnel 'nope' (neither in the file's [[tunnels]] nor on the controller)"),
        (21, "routes[3] 10.2.0.0/24", "duplicate of line 17 (the same network in 'default')"),
        (26, "routes[4] 10.3.0.0/24", "'tunnel' must be a string, not an integer"),
    ]
    assert "10.0.0.0/24" in got[2][2]  # host bits: the message names the canonical form
    assert str(info.value) == "net.toml: 6 bad entries; nothing was changed"


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("version = 1\nroutes = [\n  { network = 10.0.0.0 },\n]\n", 3, "TOML syntax: "),
    ("version = 2\n", 1, "unsupported format version 2"),
    ("colour = 1\n", 1, "unknown key; expected version, vnets, tunnels, routes"),
    ("version = 1\ntunnels = [{ name = \"a\" }, { name = \"a\" }]\n", 2, "tunnel 'a' is already named"),
    ("vnets = [{ name = \"a\", default = true }, { name = \"b\", default = true }]\n", 1,
     "a second default virtual network"),
    ("routes = \"x\"\n", 1, "must be an array of tables"),
])
def test_one_bad_thing_one_line(text: str, line: int, reason: str) -> None:
    problems = parse(text, "f.toml").problems
    assert len(problems) == 1, problems
    assert problems[0]["line"] == line and problems[0]["reason"].startswith(reason), problems


def test_lines_are_found_in_both_array_forms_and_not_guessed() -> None:
    text = 'routes = [ { a = "{" }, # { not one\n  {b = 1},\n]\n[[vnets]]\nname = "x"\n\n[[vnets]]\n'
    assert entry_lines(text, "routes", 2) == [1, 2]
    assert entry_lines(text, "vnets", 2) == [4, 7]
    assert entry_lines(text, "vnets", 3) is None


def test_a_route_to_a_vnet_that_prune_deletes_is_refused() -> None:
    state = A.State.of((VirtualNetwork("v1", "default", "", True, "t"), VirtualNetwork("v2", "old", "", False, "t")),
                    (Tunnel("t1", "t", "a", "t"),), ())
    text = 'tunnels = [{ name = "t" }]\nroutes = [\n  { network = "10.0.0.0/8", tunnel = "t", vnet = "old" },\n]\n'
    A.plan(parse(text), state)  # without --prune the vnet stays: fine
    with pytest.raises(NetworkFileError) as info:
        A.plan(parse(text, "f.toml"), state, prune=True)
    (p,) = info.value.problems
    assert p["line"] == 3
    assert p["reason"] == "virtual network 'old' is not in the file, so --prune deletes it; add it to [[vnets]]"


# -- the schema and the examples ------------------------------------------------------------
def test_the_example_and_the_docs_examples_are_valid() -> None:
    docs = (ROOT / "docs" / "network-file.md").read_text()
    blocks = [b.split("```", 1)[0] for b in docs.split("```toml\n")[1:]]
    assert blocks, "docs/network-file.md has no ```toml example"
    for text in [(ROOT / "examples" / "network.toml").read_text(), *blocks]:
        doc = tomllib.loads(text)
        assert VALIDATOR.is_valid(doc), list(VALIDATOR.iter_errors(doc))
        assert not parse(text).problems


@pytest.mark.parametrize("doc", [
    {"colour": 1},
    {"version": 2},
    {"vnets": [{"name": "a", "colour": "x"}]},
    {"vnets": [{"comment": "no name"}]},
    {"vnets": [{"name": " padded"}]},
    {"vnets": [{"name": "all"}]},
    {"vnets": [{"name": "a", "default": "yes"}]},
    {"tunnels": [{"name": "a", "comment": "tunnels have none"}]},
    {"tunnels": [{"name": "0b7c3a52-27d3-4f7c-9a54-5d1e1b0c1d2e"}]},
    {"routes": [{"network": "10.0.0.0/8"}]},
    {"routes": [{"network": "10.0.0.0/8", "tunnel": "t", "comment": "bell\u0007"}]},
    {"routes": [{"network": "ten", "tunnel": "t"}]},
])
def test_schema_and_reader_refuse_the_same_files(doc: dict) -> None:
    assert not VALIDATOR.is_valid(doc)
    assert parse(to_toml(doc)).problems


# -- the fast reader of export-shaped files ---------------------------------------------------
EXTRA_LINES = [
    '  { network = "10.0.0.1/24", tunnel = "t1", vnet = "default" },',
    '  { network = "10.9.0.0/24", tunnel = "t1", vnet = "default", colour = "x" },',
    '  { network = "10.9.0.0/24", tunnel = "t1", vnet = "default" }, # a comment',
    '  { network = "10.9.0.0/24", tunnel = "t\\u0031", vnet = "default" },',
    '  { network = "10.9.0.0/24", tunnel = "t1", vnet = "" },',
    "[extra]", "routes = 5", "# comment", "", "]", "x = 1", "routes = [",
]


@given(states(), st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(EXTRA_LINES)), max_size=3))
def test_the_fast_reader_agrees_with_tomllib(state, extra) -> None:
    from warpcli.core.netfile import _parse_slow

    lines = "".join(dump_toml(A.export_document(state))).split("\n")
    for pos, line in extra:
        lines.insert(pos % (len(lines) + 1), line)
    text = "\n".join(lines)
    assert parse(text, "f.toml") == _parse_slow(text, "f.toml")
    if not extra:  # an export as written is read without tomllib's (slow) inline tables
        import warpcli.core.netfile as netfile

        def refuse_slow(*args):
            raise AssertionError("the fast reader fell back to tomllib on an export")

        real, netfile._parse_slow = netfile._parse_slow, refuse_slow
        try:
            assert parse(text, "f.toml") == real(text, "f.toml")
        finally:
            netfile._parse_slow = real


def test_routes_of_foreign_tunnels_are_neither_exported_nor_pruned_nor_overwritten() -> None:
    """A Cloudflare account lists cloudflared's routes too; their tunnels are not warpcli's."""
    v = VirtualNetwork("v1", "default", "", True, "t")
    state = A.State.of((v,), (Tunnel("t1", "office", "a", "t"),), (
        Route("r1", "10.0.0.0/24", "t1", "v1", "", "t", "office", "default"),
        Route("r2", "10.5.0.0/16", "cfd-tunnel-id", "v1", "", "t", None, "default"),
    ))
    doc = A.export_document(state)
    assert [r["network"] for r in doc["routes"]] == ["10.0.0.0/24"]
    assert [r[0] for r in A.foreign_routes(state)] == ["r2"]
    assert A.plan(parse("".join(dump_toml(doc))), state, prune=True, force=True).changes == ()
    text = 'tunnels = [{ name = "office" }]\nroutes = [{ network = "10.5.0.0/16", tunnel = "office" }]\n'
    with pytest.raises(NetworkFileError) as info:
        A.plan(parse(text), state)
    assert "through tunnel cfd-tunnel-id, which is not a warp_connector tunnel" in info.value.problems[0]["reason"]
