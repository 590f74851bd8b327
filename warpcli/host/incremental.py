"""`up --follow` after its first reconcile: apply only what changed since the last one.

A full reconcile (``connector.up``) reads warpcli's whole kernel table and the WireGuard
peer and plans every route: linear in the table. While following, the previous successful
reconcile knows what it left behind (a :class:`Baseline`), so the next one compares the
controller's CIDRs with the baseline's and sends only the difference
to the kernel (the batched netlink path with the same tag, plan lines, rollback and crash
points as ``up``) and only the added CIDRs to the WireGuard peer (wireguard-go cannot
remove one allowed IP: a removal sets the peer's whole list once).

The baseline is trusted only while what it assumed holds: :func:`delta_up` answers None,
and a full reconcile runs instead, when the hub's key or endpoint changed, the interface
is gone, was re-made or changed its MTU or state, the host's connected networks or the
hub endpoint's addresses changed (the no-lockout check depends on them), or the baseline
is older than :data:`FULL_EVERY` seconds (so drift in the kernel is repaired).

The comparison: a backend lists a vnet's CIDRs in the same order each time (SQLite: its index
order), so the two lists agree but for a window around what changed; the window is found by
comparing slices (C speed, no hashing of the whole table) and only it is diffed as sets. Any
order is still correct (the window is then the whole list). Reading the controller's CIDRs
stays linear; everything after it is proportional to the change.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from warpcli.core.model import DEVICE_RANGE
from warpcli.host.model import KernelRoute
from warpcli.host.routing.plan import Action, KernelPlan, Shadowing

#: seconds after which a follow loop plans from the kernel again instead of from its baseline
FULL_EVERY = 600.0
_CHUNK = 1024  #: slice length when looking for where two lists of CIDRs start to differ


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
    remote: tuple[str, ...]  #: the controller's CIDRs for this host, as it listed them (each once)
    skipped: tuple[Shadowing, ...]  #: CIDRs the no-lockout check keeps out of the kernel
    installed_count: int  #: routes installed (``len(installed)``, kept without building the set)
    made_at: float  #: ``time.monotonic()`` of the full reconcile it descends from

    @property
    def wanted(self) -> frozenset[str]:
        """Every CIDR wanted: the controller's and the device range (linear: not on the hot path)."""
        return frozenset(self.remote) | {DEVICE_RANGE}

    @property
    def installed(self) -> frozenset[str]:
        """The CIDRs routed through the tunnel: ``wanted`` less the skipped ones (linear)."""
        return self.wanted - {s.route for s in self.skipped}


@dataclass(frozen=True)
class Delta:
    """The routes to add and delete (kernel and WireGuard) to go from a baseline to ``remote``."""

    adds: tuple[KernelRoute, ...]
    deletes: tuple[KernelRoute, ...]
    shadowed: tuple[Shadowing, ...]  #: added CIDRs that the no-lockout check refuses
    baseline: Baseline  #: the baseline once the delta is applied

    @property
    def empty(self) -> bool:
        return not self.adds and not self.deletes

    def plan(self) -> KernelPlan:
        return KernelPlan(tuple([Action("delete", r) for r in self.deletes] + [Action("add", r) for r in self.adds]))


def still_valid(since: Baseline, *, hub: tuple[str, str], ifindex: int | None, mtu: int | None, up: bool,
                connected: Iterable[str], endpoints: Iterable[str], now: float | None = None) -> bool:
    """Whether ``since`` still describes the host, so that a delta from it is enough."""
    now = time.monotonic() if now is None else now
    return (hub == since.hub and ifindex == since.ifindex and up and mtu == since.mtu
            and frozenset(connected) == since.connected and tuple(endpoints) == since.endpoints
            and now - since.made_at < FULL_EVERY)


def common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """How many leading items ``a`` and ``b`` share (slices compared in C, a chunk at a time)."""
    n = min(len(a), len(b))
    i = 0
    while i + _CHUNK <= n and a[i:i + _CHUNK] == b[i:i + _CHUNK]:
        i += _CHUNK
    while i < n and a[i] == b[i]:
        i += 1
    return i


def common_suffix(a: Sequence[str], b: Sequence[str], limit: int) -> int:
    """How many trailing items ``a`` and ``b`` share, at most ``limit``."""
    la, lb = len(a), len(b)
    j = 0
    while j + _CHUNK <= limit and a[la - j - _CHUNK:la - j] == b[lb - j - _CHUNK:lb - j]:
        j += _CHUNK
    while j < limit and a[la - j - 1] == b[lb - j - 1]:
        j += 1
    return j


def delta(since: Baseline, remote: Iterable[str]) -> Delta:
    """The changes from ``since`` to the controller's CIDRs ``remote`` (each listed once)."""
    from warpcli.host.constants import TABLE
    from warpcli.host.routing.plan import split_shadowing

    old, new = since.remote, tuple(remote)
    i = common_prefix(old, new)
    j = common_suffix(old, new, min(len(old), len(new)) - i)
    # outside the windows both lists hold the same CIDRs; each CIDR is in a list once
    old_window, new_window = set(old[i:len(old) - j]), set(new[i:len(new) - j])
    added = new_window - old_window - {DEVICE_RANGE}  # the device range is always wanted
    removed = old_window - new_window - {DEVICE_RANGE}
    ifname = since.ifname
    adds, shadowed = split_shadowing([KernelRoute(c, table=TABLE, ifname=ifname) for c in added],
                                     connected=since.connected, endpoints=since.endpoints)
    kept_out = {s.route for s in since.skipped}
    deletes = [KernelRoute(c, table=TABLE, ifname=ifname) for c in removed if c not in kept_out]
    skipped = tuple(s for s in since.skipped if s.route not in removed) + tuple(shadowed)
    after = replace(since, remote=new, skipped=skipped,
                    installed_count=since.installed_count - len(deletes) + len(adds))
    return Delta(tuple(sorted(adds, key=KernelRoute.sort_key)), tuple(sorted(deletes, key=KernelRoute.sort_key)),
                 tuple(shadowed), after)


def peer_line(public_key: str, d: Delta) -> str | None:
    """The plan line of the WireGuard peer's change (None when its allowed IPs stay)."""
    if d.empty:
        return None
    changes = [f"+{r.dst}" for r in d.adds] + [f"-{r.dst}" for r in d.deletes]
    return f"~ wireguard peer {public_key[:8]}… allowed {', '.join(changes)}"
