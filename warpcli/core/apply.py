"""Declarative state: export the controller's state, plan a network file against it, apply the plan.

The plan is a pure function of (file, current state, options), so it can be checked
against a brute-force oracle; :func:`apply` reads the state, plans, and executes the
changes in dependency order (creates and updates before deletes; routes before the
tunnels and virtual networks they use are deleted). Where the controller offers a
transaction (the embedded one) the whole run is one; elsewhere a failure midway undoes
what this run did, in reverse, and the error says exactly what could not be undone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from warpcli.core.cidr import Network, parse_network
from warpcli.core.controller import Controller
from warpcli.core.errors import WarpcliError
from warpcli.core.model import Connector, Route, Tunnel, VirtualNetwork
from warpcli.core.netfile import FORMAT_VERSION, NetworkFile, RouteEntry, paused_gc, problem, refuse
from warpcli.core.policies import PolicySpec, RuleSpec
from warpcli.core.records import record

CREATE, UPDATE, DELETE, KEEP = "create", "update", "delete", "keep"
SYMBOL = {CREATE: "+", UPDATE: "~", DELETE: "-", KEEP: "!"}


# -- the current state ------------------------------------------------------------------
@record
class State:
    """The controller's live objects (one listing each: a list page per request remotely).

    ``routes`` are :meth:`Controller.route_rows` rows: ``(id, network, version, lo,
    prefixlen, tunnel_id, vnet_id, comment)`` (a hundred thousand of them is the design point).
    """

    vnets: tuple[VirtualNetwork, ...]
    tunnels: tuple[Tunnel, ...]
    routes: tuple[tuple, ...]
    #: (vnet id, PolicySpec) of each vnet whose policy is not the empty allow-all one; read only
    #: when it can matter (a file naming policies, --prune, export): one request per vnet remotely
    policies: tuple[tuple[str, PolicySpec], ...] = ()

    @classmethod
    def of(cls, vnets: Iterable[VirtualNetwork], tunnels: Iterable[Tunnel], routes: Iterable[Route],
           policies: Iterable[tuple[str, PolicySpec]] = ()) -> State:
        rows = []
        for r in routes:
            n = r.net
            rows.append((r.id, r.network, n.version, n.value, n.prefixlen, r.tunnel_id, r.virtual_network_id,
                         r.comment))
        return cls(tuple(vnets), tuple(tunnels), tuple(rows), tuple(policies))


def read_state(ctrl: Controller, *, policies: bool = False) -> State:
    vnets = tuple(ctrl.list_virtual_networks())
    return State(vnets, tuple(ctrl.list_tunnels()), tuple(ctrl.route_rows()),
                 read_policies(ctrl, vnets) if policies else ())


def read_policies(ctrl: Controller, vnets: Iterable[VirtualNetwork]) -> tuple[tuple[str, PolicySpec], ...]:
    """Every vnet's policy that says something (rules, or a default deny). A controller that
    keeps no policies (Cloudflare's API without a policy mapping) has none to read."""
    from warpcli.core.errors import NotSupported

    out = []
    for v in vnets:
        try:
            spec = ctrl.get_policy(v.id)
        except NotSupported:
            return ()
        if not _empty(spec):
            out.append((v.id, spec))
    return tuple(out)


def _empty(spec: PolicySpec) -> bool:
    return spec.default == "allow" and not spec.rules


def _vnet_order(vnets: Iterable[VirtualNetwork]) -> dict[str, tuple]:
    """vnet id -> its sort key: the default first, then by name."""
    return {v.id: (not v.is_default_network, v.name) for v in vnets}


def foreign_routes(state: State) -> list[tuple]:
    """Routes through tunnels that are not among the state's tunnels.

    On a Cloudflare account, routes of ``cloudflared`` tunnels (``cfd_tunnel``) are listed
    with the rest but their tunnels are not warpcli's: export leaves them out, apply
    never touches them (not even with --prune) and refuses a file route on their CIDR.
    """
    tunnels = {t.id for t in state.tunnels}
    return [r for r in state.routes if r[5] not in tunnels]


def export_document(state: State) -> dict[str, Any]:
    """The state as the network file's document (names, no ids, no secrets), sorted."""
    order = _vnet_order(state.vnets)
    vnames = {v.id: v.name for v in state.vnets}
    tnames = {t.id: t.name for t in state.tunnels}
    last = (True, "")
    routes = sorted((r for r in state.routes if r[5] in tnames),
                    key=lambda r: (order.get(r[6], last), r[2], r[3], r[4]))
    doc: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "vnets": [{"name": v.name, "comment": v.comment, "default": v.is_default_network}
                  for v in sorted(state.vnets, key=lambda v: order[v.id])],
        "tunnels": [{"name": t.name} for t in sorted(state.tunnels, key=lambda t: t.name)],
        "routes": [{"network": network, "tunnel": tnames.get(tid, tid), "vnet": vnames.get(vid, vid),
                    "comment": comment} for _, network, _, _, _, tid, vid, comment in routes],
    }
    doc["policies"] = [{"vnet": vnames[vid], **_policy_doc(spec)}
                       for vid, spec in sorted(state.policies, key=lambda p: order.get(p[0], last)) if vid in vnames]
    return doc


