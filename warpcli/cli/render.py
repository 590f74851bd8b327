"""Output: JSON on stdout for scripts, Rich tables for people, messages on stderr.

Rich is imported only when a table is drawn, so ``--json`` runs stay light. Colour
follows Rich's rules: none when stdout is not a terminal or ``NO_COLOR`` is set.

Everything for people (messages, errors, plain lines, table cells) goes through
:func:`warpcli.core.text.visible`, so control characters in data reach no terminal;
table cells are plain text. JSON is written exactly.
"""

import json
import json as json_module
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from warpcli.core.text import visible


def _default(obj: Any) -> Any:
    to_dict = getattr(obj, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, ensure_ascii=False) + "\n")


def emit_json_texts(texts: Iterable[str]) -> int:
    """Print a JSON array whose elements are already JSON text, in batches of 1000.

    Memory stays flat for any row count (``routes --json`` on a million routes).
    """
    from itertools import islice

    write = sys.stdout.write
    it = iter(texts)
    n = 0
    while batch := list(islice(it, 1000)):
        write(("[\n  " if n == 0 else ",\n  ") + ",\n  ".join(batch))
        n += len(batch)
    write("[]\n" if n == 0 else "\n]\n")
    return n


def emit_json_sections(sections: dict[str, Iterable[Any]]) -> None:
    """Print a JSON object of arrays, encoding one element at a time.

    For documents too large to build first (``routes --overlaps --json`` on a million
    routes): each element is encoded on its own line (compact, by the C encoder) as it
    is produced, so memory holds one element, not the document.
    """
    write = sys.stdout.write
    encode = json.JSONEncoder(default=_default, ensure_ascii=False).encode
    write("{")
    for i, (key, items) in enumerate(sections.items()):
        write(("\n" if i == 0 else ",\n") + f"  {encode(key)}: [")
        first = True
        for item in items:
            write(("\n    " if first else ",\n    ") + encode(item))
            first = False
        write("]" if first else "\n  ]")
    write("\n}\n")


def message(text: str) -> None:
    """A line for the person at the terminal; never part of the data."""
    sys.stderr.write(visible(text) + "\n")


def error(text: str) -> None:
    sys.stderr.write(f"warpcli: error: {visible(text)}\n")


def plain(text: str) -> None:
    sys.stdout.write(visible(text) + "\n")


def plain_row(values: Sequence[Any], sep: str = "\t") -> None:
    """One line of fields joined by ``sep`` (each field escaped, so ``sep`` stays a separator)."""
    sys.stdout.write(sep.join("" if v is None else visible(v) for v in values) + "\n")


