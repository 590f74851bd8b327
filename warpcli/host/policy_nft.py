"""A vnet's network policy enforced at its hub, in an nftables table of warpcli's own.

What warpcli owns: the table ``inet warpcli_policy_IFNAME`` (one per hub interface). Its
base chain ``forward`` (hook forward, priority filter) looks only at packets that arrive on
the hub interface:

- a packet in the reply direction of a tracked connection passes, and so does an ICMP error
  related to one (stateful: the server side of an allowed flow needs no rule of its own);
- every other packet (the first of a connection and each later one in the original
  direction) is looked up **once** in a verdict map keyed on
  ``saddr . daddr . l4proto . dport`` (TCP, UDP) or ``saddr . daddr . l4proto`` (the rest),
  one pair of maps per IP family; each element carries a counter and its rule's name, and
  decides: accept, drop, or (``--log`` rules) a goto to the rule's chain ``log_HASH``, which
  counts and logs new connections, then gives the verdict;
- a miss goes through the ordered suffix (chain ``sfx``, see below), then to the default
  chain ``dflt``.

First match wins in the model; a map lookup has no order, so the compiler turns the ordered
rules into disjoint boxes first (:func:`disjoint`): each rule keeps only the part of its
match space that no earlier rule took. The kernel's cost per packet is then one set lookup
whatever the number of rules, and checking each packet of the original direction (not only
the first) is what cuts an established connection that a new rule denies. A rule that earlier
rules would cut into too many pieces starts the *ordered suffix*: it and every later rule are
one nft rule each in ``sfx``, checked in order after the maps missed.

The pieces are canonical: a box is cut by the earlier pieces it overlaps in sorted order, so a
rule's pieces depend only on its boxes and on the earlier pieces they meet. That is what makes
updates incremental (:func:`plan`). The hub keeps a record of what it loaded (each rule's
signature, boxes and pieces; ``RUN_DIR/policy-IFNAME.record``); a change is compiled against it
(only the rules whose boxes meet what changed are cut again, an appended rule against the pieces
it overlaps) and sent as one nft transaction of ``delete element``/``add element`` and chain
changes: unchanged elements keep their counters, an established connection that stays allowed
goes on, one that a new rule denies stops at its next packet. One writer at a time (a lock file
beside the record; a plan made from a record that changed meanwhile is not applied as a delta).
The record is removed before a transaction and written after it, and names the *generation* of the table it describes (an empty
chain ``gen_TOKEN``, set by each full load; ``nft list chains`` reads it without reading the
maps), so a crash, a table deleted or loaded by someone else, or a change this path does not
handle (a change inside the ordered suffix, a rule that now falls into too many pieces) all end
in the full load: the whole table replaced in one transaction (add, delete, add: a table that a
crash left behind is adopted the same way), its counters from zero. ``remove`` deletes the table
and the record. Denied packets are dropped (not rejected): the client sees a time-out, as behind
Cloudflare Gateway.
"""

from __future__ import annotations

import gc
import hashlib
import json
import marshal
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from warpcli.core.cidr import BITS, format_address
from warpcli.core.errors import InvalidInput
from warpcli.core.policy import Policy, Rule
from warpcli.host.errors import HostError
from warpcli.host.nft import run_nft

FAMILY = "inet"
CHAIN = "forward"
DEFAULT_CHAIN = "dflt"
SUFFIX_CHAIN = "sfx"
LOG_CHAIN_PREFIX = "log_"
GEN_CHAIN_PREFIX = "gen_"
DEFAULT_NAME = "(default)"
LOG_PREFIX = "warpcli-policy"
FORMAT = 2  #: of the table and of its record: another value is loaded in full

Box = tuple[tuple[int, int], ...]  #: one inclusive range per dimension
#: the four maps: (IP version, keyed on a destination port)
MAPS = ((4, True), (4, False), (6, True), (6, False))


def table(ifname: str) -> str:
    return f"warpcli_policy_{ifname}"


# -- first match wins -> disjoint boxes -------------------------------------------------------
def _overlaps(a: Box, b: Box) -> bool:
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


def _cut(box: Box, others: Iterable[Box], limit: int | None) -> list[Box] | None:
    """``box`` minus the (disjoint) ``others``; None when it falls into more than ``limit`` pieces.

    Canonical: the others that overlap the box are subtracted in sorted order, so the pieces
    depend on that set only, not on the order in which it was found."""
    pieces = [box]
    for other in sorted(o for o in others if _overlaps(box, o)):
        pieces = [q for p in pieces for q in (_subtract(p, other) if _overlaps(p, other) else (p,))]
        if not pieces:
            break
        if limit is not None and len(pieces) > limit:
            return None
    return pieces


class _Taken:
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
#: policy compiled into maps (see :func:`split`)
PIECES_LIMIT = 64