def _policy_doc(spec: PolicySpec) -> dict[str, Any]:
    return {"default": spec.default, "rules": [_rule_doc(r) for r in spec.rules]}


def _rule_doc(rule: RuleSpec) -> dict[str, Any]:
    """A rule as the file writes it: what differs from a rule's defaults (any source,
    destination, protocol and port; no log, no comment); a single port as a number."""
    d = rule.to_dict()
    out: dict[str, Any] = {"name": d["name"], "action": d["action"]}
    for key in ("sources", "destinations"):
        if d[key]:
            out[key] = d[key]
    if d["protocol"] != "any":
        out["protocol"] = d["protocol"]
    if d["ports"]:
        out["ports"] = [int(p) if p.isdigit() else p for p in d["ports"]]
    if d["log"]:
        out["log"] = True
    if d["comment"]:
        out["comment"] = d["comment"]
    return out


# -- the plan -----------------------------------------------------------------------------
@record
class Change:
    """One step of a plan. ``name`` is the vnet's or tunnel's name, or the route's network;
    ``vnet`` is a route's virtual network. ``before``/``after`` hold the fields that differ
    (all of them for a create or delete); ``id`` is the existing object's."""

    action: str
    kind: str
    name: str
    vnet: str | None = None
    before: Any = None
    after: Any = None
    id: str | None = None
    note: str = ""

    def line(self) -> str:
        if self.kind == "policy":
            return _policy_line(self)
        what = f"{self.kind} {self.name}" + (f" in {self.vnet}" if self.kind == "route" else "")
        sym = SYMBOL[self.action]
        if self.action == KEEP:
            return f"{sym} {what}: not deleted, {self.note}"
        if self.action == UPDATE:
            diffs = ", ".join(f"{k} {_show(self.before[k])} -> {_show(self.after[k])}" for k in self.after)
            return f"{sym} {what}: {diffs}"
        fields = self.after if self.action == CREATE else self.before
        extra = []
        if self.kind == "route":
            extra.append(f"via {fields['tunnel']}")
        if self.kind == "vnet" and self.action == CREATE and fields.get("default"):
            extra.append("(default)")
        if fields.get("comment"):
            extra.append(f"comment {_show(fields['comment'])}")
        return " ".join([f"{sym} {what}", *extra])

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "vnet": self.vnet,
                "id": self.id, "before": self.before, "after": self.after, "note": self.note or None}


def _policy_line(c: Change) -> str:
    """``~ policy of prod: default "allow" -> "deny"; rules +1 ~1 -1 (3 in all)``: counts, not
    every rule (a policy may hold thousands); ``--json`` carries both whole policies."""
    sym = SYMBOL[c.action]
    what = f"{sym} policy of {c.name}"
    if c.action in (CREATE, DELETE):
        p = c.after if c.action == CREATE else c.before
        n = len(p["rules"])
        text = f"{what}: default {_show(p['default'])}, {n} rule{'' if n == 1 else 's'}"
        return text + (" (back to allow, no rules)" if c.action == DELETE else "")
    parts = []
    if "default" in c.after:
        parts.append(f"default {_show(c.before['default'])} -> {_show(c.after['default'])}")
    if "rules" not in c.after:
        return f"{what}: " + "; ".join(parts)
    old = {r["name"]: r for r in c.before["rules"]}
    new = {r["name"]: r for r in c.after["rules"]}
    added = sum(1 for n in new if n not in old)
    removed = sum(1 for n in old if n not in new)
    edited = sum(1 for n, r in new.items() if n in old and old[n] != r)
    common_old = [n for n in old if n in new]
    common_new = [n for n in new if n in old]
    counts = " ".join(f"{s}{k}" for s, k in (("+", added), ("~", edited), ("-", removed)) if k)
    if counts or common_old != common_new:
        parts.append("rules " + " ".join(x for x in (counts, "reordered" if common_old != common_new else "") if x)
                     + f" ({len(new)} in all)")
    return f"{what}: " + "; ".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    from warpcli.core.netfile import toml_string

    return toml_string(value)


