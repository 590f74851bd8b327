"""`up --follow` after its first reconcile: apply only what changed since the last one.

A full reconcile (``connector.up``) reads warpcli's whole kernel table and the WireGuard
peer and plans every route: linear in the table. While following, the previous successful
reconcile knows what it left behind (a :class:`Baseline`), so the next one takes set
differences between the controller's CIDRs and the baseline's and sends only those routes
to the kernel (the batched netlink path with the same tag, plan lines, rollback and crash
points as ``up``) and only the added CIDRs to the WireGuard peer (wireguard-go cannot
remove one allowed IP: a removal sets the peer's whole list once).

The baseline is trusted only while what it assumed holds: :func:`delta_up` answers None,
and a full reconcile runs instead, when the hub's key or endpoint changed, the interface
is gone, was re-made or changed its MTU or state, the host's connected networks or the
hub endpoint's addresses changed (the no-lockout check depends on them), or the baseline
is older than :data:`FULL_EVERY` seconds (so drift in the kernel is repaired). Reading the
controller's CIDRs stays linear; everything after it is proportional to the change.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from warpcli.host.model import Route
from warpcli.host.plan import Action, Plan, Shadowing

#: seconds after which a follow loop plans from the kernel again instead of from its baseline
FULL_EVERY = 600.0


@dataclass(frozen=True)
class Baseline:
    """What one successful reconcile left in the kernel and WireGuard, and what it assumed."""

    ifname: str
    ifindex: int
    mtu: int | None
    backend: str  #: WireGuard backend of the interface ("kernel" or "userspace")
    hub: tuple[str, str]  #: the hub's public key and endpoint
    endpoints: tuple[str, ...]  #: the hub endpoint's addresses (no-lockout check)
    connected: frozenset[str]  #: the host's connected networks (no-lockout check)
    wanted: frozenset[str]  #: the controller's CIDRs for this host, the device range included
    installed: frozenset[str]  #: those installed (``wanted`` less the skipped ones)
    skipped: tuple[Shadowing, ...]
    made_at: float  #: ``time.monotonic()`` of the full reconcile it descends from


@dataclass(frozen=True)
class Delta:
    """The routes to add and delete (kernel and WireGuard) to go from a baseline to ``wanted``."""

    adds: tuple[Route, ...]
    deletes: tuple[Route, ...]
    shadowed: tuple[Shadowing, ...]  #: added CIDRs that the no-lockout check refuses
    baseline: Baseline  #: the baseline once the delta is applied

    @property
    def empty(self) -> bool:
        return not self.adds and not self.deletes

    def plan(self) -> Plan:
        return Plan(tuple([Action("delete", r) for r in self.deletes] + [Action("add", r) for r in self.adds]))


def still_valid(since: Baseline, *, hub: tuple[str, str], ifindex: int | None, mtu: int | None, up: bool,
                connected: Iterable[str], endpoints: Iterable[str], now: float | None = None) -> bool:
    """Whether ``since`` still describes the host, so that a delta from it is enough."""
    now = time.monotonic() if now is None else now
    return (hub == since.hub and ifindex == since.ifindex and up and mtu == since.mtu
            and frozenset(connected) == since.connected and tuple(endpoints) == since.endpoints
            and now - since.made_at < FULL_EVERY)


def delta(since: Baseline, wanted: Iterable[str]) -> Delta:
    """The changes from ``since`` to the controller's CIDRs ``wanted`` (set differences: the
    cost follows the change, past building the set)."""
    from warpcli.host.constants import TABLE
    from warpcli.host.plan import split_shadowing

    want = frozenset(wanted)
    added = want - since.wanted
    removed = since.wanted - want
    ifname = since.ifname
    adds, shadowed = split_shadowing([Route(c, table=TABLE, ifname=ifname) for c in added],
                                     connected=since.connected, endpoints=since.endpoints)
    deletes = [Route(c, table=TABLE, ifname=ifname) for c in removed if c in since.installed]
    installed = (since.installed - removed) | {r.dst for r in adds}
    gone = {s.route for s in shadowed} | removed
    skipped = tuple(s for s in since.skipped if s.route not in gone) + tuple(shadowed)
    after = Baseline(ifname, since.ifindex, since.mtu, since.backend, since.hub, since.endpoints, since.connected,
                     want, frozenset(installed), skipped, since.made_at)
    return Delta(tuple(sorted(adds, key=Route.sort_key)), tuple(sorted(deletes, key=Route.sort_key)),
                 tuple(shadowed), after)


def peer_line(public_key: str, d: Delta) -> str | None:
    """The plan line of the WireGuard peer's change (None when its allowed IPs stay)."""
    if d.empty:
        return None
    changes = [f"+{r.dst}" for r in d.adds] + [f"-{r.dst}" for r in d.deletes]
    return f"~ wireguard peer {public_key[:8]}… allowed {', '.join(changes)}"