def disjoint(boxes: Iterable[tuple[Box, int]], bits: int,
             limit: int | None = None) -> tuple[list[tuple[Box, int]], int | None]:
    """Ordered (box, rule) pairs -> disjoint (box, rule) pairs: a point gets the rule of the
    first box that holds it. ``bits``: the width of the first dimension (32 or 128).

    With ``limit``: stop at the first rule one of whose boxes falls into more pieces than
    that, and return its index as well (None: every box was placed)."""
    taken = _Taken(bits)
    out: list[tuple[Box, int]] = []
    for box, rule in boxes:
        pieces = _cut(box, taken.near(box), limit)
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


def split(policy: Policy) -> int:
    """How many leading rules go into the maps. A rule that earlier ones would cut into too many
    pieces (a catch-all after thousands of specific rules) starts the ordered suffix instead:
    it and every later rule are checked one nft rule each, in order, after the maps missed.
    Either way the first match decides; the suffix is what costs per packet."""
    return _full(Spec.of_policy(policy), "").cut


# -- what is loaded: signatures, the compiled layout, the record ------------------------------
def _sig(action: str, log: bool, name: str, protocol: str, ports: str, sources: str, destinations: str) -> str:
    """A rule's signature: equal signatures, equal elements. Action, --log and the name come first
    (the name with its length), so that :func:`_sig_meta` reads them back."""
    return f"{action[:1]}{'L' if log else '-'}{len(name)}:{name}\x1f{protocol}\x1f{ports}\x1f{sources}\x1f{destinations}"


def _sig_meta(sig: str) -> tuple[str, str, bool]:
    """(name, action, log) of a signature."""
    colon = sig.index(":", 2)
    n = int(sig[2:colon])
    return sig[colon + 1:colon + 1 + n], "allow" if sig[0] == "a" else "deny", sig[1] == "L"


def _rule_sig(rule: Rule) -> str:
    return _sig(rule.action, rule.log, rule.name, rule.protocol, ",".join(f"{lo}-{hi}" for lo, hi in rule.ports),
                "\x1e".join(map(str, rule.sources)), "\x1e".join(map(str, rule.destinations)))


class Spec:
    """The policy to load as the compiler sees it: the default action, one signature per stored
    rule (its name, action, --log, protocol, ports and the networks it names: what decides its
    elements) and each rule's model, resolved only when a change needs it (None: a rule that names
    only tunnels without routes, which matches nothing)."""

    def __init__(self, default: str, sigs: list[str], one: Callable[[int], Rule | None],
                 every: Callable[[], list[Rule | None]]) -> None:
        self.default = default
        self.sigs = sigs
        self._one = one
        self._every = every
        self._rules: dict[int, Rule | None] = {}
        self._all: list[Rule | None] | None = None

    def rule(self, i: int) -> Rule | None:
        if self._all is not None:
            return self._all[i]
        if i not in self._rules:
            self._rules[i] = self._one(i)
        return self._rules[i]

    def rules(self) -> list[Rule | None]:
        if self._all is None:
            self._all = self._every()
        return self._all

    def fingerprint(self, ifname: str) -> str:
        """What decides the table's contents: equal fingerprints, nothing to load."""
        h = hashlib.sha256(f"{FORMAT}|{ifname}|{PIECES_LIMIT}|{self.default}\n".encode())
        h.update("\n".join(self.sigs).encode())
        return h.hexdigest()[:16]

    @classmethod
    def of_policy(cls, policy: Policy) -> Spec:
        rules: list[Rule | None] = list(policy.rules)
        return cls(policy.default, [_rule_sig(r) for r in policy.rules], rules.__getitem__, lambda: rules)

    @classmethod
    def of_document(cls, doc: dict, tunnel_networks: Callable[[str], list]) -> Spec:
        """From the stored document (``get_policy_document``): signatures straight from the rule
        dicts, without building a model rule per rule. A tunnel name stands for its networks."""
        from warpcli.core.policies import PolicySpec, RuleSpec, resolve

        default = doc.get("default", "allow")
        if default not in ("allow", "deny"):
            raise InvalidInput(f"default action {default!r} is not allow or deny")
        stored = list(doc.get("rules", ()))
        try:
            tunnels = {t for r in stored for key in ("sources", "destinations") for t in (r.get(key) or ())
                       if "/" not in t}  # as resolve() tells a tunnel name from a CIDR
            named = {t: f"{t}=" + "\x1d".join(str(n) for n in tunnel_networks(t)) for t in tunnels}

            join = "\x1e".join
            ends: Callable[[Iterable[str]], str] = (lambda texts: join([named.get(t, t) for t in texts])) \
                if named else join
            comma = ",".join
            sigs = [f"{r['action'][:1]}{'L' if r.get('log') else '-'}{len(r['name'])}:{r['name']}\x1f"  # as _sig()
                    f"{r.get('protocol', 'any')}\x1f{comma(r.get('ports') or ())}\x1f{ends(r.get('sources') or ())}"
                    f"\x1f{ends(r.get('destinations') or ())}" for r in stored]
            names = [r["name"] for r in stored]
        except (KeyError, TypeError, AttributeError):
            raise InvalidInput("a policy document is malformed") from None
        if len(set(names)) != len(names):
            Policy(default, tuple(Rule(n, "allow") for n in names))  # says which name is twice

        def one(i: int) -> Rule | None:
            try:
                spec = PolicySpec(default, (RuleSpec.from_dict(stored[i]),))
            except (KeyError, TypeError, AttributeError, ValueError):
                raise InvalidInput("a policy document is malformed") from None
            got = resolve(spec, tunnel_networks).policy.rules
            return got[0] if got else None

        def every() -> list[Rule | None]:
            resolved = resolve(PolicySpec.from_dict({"default": default, "rules": stored}), tunnel_networks)
            out: list[Rule | None] = [None] * len(stored)
            for k, i in enumerate(resolved.index):
                out[i] = resolved.policy.rules[k]
            return out

        return cls(default, sigs, one, every)


