"""The overlap report, computed by one sort-and-sweep (never pairwise).

Within a virtual network CIDRs either nest or are disjoint, so sorting by
``(lo, prefixlen)`` and keeping a stack of the open enclosing prefixes gives each
route its nearest enclosing route in O(n log n). The report groups routes under
their outermost enclosing route, so its size is linear in the number of routes
(a row per pair would be quadratic for deep nests).

Across virtual networks the same CIDR may appear several times; those are found
with one hash lookup per route while the input is read.

Speed (a million routes is the design point): each route becomes one integer
key ``(lo << 8 | prefixlen) << 32 | index`` in a bucket per (vnet, version), so
the sort compares machine-sized integers instead of tuples and the sweep decodes
with shifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Hashable, Iterable, NamedTuple, TypeVar

T = TypeVar("T")

_IB = 32  # bits for the input index in a sort key: up to 4 billion routes
_IMASK = (1 << _IB) - 1
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


def overlap_report(entries: Iterable[tuple[Hashable, int, int, int, T]]) -> OverlapReport[T]:
    """Nested routes per vnet and CIDRs present in several vnets.

    ``entries`` yields ``(vnet, version, lo, prefixlen, ref)``; a CIDR appears at
    most once per vnet (the model's rule).
    """
    refs: list[Any] = []
    add_ref = refs.append
    buckets: dict[tuple[Hashable, int], list[int]] = {}
    first_seen: dict[int, int] = {}
    remember = first_seen.setdefault
    repeats: dict[int, list[int]] = {}  # first index -> every index with that CIDR
    cidr_of: dict[int, tuple[int, int, int]] = {}
    i = 0
    for vnet, version, lo, plen, ref in entries:
        add_ref(ref)
        key = lo << 8 | plen
        bucket = buckets.get((vnet, version))
        if bucket is None:
            bucket = buckets[(vnet, version)] = []
        bucket.append(key << _IB | i)
        first = remember(key << 1 | (version == 6), i)
        if first != i:
            members = repeats.get(first)
            if members is None:
                repeats[first] = [first, i]
                cidr_of[first] = (version, lo, plen)
            else:
                members.append(i)
        i += 1
    del first_seen

    nested: list[NestedGroup[Any]] = []
    for (vnet, version), keys in buckets.items():
        keys.sort()
        hostmask = _HOSTMASK[version]
        open_hi: list[int] = []  # the stack of enclosing prefixes: their last address...
        open_idx: list[int] = []  # ...and their input index, innermost last
        group: NestedGroup[Any] | None = None
        group_outer = -1
        for key in keys:
            idx = key & _IMASK
            key >>= _IB
            lo = key >> 8
            while open_hi and open_hi[-1] < lo:
                open_hi.pop()
                open_idx.pop()
            if open_idx:
                outer = open_idx[0]
                if outer != group_outer:
                    group = NestedGroup(vnet, refs[outer])
                    nested.append(group)
                    group_outer = outer
                group.inner.append((refs[idx], refs[open_idx[-1]]))  # type: ignore[union-attr]
            open_hi.append(lo | hostmask[key & 255])
            open_idx.append(idx)

    shared: list[SharedCidr[Any]] = []
    for first in sorted(repeats, key=cidr_of.__getitem__):
        version, lo, plen = cidr_of[first]
        shared.append(SharedCidr(version, lo, plen, [refs[j] for j in repeats[first]]))
    return OverlapReport(nested, shared)
