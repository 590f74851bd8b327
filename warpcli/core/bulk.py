"""Route tables in bulk: CSV or JSON lines with the columns network, tunnel, vnet, comment.

Import is all or nothing: every row is parsed and resolved, every problem is
reported at once, and the controller writes the rows in one transaction. The rows
stream from the file to the controller (the local one stages them in a temporary
table and checks them in SQL), so memory does not grow with the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import IO

from warpcli.core import service
from warpcli.core.cidr import Network, parse_network
from warpcli.core.controller import Controller, RouteSpec
from warpcli.core.errors import BulkImportError, InvalidInput, NotFound, WarpcliError
from warpcli.core.model import Route, RouteFilter
from warpcli.core.names import normalize_name, validate_comment

COLUMNS = ("network", "tunnel", "vnet", "comment")
FORMATS = ("csv", "jsonl")

#: a spreadsheet takes a cell starting with one of these as a formula (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _quoted_formula(value: str) -> bool:
    """``'`` repeated one or more times, then a formula character."""
    stripped = value.lstrip("'")
    return len(stripped) < len(value) and stripped.startswith(FORMULA_START)


def neutralise_cell(value: str) -> str:
    """CSV export: a cell that a spreadsheet would run as a formula gets a leading ``'``.

    So does a cell that already is ``'``s then a formula character, which makes the
    rule reversible: :func:`restore_cell` of the result is always ``value``.
    """
    if value.lstrip("'").startswith(FORMULA_START):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """CSV import: undo :func:`neutralise_cell` (drop one ``'`` before ``'``*-then-formula)."""
    return value[1:] if _quoted_formula(value) else value


BOM = "\ufeff"


def strip_bom(first_line: str) -> str:
    """A spreadsheet's "CSV UTF-8" starts with a byte order mark: not part of the first cell."""
    return first_line[1:] if first_line.startswith(BOM) else first_line


def csv_delimiter(first_line: str) -> str:
    """``;`` when the file is semicolon-separated (spreadsheets in many locales write it), else ``,``.

    Decided once, from the first line: when its first comma-separated cell holds a ``;``
    (no network and no column name does), the separator is ``;``.
    """
    cells = next(csv.reader([first_line]), [""])
    return ";" if cells and ";" in cells[0] else ","