@dataclass
class Layout:
    """What the table holds, as much as the next change is computed from: kept as the record.

    ``pieces[map]``/``boxes[map]`` are flat integer lists, one run per box in entry order:
    the entry (the rule's index in ``sigs``), then low and high of each dimension. ``pieces``
    are the map's elements; ``boxes`` the rule's own boxes, for the rules that earlier ones cut
    (for the others they are their pieces). Entries from ``cut`` on are the ordered suffix."""

    ifname: str
    default: str
    sigs: list[str]
    dead: list[int]
    cut: int
    logs: dict[str, str]  #: rule name -> action, for each rule with a log chain
    pieces: dict[str, list[int]]
    boxes: dict[str, list[int]]
    gen: str = ""
    fingerprint: str = ""
    #: the record file this was read from (inode, mtime, size): changed meanwhile, the plan is stale
    stamp: tuple[int, int, int] | None = field(default=None, compare=False)

    @property
    def live(self) -> int:
        return len(self.sigs) - len(self.dead)

    def to_bytes(self) -> bytes:
        """The record: a header with the SHA-256 of the payload, then the payload in :mod:`marshal`
        (plain lists, strings and integers; at 10,000 rules five times quicker both ways than JSON,
        which `hub up` pays on every change)."""
        payload = marshal.dumps({"format": FORMAT, "limit": PIECES_LIMIT, "ifname": self.ifname, "gen": self.gen,
                                 "fingerprint": self.fingerprint, "default": self.default, "sigs": self.sigs,
                                 "dead": self.dead, "cut": self.cut, "logs": self.logs, "pieces": self.pieces,
                                 "boxes": self.boxes})
        return _RECORD_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload

    @classmethod
    def from_bytes(cls, data: bytes, ifname: str) -> Layout | None:
        """The record written by :meth:`to_bytes`; None for anything else (another format, a torn
        or foreign file: only a payload whose digest matches is unmarshalled)."""
        head, sep, payload = data.partition(b"\n")
        if not sep or head != _RECORD_MAGIC + hashlib.sha256(payload).hexdigest().encode():
            return None
        try:
            d = marshal.loads(payload)
            if d["format"] != FORMAT or d["limit"] != PIECES_LIMIT or d["ifname"] != ifname:
                return None
            layout = cls(ifname, d["default"], d["sigs"], d["dead"], d["cut"], d["logs"], d["pieces"], d["boxes"],
                         d["gen"], d["fingerprint"])
        except (ValueError, EOFError, KeyError, TypeError):
            return None
        strides = {_map_name(v, p): 1 + 2 * _dims(p) for v, p in MAPS}
        if (set(layout.pieces) != strides.keys() or set(layout.boxes) != strides.keys()
                or not 0 <= layout.cut <= len(layout.sigs)
                or any(len(flat[name]) % stride for flat in (layout.pieces, layout.boxes)
                       for name, stride in strides.items())):
            return None
        return layout


_RECORD_MAGIC = f"warpcli policy record {FORMAT} sha256:".encode()


def record_path(run_dir: Path, ifname: str) -> Path:
    return Path(run_dir) / f"policy-{ifname}.record"


