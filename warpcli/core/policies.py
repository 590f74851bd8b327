"""Stored network policies: what the user typed, how it is kept, and the commands' services.

A stored rule keeps its sources and destinations as the user wrote them (CIDRs or tunnel
names), so that a tunnel's rule follows the tunnel's routes as they change. :func:`resolve`
turns a stored policy into the model of :mod:`warpcli.core.policy` (networks only), which
``policy test``, ``policy lint`` and the hub's nftables compiler work on.

Every change is a read-modify-write of the vnet's whole policy, written back only if
nobody wrote it meanwhile (``revision``; the controller refuses a stale one), so two
concurrent ``policy add`` never lose one another's rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from warpcli.core.cidr import Network, parse_network
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.core.names import validate_comment, validate_name
from warpcli.core.policy import ACTIONS, PORTED, PROTOCOLS, Decision, Finding, Policy, Rule, decide, lint, parse_flow
from warpcli.core.records import record, replace

MAX_RULES = 100_000
MAX_RULE_NAME = 120  #: bytes: the hub keeps it as an nftables comment (at most 128)


def _ports_text(ports: tuple[tuple[int, int], ...]) -> list[str]:
    return [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ports]


@record
class RuleSpec:
    """One rule as stored: endpoints are CIDR texts (canonical) or tunnel names."""

    name: str
    action: str
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    protocol: str = "any"
    ports: tuple[tuple[int, int], ...] = ()
    log: bool = False
    comment: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "action": self.action, "sources": list(self.sources),
                "destinations": list(self.destinations), "protocol": self.protocol,
                "ports": _ports_text(self.ports), "log": self.log, "comment": self.comment}

    @classmethod
    def from_dict(cls, d: dict) -> RuleSpec:
        from warpcli.core.policy import parse_ports

        ports = parse_ports(",".join(str(p) for p in d["ports"])) if d.get("ports") else ()
        return cls(d["name"], d["action"], tuple(d.get("sources", ())), tuple(d.get("destinations", ())),
                   d.get("protocol", "any"), ports, bool(d.get("log", False)), d.get("comment", ""))


@record
class PolicySpec:
    """A vnet's policy as stored. ``revision`` counts its writes (0: never written)."""

    default: str = "allow"
    rules: tuple[RuleSpec, ...] = ()
    revision: int = 0

    def to_dict(self) -> dict:
        return {"default": self.default, "rules": [r.to_dict() for r in self.rules], "revision": self.revision}

    def document(self) -> str:
        """What a controller stores (the revision is kept beside it)."""
        return json.dumps({"default": self.default, "rules": [r.to_dict() for r in self.rules]},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict, revision: int | None = None) -> PolicySpec:
        try:
            return cls(d.get("default", "allow"), tuple(RuleSpec.from_dict(r) for r in d.get("rules", ())),
                       int(d.get("revision", 0)) if revision is None else revision)
        except (KeyError, TypeError, AttributeError, ValueError):
            raise InvalidInput("a policy document is malformed") from None

    @classmethod
    def from_document(cls, text: str, revision: int) -> PolicySpec:
        try:
            return cls.from_dict(json.loads(text), revision)
        except ValueError:
            raise InvalidInput("a policy document is not JSON") from None

    def index(self, name: str) -> int:
        for i, r in enumerate(self.rules):
            if r.name == name:
                return i
        raise NotFound(f"no policy rule named {name!r}", hint="see `warpcli policy list`")


# -- building rules from what the user typed ---------------------------------------------
def _endpoint(text: str, option: str, tunnel_exists: Callable[[str], bool]) -> str:
    """A CIDR in canonical form (a bare address: a host), else the name of a tunnel."""
    text = text.strip()
    try:
        return str(parse_network(text))
    except InvalidInput:
        if "/" in text or ":" in text or text[:1].isdigit() or not text:
            raise
    if not tunnel_exists(text):
        raise NotFound(f"{option} {text!r}: no such tunnel (and not a CIDR)", hint="see `warpcli tunnel list`")
    return text


def make_rule(
    name: str,
    *,
    action: str,
    sources: list[str],
    destinations: list[str],
    protocol: str = "any",
    port: str | None = None,
    log: bool = False,
    comment: str = "",
    tunnel_exists: Callable[[str], bool],
) -> RuleSpec:
    """A validated rule; every mistake is one InvalidInput (or NotFound for a tunnel) line."""
    from warpcli.core.policy import parse_ports

    name = validate_name("policy rule", name)
    if len(name.encode()) > MAX_RULE_NAME:
        raise InvalidInput(f"policy rule name is longer than {MAX_RULE_NAME} bytes", hint="nftables keeps it as a comment")
    validate_comment(comment)
    if action not in ACTIONS:
        raise InvalidInput(f"--action {action!r} is not allow or deny")
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"--proto {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if port is not None and protocol not in PORTED:
        raise InvalidInput(f"--port needs --proto tcp or udp, not {protocol}")
    ports = parse_ports(port) if port is not None else ()
    srcs = tuple(dict.fromkeys(_endpoint(t, "--from", tunnel_exists) for s in sources for t in s.split(",") if t.strip()))
    dsts = tuple(dict.fromkeys(_endpoint(t, "--to", tunnel_exists) for s in destinations for t in s.split(",")
                               if t.strip()))
    spec = RuleSpec(name, action, srcs, dsts, protocol, ports, log, comment)
    Rule(name, action, protocol=protocol, ports=ports)  # the model's own checks
    return spec