@record
class Plan:
    changes: tuple[Change, ...]

    @property
    def pending(self) -> bool:
        return any(c.action != KEEP for c in self.changes)

    def counts(self) -> dict[str, int]:
        out = {CREATE: 0, UPDATE: 0, DELETE: 0, KEEP: 0}
        for c in self.changes:
            out[c.action] += 1
        return out

    def lines(self) -> list[str]:
        return [c.line() for c in self.changes] or ["no changes"]

    def summary(self) -> str:
        n = self.counts()
        if not self.pending:
            return "no changes" + (f" ({n[KEEP]} kept)" if n[KEEP] else "")
        return (f"{n[CREATE]} to create, {n[UPDATE]} to update, {n[DELETE]} to delete"
                + (f", {n[KEEP]} kept" if n[KEEP] else ""))


def plan(desired: NetworkFile, state: State, *, prune: bool = False, force: bool = False,
         connectors: Iterable[Connector] = (), hubs: Iterable[str] = ()) -> Plan:
    """The changes that make ``state`` what ``desired`` says; NetworkFileError lists every
    problem (the file's own and those found by resolving names against the state).

    ``connectors``: the enrolled connectors, and ``hubs`` the ids of the vnets that have a
    hub, read only for ``prune`` (a tunnel or vnet that has some is kept unless ``force``).
    """
    src = desired.source
    problems = list(desired.problems)
    cur_v = {v.name: v for v in state.vnets}
    cur_t = {t.name: t for t in state.tunnels}
    file_default = next((e for e in desired.vnets if e.default), None)
    cur_default = next((v for v in state.vnets if v.is_default_network), None)
    target_default = file_default.name if file_default else (cur_default.name if cur_default else None)
    hub_of = set(hubs)
    used_t: dict[str, int] = {}
    used_v: dict[str, int] = {}
    for c in connectors:
        used_t[c.tunnel_id] = used_t.get(c.tunnel_id, 0) + 1
        used_v[c.virtual_network_id] = used_v.get(c.virtual_network_id, 0) + 1

    vnet_changes: list[Change] = []
    for e in sorted(desired.vnets, key=lambda e: e.name):
        have = cur_v.get(e.name)
        if e.default is False and target_default == e.name:
            problems.append(problem(src, e.line, f"vnets[{e.pos}] {e.name}",
                                    "it is the default virtual network; mark another one `default = true`"))
        if have is None:
            vnet_changes.append(Change(CREATE, "vnet", e.name,
                                       after={"name": e.name, "comment": e.comment, "default": bool(e.default)}))
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if have.comment != e.comment:
            before["comment"], after["comment"] = have.comment, e.comment
        if e.default and not have.is_default_network:
            before["default"], after["default"] = False, True
        if after:
            vnet_changes.append(Change(UPDATE, "vnet", e.name, before=before, after=after, id=have.id))
    tunnel_changes = [Change(CREATE, "tunnel", e.name, after={"name": e.name})
                      for e in sorted(desired.tunnels, key=lambda e: e.name) if e.name not in cur_t]

    # what --prune deletes, and what it keeps
    file_v = {e.name for e in desired.vnets}
    file_t = {e.name for e in desired.tunnels}
    del_v: list[Change] = []
    del_t: list[Change] = []
    kept: list[Change] = []
    if prune:
        for t in sorted(state.tunnels, key=lambda t: t.name):
            if t.name in file_t:
                continue
            n = used_t.get(t.id, 0)
            if n and not force:
                kept.append(Change(KEEP, "tunnel", t.name, id=t.id,
                                   note=f"it has {n} connector(s); --force deletes it"))
            else:
                del_t.append(Change(DELETE, "tunnel", t.name, before={"name": t.name}, id=t.id))
        for v in sorted(state.vnets, key=lambda v: v.name):
            if v.name in file_v:
                continue
            n = used_v.get(v.id, 0)
            note = ""
            if v.is_default_network and not force:
                note = "it is the default virtual network; --force deletes it"
                if not file_default:
                    note += " once the file marks another one `default = true`"
            elif v.is_default_network and not file_default:
                note = "it is the default virtual network; mark another one `default = true` in the file"
            elif (n or v.id in hub_of) and not force:
                note = f"it has {n} connector(s); --force deletes it" if n else "it has a hub; --force deletes it"
            if note:
                kept.append(Change(KEEP, "vnet", v.name, id=v.id, note=note))
            else:
                del_v.append(Change(DELETE, "vnet", v.name, id=v.id,
                                    before={"name": v.name, "comment": v.comment,
                                            "default": v.is_default_network}))
    live_v = file_v | ({c.name for c in kept if c.kind == "vnet"} if prune else set(cur_v))
    live_t = file_t | ({c.name for c in kept if c.kind == "tunnel"} if prune else set(cur_t))

    # routes: identity (vnet, network)
    vid_name = {v.id: v.name for v in state.vnets}
    tid_name = {t.id: t.name for t in state.tunnels}
    # keyed (vnet name, (version, lo, prefixlen)): equal to the file's (vnet, Network), a tuple too
    cur_r: dict[tuple[str, tuple], tuple] = {
        (vid_name.get(r[6], r[6]), r[2:5]): r for r in state.routes}
    foreign = {key: cur_r.pop(key) for key in [k for k, r in cur_r.items() if r[5] not in tid_name]}
    seen: dict[tuple[str, Network], RouteEntry] = {}
    route_changes: list[Change] = []
    no_route = (None,) * 8
    get_route, first_of, get_tname = cur_r.get, seen.setdefault, tid_name.get
    for re_ in desired.routes:  # the hot loop: a file of 100k routes plans in a fraction of a second
        net, tunnel, vnet, comment = re_[:4]
        vname = vnet or target_default
        if vname not in live_v or tunnel not in live_t:
            problems.append(_bad_route(src, re_, vname, live_v, live_t, cur_v, cur_t))
            continue
        key = (vname, net)
        first = first_of(key, re_)
        if first is not re_:
            at = f"line {first.line}" if first.line else f"routes[{first.pos}]"
            problems.append(problem(src, re_.line, f"routes[{re_.pos}] {net}",
                                    f"duplicate of {at} (the same network in {vname!r})"))
            continue
        cur_route = get_route(key, no_route)
        if cur_route is no_route:
            if foreign and key in foreign:
                problems.append(problem(src, re_.line, f"routes[{re_.pos}] {net}", (
                    f"already routed in {vname!r} through tunnel {foreign[key][5]}, which is not a "
                    "warp_connector tunnel (cloudflared's?); apply leaves such routes alone")))
                continue
            text = str(net)
            route_changes.append(Change(CREATE, "route", text, vname, after={
                "network": text, "tunnel": tunnel, "vnet": vname, "comment": comment}))
            continue
        have_tunnel = get_tname(cur_route[5], cur_route[5])
        if have_tunnel == tunnel and cur_route[7] == comment:
            continue
        r_before: dict[str, str] = {}
        r_after: dict[str, str] = {}
        if have_tunnel != tunnel:
            r_before["tunnel"], r_after["tunnel"] = have_tunnel, tunnel
        if cur_route[7] != comment:
            r_before["comment"], r_after["comment"] = cur_route[7], comment
        route_changes.append(Change(UPDATE, "route", cur_route[1], vname, before=r_before, after=r_after,
                                    id=cur_route[0]))
    policy_changes = _policy_changes(desired, state, prune, target_default, live_v, live_t, cur_v, cur_t,
                                     {c.name for c in del_v}, problems)
    if problems:
        problems.sort(key=lambda p: (p["line"] or 0, p["entry"]))
        raise refuse(problems, src)
    del_r: list[Change] = []
    if prune:
        for ckey, r in cur_r.items():
            if ckey not in seen:
                del_r.append(Change(DELETE, "route", r[1], ckey[0], id=r[0], before={
                    "network": r[1], "tunnel": tid_name.get(r[5], r[5]), "vnet": ckey[0], "comment": r[7]}))
    order = {v: (v != target_default, v) for v in {*cur_v, *file_v}}

    def rkey(c: Change) -> tuple:
        return order.get(c.vnet or "", (True, c.vnet or "")), parse_network(c.name)

    route_changes.sort(key=rkey)
    del_r.sort(key=rkey)
    return Plan((*vnet_changes, *tunnel_changes, *route_changes, *policy_changes, *del_r, *del_t, *del_v, *kept))


