"""The nftables JSON of a policy table: the whole table, or the change from one layout to the
next, each as one transaction.

The chains are those the package docstring lays out (:mod:`warpcli.host.policy_nft`). The full
load replaces the table in one transaction (add, delete, add: a table that a crash left behind is
adopted the same way), its counters from zero. A change is ``delete element``/``add element`` and
chain changes: unchanged elements keep their counters, an established connection that stays
allowed goes on, one that a new rule denies stops at its next packet. Denied packets are dropped
(not rejected): the client sees a time-out, as behind Cloudflare Gateway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from warpcli.core.cidr import format_address
from warpcli.core.policy import Policy, Rule
from warpcli.host.policy_nft.boxes import MAPS, Box, box_dims, map_name
from warpcli.host.policy_nft.compiler import PolicyDelta, compile_full, decode
from warpcli.host.policy_nft.layout import Layout, Spec, sig_meta

FAMILY = "inet"
CHAIN = "forward"
DEFAULT_CHAIN = "dflt"
SUFFIX_CHAIN = "sfx"
LOG_CHAIN_PREFIX = "log_"
GEN_CHAIN_PREFIX = "gen_"
DEFAULT_NAME = "(default)"
LOG_PREFIX = "warpcli-policy"


def table(ifname: str) -> str:
    return f"warpcli_policy_{ifname}"


_TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}
_PROTO = {4: "ip", 6: "ip6"}


def _key(box: Box, version: int) -> dict:
    (slo, shi), (dlo, dhi), *rest = box
    parts: list = [{"range": [format_address(version, slo), format_address(version, shi)]},
                   {"range": [format_address(version, dlo), format_address(version, dhi)]}]
    parts += [{"range": [lo, hi]} for lo, hi in rest]
    return {"concat": parts}


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def log_chain(name: str) -> str:
    """The chain of a ``--log`` rule (named after the rule, whatever its place)."""
    return LOG_CHAIN_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def _final(action: str) -> dict:
    return {"accept": None} if action == "allow" else {"drop": None}


def _verdict(name: str, action: str, log: bool) -> dict:
    return {"goto": {"target": log_chain(name)}} if log else _final(action)


def _base(ifname: str) -> dict:
    return {"family": FAMILY, "table": table(ifname)}


def _log_rules(ifname: str, name: str, action: str) -> list[dict]:
    """A log chain's two rules: new connections counted (the count of logged connections) and
    logged; then the verdict."""
    base, chain = _base(ifname), log_chain(name)
    prefix = f"{LOG_PREFIX} {action} {name}: "[:120]
    return [{"add": {"rule": {**base, "chain": chain, "comment": name, "expr": [
                _match({"ct": {"key": "state"}}, "new", "in"), {"counter": {"packets": 0, "bytes": 0}},
                {"log": {"prefix": prefix}}]}}},
            {"add": {"rule": {**base, "chain": chain, "expr": [_final(action)]}}}]


def _default_rule(ifname: str, default: str) -> dict:
    return {"add": {"rule": {**_base(ifname), "chain": DEFAULT_CHAIN, "comment": DEFAULT_NAME,
                             "expr": [{"counter": {"packets": 0, "bytes": 0}}, _final(default)]}}}


def _elements(ifname: str, version: int, ported: bool, items: Iterable[tuple[Box, str, str, bool]]) -> dict:
    elems = [[{"elem": {"val": _key(box, version), "counter": {"packets": 0, "bytes": 0}, "comment": name}},
              _verdict(name, action, log)] for box, name, action, log in items]
    return {"add": {"element": {**_base(ifname), "name": map_name(version, ported), "elem": elems}}}


def _suffix_rules(ifname: str, rule: Rule) -> list[dict]:
    return [{"add": {"rule": {**_base(ifname), "chain": SUFFIX_CHAIN, "comment": rule.name, "expr": expr}}}
            for expr in _suffix_rule(rule)]


def full_commands(layout: Layout, rules: list[Rule | None], ifname: str, gen: str) -> list[dict]:
    """The whole table, replacing any table of that name, as one transaction."""
    t = table(ifname)
    base = _base(ifname)
    cmds: list[dict] = [{"add": {"table": {"family": FAMILY, "name": t}}},
                        {"delete": {"table": {"family": FAMILY, "name": t}}},
                        {"add": {"table": {"family": FAMILY, "name": t}}}]
    for name, action in layout.logs.items():
        cmds.append({"add": {"chain": {**base, "name": log_chain(name)}}})
        cmds += _log_rules(ifname, name, action)
    cmds.append({"add": {"chain": {**base, "name": DEFAULT_CHAIN}}})
    cmds.append(_default_rule(ifname, layout.default))
    cmds.append({"add": {"chain": {**base, "name": SUFFIX_CHAIN}}})
    for rule in rules[layout.cut:]:
        if rule is not None:
            cmds += _suffix_rules(ifname, rule)
    for version, ported in MAPS:
        fields = [_TYPES[version], _TYPES[version], "inet_proto"] + (["inet_service"] if ported else [])
        name = map_name(version, ported)
        m = {**base, "name": name, "type": fields, "map": "verdict", "flags": ["interval"],
             "stmt": [{"counter": None}]}
        cmds.append({"add": {"map": m}})
        items = []
        for i, boxes in decode(layout.pieces[name], 0, box_dims(ported)).items():
            rule = rules[i]
            assert rule is not None
            items += [(box, rule.name, rule.action, rule.log) for box in boxes]
        if items:
            cmds.append(_elements(ifname, version, ported, items))
    cmds.append({"add": {"chain": {**base, "name": GEN_CHAIN_PREFIX + gen}}})
    cmds.append({"add": {"chain": {**base, "name": CHAIN, "type": "filter", "hook": "forward", "prio": 0,
                                   "policy": "accept"}}})
    forward = [
        [_match({"meta": {"key": "iifname"}}, ifname, "!="), {"accept": None}],
        [_match({"ct": {"key": "direction"}}, "reply"), {"accept": None}],
        [_match({"ct": {"key": "state"}}, "related", "in"), {"accept": None}],
    ]
    for version in (4, 6):
        p = _PROTO[version]
        addrs = [{"payload": {"protocol": p, "field": "saddr"}}, {"payload": {"protocol": p, "field": "daddr"}},
                 {"meta": {"key": "l4proto"}}]
        family = _match({"meta": {"key": "nfproto"}}, f"ipv{version}")
        is_ported = _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]})
        forward.append([family, is_ported, {"vmap": {"key": {"concat": [
            *addrs, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": f"@{map_name(version, True)}"}}])
        not_ported = _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]}, "!=")
        forward.append([family, not_ported,
                        {"vmap": {"key": {"concat": addrs}, "data": f"@{map_name(version, False)}"}}])
    forward.append([{"jump": {"target": SUFFIX_CHAIN}}])
    forward.append([{"goto": {"target": DEFAULT_CHAIN}}])
    cmds += [{"add": {"rule": {**base, "chain": CHAIN, "expr": expr}}} for expr in forward]
    return cmds


def delta_commands(a: Layout, b: Layout, delta: PolicyDelta, spec: Spec, ifname: str) -> list[dict]:
    """One transaction from ``a``'s table to ``b``'s: elements deleted, log chains deleted,
    refilled (the action changed) or added, elements added, the default, suffix rules appended."""
    base = _base(ifname)
    cmds: list[dict] = []
    for version, ported in MAPS:
        keys = delta.delete.get(map_name(version, ported))
        if keys:
            cmds.append({"delete": {"element": {**base, "name": map_name(version, ported),
                                                "elem": [_key(q, version) for q in keys]}}})
    for name in a.logs.keys() - b.logs.keys():
        cmds.append({"delete": {"chain": {**base, "name": log_chain(name)}}})
    for name, action in b.logs.items():
        if name not in a.logs:
            cmds.append({"add": {"chain": {**base, "name": log_chain(name)}}})
        elif a.logs[name] != action:
            cmds.append({"flush": {"chain": {**base, "name": log_chain(name)}}})
        else:
            continue
        cmds += _log_rules(ifname, name, action)
    for version, ported in MAPS:
        added = delta.add.get(map_name(version, ported))
        if added:
            cmds.append(_elements(ifname, version, ported,
                                  ((q, *sig_meta(b.sigs[j])) for q, j in added)))
    if a.default != b.default:
        cmds.append({"flush": {"chain": {**base, "name": DEFAULT_CHAIN}}})
        cmds.append(_default_rule(ifname, b.default))
    for j in delta.suffix:
        rule = spec.rule(j)
        assert rule is not None
        cmds += _suffix_rules(ifname, rule)
    return cmds


def compile_policy(policy: Policy, ifname: str, *, gen: str = "") -> list[dict]:
    """The nft JSON commands that replace the table by ``policy``, as one transaction.

    Each map element carries a counter and, as its comment, the name of its rule; a rule's
    counters are the sum over its elements. Only ``--log`` rules get a chain of their own (count
    and log new connections, then the verdict).
    """
    spec = Spec.of_policy(policy)
    return full_commands(compile_full(spec, ifname), spec.rules(), ifname, gen or "0")


def _prefixes(nets, version: int) -> dict:
    items = [{"prefix": {"addr": format_address(version, n.value), "len": n.prefixlen}}
             for n in nets if n.version == version]
    return {"set": items}


def _suffix_rule(rule: Rule) -> list[list[dict]]:
    """One nft rule per IP family the rule can match: its own sets, a counter, the verdict."""
    out = []
    for version in (4, 6):
        p = _PROTO[version]
        if any(not any(n.version == version for n in nets) for nets in (rule.sources, rule.destinations) if nets):
            continue
        expr = [_match({"meta": {"key": "nfproto"}}, f"ipv{version}")]
        if rule.sources:
            expr.append(_match({"payload": {"protocol": p, "field": "saddr"}}, _prefixes(rule.sources, version)))
        if rule.destinations:
            expr.append(_match({"payload": {"protocol": p, "field": "daddr"}},
                               _prefixes(rule.destinations, version)))
        if rule.protocol in ("tcp", "udp"):
            expr.append(_match({"meta": {"key": "l4proto"}}, rule.protocol))
        elif rule.protocol == "icmp":
            expr.append(_match({"meta": {"key": "l4proto"}}, "icmp" if version == 4 else "ipv6-icmp"))
        if rule.ports:
            ports = [lo if lo == hi else {"range": [lo, hi]} for lo, hi in rule.ports]
            expr.append(_match({"payload": {"protocol": "th", "field": "dport"}}, {"set": ports}))
        expr += [{"counter": {"packets": 0, "bytes": 0}}, _verdict(rule.name, rule.action, rule.log)]
        out.append(expr)
    return out


def fingerprint(policy: Policy, ifname: str) -> str:
    """What decides the table's contents: equal fingerprints, nothing to load."""
    return Spec.of_policy(policy).fingerprint(ifname)