def terminal_width() -> int | None:
    """The width to fit tables to: the terminal's (COLUMNS wins), or None for a pipe or a file
    (nothing there is cropped or reflowed) unless COLUMNS asks for one."""
    import os
    import shutil

    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A table in plain aligned columns (see :mod:`warpcli.cli.layout`): ids, CIDRs and names whole,
    free text shortened first, one block per record when the key columns do not fit. Cells go
    through :func:`visible`: control characters in data never reach the terminal."""
    from warpcli.cli.layout import layout

    cells = [["" if v is None else visible(v) for v in row] for row in rows]
    lines = layout(columns, cells, terminal_width())
    if sys.stdout.isatty() and lines and lines[0].startswith(columns[0]):
        lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"  # the header in bold on a terminal (not a colour: NO_COLOR allows it)
    if title:
        lines = [title, *lines]
    sys.stdout.write("\n".join(lines) + "\n")


#: rows of the first page of a streamed table: small, so that the first rows show at once
FIRST_PAGE = 100
PAGE = 2000


def stream_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """A table of plain, aligned text columns, printed a page of rows at a time.

    For listings that can be long (``warpcli routes`` on a hundred thousand routes):
    the first rows appear before the rest are read, memory holds one page, and
    ``| head`` stops the command early. Each column is as wide as its widest cell so
    far, so nothing is cropped (an id, a CIDR); a page with a wider cell than the pages
    before it widens that column from there on. On a terminal narrower than that (or
    ``COLUMNS``), free text is shortened first and, when the key columns alone do not
    fit, records print as blocks from there on, as :func:`table` does. Returns the number of rows.
    """
    from itertools import islice

    from warpcli.cli.layout import blocks, fit, line

    write, flush = sys.stdout.write, sys.stdout.flush
    bold = sys.stdout.isatty()
    width = terminal_width()
    widths = [len(c) for c in columns]
    as_blocks = False
    it = iter(rows)
    size, n = FIRST_PAGE, 0
    while True:
        page = [["" if v is None else visible(v) for v in row] for row in islice(it, size)]
        for row in page:
            for i, cell in enumerate(row):
                if len(cell) > widths[i]:
                    widths[i] = len(cell)
        fitted = None if as_blocks else fit(columns, widths, width)
        if fitted is None:
            if page:
                write(("\n" if n else "") + "\n".join(blocks(columns, page, width)) + "\n")
            as_blocks = True
        else:
            if n == 0:
                head = line(columns, fitted)
                if bold:  # on a terminal the header is bold (bold is not a colour: NO_COLOR keeps it)
                    head = f"\x1b[1m{head}\x1b[0m"
                write(head + "\n")  # no rule under it: plain columns, as every other table (grep, less)
            if page:
                write("\n".join(line(row, fitted) for row in page) + "\n")
        if page:
            flush()
        n += len(page)
        if len(page) < size:
            return n
        size = PAGE


_NOTHING = object()


def show(data: Any, view: Any, *, json: bool, empty: str | None = None, stream: bool = False,
         title: str | None = None) -> None:
    """The one way a command prints its objects: JSON (``--json``: the object, or a list of them)
    or the human table of ``view`` (:mod:`warpcli.cli.views`). A list that is empty says
    ``empty`` on stderr (the table would be a bare header); ``stream`` prints the table a page
    at a time (``data`` may then be any iterable, read once)."""
    from warpcli.cli import views

    if json:
        emit_json(data)
        return
    objs = data if isinstance(data, (list, tuple)) or stream else [data]
    if stream:
        from itertools import chain

        it = iter(objs)
        first = next(it, _NOTHING)
        if first is _NOTHING:
            if empty:
                message(empty)
            return
        stream_table(views.headers(view), views.rows(view, chain([first], it)))
        return
    if not objs and empty:
        message(empty)
        return
    table(views.headers(view), views.rows(view, objs), title=title)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """A key/value listing of one object."""
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        plain(f"{key.ljust(width)}  {'' if value is None else visible(value)}")


def deleted(obj: Any, *, done: str, missing: str, routes: int = 0, json: bool) -> None:
    """What every delete prints: ``done`` on stderr (plus the routes that went along under
    --force), or ``missing`` when --if-exists found nothing; with --json the deleted object, or null."""
    if obj is None:
        message(missing)
    else:
        message(done + (f" and its {routes} route{'s' if routes != 1 else ''}" if routes else ""))
    if json:
        emit_json(obj)


def human_bytes(n: int) -> str:
    """``1532`` -> ``1.5 KiB``: binary units, three significant digits (tables; JSON keeps the number)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if abs(value) < 1000 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_age(seconds: float) -> str:
    """``75`` -> ``1 min 15 s``; ``7300`` -> ``2 h 1 min``; ``200000`` -> ``2 d 7 h``."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    for size, unit, sub_size, sub_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if s >= size:
            rest = (s % size) // sub_size
            return f"{s // size} {unit}" + (f" {rest} {sub_unit}" if rest else "")
    raise AssertionError("unreachable")


def timestamp() -> str:
    """Now, in ISO 8601 UTC to the second: the prefix of every `--follow` line."""
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def follow_message(text: str) -> None:
    """A `--follow` message on stderr, stamped with the time."""
    message(f"{timestamp()} {text}")


def plan_result(lines: list[str], data: dict, *, json: bool, dry_run: bool = False, compact: bool = False) -> None:
    """What `up`, `hub up` and `route add --table local` print: the plan's lines, or JSON.

    ``compact`` (``--follow``): JSON lines, one per reconcile, each with its ``time``; text
    lines each start with that time (ISO 8601, UTC).
    """
    if json and compact:
        stamped = {"time": timestamp(), **data}
        sys.stdout.write(json_module.dumps(stamped, default=_default, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    elif json:
        emit_json(data)
    else:
        now = timestamp() if compact else None
        for line in lines:
            plain(f"{now} {line}" if now else line)
        if compact:
            sys.stdout.flush()
    if dry_run:
        message("dry run: nothing was changed")