def check(spec: PolicySpec, tunnel_exists: Callable[[str], bool]) -> PolicySpec:
    """A whole policy from outside (an API body) checked rule by rule as `policy add` checks
    one; the canonical form of each rule."""
    from warpcli.core.policy import ACTIONS as _actions

    if spec.default not in _actions:
        raise InvalidInput(f"default action {spec.default!r} is not allow or deny")
    rules = []
    for r in spec.rules:
        ports = ",".join(_ports_text(r.ports)) if r.ports else None
        rules.append(make_rule(r.name, action=r.action, sources=list(r.sources), destinations=list(r.destinations),
                               protocol=r.protocol, port=ports, log=r.log, comment=r.comment,
                               tunnel_exists=tunnel_exists))
    Policy(spec.default, tuple(Rule(r.name, r.action) for r in rules))  # unique names
    if len(rules) > MAX_RULES:
        raise InvalidInput(f"a policy holds at most {MAX_RULES} rules")
    return replace(spec, rules=tuple(rules))


# -- resolution to the model -------------------------------------------------------------
@record
class Resolved:
    """The model of a stored policy, and for each model rule its index in the stored list."""

    policy: Policy
    index: list[int]

    def decide(self, flow) -> Decision:
        d = decide(self.policy, flow)
        if d.rule is None:
            return d
        return Decision(d.action, self.index[d.rule], d.name)


def resolve(spec: PolicySpec, tunnel_networks: Callable[[str], list[Network]]) -> Resolved:
    """CIDRs as they are; a tunnel name as its routes in the vnet. A rule whose sources (or
    destinations) all name tunnels without routes matches nothing and is left out."""
    rules, index = [], []
    for i, r in enumerate(spec.rules):
        ends = []
        for texts in (r.sources, r.destinations):
            nets: list[Network] = []
            for t in texts:
                nets.extend(tunnel_networks(t) if not _is_cidr(t) else [parse_network(t)])
            ends.append(tuple(nets))
        if (r.sources and not ends[0]) or (r.destinations and not ends[1]):
            continue
        rules.append(Rule(r.name, r.action, ends[0], ends[1], r.protocol, r.ports, r.log, r.comment))
        index.append(i)
    return Resolved(Policy(spec.default, tuple(rules)), index)


def _is_cidr(text: str) -> bool:
    return "/" in text


def resolver(ctrl, vnet_id: str) -> Callable[[str], list[Network]]:
    """Tunnel name -> its routes' networks in the vnet (read once)."""
    from warpcli.core.model import RouteFilter

    by_name: dict[str, list[Network]] = {}
    for route in ctrl.list_routes(RouteFilter(virtual_network_id=vnet_id)):
        by_name.setdefault(route.tunnel_name or route.tunnel_id, []).append(route.net)
    return lambda name: by_name.get(name, [])


# -- the commands ------------------------------------------------------------------------
def _change(ctrl, vnet_id: str, edit: Callable[[PolicySpec], PolicySpec]) -> PolicySpec:
    """Read, edit, write back if unchanged meanwhile; a lost race is retried a few times."""
    for _ in range(5):
        current = ctrl.get_policy(vnet_id)
        new = edit(current)
        if new == current:
            return current
        if len(new.rules) > MAX_RULES:
            raise InvalidInput(f"a policy holds at most {MAX_RULES} rules")
        try:
            return ctrl.put_policy(vnet_id, replace(new, revision=current.revision))
        except Conflict as exc:
            if "changed meanwhile" not in str(exc):
                raise
    raise Conflict("the policy kept changing meanwhile", hint="run the command again")


def set_default(ctrl, vnet_id: str, action: str) -> PolicySpec:
    if action not in ACTIONS:
        raise InvalidInput(f"{action!r} is not allow or deny")
    return _change(ctrl, vnet_id, lambda p: replace(p, default=action))


def add_rule(ctrl, vnet_id: str, rule: RuleSpec, *, before: str | None = None,
             after: str | None = None) -> PolicySpec:
    def edit(p: PolicySpec) -> PolicySpec:
        if any(r.name == rule.name for r in p.rules):
            raise Conflict(f"a policy rule named {rule.name!r} exists", hint="choose another name, or delete it first")
        rules = list(p.rules)
        at = len(rules) if before is None and after is None else (
            p.index(before) if before is not None else p.index(after or "") + 1)
        rules.insert(at, rule)
        return replace(p, rules=tuple(rules))

    return _change(ctrl, vnet_id, edit)