@contextmanager
def without_gc() -> Iterator[None]:
    """Parsing a large JSON document makes many containers that all live: the cyclic collector's
    passes over them find nothing and cost about a third of the parse, and once they are counted
    as survivors, a full collection later. So: no collection while parsing, and what survives is
    moved straight to the oldest generation (freeze, then unfreeze), uncounted."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was:
            gc.enable()


def read_record(run_dir: Path, ifname: str) -> Layout | None:
    """The record of what the table holds; None when there is none or it is not usable."""
    try:
        with open(record_path(run_dir, ifname), "rb") as f:
            stamp = _stamp(os.fstat(f.fileno()))
            text = f.read()
    except OSError:
        return None
    layout = Layout.from_bytes(text, ifname)
    if layout is not None:
        layout.stamp = stamp
    return layout


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_mtime_ns, st.st_size


def _stamp_of(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


@contextmanager
def _locked(run_dir: Path | None, ifname: str) -> Iterator[None]:
    """One writer at a time of a hub's table and record (`hub up --follow` and a `hub up` by
    hand share the run directory): a plan made from a record that changed meanwhile is redone."""
    if run_dir is None:
        yield
        return
    import fcntl

    try:
        fd = os.open(Path(run_dir) / f"policy-{ifname}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise HostError(f"cannot lock {run_dir} ({exc.strerror})", hint="check WARPCLI_RUN_DIR / run_dir") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_record(path: Path, layout: Layout) -> None:
    """Temp file and rename, without fsync: the record describes kernel state, which a machine
    crash loses as well; a torn record does not parse and means a full load."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(layout.to_bytes())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HostError(f"cannot write {path} ({exc.strerror})", hint="check WARPCLI_RUN_DIR / run_dir") from None


# -- compiling: in full, or against the record -------------------------------------------------
def _dims(ported: bool) -> int:
    return 4 if ported else 3


def _encode(out: list[int], entry: int, boxes: Iterable[Box]) -> None:
    for box in boxes:
        out.append(entry)
        for lo, hi in box:
            out += (lo, hi)


def _decode(flat: list[int], start: int, dims: int) -> dict[int, list[Box]]:
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


def _full(spec: Spec, ifname: str) -> Layout:
    """Compile the whole policy (every rule resolved)."""
    rules = spec.rules()
    n = len(rules)
    cut = n
    placed: dict[str, list[tuple[int, list[Box], list[Box]]]] = {}
    for version, ported in MAPS:
        taken = _Taken(BITS[version])
        got: list[tuple[int, list[Box], list[Box]]] = []
        for i, rule in enumerate(rules):
            if i >= cut:
                break
            if rule is None:
                continue
            boxes = rule_boxes(rule, version, ported)
            pieces: list[Box] = []
            for box in boxes:
                cut_box = _cut(box, taken.near(box), PIECES_LIMIT)
                if cut_box is None:
                    cut = i
                    break
                for p in cut_box:
                    taken.add(p)
                pieces += cut_box
            else:
                if boxes:
                    got.append((i, boxes, pieces))
                continue
            break
        placed[_map_name(version, ported)] = got
    flat_pieces: dict[str, list[int]] = {}
    flat_boxes: dict[str, list[int]] = {}
    for name, got in placed.items():
        fp, fb = flat_pieces.setdefault(name, []), flat_boxes.setdefault(name, [])
        for i, boxes, pieces in got:
            if i < cut:
                _encode(fp, i, pieces)
                if pieces != boxes:
                    _encode(fb, i, boxes)
    logs = {r.name: r.action for r in rules if r is not None and r.log}
    return Layout(ifname, spec.default, list(spec.sigs), [i for i, r in enumerate(rules) if r is None], cut, logs,
                  flat_pieces, flat_boxes)


class _Near:
    """The pieces placed so far (a flat list that grows as the update goes): scanned in full for
    the first few lookups, then indexed (:class:`_Taken`, fed the runs added since)."""

    SCANS = 8

    def __init__(self, bits: int, dims: int, flat: list[int]) -> None:
        self.bits, self.dims, self.flat = bits, dims, flat
        self.taken: _Taken | None = None
        self.indexed = 0
        self.scans = 0

    def near(self, box: Box) -> Iterable[Box]:
        flat, dims, stride = self.flat, self.dims, 1 + 2 * self.dims
        if self.taken is None:
            self.scans += 1
            if self.scans > self.SCANS:
                self.taken = _Taken(self.bits)
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
class _Delta:
    """The element changes of one update, per map: keys to delete; (box, entry) to add."""

    delete: dict[str, list[Box]] = field(default_factory=dict)
    add: dict[str, list[tuple[Box, int]]] = field(default_factory=dict)
    suffix: list[int] = field(default_factory=list)  #: entries appended to the ordered suffix


