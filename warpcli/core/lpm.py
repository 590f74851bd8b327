"""Longest-prefix match over a frozen set of prefixes.

The nested prefixes are flattened into disjoint intervals: ``starts[i]`` is where
interval ``i`` begins and ``values[i]`` the payload index of the most specific
prefix covering it (-1 for none). A lookup is one ``bisect``.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Generic, Iterable, Sequence, TypeVar

from warpcli.core.cidr import BITS

T = TypeVar("T")


class _Flat:
    __slots__ = ("starts", "values")

    def __init__(self, version: int, prefixes: list[tuple[int, int, int]]) -> None:
        # prefixes: (lo, prefixlen, payload index), any order
        prefixes.sort()
        bits = BITS[version]
        starts: list[int] = []
        values: list[int] = []

        def emit(pos: int, val: int) -> None:
            if starts and starts[-1] == pos:
                values[-1] = val
                if len(values) > 1 and values[-2] == val:
                    starts.pop()
                    values.pop()
            elif not values or values[-1] != val:
                starts.append(pos)
                values.append(val)

        stack: list[tuple[int, int]] = []  # (hi, payload)
        for lo, plen, idx in prefixes:
            while stack and stack[-1][0] < lo:
                hi, _ = stack.pop()
                emit(hi + 1, stack[-1][1] if stack else -1)
            emit(lo, idx)
            stack.append((lo | ((1 << (bits - plen)) - 1), idx))
        while stack:
            hi, _ = stack.pop()
            emit(hi + 1, stack[-1][1] if stack else -1)
        if version == 4:
            self.starts: Sequence[int] = array("Q", starts)
        else:
            self.starts = starts
        self.values = array("q", values)

    def find(self, address: int) -> int:
        i = bisect_right(self.starts, address) - 1
        return -1 if i < 0 else self.values[i]


class PrefixTable(Generic[T]):
    """Longest-prefix match: build once, look up many times.

    >>> t = PrefixTable([((4, 0x0A000000, 8), "a"), ((4, 0x0A000000, 24), "b")])
    >>> t.lookup(4, 0x0A000007), t.lookup(4, 0x0A010000), t.lookup(4, 0x0B000000)
    ('b', 'a', None)
    """

    def __init__(self, items: Iterable[tuple[tuple[int, int, int], T]]) -> None:
        self._payloads: list[T] = []
        per_version: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        for (version, lo, prefixlen), payload in items:
            per_version[version].append((lo, prefixlen, len(self._payloads)))
            self._payloads.append(payload)
        self._flat = {v: _Flat(v, p) for v, p in per_version.items()}

    def lookup(self, version: int, address: int) -> T | None:
        i = self._flat[version].find(address)
        return None if i < 0 else self._payloads[i]
