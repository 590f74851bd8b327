"""The network file: the whole control-plane state as TOML (``warpcli export``, ``warpcli apply``).

The format is documented in docs/network-file.md, with a JSON Schema beside it
(docs/network-file.schema.json). Objects are named, never by id, so one file applies
to any controller. Besides the three arrays of objects, ``[[policies]]`` tables hold
each virtual network's network policy (its default action and ordered rules). Parsing never raises for a bad entry: it collects every problem
(file, line where known, which entry, why) so that ``apply`` reports them all at once.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import repeat
from typing import Any, NamedTuple

from warpcli.core.cidr import Network, parse_network
from warpcli.core.errors import InvalidInput, WarpcliError
from warpcli.core.names import MAX_COMMENT, MAX_VNET_COMMENT, validate_comment, validate_name
from warpcli.core.records import record

FORMAT_VERSION = 1
SECTIONS = ("vnets", "tunnels", "routes")
TOP_KEYS = ("version", *SECTIONS, "policies")
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
    pos: int = 0  #: its place in its array


@record
class TunnelEntry:
    name: str
    line: int | None = None
    pos: int = 0  #: its place in its array


class RouteEntry(NamedTuple):
    """One route of a file (a named tuple: a file may hold a hundred thousand)."""

    network: Network
    tunnel: str
    vnet: str | None = None  #: None: the default virtual network
    comment: str = ""
    line: int | None = None
    pos: int = 0  #: its place in its array


@record
class PolicyEntry:
    """One vnet's network policy: its default action and its rules in order (checked as
    `policy add` checks them; tunnel names are resolved when planned)."""

    vnet: str | None  #: None: the default virtual network
    default: str = "allow"
    rules: tuple = ()  #: of warpcli.core.policies.RuleSpec
    line: int | None = None
    pos: int = 0
    rule_lines: tuple = ()  #: each rule's line, where the reader can tell (else empty)


@record
class NetworkFile:
    """What a file asks for; ``problems`` lists every entry that could not be read."""

    source: str
    vnets: tuple[VnetEntry, ...] = ()
    tunnels: tuple[TunnelEntry, ...] = ()
    routes: tuple[RouteEntry, ...] = ()
    problems: tuple[dict, ...] = ()
    policies: tuple[PolicyEntry, ...] = ()


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


#: one route exactly as `export` writes it (the only escapes in its strings: \" and \\)
_CH = r'[^"\\\x00-\x08\x0a-\x1f\x7f]'
_STR = rf'"({_CH}*(?:\\["\\]{_CH}*)*)"'  # the loop unrolled: a plain run of characters is one step
_ROUTE_LINE = re.compile(
    rf'^  \{{ network = "([0-9A-Fa-f.:/]+)", tunnel = {_STR}, vnet = {_STR}(?:, comment = {_STR})? \}},\n', re.M)
_ROUTES_OPEN = "routes = [\n"


def _fast_routes(text: str) -> tuple[str, list[tuple[str, str, str, str | None]], int] | None:
    """Split an export-shaped file into (the rest, its routes, the line of ``routes = [``).

    tomllib reads 100k inline tables in over a second; the lines `export` writes are
    matched by one regex instead. Anything else (another layout, a comment, an escape
    other than \\" and \\\\) returns None, and the whole file goes through tomllib.
    """
    start = text.find("\n" + _ROUTES_OPEN)
    if start < 0:
        return None
    body_at = start + 1 + len(_ROUTES_OPEN)
    end = text.find("\n]\n", body_at - 1)
    if end < 0 and text.endswith("\n]"):
        end = len(text) - 2
    if end < 0:
        return None
    body = text[body_at:end + 1]
    # each match is one whole line (it starts at a line start and ends with its newline),
    # so as many matches as lines means every line matched
    items: list[tuple[str, str, str, str | None]] = _ROUTE_LINE.findall(body)
    if len(items) != body.count("\n"):
        return None
    if "\\" in body:
        items = [_unescape(item) for item in items]
    first_line = text.count("\n", 0, start + 1) + 1
    # the same line count, so tomllib's positions in the rest stay right
    rest = text[:start + 1] + "routes = []\n" + "\n" * (len(items) + 1) + text[end + 3:]
    return rest, items, first_line


def _unescape(item: tuple[str, str, str, str | None]) -> tuple[str, str, str, str | None]:
    def un(v: str) -> str:
        return json.loads(f'"{v}"') if "\\" in v else v

    network, tunnel, vnet, comment = item
    return un(network), un(tunnel), un(vnet), None if comment is None else un(comment)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Keep the cyclic collector still while a file or a state is read and planned.

    Those build a few hundred thousand small objects without a reference cycle among
    them; the collector would walk them again and again (a third of the time at 100k
    routes). Reference counting still frees them.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse(text: str, source: str = "-") -> NetworkFile:
    """Read a network file. Syntax errors leave no entries; every other problem is collected."""
    with paused_gc():
        return _parse(text, source)


def _parse(text: str, source: str) -> NetworkFile:
    fast = _fast_routes(text)
    if fast is not None:
        import tomllib

        rest, items, first = fast
        try:
            doc = tomllib.loads(rest)
        except tomllib.TOMLDecodeError:
            doc = None
        if doc is not None and doc.get("routes") == [] and "routes" not in _table_keys(doc):
            return _read(rest, source, doc, (items, first + 1))
    return _parse_slow(text, source)


def _table_keys(doc: dict) -> set[str]:
    """Keys of nested tables (a ``routes`` inside one would mean the fast split misread the file)."""
    return {k for v in doc.values() if isinstance(v, dict) for k in v}


def _parse_slow(text: str, source: str) -> NetworkFile:
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _AT_LINE.search(msg)
        line = int(m.group(1)) if m and m.group(1) else (text.count("\n") + 1 if m else None)
        reason = msg[:m.start()] if m else msg
        return NetworkFile(source, problems=(problem(source, line, "", f"TOML syntax: {reason}"),))
    return _read(text, source, doc, None)


def _read(text: str, source: str, doc: dict[str, Any],
          fast: tuple[list[tuple[str, str, str, str | None]], int] | None) -> NetworkFile:
    """The document's entries and problems; ``fast``: the routes already split out of an
    export-shaped file, with the line of the first."""
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
        if section == "routes" and fast is not None:
            _fast_entries(source, *fast, entries["routes"], problems)
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
    policies = _policies(text, source, doc.get("policies", []), problems)
    problems += _duplicates(source, entries)
    return NetworkFile(source, tuple(entries["vnets"]), tuple(entries["tunnels"]), tuple(entries["routes"]),
                       tuple(problems), tuple(policies))


# -- policies -------------------------------------------------------------------------
POLICY_KEYS = {"vnet": (str, "a string"), "default": (str, "a string"), "rules": (list, "an array of tables")}
RULE_KEYS: dict[str, tuple[bool, type, str]] = {
    "name": (True, str, "a string"), "action": (True, str, "a string"),
    "sources": (False, list, "an array of strings"), "destinations": (False, list, "an array of strings"),
    "protocol": (False, str, "a string"), "ports": (False, list, "an array of ports"),
    "log": (False, bool, "true or false"), "comment": (False, str, "a string"),
}
#: the commands' option names in core messages, as the file's keys
_AS_KEYS = (("--action", "'action'"), ("--proto", "'protocol'"), ("--port", "'ports'"), ("--from", "'sources'"),
            ("--to", "'destinations'"))


def _policies(text: str, source: str, items: Any, problems: list[dict[str, Any]]) -> list[PolicyEntry]:
    """Every ``[[policies]]`` table; each bad table key and each bad rule is one problem."""
    if not isinstance(items, list):
        problems.append(problem(source, _key_line(text, "policies"), "policies",
                                "must be an array of tables ([[policies]])"))
        return []
    lines = entry_lines(text, "policies", len(items))
    counts = [len(i["rules"]) if isinstance(i, dict) and isinstance(i.get("rules"), list) else 0 for i in items]
    rule_lines = entry_lines(text, "rules", sum(counts)) if any(counts) else None
    out: list[PolicyEntry] = []
    seen: dict[str | None, PolicyEntry] = {}
    first_rule = 0
    for i, item in enumerate(items):
        line = lines[i] if lines else None
        where = f"policies[{i}]"
        mine = rule_lines[first_rule:first_rule + counts[i]] if rule_lines else None
        first_rule += counts[i]
        if not isinstance(item, dict):
            problems.append(problem(source, line, where, "must be a table"))
            continue
        if isinstance(item.get("vnet"), str) and item["vnet"]:
            where += f" {item['vnet']}"
        found: list[tuple[int | None, str]] = []
        entry = _policy_entry(item, line, i, mine, found)
        problems.extend(problem(source, at, where, _as_keys(why)) for at, why in found)
        if entry is None:
            continue
        prev = seen.setdefault(entry.vnet, entry)
        if prev is not entry:
            which = repr(entry.vnet) if entry.vnet else "the default virtual network"
            problems.append(problem(source, line, where, f"a second policy for {which} (the first is at "
                                                         f"{_at(prev, 'policies')})"))
            continue
        out.append(entry)
    return out


def _as_keys(message: str) -> str:
    for option, key in _AS_KEYS:
        message = message.replace(option + " ", key + " ")
    return message


def _policy_entry(item: dict, line: int | None, index: int, rule_lines: list[int] | None,
                  found: list[tuple[int | None, str]]) -> PolicyEntry | None:
    """The policy of one table, or None; every problem goes to ``found`` as (line, why)."""
    from warpcli.core.policy import ACTIONS

    try:
        unknown = sorted(set(item) - set(POLICY_KEYS))
        if unknown:
            raise InvalidInput(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(POLICY_KEYS)}")
        for key, (kind, kind_name) in POLICY_KEYS.items():
            if key in item and not isinstance(item[key], kind):
                raise InvalidInput(f"{key!r} must be {kind_name}, not {_toml_type(item[key])}")
        if item.get("vnet"):
            validate_name("virtual network", item["vnet"])
        default = item.get("default", "allow")
        if default not in ACTIONS:
            raise InvalidInput(f"'default' {default!r} is not allow or deny")
    except WarpcliError as exc:
        found.append((line, str(exc)))
        return None
    rules = []
    names: dict[str, int] = {}
    for n, rule in enumerate(item.get("rules", [])):
        at = rule_lines[n] if rule_lines else line
        label = f"rules[{n}]" + (f" {rule['name']}" if isinstance(rule, dict) and isinstance(rule.get("name"), str)
                                 else "")
        try:
            spec = _rule(rule)
        except WarpcliError as exc:
            found.append((at, f"{label}: {exc}"))
            continue
        if spec.name in names:
            found.append((at, f"{label}: a second rule named {spec.name!r} (the first is rules[{names[spec.name]}])"))
            continue
        names[spec.name] = n
        rules.append(spec)
    if len(rules) != len(item.get("rules", [])):
        return None
    return PolicyEntry(item.get("vnet") or None, default, tuple(rules), line, index, tuple(rule_lines or ()))


def _rule(rule: Any) -> Any:
    """One rule table as a checked RuleSpec (tunnel names are checked when planned)."""
    from warpcli.core.policies import make_rule

    if not isinstance(rule, dict):
        raise InvalidInput("must be a table")
    _check_keys(rule, RULE_KEYS)
    for key in ("sources", "destinations"):
        if not all(isinstance(v, str) for v in rule.get(key, [])):
            raise InvalidInput(f"{key!r} must be an array of strings (CIDRs or tunnel names)")
    ports = rule.get("ports")
    if ports is not None and not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in ports):
        raise InvalidInput("'ports' must be an array of ports (443) or ranges (\"10000-20000\")")
    if ports == []:
        raise InvalidInput("'ports' is empty; leave it out for any port")
    return make_rule(rule["name"], action=rule["action"], sources=list(rule.get("sources", [])),
                     destinations=list(rule.get("destinations", [])), protocol=rule.get("protocol", "any"),
                     port=",".join(str(v) for v in ports) if ports else None, log=rule.get("log", False),
                     comment=rule.get("comment", ""), tunnel_exists=lambda _name: True)


def _fast_entries(source: str, items: list[tuple[str, str, str, str | None]], first: int,
                  out: list[RouteEntry], problems: list[dict[str, Any]]) -> None:
    """What :func:`_entry` does for routes, for rows the regex already typed (the hot path).

    All of them at once by ``map`` where every row is good (C loops, no Python frame per
    row); the first bad one sends them through the loop that reports each problem.
    """
    new = tuple.__new__
    if items:
        networks, tunnels, vnets, comments = zip(*items, strict=True)
        try:
            nets = list(map(parse_network, networks))
        except WarpcliError:
            nets = None
        if nets is not None and all(tunnels) and all(
                len(c) <= MAX_COMMENT and c.isprintable() for c in comments if c):
            n = len(items)
            out.extend(map(new, repeat(RouteEntry), zip(
                nets, tunnels, [v or None for v in vnets], [c or "" for c in comments], range(first, first + n),
                range(n), strict=True)))
            return
    for i, (network, tunnel, vnet, comment) in enumerate(items):
        try:
            net = parse_network(network)
            if not tunnel:
                raise InvalidInput("'tunnel' is empty")
            if comment and (len(comment) > MAX_COMMENT or not comment.isprintable()):
                validate_comment(comment)
        except WarpcliError as exc:
            problems.append(problem(source, first + i, f"routes[{i}]" + (f" {network}" if network else ""), str(exc)))
            continue
        out.append(new(RouteEntry, (net, tunnel, vnet or None, comment or "", first + i, i)))


def _check_keys(item: dict, spec: dict[str, tuple[bool, type, str]]) -> None:
    """No unknown key, every required one, each of its type (a bool is not an int): one InvalidInput."""
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


def _entry(section: str, item: dict, line: int | None, index: int) -> Any:
    _check_keys(item, KEYS[section])
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
                out.append(problem(source, e.line, f"{section}[{e.pos}] {e.name}",
                                   f"{kind} {e.name!r} is already named by {_at(prev, section)}"))
    defaults = [e for e in entries["vnets"] if e.default]
    for e in defaults[1:]:
        out.append(problem(source, e.line, f"vnets[{e.pos}] {e.name}",
                           f"a second default virtual network (the first is {defaults[0].name!r})"))
    return out


def _at(entry: Any, section: str) -> str:
    return f"line {entry.line}" if entry.line else f"{section}[{entry.pos}]"


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
    starts = re.compile(rf"^[ \t]*(?:(\[\[)[ \t]*{re.escape(section)}[ \t]*\]\]|{re.escape(section)}[ \t]*=[ \t]*\[)",
                        re.M)
    lines: list[str] | None = None
    out: list[int] = []
    skip_to = -1
    for m in starts.finditer(text):
        n = text.count("\n", 0, m.start())
        if n <= skip_to:
            continue  # inside an inline array already scanned
        if m.group(1):
            out.append(n + 1)
        else:
            if lines is None:
                lines = text.splitlines()
            skip_to = _scan_inline(lines, n, m.end() - m.start(), out)
    return out if len(out) == count else None


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
_BRACKETS = re.compile(r"[\[\]{}]")


def _scan_inline(lines: list[str], n: int, pos: int, out: list[int]) -> int:
    """Walk an inline array from ``lines[n][pos:]`` (just inside its ``[``); record each
    top-level ``{``; return the index of the line where the array closes.

    Per line: strings blanked and a comment cut off by regex, then only the brackets
    are walked (a hundred thousand lines take a fraction of a second).
    """
    depth = 1
    while n < len(lines):
        line = _STRINGS.sub('""', lines[n][pos:])
        hash_at = line.find("#")
        if hash_at >= 0:
            line = line[:hash_at]
        for m in _BRACKETS.finditer(line):
            c = m.group()
            if c in "[{":
                if c == "{" and depth == 1:
                    out.append(n + 1)
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return n
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
    for p in doc.get("policies", ()):
        yield f"\n[[policies]]\nvnet = {toml_string(p['vnet'])}\ndefault = {toml_string(p['default'])}\nrules = [\n"
        for r in p["rules"]:
            yield f"  {{ {_rule_toml(r)} }},\n"
        yield "]\n"


def _rule_toml(r: dict[str, Any]) -> str:
    """One rule (as the export document holds it: only what differs from the defaults) as
    the inside of an inline table."""
    parts = []
    for key, value in r.items():
        if isinstance(value, bool):
            parts.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, list):
            parts.append(f"{key} = [{', '.join(str(v) if isinstance(v, int) else toml_string(v) for v in value)}]")
        else:
            parts.append(f"{key} = {toml_string(value)}")
    return ", ".join(parts)