def _update(a: Layout, spec: Spec) -> tuple[Layout, _Delta] | None:
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
    delta = _Delta()
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
    pieces: dict[str, list[int]] = {}
    boxes: dict[str, list[int]] = {}
    for version, ported in MAPS:
        name = _map_name(version, ported)
        got = _update_map(a, spec, version, ported, p, kept, inserted)
        if got is None:
            return None
        pieces[name], boxes[name], gone, came = got
        # a rule deleted and added again whose pieces come out as they were (a move that changes
        # nothing it decides): its elements, and their counters, stay
        lost_keys = {(q, *_sig_meta(sa[k])): q for q, k in gone}
        won_keys = {(q, *_sig_meta(sb[j])): (q, j) for q, j in came}
        both = lost_keys.keys() & won_keys.keys()
        if len(both) < len(lost_keys):
            delta.delete[name] = [q for key, q in lost_keys.items() if key not in both]
        if len(both) < len(won_keys):
            delta.add[name] = [v for key, v in won_keys.items() if key not in both]
    layout = Layout(a.ifname, spec.default, list(sb), sorted(dead), nb, {}, pieces, boxes)
    layout.logs = _logs(layout)
    return layout, delta


def _update_map(a: Layout, spec: Spec, version: int, ported: bool, p: int, kept: Callable[[int], int | None],
                inserted: list[int]) -> tuple[list[int], list[int], list[tuple[Box, int]], list[tuple[Box, int]]] | None:
    """One map of :func:`_update`: its pieces and boxes (flat), the pieces gone (with their
    entry in ``a``) and come (with their entry in ``spec``); None: a rule falls into too many."""
    name, dims = _map_name(version, ported), _dims(ported)
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
            cut_box = _cut(box, near.near(box), PIECES_LIMIT)
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
                    if any(_overlaps(box, r) for r in region):
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
            name, action, _ = _sig_meta(s)
            out[name] = action
    return out


# -- nftables JSON ---------------------------------------------------------------------------
_TYPES = {4: "ipv4_addr", 6: "ipv6_addr"}
_PROTO = {4: "ip", 6: "ip6"}


def _map_name(version: int, ported: bool) -> str:
    return f"{'p' if ported else 'o'}{version}"


def _key(box: Box, version: int) -> dict:
    (slo, shi), (dlo, dhi), *rest = box
    parts: list = [{"range": [format_address(version, slo), format_address(version, shi)]},
                   {"range": [format_address(version, dlo), format_address(version, dhi)]}]
    parts += [{"range": [lo, hi]} for lo, hi in rest]
    return {"concat": parts}