def _policy_changes(desired: NetworkFile, state: State, prune: bool, target_default: str | None,
                    live_v: set[str], live_t: set[str], cur_v: dict, cur_t: dict, deleted_v: set[str],
                    problems: list[dict[str, Any]]) -> list[Change]:
    """Each named vnet's policy made what the file says; with ``prune``, the policy of a vnet
    the file gives none (and keeps) back to the empty allow-all one. Sorted by vnet name."""
    src = desired.source
    current = {vid: spec for vid, spec in state.policies}
    empty = PolicySpec()
    out: list[Change] = []
    named: set[str] = set()
    for e in desired.policies:
        vname = e.vnet or target_default
        where = f"policies[{e.pos}]" + (f" {e.vnet}" if e.vnet else "")
        if vname is None or vname not in live_v:
            why = ("there is no default virtual network" if vname is None
                   else _gone("virtual network", vname, vname in cur_v, "vnets"))
            problems.append(problem(src, e.line, where, why))
            continue
        if vname in named:  # the default vnet named both by name and left out
            problems.append(problem(src, e.line, where, f"a second policy for {vname!r}"))
            continue
        named.add(vname)
        bad = [(e.rule_lines[i] if e.rule_lines else e.line,
                f"rules[{i}] {r.name}: " + _gone("tunnel", end, end in cur_t, "tunnels"))
               for i, r in enumerate(e.rules) for end in dict.fromkeys((*r.sources, *r.destinations))
               if "/" not in end and end not in live_t]
        if bad:
            problems.extend(problem(src, line, where, why) for line, why in bad)
            continue
        have = current.get(cur_v[vname].id, empty) if vname in cur_v else empty
        want = PolicySpec(e.default, tuple(e.rules))
        if (have.default, have.rules) == (want.default, want.rules):
            continue
        if _empty(have):
            out.append(Change(CREATE, "policy", vname, vname, after=_policy_doc(want)))
            continue
        before, after = _policy_doc(have), _policy_doc(want)
        differ = [k for k in after if before[k] != after[k]]
        out.append(Change(UPDATE, "policy", vname, vname, before={k: before[k] for k in differ},
                          after={k: after[k] for k in differ}))
    if prune:
        vid_name = {v.id: v.name for v in state.vnets}
        for vid, spec in state.policies:
            vname = vid_name.get(vid)
            if vname is None or vname in named or vname in deleted_v or _empty(spec):
                continue
            out.append(Change(DELETE, "policy", vname, vname, before=_policy_doc(spec), after=_policy_doc(empty)))
    out.sort(key=lambda c: c.name)
    return out


