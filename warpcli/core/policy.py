"""Network policies: which flows between sites a vnet allows, decided from the rules alone.

A policy is an ordered list of rules and a default action; the first rule that matches a flow
decides it (as nftables, Cloudflare Gateway and most firewalls do). A rule matches on source and
destination networks (none given: any), a protocol (``tcp``, ``udp``, ``icmp`` or ``any``) and,
for TCP and UDP, destination ports and port ranges.

:func:`decide` answers "would this flow pass, and by which rule?" (``warpcli policy test``);
:func:`lint` finds rules that can never take effect because a single earlier rule matches every
flow they match: *shadowed* when that rule has the same action (the later rule is redundant),
*conflicting* when it has the other action (the later rule is contradicted, most likely a mistake).
Both work on the model only, with the project's CIDR arithmetic; enforcement at the edge is the
host layer's job.
"""

from __future__ import annotations

from collections.abc import Sequence

from warpcli.core.cidr import Network, parse_address, parse_network
from warpcli.core.errors import InvalidInput
from warpcli.core.records import record

ACTIONS = ("allow", "deny")
PROTOCOLS = ("any", "tcp", "udp", "icmp")
PORTED = ("tcp", "udp")


@record
class Rule:
    """One rule. Empty ``sources``/``destinations``/``ports``: any."""

    name: str
    action: str
    sources: tuple[Network, ...] = ()
    destinations: tuple[Network, ...] = ()
    protocol: str = "any"
    ports: tuple[tuple[int, int], ...] = ()  #: inclusive ranges of destination ports (tcp/udp only)
    log: bool = False
    comment: str = ""

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidInput(f"rule {self.name!r}: action {self.action!r} is not allow or deny")
        if self.protocol not in PROTOCOLS:
            raise InvalidInput(f"rule {self.name!r}: protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if self.ports and self.protocol not in PORTED:
            raise InvalidInput(f"rule {self.name!r}: ports apply to tcp and udp only, not {self.protocol}")
        for lo, hi in self.ports:
            if not (1 <= lo <= hi <= 65535):
                raise InvalidInput(f"rule {self.name!r}: port range {lo}-{hi} is not within 1-65535, low to high")


@record
class Policy:
    default: str = "allow"
    rules: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        if self.default not in ACTIONS:
            raise InvalidInput(f"default action {self.default!r} is not allow or deny")
        seen: set[str] = set()
        dup = next((r.name for r in self.rules if r.name in seen or seen.add(r.name)), None)  # type: ignore[func-returns-value]
        if dup is not None:
            raise InvalidInput(f"two rules are named {dup!r}", hint="rule names are unique within a vnet")


@record
class Flow:
    """A connection's first packet: addresses as (version, integer), protocol, destination port."""

    source: tuple[int, int]
    destination: tuple[int, int]
    protocol: str
    port: int | None = None


@record
class Decision:
    action: str
    rule: int | None  #: the index of the deciding rule; None: the default action
    name: str | None

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def parse_ports(text: str) -> tuple[tuple[int, int], ...]:
    """``443,8443,10000-20000`` -> ((443, 443), (8443, 8443), (10000, 20000))."""
    out = []
    for part in text.split(","):
        lo_text, sep, hi_text = part.strip().partition("-")
        try:
            if not lo_text.isascii() or not hi_text.isascii():
                raise ValueError
            lo = int(lo_text)
            hi = int(hi_text) if sep else lo
        except ValueError:
            raise InvalidInput(f"{part.strip()!r} is not a port or a port range", hint="e.g. 443,8443,10000-20000") from None
        if not (1 <= lo <= 65535 and 1 <= hi <= 65535):
            raise InvalidInput(f"port {part.strip()!r} is outside 1-65535")
        if lo > hi:
            raise InvalidInput(f"port range {part.strip()!r} runs backwards", hint=f"write {hi}-{lo}")
        out.append((lo, hi))
    return tuple(out)


def parse_flow(source: str, destination: str) -> Flow:
    """``10.2.0.7`` and ``10.1.0.5:443/tcp`` (or ``10.1.0.5/icmp``, ``[2001:db8::5]:53/udp``)."""
    target, _, protocol = destination.rpartition("/") if "/" in destination else (destination, "", "any")
    protocol = protocol or "any"
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"{destination!r}: protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    port = None
    host = target
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), destination)
    elif target.count(":") == 1:
        host, _, port_text = target.partition(":")
        port = _port(port_text, destination)
    if port is not None and protocol not in PORTED:
        raise InvalidInput(f"{destination!r}: a port needs /tcp or /udp")
    return Flow(parse_address(source), parse_address(host), protocol, port)