def _match(left: dict, right, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def log_chain(name: str) -> str:
    """The chain of a ``--log`` rule (named after the rule, whatever its place)."""
    return LOG_CHAIN_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def _final(action: str) -> dict:
    return {"accept": None} if action == "allow" else {"drop": None}


def _verdict(name: str, action: str, log: bool) -> dict:
    return {"goto": {"target": log_chain(name)}} if log else _final(action)


def _base(ifname: str) -> dict:
    return {"family": FAMILY, "table": table(ifname)}


def _log_rules(ifname: str, name: str, action: str) -> list[dict]:
    """A log chain's two rules: new connections counted (the count of logged connections) and
    logged; then the verdict."""
    base, chain = _base(ifname), log_chain(name)
    prefix = f"{LOG_PREFIX} {action} {name}: "[:120]
    return [{"add": {"rule": {**base, "chain": chain, "comment": name, "expr": [
                _match({"ct": {"key": "state"}}, "new", "in"), {"counter": {"packets": 0, "bytes": 0}},
                {"log": {"prefix": prefix}}]}}},
            {"add": {"rule": {**base, "chain": chain, "expr": [_final(action)]}}}]


def _default_rule(ifname: str, default: str) -> dict:
    return {"add": {"rule": {**_base(ifname), "chain": DEFAULT_CHAIN, "comment": DEFAULT_NAME,
                             "expr": [{"counter": {"packets": 0, "bytes": 0}}, _final(default)]}}}


def _elements(ifname: str, version: int, ported: bool, items: Iterable[tuple[Box, str, str, bool]]) -> dict:
    elems = [[{"elem": {"val": _key(box, version), "counter": {"packets": 0, "bytes": 0}, "comment": name}},
              _verdict(name, action, log)] for box, name, action, log in items]
    return {"add": {"element": {**_base(ifname), "name": _map_name(version, ported), "elem": elems}}}


def _suffix_rules(ifname: str, rule: Rule) -> list[dict]:
    return [{"add": {"rule": {**_base(ifname), "chain": SUFFIX_CHAIN, "comment": rule.name, "expr": expr}}}
            for expr in _suffix_rule(rule)]


def _full_commands(layout: Layout, rules: list[Rule | None], ifname: str, gen: str) -> list[dict]:
    """The whole table, replacing any table of that name, as one transaction."""
    t = table(ifname)
    base = _base(ifname)
    cmds: list[dict] = [{"add": {"table": {"family": FAMILY, "name": t}}},
                        {"delete": {"table": {"family": FAMILY, "name": t}}},
                        {"add": {"table": {"family": FAMILY, "name": t}}}]
    for name, action in layout.logs.items():
        cmds.append({"add": {"chain": {**base, "name": log_chain(name)}}})
        cmds += _log_rules(ifname, name, action)
    cmds.append({"add": {"chain": {**base, "name": DEFAULT_CHAIN}}})
    cmds.append(_default_rule(ifname, layout.default))
    cmds.append({"add": {"chain": {**base, "name": SUFFIX_CHAIN}}})
    for rule in rules[layout.cut:]:
        if rule is not None:
            cmds += _suffix_rules(ifname, rule)
    for version, ported in MAPS:
        fields = [_TYPES[version], _TYPES[version], "inet_proto"] + (["inet_service"] if ported else [])
        name = _map_name(version, ported)
        m = {**base, "name": name, "type": fields, "map": "verdict", "flags": ["interval"],
             "stmt": [{"counter": None}]}
        cmds.append({"add": {"map": m}})
        items = []
        for i, boxes in _decode(layout.pieces[name], 0, _dims(ported)).items():
            rule = rules[i]
            assert rule is not None
            items += [(box, rule.name, rule.action, rule.log) for box in boxes]
        if items:
            cmds.append(_elements(ifname, version, ported, items))
    cmds.append({"add": {"chain": {**base, "name": GEN_CHAIN_PREFIX + gen}}})
    cmds.append({"add": {"chain": {**base, "name": CHAIN, "type": "filter", "hook": "forward", "prio": 0,
                                   "policy": "accept"}}})
    forward = [
        [_match({"meta": {"key": "iifname"}}, ifname, "!="), {"accept": None}],
        [_match({"ct": {"key": "direction"}}, "reply"), {"accept": None}],
        [_match({"ct": {"key": "state"}}, "related", "in"), {"accept": None}],
    ]
    for version in (4, 6):
        p = _PROTO[version]
        addrs = [{"payload": {"protocol": p, "field": "saddr"}}, {"payload": {"protocol": p, "field": "daddr"}},
                 {"meta": {"key": "l4proto"}}]
        family = _match({"meta": {"key": "nfproto"}}, f"ipv{version}")
        is_ported = _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]})
        forward.append([family, is_ported, {"vmap": {"key": {"concat": [
            *addrs, {"payload": {"protocol": "th", "field": "dport"}}]}, "data": f"@{_map_name(version, True)}"}}])
        not_ported = _match({"meta": {"key": "l4proto"}}, {"set": ["tcp", "udp"]}, "!=")
        forward.append([family, not_ported,
                        {"vmap": {"key": {"concat": addrs}, "data": f"@{_map_name(version, False)}"}}])
    forward.append([{"jump": {"target": SUFFIX_CHAIN}}])
    forward.append([{"goto": {"target": DEFAULT_CHAIN}}])
    cmds += [{"add": {"rule": {**base, "chain": CHAIN, "expr": expr}}} for expr in forward]
    return cmds


def _delta_commands(a: Layout, b: Layout, delta: _Delta, spec: Spec, ifname: str) -> list[dict]:
    """One transaction from ``a``'s table to ``b``'s: elements deleted, log chains deleted,
    refilled (the action changed) or added, elements added, the default, suffix rules appended."""
    base = _base(ifname)
    cmds: list[dict] = []
    for version, ported in MAPS:
        keys = delta.delete.get(_map_name(version, ported))
        if keys:
            cmds.append({"delete": {"element": {**base, "name": _map_name(version, ported),
                                                "elem": [_key(q, version) for q in keys]}}})
    for name in a.logs.keys() - b.logs.keys():
        cmds.append({"delete": {"chain": {**base, "name": log_chain(name)}}})
    for name, action in b.logs.items():
        if name not in a.logs:
            cmds.append({"add": {"chain": {**base, "name": log_chain(name)}}})
        elif a.logs[name] != action:
            cmds.append({"flush": {"chain": {**base, "name": log_chain(name)}}})
        else:
            continue
        cmds += _log_rules(ifname, name, action)
    for version, ported in MAPS:
        added = delta.add.get(_map_name(version, ported))
        if added:
            cmds.append(_elements(ifname, version, ported,
                                  ((q, *_sig_meta(b.sigs[j])) for q, j in added)))
    if a.default != b.default:
        cmds.append({"flush": {"chain": {**base, "name": DEFAULT_CHAIN}}})
        cmds.append(_default_rule(ifname, b.default))
    for j in delta.suffix:
        rule = spec.rule(j)
        assert rule is not None
        cmds += _suffix_rules(ifname, rule)
    return cmds