def move_rule(ctrl, vnet_id: str, name: str, *, before: str | None = None, after: str | None = None) -> PolicySpec:
    if (before is None) == (after is None):
        raise InvalidInput("say where: --before OTHER or --after OTHER")
    if name in (before, after):
        raise InvalidInput("a rule cannot move relative to itself")

    def edit(p: PolicySpec) -> PolicySpec:
        rules = list(p.rules)
        rule = rules.pop(p.index(name))
        other = PolicySpec(rules=tuple(rules))
        at = other.index(before) if before is not None else other.index(after or "") + 1
        rules.insert(at, rule)
        return replace(p, rules=tuple(rules))

    return _change(ctrl, vnet_id, edit)


def delete_rule(ctrl, vnet_id: str, name: str, *, if_exists: bool = False) -> RuleSpec | None:
    gone: list[RuleSpec] = []

    def edit(p: PolicySpec) -> PolicySpec:
        gone.clear()
        try:
            i = p.index(name)
        except NotFound:
            if if_exists:
                return p
            raise
        gone.append(p.rules[i])
        return replace(p, rules=p.rules[:i] + p.rules[i + 1:])

    _change(ctrl, vnet_id, edit)
    return gone[0] if gone else None


@record
class TestResult:
    allowed: bool
    action: str
    rule: int | None  #: 1-based position of the deciding rule; None: the default action
    name: str | None

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "action": self.action, "rule": self.rule, "name": self.name}

    def message(self) -> str:
        verdict = "allowed" if self.allowed else "denied"
        if self.name is None:
            return f"{verdict} by the default action"
        return f"{verdict} by {self.name!r} (rule {self.rule})"


def test_flow(ctrl, vnet_id: str, source: str, destination: str) -> TestResult:
    """``policy test``: the model's answer for one flow (no traffic)."""
    flow = parse_flow(source, destination)
    doc = ctrl.get_policy_document(vnet_id)
    lazy: list[Callable[[str], list[Network]]] = []

    def tunnel_networks(name: str) -> list[Network]:  # routes are read only if a rule names a tunnel
        if not lazy:
            lazy.append(resolver(ctrl, vnet_id))
        return lazy[0](name)

    i, rule = first_match(doc.get("rules", ()), flow, tunnel_networks)
    if rule is None:
        action = doc.get("default", "allow")
        return TestResult(action == "allow", action, None, None)
    return TestResult(rule["action"] == "allow", rule["action"], i + 1, rule["name"])


def first_match(rules, flow, tunnel_networks: Callable[[str], list[Network]]) -> tuple[int, dict | None]:
    """:func:`warpcli.core.policy.decide` on stored rules (dicts) without building the model:
    each rule is parsed only as far as needed to reject the flow (protocol, then ports, then
    addresses), so a large policy answers in one cheap pass."""
    version_s, value_s = flow.source
    version_d, value_d = flow.destination

    def inside(texts, version: int, value: int) -> bool:
        if not texts:
            return True
        for t in texts:
            for n in (tunnel_networks(t) if not _is_cidr(t) else (parse_network(t),)):
                if n.version == version and n.lo <= value <= n.hi:
                    return True
        return False

    for i, r in enumerate(rules):
        proto = r.get("protocol", "any")
        if proto != "any" and proto != flow.protocol:
            continue
        ports = r.get("ports")
        if ports:
            if flow.port is None:
                continue
            hit = False
            for p in ports:
                lo, _, hi = p.partition("-")
                if int(lo) <= flow.port <= int(hi or lo):
                    hit = True
                    break
            if not hit:
                continue
        if inside(r.get("sources"), version_s, value_s) and inside(r.get("destinations"), version_d, value_d):
            srcs, dsts = r.get("sources"), r.get("destinations")
            # a rule whose endpoints all name tunnels without routes matches nothing (as in resolve)
            if srcs and not any(_is_cidr(t) or tunnel_networks(t) for t in srcs):
                continue
            if dsts and not any(_is_cidr(t) or tunnel_networks(t) for t in dsts):
                continue
            return i, r
    return -1, None


def lint_policy(ctrl, vnet_id: str) -> list[dict]:
    """``policy lint``: rules an earlier rule covers entirely (positions 1-based, stored order)."""
    spec = ctrl.get_policy(vnet_id)
    res = resolve(spec, resolver(ctrl, vnet_id))
    out = []
    for f in lint(res.policy):
        f = Finding(res.index[f.rule], f.name, f.kind, res.index[f.by], f.by_name)
        out.append({"rule": f.rule + 1, "name": f.name, "kind": f.kind, "by": f.by + 1, "by_name": f.by_name,
                    "message": f.message()})
    return out
