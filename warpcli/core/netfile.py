"""The network file: the whole control-plane state as TOML (``warpcli export``, ``warpcli apply``).

The format is documented in docs/network-file.md, with a JSON Schema beside it
(docs/network-file.schema.json). Objects are named, never by id, so one file applies
to any controller. Parsing never raises for a bad entry: it collects every problem
(file, line where known, which entry, why) so that ``apply`` reports them all at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from warpcli.core.cidr import Network, parse_network
from warpcli.core.errors import InvalidInput, WarpcliError
from warpcli.core.names import MAX_VNET_COMMENT, validate_comment, validate_name
from warpcli.core.records import record

FORMAT_VERSION = 1
SECTIONS = ("vnets", "tunnels", "routes")
TOP_KEYS = ("version", *SECTIONS)
#: per section: key -> (required, python type, the type's name in messages)
KEYS: dict[str, dict[str, tuple[bool, type, str]]] = {
    "vnets": {"name": (True, str, "a string"), "comment": (False, str, "a string"),
              "default": (False, bool, "true or false")},
    "tunnels": {"name": (True, str, "a string")},
    "routes": {"network": (True, str, "a string"), "tunnel": (True, str, "a string"),
               "vnet": (False, str, "a string"), "comment": (False, str, "a string")},
}


@record
class VnetEntry:
    name: str
    comment: str = ""
    #: True: make it the default; False: must not be the default; None: no opinion
    default: bool | None = None
    line: int | None = None
    index: int = 0


@record
class TunnelEntry:
    name: str
    line: int | None = None
    index: int = 0


@record
class RouteEntry:
    network: Network
    tunnel: str
    vnet: str | None = None  #: None: the default virtual network
    comment: str = ""
    line: int | None = None
    index: int = 0


@record
class NetworkFile:
    """What a file asks for; ``problems`` lists every entry that could not be read."""

    source: str
    vnets: tuple[VnetEntry, ...] = ()
    tunnels: tuple[TunnelEntry, ...] = ()
    routes: tuple[RouteEntry, ...] = ()
    problems: tuple[dict, ...] = ()


def problem(source: str, line: int | None, where: str, reason: str) -> dict[str, Any]:
    """One bad entry, in the shape of the apply error report (docs/json.md)."""
    return {"file": source, "line": line, "entry": where, "reason": reason}


def describe(p: dict[str, Any]) -> str:
    """``FILE:LINE: ENTRY: REASON`` (the line left out where the parser cannot tell)."""
    loc = f"{p['file']}:{p['line']}" if p.get("line") else p["file"]
    return f"{loc}: {p['entry']}: {p['reason']}" if p.get("entry") else f"{loc}: {p['reason']}"


class NetworkFileError(InvalidInput):
    """A network file was refused; ``problems`` lists every bad entry (see :func:`problem`)."""

    def __init__(self, message: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.problems = problems


def refuse(problems: list[dict[str, Any]], source: str) -> NetworkFileError:
    return NetworkFileError(f"{source}: {len(problems)} bad entr{'y' if len(problems) == 1 else 'ies'}; "
                            "nothing was changed", problems)


# -- reading ------------------------------------------------------------------------
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)$|\s*\(at end of document\)$")


def parse(text: str, source: str = "-") -> NetworkFile:
    """Read a network file. Syntax errors leave no entries; every other problem is collected."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _AT_LINE.search(msg)
        line = int(m.group(1)) if m and m.group(1) else (text.count("\n") + 1 if m else None)
        reason = msg[:m.start()] if m else msg
        return NetworkFile(source, problems=(problem(source, line, "", f"TOML syntax: {reason}"),))
    problems: list[dict[str, Any]] = []
    for key in doc:
        if key not in TOP_KEYS:
            problems.append(problem(source, _key_line(text, key), key,
                                    f"unknown key; expected {', '.join(TOP_KEYS)}"))
    version = doc.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        problems.append(problem(source, _key_line(text, "version"), "version",
                                f"unsupported format version {version!r}; this warpcli reads {FORMAT_VERSION}"))
    entries: dict[str, list] = {s: [] for s in SECTIONS}
    for section in SECTIONS:
        items = doc.get(section, [])
        if not isinstance(items, list):
            problems.append(problem(source, _key_line(text, section), section,
                                    "must be an array of tables ([[" + section + "]] or " + section + " = [{...}])"))
            continue
        lines = entry_lines(text, section, len(items))
        for i, item in enumerate(items):
            line = lines[i] if lines else None
            where = f"{section}[{i}]"
            if not isinstance(item, dict):
                problems.append(problem(source, line, where, "must be a table"))
                continue
            try:
                entries[section].append(_entry(section, item, line, i))
            except WarpcliError as exc:
                label = item.get("network") if section == "routes" else item.get("name")
                if isinstance(label, str) and label:
                    where += f" {label}"
                problems.append(problem(source, line, where, str(exc)))
    problems += _duplicates(source, entries)
    return NetworkFile(source, tuple(entries["vnets"]), tuple(entries["tunnels"]), tuple(entries["routes"]),
                       tuple(problems))