def compile_policy(policy: Policy, ifname: str, *, gen: str = "") -> list[dict]:
    """The nft JSON commands that replace the table by ``policy``, as one transaction.

    Each map element carries a counter and, as its comment, the name of its rule; a rule's
    counters are the sum over its elements. Only ``--log`` rules get a chain of their own (count
    and log new connections, then the verdict).
    """
    spec = Spec.of_policy(policy)
    return _full_commands(_full(spec, ifname), spec.rules(), ifname, gen or "0")


def _prefixes(nets, version: int) -> dict:
    items = [{"prefix": {"addr": format_address(version, n.value), "len": n.prefixlen}}
             for n in nets if n.version == version]
    return {"set": items}


def _suffix_rule(rule: Rule) -> list[list[dict]]:
    """One nft rule per IP family the rule can match: its own sets, a counter, the verdict."""
    out = []
    for version in (4, 6):
        p = _PROTO[version]
        if any(not any(n.version == version for n in nets) for nets in (rule.sources, rule.destinations) if nets):
            continue
        expr = [_match({"meta": {"key": "nfproto"}}, f"ipv{version}")]
        if rule.sources:
            expr.append(_match({"payload": {"protocol": p, "field": "saddr"}}, _prefixes(rule.sources, version)))
        if rule.destinations:
            expr.append(_match({"payload": {"protocol": p, "field": "daddr"}},
                               _prefixes(rule.destinations, version)))
        if rule.protocol in ("tcp", "udp"):
            expr.append(_match({"meta": {"key": "l4proto"}}, rule.protocol))
        elif rule.protocol == "icmp":
            expr.append(_match({"meta": {"key": "l4proto"}}, "icmp" if version == 4 else "ipv6-icmp"))
        if rule.ports:
            ports = [lo if lo == hi else {"range": [lo, hi]} for lo, hi in rule.ports]
            expr.append(_match({"payload": {"protocol": "th", "field": "dport"}}, {"set": ports}))
        expr += [{"counter": {"packets": 0, "bytes": 0}}, _verdict(rule.name, rule.action, rule.log)]
        out.append(expr)
    return out


def fingerprint(policy: Policy, ifname: str) -> str:
    """What decides the table's contents: equal fingerprints, nothing to load."""
    return Spec.of_policy(policy).fingerprint(ifname)


# -- running nft -----------------------------------------------------------------------------
def _nft(netns: str | None, args: list[str], stdin: str | None = None, *, check: bool = True) -> str | None:
    return run_nft(netns, args, stdin, needed_for="network policies need nftables", check=check, timeout=60)


def _run(netns: str | None, cmds: list[dict]) -> None:
    _nft(netns, ["-j", "-f", "-"], json.dumps({"nftables": cmds}, separators=(",", ":")))


def _items(text: str | None) -> list[dict]:
    if text is None:
        return []
    try:
        return json.loads(text).get("nftables", [])
    except ValueError:
        raise HostError("nft -j printed something that is not JSON") from None


def loaded_gen(ifname: str, netns: str | None = None) -> str | None:
    """The generation of the table in the kernel ("" for a table without one, as an older warpcli
    made); None when there is no table. Lists chains only, not the maps: cheap at any size."""
    t = table(ifname)
    names = [item["chain"].get("name", "") for item in _items(_nft(netns, ["-j", "list", "chains", FAMILY],
                                                                    check=False))
             if "chain" in item and item["chain"].get("table") == t]
    if not names:
        return None
    return next((n.removeprefix(GEN_CHAIN_PREFIX) for n in names if n.startswith(GEN_CHAIN_PREFIX)), "")


@dataclass
class RuleCounters:
    """One rule's counters in the kernel: packets and bytes it decided (original direction),
    and for a ``--log`` rule the new connections it logged."""

    packets: int = 0
    bytes: int = 0
    logged: int | None = None


def stats(ifname: str, netns: str | None = None) -> dict[str, RuleCounters]:
    """Rule name (and ``(default)``) -> its counters; {} without a table."""
    out: dict[str, RuleCounters] = {}
    for item in _items(_nft(netns, ["-j", "list", "table", FAMILY, table(ifname)], check=False)):
        if "map" in item:
            for elem, _ in item["map"].get("elem", []):
                e = elem.get("elem", {}) if isinstance(elem, dict) else {}
                c, name = e.get("counter"), e.get("comment")
                if c is not None and name is not None:
                    r = out.setdefault(name, RuleCounters())
                    r.packets += int(c["packets"])
                    r.bytes += int(c["bytes"])
        rule = item.get("rule")
        name = rule.get("comment") if isinstance(rule, dict) else None
        if not rule or not name:
            continue
        chain = rule.get("chain", "")
        for e in rule.get("expr", []):
            if "counter" not in e:
                continue
            r = out.setdefault(name, RuleCounters())
            if chain.startswith(LOG_CHAIN_PREFIX):
                r.logged = (r.logged or 0) + int(e["counter"]["packets"])
            elif chain in (DEFAULT_CHAIN, SUFFIX_CHAIN):
                r.packets += int(e["counter"]["packets"])
                r.bytes += int(e["counter"]["bytes"])
    return out


