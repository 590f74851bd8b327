"""The overlap report, computed by one sort-and-sweep per IP version (never pairwise).

Within a virtual network CIDRs either nest or are disjoint, so sorting by
``(lo, prefixlen)`` and keeping a stack of the open enclosing prefixes gives each
route its nearest enclosing route in O(n log n). The report groups routes under
their outermost enclosing route, so its size is linear in the number of routes
(a row per pair would be quadratic for deep nests).

All the vnets of one IP version are swept together, each with its own stack:
the same CIDR in several vnets then sorts into one run of equal keys, so the
CIDRs shared between vnets fall out of the same pass, with no table of every
CIDR seen.

Speed (a million routes is the design point, and most of the time goes to
memory stalls and allocation, not arithmetic):

* each route becomes one integer key ``(lo << P | prefixlen) << S | slot``, so
  the sort compares plain integers, never tuples, and the sweep decodes with
  shifts. ``P`` is 6 bits for IPv4 and the slot field ``S`` starts at 22 bits
  (widened if the input outgrows it), so an IPv4 key fits in 60 bits: two
  internal digits of a Python int instead of three;
* ``slot`` points into one flat list holding each route's payload next to its
  vnet's number: one cache miss per route there, not two;
* the cyclic garbage collector is paused while the report is built (see
  :func:`_collector_paused`).
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")

_PREFIX_BITS = {4: 6, 6: 8}  # room for the prefix length in a key: 0..32, 0..128
_FIRST_SLOT_BITS = 22  # room for the slot to start with: two slots a route, so 2 million routes
_ABOVE = 1 << 128  # above every address: the bottom of each stack
_HOSTMASK = {4: [(1 << (32 - p)) - 1 for p in range(33)], 6: [(1 << (128 - p)) - 1 for p in range(129)]}


class Entry(NamedTuple):
    """One route as the sweep sees it; ``ref`` is whatever the caller wants back.

    Any 5-tuple ``(vnet, version, lo, prefixlen, ref)`` will do in its place.
    """

    vnet: Hashable
    version: int
    lo: int
    prefixlen: int
    ref: Any

    @property
    def hi(self) -> int:
        return self.lo | _HOSTMASK[self.version][self.prefixlen]


@dataclass(slots=True)
class NestedGroup(Generic[T]):
    """An outermost route and every route inside it, each with its nearest parent."""

    vnet: Hashable
    outer: T
    inner: list[tuple[T, T]] = field(default_factory=list)  # (route, nearest enclosing route)


@dataclass(slots=True)
class SharedCidr(Generic[T]):
    """One CIDR that appears in more than one virtual network."""

    version: int
    lo: int
    prefixlen: int
    routes: list[T]


@dataclass(slots=True)
class OverlapReport(Generic[T]):
    nested: list[NestedGroup[T]]
    shared: list[SharedCidr[T]]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Build without the cyclic collector, then hand what was built straight to its oldest generation.

    Left running, the collector rescans the young report objects over and over
    (a tuple subclass such as a NamedTuple payload is never untracked): over a
    second for a million routes. Merely re-enabling it afterwards would scan the
    millions of objects made meanwhile at the next allocation, once per generation.
    ``freeze()`` + ``unfreeze()`` moves every tracked object into the oldest
    generation without a scan; it is skipped when the application keeps frozen
    objects of its own, which ``unfreeze()`` would release.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def overlap_report(entries: Iterable[tuple[Hashable, int, int, int, T]]) -> OverlapReport[T]:
    """Nested routes per vnet and CIDRs present in several vnets.

    ``entries`` yields ``(vnet, version, lo, prefixlen, ref)``; a CIDR appears at
    most once per vnet (the model's rule). Groups come per (vnet, version) in the
    order each was first seen, then by address; shared CIDRs by (version, address,
    prefix length), each listing its routes in input order.
    """
    with _collector_paused():
        return _overlap_report(entries)


def _overlap_report(entries: Iterable[tuple[Hashable, int, int, int, T]]) -> OverlapReport[T]:
    # slots[2k] is a route's ref, slots[2k + 1] its vnet's number within its IP version
    slots: list[Any] = []
    put = slots.append
    keys4: list[int] = []
    keys6: list[int] = []
    add4, add6 = keys4.append, keys6.append
    vno4: dict[Hashable, int] = {}
    vno6: dict[Hashable, int] = {}
    buckets: list[tuple[int, int]] = []  # (version, vnet number) in first-seen order
    sb = _FIRST_SLOT_BITS
    full = 1 << sb
    s = 0
    for vnet, version, lo, plen, ref in entries:
        put(ref)
        if version == 4:
            v = vno4.get(vnet)
            if v is None:
                v = vno4[vnet] = len(vno4)
                buckets.append((4, v))
            add4((lo << 6 | plen) << sb | s)
        else:
            v = vno6.get(vnet)
            if v is None:
                v = vno6[vnet] = len(vno6)
                buckets.append((6, v))
            add6((lo << 8 | plen) << sb | s)
        put(v)
        s += 2
        if s == full:
            _widen(keys4, sb, sb + 10)
            _widen(keys6, sb, sb + 10)
            sb += 10
            full = 1 << sb

    shared: list[SharedCidr[Any]] = []
    groups = {4: _sweep(4, keys4, sb, list(vno4), slots, shared)}
    del keys4[:]  # before the IPv6 sweep allocates: its objects can take the freed memory
    groups[6] = _sweep(6, keys6, sb, list(vno6), slots, shared)
    nested: list[NestedGroup[Any]] = []
    for version, v in buckets:
        nested += groups[version][v]
    return OverlapReport(nested, shared)


def _widen(keys: list[int], bits: int, wider: int) -> None:
    """Give the slot field of every key more room (a rare step, past two million routes)."""
    mask = (1 << bits) - 1
    keys[:] = [(key >> bits) << wider | (key & mask) for key in keys]


def _sweep(
    version: int,
    keys: list[int],
    sb: int,
    vnets: list[Hashable],
    slots: list[Any],
    shared: list[SharedCidr[Any]],
) -> list[list[NestedGroup[Any]]]:
    """Sort one version's keys and sweep them; append its shared CIDRs; return the groups per vnet."""
    keys.sort()
    hostmask = _HOSTMASK[version]
    pb = _PREFIX_BITS[version]
    pmask = (1 << pb) - 1
    smask = (1 << sb) - 1
    n = len(vnets)
    # per vnet, the stack of open prefixes: their last address, and their ref (innermost last);
    # the bottom is a sentinel: an address above every prefix, and the group of the open outermost
    # route (None until that route gets its first member)
    open_hi: list[list[int]] = [[_ABOVE] for _ in range(n)]
    open_ref: list[list[Any]] = [[None] for _ in range(n)]
    groups: list[list[NestedGroup[Any]]] = [[] for _ in range(n)]
    prev = run_cidr = -1
    prev_slot = 0
    run: list[Any] = []
    for key in keys:
        s = key & smask
        cidr = key >> sb
        ref = slots[s]
        if cidr == prev:  # the same CIDR as the route before: in another vnet (or a duplicate)
            if cidr != run_cidr:
                run_cidr = cidr
                run = [slots[prev_slot]]
                shared.append(SharedCidr(version, cidr >> pb, cidr & pmask, run))
            run.append(ref)
        else:
            prev = cidr
            prev_slot = s
        v = slots[s + 1]
        lo = cidr >> pb
        his = open_hi[v]
        refs = open_ref[v]
        while his[-1] < lo:
            del his[-1]
            del refs[-1]
        if len(refs) > 1:
            group = refs[0]
            if group is None:
                group = refs[0] = NestedGroup(vnets[v], refs[1])
                groups[v].append(group)
            group.inner.append((ref, refs[-1]))
        else:  # a new outermost route
            refs[0] = None
        his.append(lo | hostmask[cidr & pmask])
        refs.append(ref)
    return groups