def _bad_route(src: str, e: RouteEntry, vname: str | None, live_v: set[str], live_t: set[str],
               cur_v: dict, cur_t: dict) -> dict[str, Any]:
    bad = []
    if vname is None:
        bad.append("there is no default virtual network")
    elif vname not in live_v:
        bad.append(_gone("virtual network", vname, vname in cur_v, "vnets"))
    if e.tunnel not in live_t:
        bad.append(_gone("tunnel", e.tunnel, e.tunnel in cur_t, "tunnels"))
    return problem(src, e.line, f"routes[{e.pos}] {e.network}", "; ".join(bad))


def _gone(kind: str, name: str, exists: bool, section: str) -> str:
    if exists:
        return f"{kind} {name!r} is not in the file, so --prune deletes it; add it to [[{section}]]"
    return f"unknown {kind} {name!r} (neither in the file's [[{section}]] nor on the controller)"


# -- applying ----------------------------------------------------------------------------
@record
class Outcome:
    """What :func:`apply` did: the plan, and whether it was carried out."""

    plan: Plan
    applied: bool
    atomic: bool

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.applied and self.plan.pending, "applied": self.applied,
                "pending": self.plan.pending, "summary": self.plan.counts(),
                "changes": [c.to_dict() for c in self.plan.changes]}


