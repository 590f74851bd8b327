"""Compiling a policy into its layout: in full, or against the record of what is loaded.

:func:`compile_full` cuts every rule into pieces. :func:`compile_update` compiles a change
against the record: only the rules whose boxes meet what changed are cut again, an appended rule
against the pieces it overlaps (the cut is canonical, see :mod:`warpcli.host.policy_nft.boxes`).
A change it does not handle (a change inside the ordered suffix, a rule that now falls into too
many pieces) is left to the full load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from warpcli.core.cidr import BITS
from warpcli.core.policy import Policy
from warpcli.host.policy_nft import boxes  # boxes.PIECES_LIMIT, read when used: one value for all
from warpcli.host.policy_nft.boxes import MAPS, Box, PlacedBoxes, box_dims, map_name, overlaps, remainder, rule_boxes
from warpcli.host.policy_nft.layout import Layout, Spec, sig_meta


def _encode(out: list[int], entry: int, bs: Iterable[Box]) -> None:
    for box in bs:
        out.append(entry)
        for lo, hi in box:
            out += (lo, hi)


def decode(flat: list[int], start: int, dims: int) -> dict[int, list[Box]]:
    """Entry -> its boxes, from ``flat[start:]``."""
    stride = 1 + 2 * dims
    out: dict[int, list[Box]] = {}
    for k in range(start, len(flat), stride):
        box = tuple((flat[k + 1 + 2 * d], flat[k + 2 + 2 * d]) for d in range(dims))
        out.setdefault(flat[k], []).append(box)
    return out


def _first_at(flat: list[int], dims: int, entry: int) -> int:
    """The offset of the first run of ``flat`` whose entry is ``entry`` or later (runs are sorted)."""
    stride = 1 + 2 * dims
    lo, hi = 0, len(flat) // stride
    while lo < hi:
        mid = (lo + hi) // 2
        if flat[mid * stride] < entry:
            lo = mid + 1
        else:
            hi = mid
    return lo * stride


def compile_full(spec: Spec, ifname: str) -> Layout:
    """Compile the whole policy (every rule resolved)."""
    rules = spec.rules()
    n = len(rules)
    cut = n
    placed: dict[str, list[tuple[int, list[Box], list[Box]]]] = {}
    for version, ported in MAPS:
        taken = PlacedBoxes(BITS[version])
        got: list[tuple[int, list[Box], list[Box]]] = []
        for i, rule in enumerate(rules):
            if i >= cut:
                break
            if rule is None:
                continue
            bs = rule_boxes(rule, version, ported)
            pieces: list[Box] = []
            for box in bs:
                cut_box = remainder(box, taken.near(box), boxes.PIECES_LIMIT)
                if cut_box is None:
                    cut = i
                    break
                for p in cut_box:
                    taken.add(p)
                pieces += cut_box
            else:
                if bs:
                    got.append((i, bs, pieces))
                continue
            break
        placed[map_name(version, ported)] = got
    flat_pieces: dict[str, list[int]] = {}
    flat_boxes: dict[str, list[int]] = {}
    for name, got in placed.items():
        fp, fb = flat_pieces.setdefault(name, []), flat_boxes.setdefault(name, [])
        for i, bs, pieces in got:
            if i < cut:
                _encode(fp, i, pieces)
                if pieces != bs:
                    _encode(fb, i, bs)
    logs = {r.name: r.action for r in rules if r is not None and r.log}
    return Layout(ifname, spec.default, list(spec.sigs), [i for i, r in enumerate(rules) if r is None], cut, logs,
                  flat_pieces, flat_boxes)


def split(policy: Policy) -> int:
    """How many leading rules go into the maps. A rule that earlier ones would cut into too many
    pieces (a catch-all after thousands of specific rules) starts the ordered suffix instead:
    it and every later rule are checked one nft rule each, in order, after the maps missed.
    Either way the first match decides; the suffix is what costs per packet."""
    return compile_full(Spec.of_policy(policy), "").cut



class _Near:
    """The pieces placed so far (a flat list that grows as the update goes): scanned in full for
    the first few lookups, then indexed (:class:`PlacedBoxes`, fed the runs added since)."""

    SCANS = 8

    def __init__(self, bits: int, dims: int, flat: list[int]) -> None:
        self.bits, self.dims, self.flat = bits, dims, flat
        self.taken: PlacedBoxes | None = None
        self.indexed = 0
        self.scans = 0

    def near(self, box: Box) -> Iterable[Box]:
        flat, dims, stride = self.flat, self.dims, 1 + 2 * self.dims
        if self.taken is None:
            self.scans += 1
            if self.scans > self.SCANS:
                self.taken = PlacedBoxes(self.bits)
        if self.taken is not None:
            for k in range(self.indexed, len(flat), stride):
                self.taken.add(tuple((flat[k + 1 + 2 * d], flat[k + 2 + 2 * d]) for d in range(dims)))
            self.indexed = len(flat)
            return list(self.taken.near(box))
        lo, hi = box[0]
        return [tuple((flat[k + 1 + 2 * d], flat[k + 2 + 2 * d]) for d in range(dims))
                for k in range(0, len(flat), stride) if flat[k + 1] <= hi and lo <= flat[k + 2]]


def _runs(flat: list[int], start: int, stride: int) -> dict[int, tuple[int, int]]:
    """Entry -> (first, end) offsets of its runs in ``flat[start:]``."""
    out: dict[int, tuple[int, int]] = {}
    cur, first = -1, start
    for k in range(start, len(flat), stride):
        if flat[k] != cur:
            if cur >= 0:
                out[cur] = (first, k)
            cur, first = flat[k], k
    if cur >= 0:
        out[cur] = (first, len(flat))
    return out


def _boxes_at(flat: list[int], first: int, end: int, dims: int) -> list[Box]:
    stride = 1 + 2 * dims
    return [tuple((flat[k + 1 + 2 * d], flat[k + 2 + 2 * d]) for d in range(dims)) for k in range(first, end, stride)]


def _copy(out: list[int], flat: list[int], first: int, end: int, stride: int, entry: int) -> None:
    """Runs of ``flat`` appended to ``out`` under another entry number."""
    if flat[first] == entry:
        out += flat[first:end]
        return
    for k in range(first, end, stride):
        out.append(entry)
        out += flat[k + 1:k + stride]


def _increasing(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """The longest run of ``pairs`` (j, i), j increasing, whose i increase too: j -> i."""
    tails: list[int] = []  # tails[k]: index in pairs of the smallest last i of a run of length k+1
    before = [-1] * len(pairs)
    for n, (_, i) in enumerate(pairs):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if pairs[tails[mid]][1] < i:
                lo = mid + 1
            else:
                hi = mid
        before[n] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(n)
        else:
            tails[lo] = n
    out: dict[int, int] = {}
    n = tails[-1] if tails else -1
    while n >= 0:
        out[pairs[n][0]] = pairs[n][1]
        n = before[n]
    return out


@dataclass
class PolicyDelta:
    """The element changes of one update, per map: keys to delete; (box, entry) to add."""

    delete: dict[str, list[Box]] = field(default_factory=dict)
    add: dict[str, list[tuple[Box, int]]] = field(default_factory=dict)
    suffix: list[int] = field(default_factory=list)  #: entries appended to the ordered suffix


def compile_update(a: Layout, spec: Spec) -> tuple[Layout, PolicyDelta] | None:
    """The layout of ``spec`` and the element changes from ``a``'s, computed from the record; None
    when the change is one for the full load (inside the ordered suffix, a rule now cut into too
    many pieces, most rules changed).

    The rules of ``a`` and of ``spec`` are matched by signature: a common head, a common tail, and
    in between the longest run in the same order; the other rules of ``a`` are deleted, those of
    ``spec`` added. A kept rule's pieces are cut again only if its boxes meet the *region* where
    the earlier pieces differ (pieces deleted, added, or changed before it); otherwise they are
    the same as before (the cut is canonical)."""
    sa, sb = a.sigs, spec.sigs
    na, nb = len(sa), len(sb)
    if sb[:na] == sa:
        p = na
    else:
        p = 0
        while p < na and p < nb and sa[p] == sb[p]:
            p += 1
    s = 0
    while s < na - p and s < nb - p and sa[na - 1 - s] == sb[nb - 1 - s]:
        s += 1
    at = {sig: i for i, sig in enumerate(sa[p:na - s], p)}
    middle = _increasing([(j, at[sig]) for j, sig in enumerate(sb[p:nb - s], p) if sig in at])
    shift = nb - na
    inserted = [j for j in range(p, nb - s) if j not in middle]
    back = {i: j for j, i in middle.items()}

    def kept(i: int) -> int | None:
        """Where rule ``i`` of ``a`` is in ``spec`` (None: deleted)."""
        return i + shift if i >= na - s else back.get(i)

    if (na - p - s - len(middle)) + len(inserted) > nb // 2 + 64:
        return None
    delta = PolicyDelta()
    if a.cut < na:  # an ordered suffix: appends only (to the suffix)
        if p < na:
            return None
        dead = list(a.dead) + [j for j in range(na, nb) if spec.rule(j) is None]
        delta.suffix = [j for j in range(na, nb) if spec.rule(j) is not None]
        layout = Layout(a.ifname, spec.default, list(sb), dead, a.cut, {}, a.pieces, a.boxes)
        layout.logs = _logs(layout)
        return layout, delta
    dead = [i for i in a.dead if i < p]
    for i in a.dead:
        if i >= p and (j := kept(i)) is not None:
            dead.append(j)
    dead += [j for j in inserted if spec.rule(j) is None]
    flat_pieces: dict[str, list[int]] = {}
    flat_boxes: dict[str, list[int]] = {}
    for version, ported in MAPS:
        name = map_name(version, ported)
        got = _update_map(a, spec, version, ported, p, kept, inserted)
        if got is None:
            return None
        flat_pieces[name], flat_boxes[name], gone, came = got
        # a rule deleted and added again whose pieces come out as they were (a move that changes
        # nothing it decides): its elements, and their counters, stay
        lost_keys = {(q, *sig_meta(sa[k])): q for q, k in gone}
        won_keys = {(q, *sig_meta(sb[j])): (q, j) for q, j in came}
        both = lost_keys.keys() & won_keys.keys()
        if len(both) < len(lost_keys):
            delta.delete[name] = [q for key, q in lost_keys.items() if key not in both]
        if len(both) < len(won_keys):
            delta.add[name] = [v for key, v in won_keys.items() if key not in both]
    layout = Layout(a.ifname, spec.default, list(sb), sorted(dead), nb, {}, flat_pieces, flat_boxes)
    layout.logs = _logs(layout)
    return layout, delta


def _update_map(a: Layout, spec: Spec, version: int, ported: bool, p: int, kept: Callable[[int], int | None],
                inserted: list[int]) -> tuple[list[int], list[int], list[tuple[Box, int]], list[tuple[Box, int]]] | None:
    """One map of :func:`compile_update`: its pieces and boxes (flat), the pieces gone (with their
    entry in ``a``) and come (with their entry in ``spec``); None: a rule falls into too many."""
    name, dims = map_name(version, ported), box_dims(ported)
    stride = 1 + 2 * dims
    flat_p, flat_b = a.pieces[name], a.boxes[name]
    kp, kb = _first_at(flat_p, dims, p), _first_at(flat_b, dims, p)
    runs_p, runs_b = _runs(flat_p, kp, stride), _runs(flat_b, kb, stride)
    out_p, out_b = flat_p[:kp], flat_b[:kb]
    near = _Near(BITS[version], dims, out_p)
    region: list[Box] = []  # where the earlier pieces of `a` and of `spec` differ
    span = [1 << 128, -1]  # the region's sources, for a quick "no"
    gone: list[tuple[Box, int]] = []
    came: list[tuple[Box, int]] = []

    def changed(bs: list[Box]) -> None:
        for b in bs:
            region.append(b)
            span[0], span[1] = min(span[0], b[0][0]), max(span[1], b[0][1])

    def place(j: int, bs: list[Box]) -> list[Box] | None:
        got: list[Box] = []
        for box in bs:
            cut_box = remainder(box, near.near(box), boxes.PIECES_LIMIT)
            if cut_box is None:
                return None
            _encode(out_p, j, cut_box)
            got += cut_box
        return got

    # the rules of `a` with boxes in this map, and where they went; the added rules, in order
    olds = sorted(runs_p.keys() | runs_b.keys())
    events = sorted([(j, -1) for j in inserted] + [(j, i) for i in olds if (j := kept(i)) is not None])
    behind = 0  # olds[:behind] are behind us

    def passed(i: int) -> None:
        """The rules of `a` deleted before its rule ``i``: their pieces are in the region."""
        nonlocal behind
        while behind < len(olds) and olds[behind] < i:
            k = olds[behind]
            behind += 1
            if kept(k) is None and k in runs_p:
                old = _boxes_at(flat_p, *runs_p[k], dims)
                changed(old)
                gone.extend((q, k) for q in old)

    for j, i in events:
        if i < 0:  # an added rule (or a changed one, or one that moved)
            rule = spec.rule(j)
            if rule is None:
                continue
            bs = rule_boxes(rule, version, ported)
            got = place(j, bs)
            if got is None:
                return None
            if got != bs:
                _encode(out_b, j, bs)
            changed(got)
            came += [(q, j) for q in got]
            continue
        passed(i)
        flat, (first, end) = (flat_b, runs_b[i]) if i in runs_b else (flat_p, runs_p[i])
        touched = False
        if span[1] >= 0:
            for k in range(first, end, stride):
                if flat[k + 1] <= span[1] and span[0] <= flat[k + 2]:
                    box = tuple((flat[k + 1 + 2 * d], flat[k + 2 + 2 * d]) for d in range(dims))
                    if any(overlaps(box, r) for r in region):
                        touched = True
                        break
        if not touched:
            if i in runs_p:
                _copy(out_p, flat_p, *runs_p[i], stride, j)
            if i in runs_b:
                _copy(out_b, flat_b, *runs_b[i], stride, j)
            continue
        old = _boxes_at(flat_p, *runs_p[i], dims) if i in runs_p else []
        bs = _boxes_at(flat, first, end, dims)
        got = place(j, bs)
        if got is None:
            return None
        if got != bs:
            _encode(out_b, j, bs)
        if got != old:
            was, now = set(old), set(got)
            lost, won = [q for q in old if q not in now], [q for q in got if q not in was]
            changed(lost)
            changed(won)
            gone += [(q, i) for q in lost]
            came += [(q, j) for q in won]
    passed(len(a.sigs))
    return out_p, out_b, gone, came


def _logs(layout: Layout) -> dict[str, str]:
    dead = set(layout.dead)
    out = {}
    for i, s in enumerate(layout.sigs):
        if s[1] == "L" and i not in dead:
            name, action, _ = sig_meta(s)
            out[name] = action
    return out

