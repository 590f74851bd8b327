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


def layout(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """The lines of the table; ``width`` None: as wide as the content (a pipe, a file)."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    free = [i for i, c in enumerate(columns) if c in FREE_TEXT]

    def total(ws: list[int]) -> int:
        return sum(ws) + GAP * (len(ws) - 1)

    if width is not None and total(widths) > width:
        for i in free:  # free text gives way first, down to its header's width
            excess = total(widths) - width
            if excess <= 0:
                break
            widths[i] = max(len(columns[i]), widths[i] - excess)
        if total(widths) > width:
            return _blocks(columns, rows)
    return [_line(columns, widths)] + [_line([_shorten(c, widths[i]) for i, c in enumerate(r)], widths) for r in rows]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    last = len(cells) - 1
    return "".join(c if i == last else c.ljust(widths[i] + GAP) for i, c in enumerate(cells)).rstrip()


def _blocks(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """One record per block: ``HEADER  value`` lines, a blank line between records; nothing cropped."""
    label = max(len(c) for c in columns)
    out: list[str] = []
    for n, row in enumerate(rows):
        if n:
            out.append("")
        out += [f"{c.ljust(label)}  {v}".rstrip() for c, v in zip(columns, row, strict=True)]
    return out