def apply(ctrl: Controller, desired: NetworkFile, *, prune: bool = False, force: bool = False,
          dry_run: bool = False) -> Outcome:
    """Plan ``desired`` against the controller and, unless ``dry_run``, carry it out.

    On a failure midway the error (the controller's own, so its exit code stands) says
    where it stopped and what was undone; ``error.apply_report`` holds the lists.
    """
    if desired.problems and not (desired.vnets or desired.tunnels or desired.routes or desired.policies):
        raise refuse(list(desired.problems), desired.source)  # unreadable: no need to ask the controller
    if dry_run:
        p = _plan_from(ctrl, desired, prune, force)
        return Outcome(p, False, False)
    with ctrl.transaction() as atomic:
        p = _plan_from(ctrl, desired, prune, force)
        if p.pending:
            execute(ctrl, p, atomic=atomic, force=force)
    return Outcome(p, True, atomic)


def _plan_from(ctrl: Controller, desired: NetworkFile, prune: bool, force: bool) -> Plan:
    with paused_gc():
        state = read_state(ctrl, policies=bool(desired.policies) or prune)
        connectors: list[Connector] = []
        hubs: list[str] = []
        named_t = {e.name for e in desired.tunnels}
        named_v = {e.name for e in desired.vnets}
        if prune and (any(t.name not in named_t for t in state.tunnels) or
                      any(v.name not in named_v for v in state.vnets)):  # only then can it matter
            connectors = ctrl.list_connectors()
            hubs = [v.id for v in state.vnets if v.name not in named_v and _has_hub(ctrl, v.id)]
        return plan(desired, state, prune=prune, force=force, connectors=connectors, hubs=hubs)


def _has_hub(ctrl: Controller, vnet_id: str) -> bool:
    from warpcli.core.errors import NotFound, NotSupported

    try:
        ctrl.get_hub(vnet_id)
        return True
    except (NotFound, NotSupported):
        return False


class _Ids:
    """Names to ids, kept current as the run creates and deletes objects."""

    def __init__(self, ctrl: Controller) -> None:
        self.ctrl = ctrl
        self.vnets: dict[str, str] = {}
        self.tunnels: dict[str, str] = {}
        self.loaded = False

    def load(self) -> None:
        if not self.loaded:
            self.vnets = {v.name: v.id for v in self.ctrl.list_virtual_networks()}
            self.tunnels = {t.name: t.id for t in self.ctrl.list_tunnels()}
            self.loaded = True


def execute(ctrl: Controller, p: Plan, *, atomic: bool = False, force: bool = False) -> None:
    """Carry out a plan in its order; on failure undo (unless ``atomic``: the caller's
    transaction rolls back) and re-raise the error with the report attached."""
    ids = _Ids(ctrl)
    done: list[tuple[Change, Callable[[], None]]] = []
    current: Change | None = None
    try:
        ids.load()
        for c in p.changes:
            if c.action == KEEP:
                continue
            current = c
            done.append((c, _do(ctrl, c, ids, force)))
    except WarpcliError as exc:
        stopped = f"apply stopped at `{current.line()}`" if current else "apply stopped"
        if atomic:
            exc.message += f" ({stopped}; nothing was changed)"
            exc.apply_report = {"done": [], "undone": [], "not_undone": []}  # type: ignore[attr-defined]
            raise
        undone, left = [], []
        for c, undo in reversed(done):
            try:
                undo()
                undone.append(c.line())
            except WarpcliError as why:
                left.append(f"{c.line()} ({why})")
        exc.message += (f" ({stopped}; {len(undone)} change(s) undone"
                        + (f"; {len(left)} could not be undone: " + "; ".join(left) if left else "") + ")")
        exc.apply_report = {  # type: ignore[attr-defined]
            "done": [c.line() for c, _ in done], "undone": undone, "not_undone": left}
        raise


