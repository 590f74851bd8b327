"""A vnet's network policy as Cloudflare Zero Trust Gateway network rules (``filters: ["l4"]``).

Pure functions, no I/O: the controller lists ``.../gateway/rules`` and sends what
:func:`plan` says. The mapping (docs/commands.md, "Network policies"):

- one Gateway rule per warpcli rule, in the policy's order (``precedence`` ascending),
  ``action`` ``allow``/``block``, and a ``traffic`` expression
  ``net.vnet_id == "VNET" and net.src.ip in {...} and net.dst.ip in {...} and
  net.protocol == "tcp" and (net.dst.port in {443 8443} or (net.dst.port >= LO and
  net.dst.port <= HI))``, each clause only when the rule says something about it;
- default ``deny``: one more rule, last, that blocks everything in the vnet
  (``net.vnet_id == "VNET"``); default ``allow`` is Gateway's own implicit allow;
- tunnel names become their routes' CIDRs in the vnet when the policy is written; a rule
  whose sources (or destinations) are all tunnels without routes matches nothing, so its
  Gateway rule is kept disabled (``enabled: false``);
- ``icmp`` is refused (Gateway network rules see TCP and UDP); ``log`` is kept in the
  rule's record but changes nothing on Gateway (it logs by account setting).

Which Gateway rules are warpcli's: the ``description`` is :data:`MARKER` followed by a
JSON record ``{"vnet": VNET_ID, "rule": {the rule as stored}}`` (or ``{"vnet": VNET_ID,
"default": "deny"}`` for the catch-all), and ``filters`` is ``["l4"]``. Every other rule
of the account (another tool's, a person's, another vnet's) is never changed and keeps
its precedence. The Gateway ``name`` is ``warpcli:VNET_NAME:RULE_NAME`` for people
reading the dashboard; warpcli reads the rule's name from the record, not from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warpcli.core.errors import InvalidInput

if TYPE_CHECKING:
    from warpcli.core.cidr import Network
    from warpcli.core.policies import PolicySpec, RuleSpec

#: how a warpcli-managed Gateway rule's description starts (then the JSON record)
MARKER = "warpcli-policy/1 "
#: the Gateway filter (network policies)
L4 = "l4"
#: the distance between the precedences of rules warpcli appends
STEP = 1000
#: the record key of the default-deny catch-all
DEFAULT_KEY = "\x00default"
#: the Gateway fields warpcli writes (and puts back when it undoes an update)
WRITABLE = ("name", "description", "action", "enabled", "filters", "precedence", "traffic",
            "identity", "device_posture")


def refuse_unmappable(spec: PolicySpec) -> None:
    """One InvalidInput line for the first rule Gateway cannot express (nothing is sent)."""
    for r in spec.rules:
        if r.protocol == "icmp":
            raise InvalidInput(
                f"policy rule {r.name!r}: --proto icmp does not map onto Cloudflare Gateway network "
                "policies (they filter TCP and UDP)",
                hint="use --proto tcp, udp or any on the cloudflare controller")


# -- reading ------------------------------------------------------------------------------
def record(rule: Any, vnet_id: str) -> dict | None:
    """The warpcli record of a Gateway rule when it is one of this vnet's, else None."""
    if not isinstance(rule, dict) or rule.get("filters") != [L4]:
        return None
    desc = rule.get("description")
    if not isinstance(desc, str) or not desc.startswith(MARKER):
        return None
    try:
        rec = json.loads(desc[len(MARKER):])
    except ValueError:
        return None
    if not isinstance(rec, dict) or rec.get("vnet") != vnet_id:
        return None
    if rec.get("default") == "deny" and "rule" not in rec:
        return rec
    r = rec.get("rule")
    return rec if isinstance(r, dict) and isinstance(r.get("name"), str) else None


def key_of(rec: dict) -> str:
    return DEFAULT_KEY if "rule" not in rec else rec["rule"]["name"]


def _order(rule: dict) -> tuple:
    p = rule.get("precedence")
    return (p if isinstance(p, int) else 0, str(rule.get("created_at") or ""), str(rule.get("id") or ""))


def managed(rules: Iterable[Any], vnet_id: str) -> tuple[list[tuple[dict, dict]], list[dict]]:
    """(this vnet's rules with their records, in precedence order; every other rule)."""
    mine, others = [], []
    for r in rules:
        rec = record(r, vnet_id)
        if rec is None:
            if isinstance(r, dict):
                others.append(r)
        else:
            mine.append((r, rec))
    mine.sort(key=lambda pair: _order(pair[0]))
    return mine, others


def revision(mine: list[tuple[dict, dict]]) -> int:
    """A stable number for the state of this vnet's Gateway rules (0: none): a digest of
    each one's id, ``updated_at``, precedence and content, so that any change moves it."""
    if not mine:
        return 0
    h = hashlib.sha256()
    for r, _ in sorted(mine, key=lambda pair: str(pair[0].get("id"))):
        fields = [r.get(k) for k in ("id", "updated_at", "precedence", "enabled", "action", "name",
                                      "traffic", "description")]
        h.update(json.dumps(fields, separators=(",", ":"), default=str).encode() + b"\n")
    return int(h.hexdigest()[:13], 16) or 1  # 52 bits: exact in any JSON reader


