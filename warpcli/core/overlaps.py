"""The overlap report, computed by one sort-and-sweep (never pairwise).

Within a virtual network CIDRs either nest or are disjoint, so sorting by
``(lo, prefixlen)`` and keeping a stack of the open enclosing prefixes gives each
route its nearest enclosing route in O(n log n). The report groups routes under
their outermost enclosing route, so its size is linear in the number of routes
(a row per pair would be quadratic for deep nests).

Across virtual networks the same CIDR may appear several times; those are found
by one more sort over ``(version, lo, prefixlen)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Hashable, Iterable, TypeVar

from warpcli.core.cidr import BITS

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One route as the sweep sees it; ``ref`` is whatever the caller wants back."""

    vnet: Hashable
    version: int
    lo: int
    prefixlen: int
    ref: T

    @property
    def hi(self) -> int:
        return self.lo | ((1 << (BITS[self.version] - self.prefixlen)) - 1)


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


def _sort_key(e: Entry) -> tuple:
    return (e.version, e.lo, e.prefixlen)


def nested_groups(entries: Iterable[Entry[T]]) -> list[NestedGroup[T]]:
    by_vnet: dict[Hashable, list[Entry[T]]] = {}
    for e in entries:
        by_vnet.setdefault(e.vnet, []).append(e)
    groups: list[NestedGroup[T]] = []
    for vnet, items in by_vnet.items():
        items.sort(key=_sort_key)
        stack: list[tuple[int, int, Entry[T]]] = []  # (version, hi, entry), innermost last
        group: NestedGroup[T] | None = None
        for e in items:
            while stack and (stack[-1][0] != e.version or stack[-1][1] < e.lo):
                stack.pop()
            if stack:
                if group is None or group.outer is not stack[0][2].ref:
                    group = NestedGroup(vnet, stack[0][2].ref)
                    groups.append(group)
                group.inner.append((e.ref, stack[-1][2].ref))
            stack.append((e.version, e.hi, e))
    return groups


def shared_cidrs(entries: Iterable[Entry[T]]) -> list[SharedCidr[T]]:
    items = sorted(entries, key=_sort_key)
    out: list[SharedCidr[T]] = []
    i, n = 0, len(items)
    while i < n:
        j = i + 1
        key = _sort_key(items[i])
        while j < n and _sort_key(items[j]) == key:
            j += 1
        if j - i > 1:
            out.append(SharedCidr(key[0], key[1], key[2], [x.ref for x in items[i:j]]))
        i = j
    return out


def overlap_report(entries: Iterable[Entry[T]]) -> OverlapReport[T]:
    entries = list(entries)
    return OverlapReport(nested_groups(entries), shared_cidrs(entries))
