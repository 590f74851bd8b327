"""First match wins -> disjoint boxes, and the model -> boxes.

A rule's match space is a union of boxes: one inclusive range per dimension (source, destination,
IP protocol, and for the maps keyed on a port the destination port). First match wins in the
model; a map lookup has no order, so the ordered rules are turned into disjoint boxes first
(:func:`disjoint`): each rule keeps only the part of its match space that no earlier rule took.

The pieces are canonical: a box is cut by the earlier pieces it overlaps in sorted order, so a
rule's pieces depend only on its boxes and on the earlier pieces they meet. That is what makes
updates incremental (:mod:`warpcli.host.policy_nft.compiler`).
"""

from __future__ import annotations

from collections.abc import Iterable

from warpcli.core.cidr import BITS
from warpcli.core.policy import Policy, Rule

Box = tuple[tuple[int, int], ...]  #: one inclusive range per dimension
#: the four maps: (IP version, keyed on a destination port)
MAPS = ((4, True), (4, False), (6, True), (6, False))


def map_name(version: int, ported: bool) -> str:
    return f"{'p' if ported else 'o'}{version}"


def box_dims(ported: bool) -> int:
    return 4 if ported else 3


# -- first match wins -> disjoint boxes -------------------------------------------------------
def overlaps(a: Box, b: Box) -> bool:
    return all(alo <= bhi and blo <= ahi for (alo, ahi), (blo, bhi) in zip(a, b, strict=True))


def _subtract(a: Box, b: Box) -> list[Box]:
    """``a`` minus ``b`` (which overlaps it), as disjoint boxes."""
    out: list[Box] = []
    cur = list(a)
    for d, ((alo, ahi), (blo, bhi)) in enumerate(zip(a, b, strict=True)):
        if alo < blo:
            out.append((*cur[:d], (alo, blo - 1), *cur[d + 1:]))
        if bhi < ahi:
            out.append((*cur[:d], (bhi + 1, ahi), *cur[d + 1:]))
        cur[d] = (max(alo, blo), min(ahi, bhi))
    return out


def remainder(box: Box, others: Iterable[Box], limit: int | None) -> list[Box] | None:
    """``box`` minus the (disjoint) ``others``; None when it falls into more than ``limit`` pieces.

    Canonical: the others that overlap the box are subtracted in sorted order, so the pieces
    depend on that set only, not on the order in which it was found."""
    pieces = [box]
    for other in sorted(o for o in others if overlaps(box, o)):
        pieces = [q for p in pieces for q in (_subtract(p, other) if overlaps(p, other) else (p,))]
        if not pieces:
            break
        if limit is not None and len(pieces) > limit:
            return None
    return pieces


class PlacedBoxes:
    """The boxes placed so far, bucketed by the first dimension (the source) at a few prefix
    lengths, each box at the longest one whose bucket holds its whole source range, so that a
    box is compared only with the boxes whose sources can meet its own."""

    def __init__(self, bits: int) -> None:
        self.shifts = [bits - n for n in ((8, 16, 24) if bits == 32 else (16, 32, 48, 64))]
        self.buckets: list[dict[int, list[Box]]] = [{} for _ in self.shifts]
        self.wide: list[Box] = []

    def add(self, box: Box) -> None:
        lo, hi = box[0]
        for shift, buckets in zip(reversed(self.shifts), reversed(self.buckets), strict=True):
            if lo >> shift == hi >> shift:
                buckets.setdefault(lo >> shift, []).append(box)
                return
        self.wide.append(box)

    def near(self, box: Box) -> Iterable[Box]:
        lo, hi = box[0]
        for shift, buckets in zip(self.shifts, self.buckets, strict=True):
            first, last = lo >> shift, hi >> shift
            if last - first <= 256:
                for k in range(first, last + 1):
                    yield from buckets.get(k, ())
            else:
                for boxes in buckets.values():
                    yield from boxes
        yield from self.wide


#: a rule whose match space earlier rules cut into more pieces than this ends the part of the
#: policy compiled into maps (see :func:`warpcli.host.policy_nft.compiler.split`). The compiler
#: and the record read it as ``boxes.PIECES_LIMIT`` when they run, so that one value holds for
#: both (the tests lower it)
PIECES_LIMIT = 64


def disjoint(boxes: Iterable[tuple[Box, int]], bits: int,
             limit: int | None = None) -> tuple[list[tuple[Box, int]], int | None]:
    """Ordered (box, rule) pairs -> disjoint (box, rule) pairs: a point gets the rule of the
    first box that holds it. ``bits``: the width of the first dimension (32 or 128).

    With ``limit``: stop at the first rule one of whose boxes falls into more pieces than
    that, and return its index as well (None: every box was placed)."""
    taken = PlacedBoxes(bits)
    out: list[tuple[Box, int]] = []
    for box, rule in boxes:
        pieces = remainder(box, taken.near(box), limit)
        if pieces is None:
            return [(b, r) for b, r in out if r < rule], rule
        for p in pieces:
            out.append((p, rule))
            taken.add(p)
    return out, None


# -- the model -> boxes ----------------------------------------------------------------------
_PORTED = {"tcp": [(6, 6)], "udp": [(17, 17)], "any": [(6, 6), (17, 17)], "icmp": []}


def _other(protocol: str, version: int) -> list[tuple[int, int]]:
    if protocol == "icmp":
        return [(1, 1)] if version == 4 else [(58, 58)]
    return [(0, 255)] if protocol == "any" else []


def _ranges(nets, version: int) -> list[tuple[int, int]]:
    if not nets:
        return [(0, (1 << BITS[version]) - 1)]
    return [(n.lo, n.hi) for n in nets if n.version == version]


def rule_boxes(rule: Rule, version: int, ported: bool) -> list[Box]:
    srcs, dsts = _ranges(rule.sources, version), _ranges(rule.destinations, version)
    if ported:
        ports = list(rule.ports) or [(0, 65535)]
        return [(s, d, p, q) for s in srcs for d in dsts for p in _PORTED[rule.protocol] for q in ports]
    return [(s, d, p) for s in srcs for d in dsts for p in _other(rule.protocol, version)]


def elements(policy: Policy, version: int, ported: bool, upto: int | None = None) -> list[tuple[Box, int]]:
    """The map elements of the first ``upto`` rules (all by default)."""
    rules = policy.rules if upto is None else policy.rules[:upto]
    ordered = ((box, i) for i, rule in enumerate(rules) for box in rule_boxes(rule, version, ported))
    return disjoint(ordered, BITS[version])[0]