def counters(ifname: str, netns: str | None = None) -> dict[str, tuple[int, int]]:
    """Rule name -> (packets, bytes) as the kernel counted them (the sum over the rule's map
    elements); {} without a table."""
    return {name: (c.packets, c.bytes) for name, c in stats(ifname, netns).items()}


def load(policy: Policy, ifname: str, netns: str | None = None, run_dir: Path | None = None) -> None:
    """Replace the table by ``policy`` in one transaction (its counters start from zero)."""
    spec = Spec.of_policy(policy)
    with _locked(run_dir, ifname):
        _apply_full(spec, _full(spec, ifname), ifname, netns, run_dir)


def _apply_full(spec: Spec, layout: Layout, ifname: str, netns: str | None, run_dir: Path | None) -> None:
    """The whole table in one transaction, then its record (the caller holds the lock)."""
    path = record_path(run_dir, ifname) if run_dir is not None else None
    if path is not None:
        path.unlink(missing_ok=True)
    layout.gen = secrets.token_hex(6)
    layout.fingerprint = spec.fingerprint(ifname)
    _run(netns, _full_commands(layout, spec.rules(), ifname, layout.gen))
    if path is not None:
        _write_record(path, layout)


def plan(spec: Spec, ifname: str, *, netns: str | None = None,
         run_dir: Path | None = None) -> tuple[list[str], Callable[[], object] | None]:
    """The plan line for loading ``spec`` at this hub, and what loads it (None: the table already
    holds it). With ``run_dir``, against the record of what the table holds: the change alone,
    in one transaction; without a usable record, the whole table."""
    if not spec.sigs and spec.default == "allow":  # no table: today's behaviour
        if shutil.which("nft") is None or loaded_gen(ifname, netns) is None:
            return [], None
        return [f"- {describe(0, 'allow', ifname)}"], lambda: remove(ifname, netns, run_dir)
    gen = loaded_gen(ifname, netns)
    record = read_record(run_dir, ifname) if run_dir is not None and gen else None
    if record is not None and record.gen != gen:
        record = None
    if record is not None and record.fingerprint == spec.fingerprint(ifname):
        return [], None
    update = _update(record, spec) if record is not None else None
    live = sum(r is not None for r in spec.rules()) if update is None else update[0].live
    if live == 0 and spec.default == "allow":  # every rule names tunnels without routes
        if gen is None:
            return [], None
        return [f"- {describe(0, 'allow', ifname)}"], lambda: remove(ifname, netns, run_dir)
    line = f"{'+' if gen is None else '~'} {describe(live, spec.default, ifname)}"

    def apply() -> None:
        with _locked(run_dir, ifname):
            if record is None or update is None or run_dir is None:
                _apply_full(spec, _full(spec, ifname), ifname, netns, run_dir)
                return
            path = record_path(run_dir, ifname)
            if _stamp_of(path) != record.stamp:  # another writer came first: what it left is unknown here
                _apply_full(spec, _full(spec, ifname), ifname, netns, run_dir)
                return
            layout, delta = update
            path.unlink()  # from here until written again, the record describes nothing
            cmds = _delta_commands(record, layout, delta, spec, ifname)
            try:
                if cmds:
                    _run(netns, cmds)
            except HostError:  # the table is not what the record said: load it whole
                _apply_full(spec, _full(spec, ifname), ifname, netns, run_dir)
                return
            layout.gen, layout.fingerprint = record.gen, spec.fingerprint(ifname)
            _write_record(path, layout)

    return [line], apply


def remove(ifname: str, netns: str | None = None, run_dir: Path | None = None) -> bool:
    """Delete the table (and its record); True when there was one."""
    with _locked(run_dir, ifname):
        if run_dir is not None:
            record_path(run_dir, ifname).unlink(missing_ok=True)
        gone = shutil.which("nft") is not None and _nft(netns, ["delete", "table", FAMILY, table(ifname)],
                                                        check=False) is not None
    if run_dir is not None:
        (Path(run_dir) / f"policy-{ifname}.lock").unlink(missing_ok=True)
    return gone


def wanted(policy: Policy) -> bool:
    """Whether the policy needs a table at all (default allow and no rule: today's behaviour)."""
    return bool(policy.rules) or policy.default != "allow"


def describe(rules: int, default: str, ifname: str) -> str:
    return (f"nftables policy: {rules} rule{'s' if rules != 1 else ''}, default {default} "
            f"(table {FAMILY} {table(ifname)})")