def _do(ctrl: Controller, c: Change, ids: _Ids, force: bool) -> Callable[[], None]:
    """Make one change; return its undo."""
    if c.kind == "vnet":
        return _do_vnet(ctrl, c, ids, force)
    if c.kind == "policy":
        return _do_policy(ctrl, c, ids)
    if c.kind == "tunnel":
        if c.action == CREATE:
            t = ctrl.create_tunnel(c.name)
            ids.tunnels[c.name] = t.id
            return lambda: _forget(ids.tunnels, c.name, ctrl.delete_tunnel(t.id))
        assert c.id is not None
        ctrl.delete_tunnel(c.id)
        ids.tunnels.pop(c.name, None)

        def cannot() -> None:
            raise WarpcliError("a deleted tunnel cannot be brought back (its id and token are gone)")
        return cannot
    net = parse_network(c.name)
    assert c.vnet is not None
    if c.action == CREATE:
        r = ctrl.create_route(net, ids.tunnels[c.after["tunnel"]], virtual_network_id=ids.vnets[c.vnet],
                              comment=c.after["comment"])
        return lambda: _none(ctrl.delete_route(r.id))
    assert c.id is not None
    rid = c.id
    if c.action == UPDATE:
        ctrl.update_route(rid, tunnel_id=ids.tunnels[c.after["tunnel"]] if "tunnel" in c.after else None,
                          comment=c.after.get("comment"))

        def revert() -> None:
            tunnel = c.before.get("tunnel")
            ctrl.update_route(rid, tunnel_id=_id(ids.tunnels, "tunnel", tunnel) if tunnel else None,
                              comment=c.before.get("comment"))
        return revert
    ctrl.delete_route(rid)
    b = c.before
    return lambda: _none(ctrl.create_route(net, _id(ids.tunnels, "tunnel", b["tunnel"]),
                                           virtual_network_id=_id(ids.vnets, "virtual network", b["vnet"]),
                                           comment=b["comment"]))


def _do_vnet(ctrl: Controller, c: Change, ids: _Ids, force: bool) -> Callable[[], None]:
    if c.action == CREATE:
        v = ctrl.create_virtual_network(c.name, comment=c.after["comment"])
        ids.vnets[c.name] = v.id
        if not c.after["default"]:
            return lambda: _forget(ids.vnets, c.name, ctrl.delete_virtual_network(v.id))
        old = next(iter(ctrl.list_virtual_networks(is_default=True)), None)
        try:
            ctrl.update_virtual_network(v.id, is_default=True)
        except WarpcliError:
            ctrl.delete_virtual_network(v.id)
            raise

        def undo_default_create() -> None:
            if old is not None:
                ctrl.update_virtual_network(old.id, is_default=True)
            _forget(ids.vnets, c.name, ctrl.delete_virtual_network(v.id))
        return undo_default_create
    assert c.id is not None
    vid = c.id
    if c.action == UPDATE:
        old = next(iter(ctrl.list_virtual_networks(is_default=True)), None) if c.after.get("default") else None
        ctrl.update_virtual_network(vid, comment=c.after.get("comment"), is_default=c.after.get("default"))

        def revert() -> None:
            if old is not None:
                ctrl.update_virtual_network(old.id, is_default=True)
            ctrl.update_virtual_network(vid, comment=c.before.get("comment"))
        return revert
    ctrl.delete_virtual_network(vid, force=force)  # its routes went first; force: its connectors and hub
    ids.vnets.pop(c.name, None)
    b = c.before

    def recreate() -> None:
        v = ctrl.create_virtual_network(b["name"], comment=b["comment"])
        ids.vnets[b["name"]] = v.id
    return recreate


def _do_policy(ctrl: Controller, c: Change, ids: _Ids) -> Callable[[], None]:
    """Write the vnet's whole policy (written back only over the revision read just now)."""
    from dataclasses import replace

    vid = _id(ids.vnets, "virtual network", c.name)
    before = ctrl.get_policy(vid)
    ctrl.put_policy(vid, _spec({**_policy_doc(before), **c.after}, before.revision))  # an update: what differs

    def restore() -> None:
        now = ctrl.get_policy(vid)
        ctrl.put_policy(vid, replace(before, revision=now.revision))
    return restore


def _spec(doc: dict[str, Any], revision: int) -> PolicySpec:
    return PolicySpec(doc["default"], tuple(RuleSpec.from_dict(r) for r in doc["rules"]), revision)


def _id(names: dict[str, str], kind: str, name: str) -> str:
    if name not in names:
        raise WarpcliError(f"the {kind} {name!r} no longer exists")
    return names[name]


def _forget(names: dict[str, str], name: str, _: object) -> None:
    names.pop(name, None)


def _none(_: object) -> None:
    return None