def guess_format(name: str, first_line: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"


def read_rows(stream: Iterable[str], fmt: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    """Yield ``(line number, row)``; a row that cannot be read is yielded as an error string.

    Input that is not UTF-8, or a CSV field past the csv module's limit, ends the
    reading with one such error (row 0 when the line is unknown).
    """
    try:
        yield from _read_rows(stream, fmt)
    except UnicodeDecodeError:
        yield 0, "the input is not UTF-8 text"
    except csv.Error as exc:
        yield 0, f"unreadable CSV: {exc}"


def _read_rows(stream: Iterable[str], fmt: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    if fmt == "jsonl":
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError
            except ValueError:
                yield n, "not a JSON object"
                continue
            yield n, {k: "" if obj.get(k) is None else str(obj.get(k)) for k in COLUMNS}
        return
    lines = iter(stream)
    first = next(lines, "")
    reader = csv.reader(chain((first,), lines), delimiter=csv_delimiter(first))
    header: list[str] | None = None
    names = list(COLUMNS)
    strip = str.strip
    for row in reader:
        n = reader.line_num
        if not row or not "".join(row).strip():
            continue
        if header is None and "network" in ",".join(row).lower():  # (the cheap test first: every row)
            cells = [c.strip().lower() for c in row]
            if cells[0] == "network" or ("network" in cells and set(cells) <= set(COLUMNS)):
                header = names = cells
                unknown = set(header) - set(COLUMNS)
                if unknown:
                    yield n, f"unknown column(s) {', '.join(sorted(unknown))}; expected {', '.join(COLUMNS)}"
                    return
                continue
        if len(row) == len(names):  # the common row: a neutralised formula cell is the rare one
            yield n, dict(zip(names, [restore_cell(c) if c[:1] == "'" else c for c in map(strip, row)], strict=True))
            continue
        if len(row) > len(names):
            yield n, f"{len(row)} fields, expected at most {len(names)}"
            continue
        yield n, {k: (restore_cell(row[i].strip()) if i < len(row) else "") for i, k in enumerate(names)}


#: the import flags that would have helped, named in the refusal
CREATE_MISSING_HINT = "--create-missing creates the tunnels and virtual networks the rows name"
IF_NOT_EXISTS_HINT = "--if-not-exists skips rows that are already there unchanged"


class ImportPlan:
    """Rows to :class:`RouteSpec`, one at a time: names resolved, CIDRs and comments checked.

    ``specs(rows)`` yields the good rows as they are read, so nothing holds the whole
    file; a bad row is noted in ``problems`` instead (the controller's
    ``import_routes(specs, rejected=plan.problems)`` refuses the import once the rows
    are consumed if any were noted, with every duplicate and clash found as well).

    ``create_missing``: a tunnel or virtual network a row names that does not exist is
    created when first met (``dry_run``: only noted, under a made-up id); they are listed
    in ``created_tunnels`` / ``created_vnets``. ``if_not_exists``: a row the same as a
    route already there (network, vnet, tunnel, comment) is skipped and counted in
    ``skipped``; a row that differs still reaches the controller, which refuses it.
    """

    def __init__(
        self, ctrl: Controller, *, enrolled_tunnel_id: str | None = None,
        create_missing: bool = False, if_not_exists: bool = False, dry_run: bool = False,
    ) -> None:
        self.ctrl = ctrl
        self.enrolled_tunnel_id = enrolled_tunnel_id
        self.create_missing = create_missing
        self.dry_run = dry_run
        self.problems: list[dict] = []
        self.created_tunnels: list[str] = []
        self.created_vnets: list[str] = []
        self.created_tunnel_ids: list[str] = []
        self.created_vnet_ids: list[str] = []
        self.skipped = 0
        self.tunnels: dict[str, str] = {}
        for t in ctrl.list_tunnels():
            self.tunnels[t.name] = self.tunnels[t.id] = t.id
        self.vnets: dict[str, str] = {}
        for v in ctrl.list_virtual_networks():
            self.vnets[v.name] = self.vnets[v.id] = v.id
        self.default_vnet = service.resolve_vnet(ctrl, None).id
        self._default_tunnel: str | WarpcliError | None = None
        self.existing: dict[tuple[str, str], tuple[str, str]] | None = None
        if if_not_exists:  # only then: at a million routes this is the one pass over the table
            self.existing = {(r.virtual_network_id, r.network): (r.tunnel_id, r.comment) for r in ctrl.list_routes()}

    def _tunnel(self, name: str) -> str:
        if name:
            tid = self.tunnels.get(name)
            if tid is None:
                tid = self.tunnels.get(normalize_name(name)) or self._missing_tunnel(name)
            return tid
        if self._default_tunnel is None:
            try:
                self._default_tunnel = service.default_tunnel(self.ctrl, self.enrolled_tunnel_id).id
            except NotFound:
                self._default_tunnel = InvalidInput("the tunnel cell is empty and there are no tunnels yet",
                                                    hint="fill in the tunnel column")
            except InvalidInput:
                self._default_tunnel = InvalidInput("the tunnel cell is empty and several tunnels exist",
                                                    hint="fill in the tunnel column")
        if isinstance(self._default_tunnel, WarpcliError):
            raise self._default_tunnel
        return self._default_tunnel

    def _vnet(self, name: str) -> str:
        if not name:
            return self.default_vnet
        vid = self.vnets.get(name)
        if vid is None:
            vid = self.vnets.get(normalize_name(name)) or self._missing_vnet(name)
        return vid

    def _missing_tunnel(self, name: str) -> str:
        if not self.create_missing:
            raise InvalidInput(f"unknown tunnel {name!r}")
        if self.dry_run:
            tid = f"(new tunnel {name})"
        else:
            made = service.create_tunnel(self.ctrl, name, if_not_exists=True)
            tid = made.obj.id
            if made.created:
                self.created_tunnel_ids.append(tid)
        self.created_tunnels.append(name)
        self.tunnels[name] = tid
        return tid

    def _missing_vnet(self, name: str) -> str:
        if not self.create_missing:
            raise InvalidInput(f"unknown virtual network {name!r}")
        if self.dry_run:
            vid = f"(new virtual network {name})"
        else:
            made = service.create_vnet(self.ctrl, name, if_not_exists=True)
            vid = made.obj.id
            if made.created:
                self.created_vnet_ids.append(vid)
        self.created_vnets.append(name)
        self.vnets[name] = vid
        return vid

    def specs(self, rows: Iterable[tuple[int, dict[str, str] | str]]) -> Iterator[RouteSpec]:
        problems, vnets, default_vnet, existing = self.problems, self.vnets, self.default_vnet, self.existing
        for n, row in rows:
            if isinstance(row, str):
                problems.append({"row": n, "network": None, "reason": row})
                continue
            get = row.get
            try:
                net = parse_network(get("network", ""))
                tid = self._tunnel(get("tunnel", ""))
                vname = get("vnet", "")
                vid = (vnets.get(vname) or self._vnet(vname)) if vname else default_vnet
                comment = get("comment", "")
                validate_comment(comment)
            except WarpcliError:
                problems.append({"row": n, "network": get("network") or None, "reason": self._reasons(row)})
                continue
            if existing is not None and existing.get((vid, str(net))) == (tid, comment):
                self.skipped += 1
                continue
            yield RouteSpec(net, tid, vid, comment, n)

    def _reasons(self, row: dict[str, str]) -> str:
        """Every problem of a bad row at once (an unknown tunnel and an unknown vnet both)."""
        checks = (
            lambda: parse_network(row.get("network", "")),
            lambda: self._tunnel(row.get("tunnel", "")),
            lambda: self._vnet(row.get("vnet", "")),
            lambda: validate_comment(row.get("comment", "")),
        )
        reasons = []
        for check in checks:
            try:
                check()
            except WarpcliError as exc:
                reasons.append(str(exc))
        return "; ".join(reasons)

    def undo_created(self) -> None:
        """Delete what ``create_missing`` made (the import was refused: nothing of it stays)."""
        for tid in self.created_tunnel_ids:
            self.ctrl.delete_tunnel(tid)
        for vid in self.created_vnet_ids:
            self.ctrl.delete_virtual_network(vid)


@dataclass
class ImportResult:
    """What ``routes import`` did (or, ``dry_run``, would do)."""

    imported: int
    skipped: int = 0
    created_tunnels: list[str] = field(default_factory=list)
    created_vnets: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {"imported": self.imported, "skipped": self.skipped, "created_tunnels": self.created_tunnels,
                "created_virtual_networks": self.created_vnets, "dry_run": self.dry_run}


def import_rows(
    ctrl: Controller, rows: Iterable[tuple[int, dict[str, str] | str]], *, enrolled_tunnel_id: str | None = None
) -> int:
    """Import rows all or nothing; raise BulkImportError listing every bad row."""
    plan = ImportPlan(ctrl, enrolled_tunnel_id=enrolled_tunnel_id)
    return ctrl.import_routes(plan.specs(rows), rejected=plan.problems)


def import_table(
    ctrl: Controller, rows: Iterable[tuple[int, dict[str, str] | str]], *, enrolled_tunnel_id: str | None = None,
    create_missing: bool = False, if_not_exists: bool = False, dry_run: bool = False,
) -> ImportResult:
    """:func:`import_rows` with the import's options; a refusal names the flag that would help."""
    plan = ImportPlan(ctrl, enrolled_tunnel_id=enrolled_tunnel_id, create_missing=create_missing,
                      if_not_exists=if_not_exists, dry_run=dry_run)
    try:
        if dry_run:
            n = check_rows(ctrl, plan.specs(rows), plan.problems)
        else:
            specs = plan.specs(rows)
            if create_missing:  # made while the rows are read: before the controller's import begins
                specs = iter(list(specs))
            n = ctrl.import_routes(specs, rejected=plan.problems)
    except BulkImportError as exc:
        if not dry_run:
            plan.undo_created()
        exc.hint = _hint(exc, create_missing=create_missing, if_not_exists=if_not_exists)
        raise
    except BaseException:
        if not dry_run:
            plan.undo_created()
        raise
    return ImportResult(n, plan.skipped, plan.created_tunnels, plan.created_vnets, dry_run)


def _hint(exc: BulkImportError, *, create_missing: bool, if_not_exists: bool) -> str | None:
    reasons = [p["reason"] for p in exc.problems]
    if not create_missing and any("unknown tunnel" in r or "unknown virtual network" in r for r in reasons):
        return CREATE_MISSING_HINT
    if not if_not_exists and any(r.startswith("already routed") for r in reasons):
        return IF_NOT_EXISTS_HINT
    return exc.hint


def check_rows(ctrl: Controller, specs: Iterable[RouteSpec], rejected: list[dict]) -> int:
    """The dry run: every check an import makes (bad rows, repeats, clashes with routes
    already there), nothing written; raise BulkImportError as the import would, else
    return how many routes it would create."""
    problems: list[dict] = []
    seen: dict[str, dict[Network, int]] = {}
    n = 0
    for s in specs:
        first = seen.setdefault(s.virtual_network_id, {}).setdefault(s.network, s.row)
        if first != s.row:
            problems.append({"row": s.row, "network": str(s.network), "reason": f"duplicate of row {first}"})
        n += 1
    bad = [*rejected, *problems]
    clashes = _existing_clashes(ctrl, seen)
    if bad or clashes:
        everything = sorted(bad + clashes, key=lambda p: p["row"])
        if bad:
            raise BulkImportError(f"import refused: {len(everything)} bad row(s); nothing was imported", everything)
        raise BulkImportError(f"import refused: {len(everything)} conflicting row(s); nothing was imported",
                              everything, conflict=True)
    return n


def refuse_bad_rows(ctrl: Controller, specs: list[RouteSpec], rejected: list[dict] | None) -> None:
    """For controllers that check in Python: raise BulkImportError when the caller
    ``rejected`` rows or rows repeat a (vnet, network) of an earlier one, listing them
    with the rows that clash with existing routes."""
    if rejected is None:
        return
    problems = list(rejected)
    seen: dict[str, dict[Network, int]] = {}  # vnet id -> network -> first row
    for s in specs:
        first = seen.setdefault(s.virtual_network_id, {}).setdefault(s.network, s.row)
        if first != s.row:
            problems.append({"row": s.row, "network": str(s.network), "reason": f"duplicate of row {first}"})
    if problems:
        problems += _existing_clashes(ctrl, seen)
        problems.sort(key=lambda p: p["row"])
        raise BulkImportError(f"import refused: {len(problems)} bad row(s); nothing was imported", problems)


def _existing_clashes(ctrl: Controller, rows: dict[str, dict[Network, int]]) -> list[dict]:
    tunnels = {t.id: t.name for t in ctrl.list_tunnels()}
    vnets = {v.id: v.name for v in ctrl.list_virtual_networks()}
    out = []
    for rid, network, version, lo, plen, tid, vid in ctrl.route_entries():
        n = rows.get(vid, {}).get(Network(version, lo, plen))
        if n is not None:
            out.append({
                "row": n, "network": network,
                "reason": f"already routed in {vnets.get(vid, vid)!r} through {tunnels.get(tid, tid)!r} (route {rid})",
            })
    return out


def interrupted_message(ctrl: Controller) -> str:
    """What a Ctrl-C before the commit point left behind."""
    if ctrl.atomic_import:
        return "interrupted; nothing was imported"
    return "interrupted; routes created before the interrupt may remain (check with `warpcli routes`)"


def export_rows(ctrl: Controller, flt: RouteFilter = RouteFilter()) -> Iterator[dict[str, str]]:
    r: Route
    for r in ctrl.list_routes(flt):
        yield {
            "network": r.network,
            "tunnel": r.tunnel_name or r.tunnel_id,
            "vnet": r.virtual_network_name or r.virtual_network_id,
            "comment": r.comment,
        }


def write_rows(rows: Iterable[dict[str, str]], out: IO[str], fmt: str) -> int:
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
    writer = csv.writer(out, lineterminator="\n")
    rows = iter(rows)
    first = next(rows, None)  # read before writing, so a store that fails leaves no partial output
    writer.writerow(COLUMNS)
    if first is None:
        return 0
    writer.writerow([neutralise_cell(first[c]) for c in COLUMNS])
    n = 1
    for row in rows:
        writer.writerow([neutralise_cell(row[c]) for c in COLUMNS])
        n += 1
    return n
