"""What is loaded: the rules' signatures, the policy to load (:class:`Spec`), the compiled layout
(:class:`Layout`), and the record of it that the hub keeps, with its lock.

The hub keeps a record of what it loaded (each rule's signature, boxes and pieces;
``RUN_DIR/policy-IFNAME.record``): a change is compiled against it rather than the whole policy.
One writer at a time (a lock file beside the record; a plan made from a record that changed
meanwhile is not applied as a delta). The record is removed before a transaction and written
after it, and names the *generation* of the table it describes (an empty chain ``gen_TOKEN``,
set by each full load; ``nft list chains`` reads it without reading the maps), so a crash, or a
table deleted or loaded by someone else, ends in the full load.
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from warpcli.core.errors import InvalidInput
from warpcli.core.policy import Policy, Rule
from warpcli.host.errors import HostError
from warpcli.host.policy_nft import boxes

FORMAT = 2  #: of the table and of its record: another value is loaded in full


def _sig(action: str, log: bool, name: str, protocol: str, ports: str, sources: str, destinations: str) -> str:
    """A rule's signature: equal signatures, equal elements. Action, --log and the name come first
    (the name with its length), so that :func:`sig_meta` reads them back."""
    return f"{action[:1]}{'L' if log else '-'}{len(name)}:{name}\x1f{protocol}\x1f{ports}\x1f{sources}\x1f{destinations}"


def sig_meta(sig: str) -> tuple[str, str, bool]:
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
        h = hashlib.sha256(f"{FORMAT}|{ifname}|{boxes.PIECES_LIMIT}|{self.default}\n".encode())
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
        payload = marshal.dumps({"format": FORMAT, "limit": boxes.PIECES_LIMIT, "ifname": self.ifname, "gen": self.gen,
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
            if d["format"] != FORMAT or d["limit"] != boxes.PIECES_LIMIT or d["ifname"] != ifname:
                return None
            layout = cls(ifname, d["default"], d["sigs"], d["dead"], d["cut"], d["logs"], d["pieces"], d["boxes"],
                         d["gen"], d["fingerprint"])
        except (ValueError, EOFError, KeyError, TypeError):
            return None
        strides = {boxes.map_name(v, p): 1 + 2 * boxes.box_dims(p) for v, p in boxes.MAPS}
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


def stamp_of(path: Path) -> tuple[int, int, int] | None:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


@contextmanager
def locked(run_dir: Path | None, ifname: str) -> Iterator[None]:
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


def write_record(path: Path, layout: Layout) -> None:
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