def _entry(section: str, item: dict, line: int | None, index: int) -> Any:
    spec = KEYS[section]
    unknown = sorted(set(item) - set(spec))
    if unknown:
        raise InvalidInput(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(spec)}")
    for key, (required, kind, kind_name) in spec.items():
        if key not in item:
            if required:
                raise InvalidInput(f"{key!r} is missing")
            continue
        value = item[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise InvalidInput(f"{key!r} must be {kind_name}, not {_toml_type(value)}")
    if section == "vnets":
        validate_name("virtual network", item["name"])
        validate_comment(item.get("comment", ""), MAX_VNET_COMMENT)
        return VnetEntry(item["name"], item.get("comment", ""), item.get("default"), line, index)
    if section == "tunnels":
        validate_name("tunnel", item["name"])
        return TunnelEntry(item["name"], line, index)
    net = parse_network(item["network"])
    if not item["tunnel"]:
        raise InvalidInput("'tunnel' is empty")
    validate_comment(item.get("comment", ""))
    return RouteEntry(net, item["tunnel"], item.get("vnet") or None, item.get("comment", ""), line, index)


def _toml_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def _duplicates(source: str, entries: dict[str, list]) -> list[dict[str, Any]]:
    """Names given twice, and more than one default vnet (routes are checked once resolved)."""
    out = []
    for section, kind in (("vnets", "virtual network"), ("tunnels", "tunnel")):
        first: dict[str, Any] = {}
        for e in entries[section]:
            prev = first.setdefault(e.name, e)
            if prev is not e:
                out.append(problem(source, e.line, f"{section}[{e.index}] {e.name}",
                                   f"{kind} {e.name!r} is already named by {_at(prev, section)}"))
    defaults = [e for e in entries["vnets"] if e.default]
    for e in defaults[1:]:
        out.append(problem(source, e.line, f"vnets[{e.index}] {e.name}",
                           f"a second default virtual network (the first is {defaults[0].name!r})"))
    return out


def _at(entry: Any, section: str) -> str:
    return f"line {entry.line}" if entry.line else f"{section}[{entry.index}]"


def _key_line(text: str, key: str) -> int | None:
    pat = re.compile(rf"^\s*(\[\[?\s*)?{re.escape(key)}\s*(=|\]\]?)")
    for n, line in enumerate(text.splitlines(), 1):
        if pat.match(line):
            return n
    return None


def entry_lines(text: str, section: str, count: int) -> list[int] | None:
    """The line of each entry of ``section``: its ``[[section]]`` header, or its ``{``
    in an inline array ``section = [...]``. None when they cannot be told (the count differs).

    tomllib gives no positions for values, so this is a small scan of its own that
    knows strings and comments; it only ever labels messages.
    """
    header = re.compile(rf"^\s*\[\[\s*{re.escape(section)}\s*\]\]")
    inline = re.compile(rf"^\s*{re.escape(section)}\s*=\s*\[")
    lines = text.splitlines()
    out: list[int] = []
    n = 0
    while n < len(lines):
        line = lines[n]
        if header.match(line):
            out.append(n + 1)
        elif m := inline.match(line):
            n = _scan_inline(lines, n, m.end(), out)
        n += 1
    return out if len(out) == count else None


def _scan_inline(lines: list[str], n: int, pos: int, out: list[int]) -> int:
    """Walk an inline array from ``lines[n][pos:]`` (just inside its ``[``); record each
    top-level ``{``; return the index of the line where the array closes."""
    depth = 1
    quote = ""
    while n < len(lines):
        line = lines[n]
        i = pos
        while i < len(line):
            c = line[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 1
                elif c == quote:
                    quote = ""
            elif c in "\"'":
                quote = c
            elif c == "#":
                break
            elif c in "[{":
                if c == "{" and depth == 1:
                    out.append(n + 1)
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return n
            i += 1
        quote = ""  # strings in arrays of inline tables do not span lines
        n += 1
        pos = 0
    return n


# -- writing ------------------------------------------------------------------------
def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, but DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


HEADER = (
    "# warpcli network file: virtual networks, tunnels and routes, by name (no ids, no secrets).\n"
    "# Apply it with `warpcli apply -f FILE`; the format is in docs/network-file.md.\n"
)


def dump_toml(doc: dict[str, Any]) -> Iterable[str]:
    """The document :func:`export_document` builds, as TOML text in pieces.

    Every object is one inline table on its own line (a diff of two exports shows one
    line per object changed); all three arrays are top-level keys, so they come
    before any ``[table]`` a person might add.
    """
    yield HEADER
    yield f"version = {FORMAT_VERSION}\n"
    yield "\nvnets = [\n"
    for v in doc["vnets"]:
        comment = f", comment = {toml_string(v['comment'])}" if v.get("comment") else ""
        default = ", default = true" if v.get("default") else ""
        yield f"  {{ name = {toml_string(v['name'])}{comment}{default} }},\n"
    yield "]\n\ntunnels = [\n"
    for t in doc["tunnels"]:
        yield f"  {{ name = {toml_string(t['name'])} }},\n"
    yield "]\n\nroutes = [\n"
    for r in doc["routes"]:
        comment = f", comment = {toml_string(r['comment'])}" if r.get("comment") else ""
        yield (f"  {{ network = \"{r['network']}\", tunnel = {toml_string(r['tunnel'])}, "
               f"vnet = {toml_string(r['vnet'])}{comment} }},\n")
    yield "]\n"