def _port(text: str, whole: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise InvalidInput(f"{whole!r}: {text!r} is not a port from 1 to 65535")
    return int(text)


def networks(texts: Sequence[str]) -> tuple[Network, ...]:
    return tuple(parse_network(t) for t in texts)


# -- matching ------------------------------------------------------------------------
def _in(nets: tuple[Network, ...], address: tuple[int, int]) -> bool:
    version, value = address
    return not nets or any(n.version == version and n.lo <= value <= n.hi for n in nets)


def matches(rule: Rule, flow: Flow) -> bool:
    if rule.protocol != "any" and rule.protocol != flow.protocol:
        return False
    if rule.ports and (flow.port is None or not any(lo <= flow.port <= hi for lo, hi in rule.ports)):
        return False
    return _in(rule.sources, flow.source) and _in(rule.destinations, flow.destination)


def decide(policy: Policy, flow: Flow) -> Decision:
    """First match wins; no rule matches: the default action."""
    for i, rule in enumerate(policy.rules):
        if matches(rule, flow):
            return Decision(rule.action, i, rule.name)
    return Decision(policy.default, None, None)


# -- lint ----------------------------------------------------------------------------
def _nets_covered(inner: tuple[Network, ...], outer: tuple[Network, ...]) -> bool:
    """Every address of ``inner`` (empty: all) lies in ``outer`` (empty: all)."""
    if not outer:
        return True
    if not inner:
        return False  # "any" is never inside a finite list (a /0 of each family aside)
    spans = _merged_spans(outer)  # adjacent networks (two /29s) together cover what neither does alone
    return all(any(v == n.version and lo <= n.lo and n.hi <= hi for v, lo, hi in spans) for n in inner)


def _merged_spans(nets: tuple[Network, ...]) -> list[tuple[int, int, int]]:
    """The networks as (version, first, last) address spans, overlapping and adjacent ones merged."""
    out: list[tuple[int, int, int]] = []
    for n in sorted(nets, key=lambda n: (n.version, n.lo)):
        if out and out[-1][0] == n.version and n.lo <= out[-1][2] + 1:
            out[-1] = (n.version, out[-1][1], max(out[-1][2], n.hi))
        else:
            out.append((n.version, n.lo, n.hi))
    return out


def _any_family(nets: tuple[Network, ...]) -> bool:
    """A list that holds 0.0.0.0/0 and ::/0 matches every address, as an empty list does."""
    return {n.version for n in nets if n.prefixlen == 0} == {4, 6}


def _ports_covered(inner: Rule, outer: Rule) -> bool:
    if not outer.ports:
        return True
    if not inner.ports:
        return False
    return all(any(olo <= lo and hi <= ohi for olo, ohi in _merged(outer.ports)) for lo, hi in inner.ports)


def _merged(ranges: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def covers(outer: Rule, inner: Rule) -> bool:
    """Every flow ``inner`` matches, ``outer`` matches too."""
    if outer.protocol != "any" and outer.protocol != inner.protocol:
        return False
    if outer.ports and inner.protocol not in PORTED:
        return False  # inner matches ICMP or any protocol; outer only ported ones
    inner_src = () if _any_family(inner.sources) else inner.sources
    inner_dst = () if _any_family(inner.destinations) else inner.destinations
    outer_src = () if _any_family(outer.sources) else outer.sources
    outer_dst = () if _any_family(outer.destinations) else outer.destinations
    return (_ports_covered(inner, outer) and _nets_covered(inner_src, outer_src)
            and _nets_covered(inner_dst, outer_dst))


@record
class Finding:
    rule: int
    name: str
    kind: str  #: "shadowed" (same action) or "conflicting" (the other action)
    by: int
    by_name: str

    def message(self) -> str:
        what = "is redundant: it" if self.kind == "shadowed" else "never takes effect: it"
        return (f"rule {self.rule + 1} {self.name!r} {what} matches only flows that rule {self.by + 1} "
                f"{self.by_name!r} ({'same' if self.kind == 'shadowed' else 'other'} action) decides first")


def lint(policy: Policy) -> list[Finding]:
    """Rules that a single earlier rule covers entirely, each with the first such rule."""
    out = []
    for j, rule in enumerate(policy.rules):
        for i in range(j):
            earlier = policy.rules[i]
            if covers(earlier, rule):
                kind = "shadowed" if earlier.action == rule.action else "conflicting"
                out.append(Finding(j, rule.name, kind, i, earlier.name))
                break
    return out
