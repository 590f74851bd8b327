"""`render.emit_json_sections`: a JSON object of arrays printed element by element."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.cli import render

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), st.lists(JSON_VALUES, max_size=4), max_size=4))
def test_the_stream_parses_to_the_same_document(sections: dict[str, list[Any]]) -> None:
    out = io.StringIO()
    saved, sys.stdout = sys.stdout, out
    try:
        render.emit_json_sections({k: iter(v) for k, v in sections.items()})
    finally:
        sys.stdout = saved
    assert json.loads(out.getvalue()) == sections
    assert out.getvalue().endswith("}\n")


def test_each_element_is_written_before_the_next_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)

    def groups() -> Iterator[dict]:
        for i in range(3):
            if i:  # the previous group is already on stdout: nothing waits for the whole document
                assert json.loads(out.getvalue().rstrip(",\n").rsplit("\n", 1)[-1].strip()) == {"n": i - 1}
            yield {"n": i}

    render.emit_json_sections({"nested": groups(), "shared": iter([]), "connected": []})
    assert json.loads(out.getvalue()) == {"nested": [{"n": 0}, {"n": 1}, {"n": 2}], "shared": [], "connected": []}


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (1532, "1.5 KiB"), (10 * 1024**2, "10 MiB"),
    (5 * 1024**4, "5 TiB"), (3 * 1024**5, "3072 TiB"), (1023 * 1024 + 900, "1024 KiB"), (1000 * 1024, "1000 KiB"),
])
def test_human_bytes(n: int, text: str) -> None:
    from warpcli.cli.render import human_bytes

    assert human_bytes(n) == text


@pytest.mark.parametrize(("s", "text"), [
    (0, "0 s"), (59, "59 s"), (60, "1 min"), (75, "1 min 15 s"), (3600, "1 h"), (7300, "2 h 1 min"),
    (200000, "2 d 7 h"),
])
def test_human_age(s: int, text: str) -> None:
    from warpcli.cli.render import human_age

    assert human_age(s) == text


def test_every_follow_line_starts_with_an_iso_time(capsys: pytest.CaptureFixture[str]) -> None:
    """`--follow` in text: each plan line and each message carries the time (issue 18, item 4)."""
    import re

    render.plan_result(["+ route 10.1.7.0/24 dev wg0 table 24500", "~ wireguard peer k"], {}, json=False, compact=True)
    render.follow_message("controller unreachable; retrying")
    out, err = capsys.readouterr()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
    assert [re.sub(stamp, "", line, count=1) for line in out.splitlines()] == \
        ["+ route 10.1.7.0/24 dev wg0 table 24500", "~ wireguard peer k"]
    assert all(re.match(stamp, line) for line in out.splitlines())
    assert re.match(stamp + "controller unreachable; retrying$", err.strip())
