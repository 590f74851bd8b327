"""Plan, then apply (pure: no kernel access here).

``diff(desired, observed)`` turns two :class:`~warpcli.host.model.HostState` values
into an ordered :class:`KernelPlan`; ``apply(plan, executor)`` runs it through any object
with an ``execute(action)`` method (``warpcli.host.routing.kernel.KernelExecutor`` for a
real namespace) and, when an action fails, undoes the ones already applied in
reverse order before raising :class:`~warpcli.host.errors.ApplyError`.

Routes in bulk: an executor that also has ``execute_routes(actions)`` gets each run of
consecutive route additions (or deletions) in one call (``KernelExecutor`` sends them as
batched netlink messages) and answers one :class:`KernelOutcome` per action; rollback and crash
points work per action exactly as for ``execute``.

``observed`` must hold only what warpcli owns (routes and rules with its protocol
number, addresses of its interfaces) plus the current value of every link setting
and sysctl that ``desired`` names: whatever is observed and not desired is deleted.

Order: stale rules, stale routes, stale addresses are removed first; then link
settings, addresses, routes, rules (so a rule never points at a half-filled
table), sysctls last (forwarding goes on once the routes are in place).

``find_shadowing`` is the no-lockout check: a route must not capture a directly
connected network, the default route, or the hub endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from warpcli.core.cidr import parse_address, parse_network
from warpcli.host.errors import ApplyError, HostError
from warpcli.host.model import Address, HostState, KernelRoute, KernelRule, LinkState, Sysctl

Op = Literal["add", "delete", "set"]
KernelObject = Address | KernelRoute | KernelRule | LinkState | Sysctl


@dataclass(frozen=True)
class Action:
    op: Op
    obj: KernelObject
    previous: LinkState | Sysctl | None = None  #: for "set": the value before (used to undo)

    def inverse(self) -> Action:
        if self.op == "add":
            return Action("delete", self.obj)
        if self.op == "delete":
            return Action("add", self.obj)
        if self.previous is None:
            raise ValueError(f"cannot undo {self.describe()}: previous value unknown")
        assert isinstance(self.obj, LinkState | Sysctl), "only a 'set' of a link state or sysctl has a previous value"
        return Action("set", self.previous, self.obj)

    def describe(self) -> str:
        if self.op == "set":
            if isinstance(self.obj, Sysctl) and isinstance(self.previous, Sysctl):
                return f"~ sysctl {self.obj.key}: {self.previous.value} -> {self.obj.value}"
            before = f" (was {self.previous.describe()})" if self.previous is not None else ""
            return f"~ {self.obj.describe()}{before}"
        return f"{'+' if self.op == 'add' else '-'} {self.obj.describe()}"


@dataclass(frozen=True)
class KernelPlan:
    actions: tuple[Action, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.actions

    def lines(self) -> list[str]:
        return [a.describe() for a in self.actions] or ["no changes"]

    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self):
        return iter(self.actions)


class Executor(Protocol):
    def execute(self, action: Action) -> None: ...


@dataclass(frozen=True)
class KernelOutcome:
    """What became of one action of a batch: done, refused (``error``), or nothing to do
    (``changed`` False: a route to delete that is already gone)."""

    action: Action
    error: Exception | None = None
    changed: bool = True


def _batches(actions: Sequence[Action], bulk: bool) -> Iterable[list[Action]]:
    """Runs of consecutive route actions with one op (when ``bulk``), other actions alone."""
    run: list[Action] = []
    for a in actions:
        if bulk and isinstance(a.obj, KernelRoute) and a.op in ("add", "delete"):
            if run and run[0].op != a.op:
                yield run
                run = []
            run.append(a)
            continue
        if run:
            yield run
            run = []
        yield [a]
    if run:
        yield run


def _run(executor: Executor, batch: list[Action]) -> list[KernelOutcome]:
    """Execute one batch: in bulk when it is a run of route actions and the executor can."""
    bulk = getattr(executor, "execute_routes", None)
    if bulk is not None and isinstance(batch[0].obj, KernelRoute) and batch[0].op in ("add", "delete"):
        return bulk(batch)
    (action,) = batch
    try:
        executor.execute(action)
    except Exception as exc:
        return [KernelOutcome(action, exc)]
    return [KernelOutcome(action)]


def _link_changes(desired: LinkState, observed: LinkState) -> tuple[LinkState, LinkState] | None:
    """The settings to change and their previous values, or None when nothing differs."""
    new: dict = {}
    old: dict = {}
    for name in ("mtu", "up"):
        want = getattr(desired, name)
        have = getattr(observed, name)
        if want is not None and want != have:
            new[name], old[name] = want, have
    if not new:
        return None
    return LinkState(desired.ifname, **new), LinkState(desired.ifname, **old)


def satisfies(observed: KernelRoute, desired: KernelRoute) -> bool:
    """True when the observed route is the desired one; a desired route without ``ifname``
    accepts the device the kernel chose for its gateway."""
    if desired.ifname is None:
        desired = replace(desired, ifname=observed.ifname)
    return observed == desired


def _route_changes(desired: list[KernelRoute], observed: list[KernelRoute]) -> tuple[list[KernelRoute], list[KernelRoute]]:
    """(routes to add, routes to delete), each sorted; a changed route is deleted and re-added.
    Both sides are keyed by the kernel's identity of a route: linear, not desired × observed."""
    by_key: dict[tuple, KernelRoute] = {}
    for r in desired:
        if by_key.setdefault(r.key, r) != r:
            raise HostError(f"two desired routes share one kernel key: {by_key[r.key].describe()} / {r.describe()}")
    have: dict[tuple, list[KernelRoute]] = {}
    for o in observed:
        have.setdefault(o.key, []).append(o)
    kept: set[KernelRoute] = set()
    adds = []
    for key, r in by_key.items():
        match = next((o for o in have.get(key, ()) if satisfies(o, r)), None)
        if match is None:
            adds.append(r)
        else:
            kept.add(match)
    deletes = {o for o in observed if o not in kept}
    return sorted(adds, key=KernelRoute.sort_key), sorted(deletes, key=KernelRoute.sort_key)


