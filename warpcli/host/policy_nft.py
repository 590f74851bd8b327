"""A vnet's network policy enforced at its hub, in an nftables table of warpcli's own.

What warpcli owns: the table ``inet warpcli_policy_IFNAME`` (one per hub interface). Its
base chain ``forward`` (hook forward, priority filter) looks only at packets that arrive on
the hub interface:

- a packet in the reply direction of a tracked connection passes, and so does an ICMP error
  related to one (stateful: the server side of an allowed flow needs no rule of its own);
- every other packet (the first of a connection and each later one in the original
  direction) is looked up **once** in a verdict map keyed on
  ``saddr . daddr . l4proto . dport`` (TCP, UDP) or ``saddr . daddr . l4proto`` (the rest),
  one pair of maps per IP family; the element found jumps to the chain of the rule that
  decides (``rN``: its counter, ``--log``'s log statement for new connections, the verdict);
  a miss goes to the default chain.

First match wins in the model; a map lookup has no order, so the compiler turns the ordered
rules into disjoint boxes first (:func:`disjoint`): each rule keeps only the part of its
match space that no earlier rule took. The kernel's cost per packet is then one set lookup
whatever the number of rules, and checking each packet of the original direction (not only
the first) is what cuts an established connection that a new rule denies.

The whole table is replaced in one ``nft -j -f -`` transaction (add, delete, add: a table
that a crash left behind is adopted the same way), so the counters count since the policy
last changed: nft cannot start a map element's counter at a value, and reading 10,000 of them
back to carry them over would cost more than the reload itself. ``remove`` deletes the table. Denied packets
are dropped (not rejected): the client sees a time-out, as behind Cloudflare Gateway.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable

from warpcli.core.cidr import BITS, format_address
from warpcli.core.policy import Policy, Rule
from warpcli.host.errors import HostError
from warpcli.host.nft import run_nft

FAMILY = "inet"
CHAIN = "forward"
DEFAULT_CHAIN = "dflt"
DEFAULT_NAME = "(default)"
LOG_PREFIX = "warpcli-policy"

Box = tuple[tuple[int, int], ...]  #: one inclusive range per dimension


def table(ifname: str) -> str:
    return f"warpcli_policy_{ifname}"


# -- first match wins -> disjoint boxes -------------------------------------------------------
def _overlaps(a: Box, b: Box) -> bool:
    return all(alo <= bhi and blo <= ahi for (alo, ahi), (blo, bhi) in zip(a, b, strict=True))


def _subtract(a: Box, b: Box) -> list[Box]:
    """``a`` minus ``b`` (which overlaps it), as disjoint boxes."""
    out: list[Box] = []
    cur = list(a)
    for d, ((alo, ahi), (blo, bhi)) in enumerate(zip(a, b, strict=True)):
        if alo < blo:
            out.append((*cur[:d], (alo, blo - 1), *cur[d + 1:]))
        if bhi < ahi:
            out.append((*cur[:d], (bhi + 1, ahi), *cur[d + 1:]))
        cur[d] = (max(alo, blo), min(ahi, bhi))
    return out


class _Taken:
    """The boxes placed so far, bucketed by the first dimension (the source) at a few prefix
    lengths, each box at the longest one whose bucket holds its whole source range, so that a
    box is compared only with the boxes whose sources can meet its own."""

    def __init__(self, bits: int) -> None:
        self.shifts = [bits - n for n in ((8, 16, 24) if bits == 32 else (16, 32, 48, 64))]
        self.buckets: list[dict[int, list[Box]]] = [{} for _ in self.shifts]
        self.wide: list[Box] = []

    def add(self, box: Box) -> None:
        lo, hi = box[0]
        for shift, buckets in zip(reversed(self.shifts), reversed(self.buckets), strict=True):
            if lo >> shift == hi >> shift:
                buckets.setdefault(lo >> shift, []).append(box)
                return
        self.wide.append(box)

    def near(self, box: Box) -> Iterable[Box]:
        lo, hi = box[0]
        for shift, buckets in zip(self.shifts, self.buckets, strict=True):
            first, last = lo >> shift, hi >> shift
            if last - first <= 256:
                for k in range(first, last + 1):
                    yield from buckets.get(k, ())
            else:
                for boxes in buckets.values():
                    yield from boxes
        yield from self.wide


#: a rule whose match space earlier rules cut into more pieces than this ends the part of the
#: policy compiled into maps (see :func:`split`)
PIECES_LIMIT = 64


def disjoint(boxes: Iterable[tuple[Box, int]], bits: int,
             limit: int | None = None) -> tuple[list[tuple[Box, int]], int | None]:
    """Ordered (box, rule) pairs -> disjoint (box, rule) pairs: a point gets the rule of the
    first box that holds it. ``bits``: the width of the first dimension (32 or 128).

    With ``limit``: stop at the first rule one of whose boxes falls into more pieces than
    that, and return its index as well (None: every box was placed)."""
    taken = _Taken(bits)
    out: list[tuple[Box, int]] = []
    for box, rule in boxes:
        pieces = [box]
        for other in list(taken.near(box)):
            pieces = [q for p in pieces for q in (_subtract(p, other) if _overlaps(p, other) else [p])]
            if not pieces:
                break
            if limit is not None and len(pieces) > limit:
                return [(b, r) for b, r in out if r < rule], rule
        for p in pieces:
            out.append((p, rule))
            taken.add(p)
    return out, None


# -- the model -> boxes ----------------------------------------------------------------------
_PORTED = {"tcp": [(6, 6)], "udp": [(17, 17)], "any": [(6, 6), (17, 17)], "icmp": []}


def _other(protocol: str, version: int) -> list[tuple[int, int]]:
    if protocol == "icmp":
        return [(1, 1)] if version == 4 else [(58, 58)]
    return [(0, 255)] if protocol == "any" else []


def _ranges(nets, version: int) -> list[tuple[int, int]]:
    if not nets:
        return [(0, (1 << BITS[version]) - 1)]
    return [(n.lo, n.hi) for n in nets if n.version == version]


def rule_boxes(rule: Rule, version: int, ported: bool) -> list[Box]:
    srcs, dsts = _ranges(rule.sources, version), _ranges(rule.destinations, version)
    if ported:
        ports = list(rule.ports) or [(0, 65535)]
        return [(s, d, p, q) for s in srcs for d in dsts for p in _PORTED[rule.protocol] for q in ports]
    return [(s, d, p) for s in srcs for d in dsts for p in _other(rule.protocol, version)]


def elements(policy: Policy, version: int, ported: bool, upto: int | None = None) -> list[tuple[Box, int]]:
    """The map elements of the first ``upto`` rules (all by default)."""
    rules = policy.rules if upto is None else policy.rules[:upto]
    ordered = ((box, i) for i, rule in enumerate(rules) for box in rule_boxes(rule, version, ported))
    return disjoint(ordered, BITS[version])[0]


def split(policy: Policy) -> int:
    """How many leading rules go into the maps. A rule that earlier ones would cut into too many
    pieces (a catch-all after thousands of specific rules) starts the ordered suffix instead:
    it and every later rule are checked one nft rule each, in order, after the maps missed.
    Either way the first match decides; the suffix is what costs per packet."""
    cut = len(policy.rules)
    for version in (4, 6):
        for ported in (True, False):
            ordered = ((box, i) for i, rule in enumerate(policy.rules[:cut])
                       for box in rule_boxes(rule, version, ported))
            _, at = disjoint(ordered, BITS[version], PIECES_LIMIT)
            if at is not None:
                cut = min(cut, at)
    return cut


# -- nftables JSON ---------------------------------------------------------------------------
_TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}
_PROTO = {4: "ip", 6: "ip6"}


def _map_name(version: int, ported: bool) -> str:
    return f"{'p' if ported else 'o'}{version}"


def _key(box: Box, version: int) -> dict:
    (slo, shi), (dlo, dhi), *rest = box
    parts: list = [{"range": [format_address(version, slo), format_address(version, shi)]},
                   {"range": [format_address(version, dlo), format_address(version, dhi)]}]
    parts += [{"range": [lo, hi]} for lo, hi in rest]
    return {"concat": parts}


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _rule_chain(i: int) -> str:
    return f"r{i}"


def _verdict(rule: Rule, i: int) -> dict:
    if rule.log:
        return {"goto": {"target": _rule_chain(i)}}
    return {"accept": None} if rule.action == "allow" else {"drop": None}


def compile_policy(policy: Policy, ifname: str, *, fingerprint: str = "") -> list[dict]:
    """The nft JSON commands that replace the table by ``policy``, as one transaction.

    Each map element carries a counter and, as its comment, the name of its rule; a rule's
    counters are the sum over its elements.
    Only ``--log`` rules get a chain of their own (log new connections, then the verdict).
    """
    t = table(ifname)
    base = {"family": FAMILY, "table": t}
    cut = split(policy)
    cmds: list[dict] = [{"add": {"table": {"family": FAMILY, "name": t}}},
                        {"delete": {"table": {"family": FAMILY, "name": t}}},
                        {"add": {"table": {"family": FAMILY, "name": t}}}]
    for i, rule in enumerate(policy.rules):
        if rule.log:
            prefix = f"{LOG_PREFIX} {rule.action} {rule.name}: "[:120]
            cmds.append({"add": {"chain": {**base, "name": _rule_chain(i)}}})
            cmds.append({"add": {"rule": {**base, "chain": _rule_chain(i), "expr": [
                _match({"ct": {"key": "state"}}, "new", "in"), {"log": {"prefix": prefix}}]}}})
            cmds.append({"add": {"rule": {**base, "chain": _rule_chain(i),
                                          "expr": [{"accept": None} if rule.action == "allow" else {"drop": None}]}}})
    cmds.append({"add": {"chain": {**base, "name": DEFAULT_CHAIN}}})
    cmds.append({"add": {"rule": {**base, "chain": DEFAULT_CHAIN, "comment": DEFAULT_NAME,
                                  "expr": [{"counter": {"packets": 0, "bytes": 0}},
                                           {"accept": None} if policy.default == "allow" else {"drop": None}]}}})
    for version in (4, 6):
        for ported in (True, False):
            fields = [_TYPES[version], _TYPES[version], "inet_proto"] + (["inet_service"] if ported else [])
            elems = []
            for box, i in elements(policy, version, ported, cut):
                rule = policy.rules[i]
                elems.append([{"elem": {"val": _key(box, version), "counter": {"packets": 0, "bytes": 0},
                                        "comment": rule.name}}, _verdict(rule, i)])
            name = _map_name(version, ported)
            m = {**base, "name": name, "type": fields, "map": "verdict", "flags": ["interval"],
                 "stmt": [{"counter": None}]}
            cmds.append({"add": {"map": m}})
            if elems:
                cmds.append({"add": {"element": {**base, "name": name, "elem": elems}}})
    cmds.append({"add": {"chain": {**base, "name": CHAIN, "type": "filter", "hook": "forward", "prio": 0,
                                   "policy": "accept"}}})
    rules = [
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
        rules.append([family, is_ported, {"vmap": {"key": {"concat": [
            *addrs, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": f"@{_map_name(version, True)}"}}])
        not_ported = _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]}, "!=")
        rules.append([family, not_ported,
                      {"vmap": {"key": {"concat": addrs}, "data": f"@{_map_name(version, False)}"}}])
    comments = {0: f"warpcli policy {fingerprint}"}
    for i in range(cut, len(policy.rules)):  # the ordered suffix
        for expr in _suffix_rule(policy.rules[i], i):
            comments[len(rules)] = policy.rules[i].name
            rules.append(expr)
    rules.append([{"goto": {"target": DEFAULT_CHAIN}}])
    for n, expr in enumerate(rules):
        r = {**base, "chain": CHAIN, "expr": expr}
        if n in comments:
            r["comment"] = comments[n]
        cmds.append({"add": {"rule": r}})
    return cmds


def _prefixes(nets, version: int) -> dict:
    items = [{"prefix": {"addr": format_address(version, n.value), "len": n.prefixlen}}
             for n in nets if n.version == version]
    return {"set": items}


def _suffix_rule(rule: Rule, i: int) -> list[list[dict]]:
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
        expr += [{"counter": {"packets": 0, "bytes": 0}}, _verdict(rule, i)]
        out.append(expr)
    return out


def fingerprint(policy: Policy, ifname: str) -> str:
    """What decides the table's contents: equal fingerprints, nothing to load."""
    text = repr((ifname, policy.default, [(r.name, r.action, r.sources, r.destinations, r.protocol, r.ports, r.log)
                                          for r in policy.rules]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- running nft -----------------------------------------------------------------------------
def _nft(netns: str | None, args: list[str], stdin: str | None = None, *, check: bool = True) -> str | None:
    return run_nft(netns, args, stdin, needed_for="network policies need nftables", check=check, timeout=60)


def _items(text: str | None) -> list[dict]:
    if text is None:
        return []
    try:
        return json.loads(text).get("nftables", [])
    except ValueError:
        raise HostError("nft -j printed something that is not JSON") from None


def loaded_fingerprint(ifname: str, netns: str | None = None) -> str | None:
    """The fingerprint of the table in the kernel; None when there is no table."""
    items = _items(_nft(netns, ["-j", "list", "chain", FAMILY, table(ifname), CHAIN], check=False))
    for item in items:
        comment = item.get("rule", {}).get("comment", "")
        if comment.startswith("warpcli policy "):
            return comment.removeprefix("warpcli policy ")
    return "" if items else None


def counters(ifname: str, netns: str | None = None) -> dict[str, tuple[int, int]]:
    """Rule name -> (packets, bytes) as the kernel counted them (the sum over the rule's map
    elements); {} without a table."""
    out: dict[str, tuple[int, int]] = {}
    for item in _items(_nft(netns, ["-j", "list", "table", FAMILY, table(ifname)], check=False)):
        if "map" in item:
            for elem, _ in item["map"].get("elem", []):
                e = elem.get("elem", {}) if isinstance(elem, dict) else {}
                c, idx = e.get("counter"), e.get("comment")
                if c is not None and idx is not None:
                    p, b = out.get(idx, (0, 0))
                    out[idx] = (p + int(c["packets"]), b + int(c["bytes"]))
        rule = item.get("rule")
        comment = rule.get("comment", "") if rule else ""
        if rule and comment and not comment.startswith("warpcli policy "):  # the default, the suffix
            for e in rule.get("expr", []):
                if "counter" in e:
                    p, b = out.get(comment, (0, 0))
                    out[comment] = (p + int(e["counter"]["packets"]), b + int(e["counter"]["bytes"]))
    return out


def load(policy: Policy, ifname: str, netns: str | None = None) -> None:
    """Replace the table by ``policy`` in one transaction (its counters start from zero)."""
    cmds = compile_policy(policy, ifname, fingerprint=fingerprint(policy, ifname))
    _nft(netns, ["-j", "-f", "-"], json.dumps({"nftables": cmds}, separators=(",", ":")))


def remove(ifname: str, netns: str | None = None) -> bool:
    """Delete the table; True when there was one."""
    if shutil.which("nft") is None:
        return False
    return _nft(netns, ["delete", "table", FAMILY, table(ifname)], check=False) is not None


def wanted(policy: Policy) -> bool:
    """Whether the policy needs a table at all (default allow and no rule: today's behaviour)."""
    return bool(policy.rules) or policy.default != "allow"


def describe(policy: Policy, ifname: str) -> str:
    n = len(policy.rules)
    return (f"nftables policy: {n} rule{'s' if n != 1 else ''}, default {policy.default} "
            f"(table {FAMILY} {table(ifname)})")