def policy_from(mine: list[tuple[dict, dict]], rev: int) -> PolicySpec:
    """The PolicySpec the rules stand for: the rules in precedence order (a name seen twice:
    the first), the action as Gateway has it, default deny when the catch-all is there."""
    from warpcli.core.policies import PolicySpec, RuleSpec
    from warpcli.core.records import replace

    default, rules, seen = "allow", [], set()
    for r, rec in mine:
        if "rule" not in rec:
            default = "deny"
            continue
        try:
            spec = RuleSpec.from_dict(rec["rule"])
        except (KeyError, TypeError, ValueError, AttributeError, InvalidInput):
            continue
        if spec.name in seen:
            continue
        seen.add(spec.name)
        action = {"allow": "allow", "block": "deny"}.get(str(r.get("action")), spec.action)
        rules.append(replace(spec, action=action) if action != spec.action else spec)
    return PolicySpec(default, tuple(rules), rev)


# -- writing ------------------------------------------------------------------------------
def _host_or_cidr(net: Network) -> str:
    from warpcli.core.cidr import BITS, format_address

    if net.prefixlen == BITS[net.version]:
        return format_address(net.version, net.value)
    return str(net)


def _endpoints(texts: tuple[str, ...], tunnel_networks: Callable[[str], list[Network]]) -> tuple[list[str], bool]:
    """The CIDRs (hosts bare) of a rule's sources or destinations, and whether any exist
    when some were named (False: every one is a tunnel without routes)."""
    from warpcli.core.cidr import parse_network

    out: dict[str, None] = {}
    for t in texts:
        nets = [parse_network(t)] if "/" in t else tunnel_networks(t)
        for n in nets:
            out[_host_or_cidr(n)] = None
    return list(out), bool(out) or not texts


def _ports(ports: tuple[tuple[int, int], ...]) -> str | None:
    singles = [str(lo) for lo, hi in ports if lo == hi]
    parts = ["net.dst.port in {" + " ".join(singles) + "}"] if singles else []
    parts += [f"(net.dst.port >= {lo} and net.dst.port <= {hi})" for lo, hi in ports if lo != hi]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def traffic(vnet_id: str, rule: RuleSpec | None,
            tunnel_networks: Callable[[str], list[Network]]) -> tuple[str, bool]:
    """The wirefilter ``traffic`` of a rule (None: the catch-all) and whether it can match."""
    clauses = [f"net.vnet_id == {json.dumps(vnet_id)}"]
    if rule is None:
        return clauses[0], True
    srcs, src_ok = _endpoints(rule.sources, tunnel_networks)
    dsts, dst_ok = _endpoints(rule.destinations, tunnel_networks)
    if srcs:
        clauses.append("net.src.ip in {" + " ".join(srcs) + "}")
    if dsts:
        clauses.append("net.dst.ip in {" + " ".join(dsts) + "}")
    if rule.protocol in ("tcp", "udp"):
        clauses.append(f'net.protocol == "{rule.protocol}"')
    ports = _ports(rule.ports)
    if ports:
        clauses.append(ports)
    return " and ".join(clauses), src_ok and dst_ok


def description(vnet_id: str, rule: RuleSpec | None) -> str:
    rec: dict[str, Any] = {"vnet": vnet_id}
    if rule is None:
        rec["default"] = "deny"
    else:
        rec["rule"] = rule.to_dict()
    return MARKER + json.dumps(rec, separators=(",", ":"), ensure_ascii=False)


def desired(vnet_id: str, vnet_name: str, spec: PolicySpec,
            tunnel_networks: Callable[[str], list[Network]]) -> list[tuple[str, dict]]:
    """(key, body without precedence) of every Gateway rule the policy needs, in order."""
    out: list[tuple[str, dict]] = []
    entries: list[RuleSpec | None] = list(spec.rules)
    if spec.default == "deny":
        entries.append(None)
    for r in entries:
        text, live = traffic(vnet_id, r, tunnel_networks)
        out.append((DEFAULT_KEY if r is None else r.name, {
            "name": f"warpcli:{vnet_name}:{'default deny' if r is None else r.name}",
            "description": description(vnet_id, r),
            "action": "block" if r is None or r.action == "deny" else "allow",
            "enabled": live,
            "filters": [L4],
            "traffic": text,
        }))
    return out


# -- the plan -----------------------------------------------------------------------------
@dataclass
class GatewayChanges:
    """What to send: creates (bodies), updates (id, new body, old rule), deletes (old rules)."""

    creates: list[dict] = field(default_factory=list)
    updates: list[tuple[str, dict, dict]] = field(default_factory=list)
    deletes: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.creates or self.updates or self.deletes)


_SPACE = re.compile(r"\s+")


