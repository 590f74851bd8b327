"""render.stream_table: plain aligned columns, printed a page at a time, nothing cropped."""

from __future__ import annotations

import io
import itertools
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warpcli.cli import render

cell = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=50)


def _starts(line: str) -> list[int]:
    """Where each space-separated cell of a line starts."""
    return [i for i, ch in enumerate(line) if ch != " " and (i == 0 or line[i - 1] == " ")]


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(cell, min_size=3, max_size=3), max_size=300), first=st.integers(1, 7),
       page=st.integers(1, 50))
def test_every_cell_is_whole_and_aligned_within_a_page(rows, first, page) -> None:
    out = io.StringIO()
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "stdout", out)
    mp.setattr(render, "FIRST_PAGE", first)
    mp.setattr(render, "PAGE", page)
    try:
        n = render.stream_table(["A", "B", "C"], rows)
    finally:
        mp.undo()
    lines = out.getvalue().split("\n")
    assert lines.pop() == ""
    assert n == len(rows) and len(lines) == len(rows) + 1
    assert lines[0].split() == ["A", "B", "C"]
    assert not any("─" in line for line in lines)  # plain columns, as every other table: no box characters
    for row, line in zip(rows, lines[1:], strict=True):
        assert line.split() == row  # whole cells, in order
        assert line == line.rstrip()
    bounds = [0, first, *range(first + page, len(rows) + page, page)]
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        body = lines[1 + a:1 + b] + (lines[:1] if k == 0 else [])
        if body:
            assert len({tuple(_starts(line)) for line in body}) == 1, body  # aligned
            width = [max(len(line.split()[i]) for line in body) for i in range(2)]
            got = _starts(body[0])
            assert got[1] >= width[0] + 2 and got[2] - got[1] >= width[1] + 2


def test_the_first_page_is_written_before_the_rest_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    seen_before: list[int] = []

    def rows():
        for i in range(render.FIRST_PAGE + 5):
            if i == render.FIRST_PAGE + 1:
                seen_before.append(out.getvalue().count("\n"))
            yield [f"10.0.0.{i % 250}/32", "t", str(i)]

    render.stream_table(["NETWORK", "TUNNEL", "ID"], rows())
    assert seen_before == [1 + render.FIRST_PAGE]  # the header and the first page