def diff(desired: HostState, observed: HostState) -> KernelPlan:
    actions: list[Action] = []

    # 1-3: removals (rules, routes, addresses) of what is observed but not desired
    want_rules, have_rules = set(desired.rules), set(observed.rules)
    actions += [Action("delete", r) for r in sorted(have_rules - want_rules, key=KernelRule.sort_key)]
    route_adds, route_deletes = _route_changes(desired.routes, observed.routes)
    actions += [Action("delete", r) for r in route_deletes]
    want_addrs, have_addrs = set(desired.addresses), set(observed.addresses)
    actions += [Action("delete", a) for a in sorted(have_addrs - want_addrs)]

    # 4: link settings
    links = {link.ifname: link for link in observed.links}
    for link in desired.links:
        if link.ifname not in links:
            raise HostError(f"link {link.ifname} does not exist", hint="create the interface before planning")
        change = _link_changes(link, links[link.ifname])
        if change:
            actions.append(Action("set", change[0], change[1]))

    # 5-7: additions
    actions += [Action("add", a) for a in sorted(want_addrs - have_addrs)]
    actions += [Action("add", r) for r in route_adds]
    actions += [Action("add", r) for r in sorted(want_rules - have_rules, key=KernelRule.sort_key)]

    # 8: sysctls
    current = {s.key: s for s in observed.sysctls}
    for s in desired.sysctls:
        if s.key not in current:
            raise HostError(f"sysctl {s.key} was not observed", hint="read it before planning")
        if current[s.key].value != s.value:
            actions.append(Action("set", s, current[s.key]))
    return KernelPlan(tuple(actions))


