"""Laying out a table as text lines: key columns whole, free text shortened first, records as blocks
when even the key columns do not fit.

Key columns (ids, CIDRs, names) are never cropped or split across lines: a copied id must be the
id. Free-text columns (a comment, a description) give way first, shortened with an ellipsis down
to their header's width. When the key columns alone are wider than the terminal, each row becomes
a block of ``HEADER  value`` lines, as ``kubectl describe`` prints an object. Plain text: no box
characters and no trailing blanks, so the output reads well in ``grep`` and ``less``.
"""

from __future__ import annotations

from collections.abc import Sequence

#: columns whose cells are free text: the ones that give way when a table is too wide
FREE_TEXT = frozenset({"COMMENT", "DESCRIPTION", "NESTED", "TITLE"})
GAP = 2
ELLIPSIS = "…"


def _shorten(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: max(0, width - 1)] + ELLIPSIS


def fit(columns: Sequence[str], widths: Sequence[int], width: int | None) -> list[int] | None:
    """Column widths that fit ``width``: free text shortened first, down to its header's width;
    None when even then the key columns do not fit (print blocks). ``width`` None: as they are."""
    out = list(widths)

    def total(ws: list[int]) -> int:
        return sum(ws) + GAP * (len(ws) - 1)

    if width is None or total(out) <= width:
        return out
    for i, c in enumerate(columns):
        if c in FREE_TEXT:
            excess = total(out) - width
            if excess <= 0:
                break
            out[i] = max(len(c), out[i] - excess)
    return out if total(out) <= width else None


def layout(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """The lines of the table; ``width`` None: as wide as the content (a pipe, a file)."""
    widths = fit(columns, [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)], width)
    if widths is None:
        return blocks(columns, rows, width)
    return [line(columns, widths)] + [line(r, widths) for r in rows]


def line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One row: each cell padded to its column (free text shortened to it), no trailing blanks."""
    last = len(cells) - 1
    return "".join(_shorten(c, widths[i]) if i == last else _shorten(c, widths[i]).ljust(widths[i] + GAP)
                   for i, c in enumerate(cells)).rstrip()


def blocks(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None) -> list[str]:
    """One record per block: ``HEADER  value`` lines, a blank line between records. Key values are
    never cropped; free text is shortened to ``width``."""
    label = max(len(c) for c in columns)
    room = None if width is None else max(width - label - GAP, 1)
    out: list[str] = []
    for n, row in enumerate(rows):
        if n:
            out.append("")
        out += [f"{c.ljust(label)}  {_shorten(v, room) if room and c in FREE_TEXT else v}".rstrip()
                for c, v in zip(columns, row, strict=True)]
    return out