def _same(have: dict, want: dict) -> bool:
    """Whether a Gateway rule already is ``want`` (its traffic compared without blanks, since
    Gateway may format the expression; the record compared as JSON)."""
    for k in ("name", "action", "enabled", "filters", "precedence"):
        if have.get(k) != want[k]:
            return False
    if _SPACE.sub("", str(have.get("traffic") or "")) != _SPACE.sub("", want["traffic"]):
        return False
    try:
        return bool(json.loads(str(have.get("description"))[len(MARKER):])
                    == json.loads(want["description"][len(MARKER):]))
    except ValueError:
        return False


def _longest_increasing(values: list[int]) -> set[int]:
    """Indexes of one longest strictly increasing subsequence of ``values`` (patience sort)."""
    import bisect

    tails: list[int] = []  # index into values of the smallest tail of each length
    tail_values: list[int] = []
    prev = [-1] * len(values)
    for i, v in enumerate(values):
        j = bisect.bisect_left(tail_values, v)
        prev[i] = tails[j - 1] if j else -1
        if j == len(tails):
            tails.append(i)
            tail_values.append(v)
        else:
            tails[j], tail_values[j] = i, v
    out, i = set(), tails[-1] if tails else -1
    while i != -1:
        out.add(i)
        i = prev[i]
    return out


def _room(lo: int, hi: int | None, k: int, used: set[int]) -> list[int] | None:
    """``k`` increasing precedences strictly between ``lo`` and ``hi`` (None: no bound), none
    in ``used``: spread evenly where there is room, else packed; None when they do not fit."""
    if hi is None:
        out, v = [], lo
        for _ in range(k):
            v += STEP
            while v in used:
                v += 1
            out.append(v)
        return out
    if hi - lo - 1 - sum(1 for u in used if lo < u < hi) < k:
        return None
    for spread in (True, False):
        out, prev = [], lo
        for j in range(k):
            v = max(prev + 1, lo + round((hi - lo) * (j + 1) / (k + 1))) if spread else prev + 1
            while v in used:
                v += 1
            out.append(v)
            prev = v
        if not out or out[-1] < hi:
            return out
    return None


def plan(mine: list[tuple[dict, dict]], others: list[dict], want: list[tuple[str, dict]]) -> GatewayChanges:
    """The fewest calls that turn this vnet's Gateway rules into ``want``.

    Rules are matched by their warpcli name; those whose precedences are already in the
    wanted order (one longest increasing run) keep them, and the others get precedences in
    the gaps next to them that no rule of the account uses, so no two rules ever share one
    while the calls go out. New rules after the vnet's last one go just before the next rule
    of someone else, or (no room there) after the account's last rule; when a gap has no room,
    every rule of the vnet is renumbered after the account's last rule.
    """
    by_key: dict[str, dict] = {}
    for r, rec in mine:
        by_key.setdefault(key_of(rec), r)  # a second rule of one name is not matched: it goes
    matched = [by_key.get(k) for k, _ in want]
    used = {r["precedence"] for r in [*others, *(m for m, _ in mine)] if isinstance(r.get("precedence"), int)}
    other_used = sorted(r["precedence"] for r in others if isinstance(r.get("precedence"), int))
    idx = [i for i, m in enumerate(matched) if m is not None and isinstance(m.get("precedence"), int)]
    keep_at = {idx[j] for j in _longest_increasing([matched[i]["precedence"] for i in idx])}  # type: ignore[index]

    prec: list[int | None] = [matched[i]["precedence"] if i in keep_at else None  # type: ignore[index]
                              for i in range(len(want))]
    top = max(used, default=0)
    i = 0
    while i < len(want):
        if prec[i] is not None:
            i += 1
            continue
        j = i
        while j < len(want) and prec[j] is None:
            j += 1
        lo, hi = (prec[i - 1] if i else None), (prec[j] if j < len(want) else None)
        k = j - i
        values: list[int] | None
        if lo is None and hi is None:  # nothing kept: after the account's last rule
            values = _room(top, None, k, used)
        elif hi is None:  # after the vnet's last kept rule: before the next rule of someone else
            assert lo is not None
            nxt = next((u for u in other_used if u > lo), None)
            values = (_room(lo, nxt, k, used) if nxt is not None else None) or _room(max(top, lo), None, k, used)
        else:
            if lo is None:  # before the first kept rule: after the previous rule of someone else
                lo = max((u for u in other_used if u < hi), default=0)
            values = _room(lo, hi, k, used)
        if values is None:  # no room: renumber the vnet's whole block after the account's last rule
            prec = list(_room(top, None, len(want), used) or [])
            break
        prec[i:j] = values
        used.update(values)
        i = j

    out = GatewayChanges()
    for (_, body), have, p in zip(want, matched, prec, strict=True):
        full = {**body, "precedence": p}
        if have is None:
            out.creates.append(full)
        elif not _same(have, full):
            out.updates.append((str(have["id"]), full, have))
    wanted = {id(m) for m in matched if m is not None}
    out.deletes = [r for r, _ in mine if id(r) not in wanted]
    return out


def writable(rule: dict) -> dict:
    """The fields of an existing Gateway rule that warpcli sends back to restore it."""
    return {k: rule[k] for k in WRITABLE if rule.get(k) is not None}