def apply(plan: KernelPlan | Iterable[Action], executor: Executor,
          on_progress: Callable[[int, int], None] | None = None) -> list[Action]:
    """Execute every action; on failure undo the applied ones (newest first) and raise
    :class:`ApplyError` whose message names the failed action and the kernel's reason.

    Runs of route actions go to ``executor.execute_routes`` when it has one; a failure in
    such a run is reported after the run, and what the run did is undone with the rest.
    ``on_progress(done, total)`` is told after each batch (a progress bar)."""
    applied: list[Action] = []
    bulk = hasattr(executor, "execute_routes")
    actions = list(plan)
    done = 0
    for batch in _batches(actions, bulk):
        outcomes = _run(executor, batch)
        done += len(batch)
        if on_progress is not None:
            on_progress(done, len(actions))
        applied += [o.action for o in outcomes if o.error is None and o.changed]
        failed = next((o for o in outcomes if o.error is not None), None)
        if failed is None:
            continue
        action, exc = failed.action, failed.error
        undone, undo_errors = rollback(applied, executor)
        reason = exc.message if isinstance(exc, HostError) else str(exc)
        more = sum(1 for o in outcomes if o.error is not None) - 1
        note = f" (and {more} more in the same batch)" if more else ""
        note += f"; rolled back {len(undone)} change(s)" if undone else ""
        if undo_errors:
            note += f"; {len(undo_errors)} could not be undone: " + "; ".join(undo_errors)
        raise ApplyError(
            f"{action.describe()} failed: {reason}{note}",
            failed=action,
            rolled_back=undone,
            rollback_errors=undo_errors,
            errno=getattr(exc, "errno", None),
        ) from exc
    return applied


def rollback(applied: list[Action], executor: Executor) -> tuple[list[Action], list[str]]:
    """Undo ``applied`` newest first; keep going past failures. Returns (undone, errors)."""
    undone: list[Action] = []
    errors: list[str] = []
    inverses: list[Action] = []
    for action in reversed(applied):
        try:
            inverses.append(action.inverse())
        except Exception as exc:
            errors.append(f"{action.describe()}: {exc}")
    for batch in _batches(inverses, hasattr(executor, "execute_routes")):
        for o in _run(executor, batch):
            if o.error is None:
                undone.append(o.action)
            else:
                errors.append(f"{o.action.inverse().describe()}: {o.error}")
    return undone, errors


# --- no lockout ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shadowing:
    route: str
    reason: Literal["connected", "default", "endpoint"]
    conflict: str  #: the connected network, default route or endpoint address concerned

    def message(self) -> str:
        what = {
            "connected": f"the directly connected network {self.conflict}",
            "default": "the default route",
            "endpoint": f"the path to the hub endpoint {self.conflict}",
        }[self.reason]
        return f"route {self.route} would capture {what}"


def find_shadowing(
    routes: Iterable[str],
    *,
    connected: Iterable[str] = (),
    endpoints: Iterable[str] = (),
) -> list[Shadowing]:
    """Every reason each route must not be installed, in input order.

    - a default route (``/0``) would replace the host's default route;
    - a route equal to or inside a directly connected network would capture (part of)
      it (a wider route is fine: the connected network stays more specific);
    - a route that contains the hub endpoint would send the tunnel's own packets into
      the tunnel.
    """
    nets = [parse_network(c) for c in connected]
    eps = [(e, parse_address(e)) for e in endpoints]
    found: list[Shadowing] = []
    for text in routes:
        r = parse_network(text)
        if r.prefixlen == 0:
            found.append(Shadowing(str(r), "default", str(r)))
        for n in nets:
            if n.contains(r):
                found.append(Shadowing(str(r), "connected", str(n)))
        for text_ep, (version, value) in eps:
            if r.contains_address(version, value):
                found.append(Shadowing(str(r), "endpoint", text_ep))
    return found


def split_shadowing(
    routes: Iterable[KernelRoute], *, connected: Iterable[str] = (), endpoints: Iterable[str] = ()
) -> tuple[list[KernelRoute], list[Shadowing]]:
    """Routes that are safe to install, and the reasons the others are skipped."""
    routes = list(routes)
    bad = find_shadowing((r.dst for r in routes), connected=connected, endpoints=endpoints)
    skipped = {s.route for s in bad}
    return [r for r in routes if r.dst not in skipped], bad
