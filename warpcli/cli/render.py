"""Output: JSON on stdout for scripts, Rich tables for people, messages on stderr.

Rich is imported only when a table is drawn, so ``--json`` runs stay light. Colour
follows Rich's rules: none when stdout is not a terminal or ``NO_COLOR`` is set.

Everything for people (messages, errors, plain lines, table cells) goes through
:func:`warpcli.core.text.visible`, so control characters in data reach no terminal;
table cells are plain text, never Rich markup. JSON is written exactly.
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


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 250, highlight=False)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for c in columns:
        t.add_column(c, no_wrap=True, overflow="fold")
    for row in rows:
        t.add_row(*(Text("" if v is None else visible(v)) for v in row))
    _console().print(t)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """A key/value listing of one object."""
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        plain(f"{key.ljust(width)}  {'' if value is None else visible(value)}")


def plan_result(lines: list[str], data: dict, *, json: bool, dry_run: bool = False, compact: bool = False) -> None:
    """What `up`, `hub up` and `route add --table local` print: the plan's lines, or JSON.

    ``compact``: the JSON on one line (``--follow`` prints JSON lines, one per reconcile).
    """
    if json and compact:
        sys.stdout.write(json_module.dumps(data, default=_default, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    elif json:
        emit_json(data)
    else:
        for line in lines:
            plain(line)
        if compact:
            sys.stdout.flush()
    if dry_run:
        message("dry run: nothing was changed")
