"""Tables never crop an id, a CIDR or a name; free text gives way first; too narrow: one block per record."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.cli.layout import ELLIPSIS, FREE_TEXT, layout

key_cell = st.text(alphabet="0123456789abcdef-./:", min_size=1, max_size=40)
free_cell = st.text(alphabet="abc xyz", max_size=200)


@given(st.lists(st.tuples(key_cell, key_cell, free_cell), min_size=1, max_size=8), st.integers(10, 200))
def test_key_cells_are_always_whole(rows, width) -> None:
    columns = ["ID", "NETWORK", "COMMENT"]
    lines = layout(columns, [list(r) for r in rows], width)
    text = "\n".join(lines)
    blocks = not lines[0].startswith("ID  ") and lines[0].startswith("ID ")
    for r in rows:
        for cell in r[:2]:
            assert any(cell in line.split() or line.endswith(cell) for line in lines), (cell, text)
    if not blocks:  # a table: every line fits unless the key columns alone exceed the width
        key_width = max(len("ID"), *(len(r[0]) for r in rows)) + max(len("NETWORK"), *(len(r[1]) for r in rows)) + 4
        if key_width + len("COMMENT") <= width:
            assert all(len(line) <= width for line in lines), text
    assert all(line == line.rstrip() for line in lines)


def test_free_text_is_shortened_with_an_ellipsis_first() -> None:
    rows = [["3adc9844-0054-422d-9bfc-7e2cfc04263c", "10.0.0.0/16", "x" * 1000]]
    lines = layout(["ID", "NETWORK", "COMMENT"], rows, 80)
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    assert rows[0][0] in lines[1] and rows[0][1] in lines[1] and lines[1].endswith(ELLIPSIS)


def test_too_narrow_for_the_keys_prints_blocks() -> None:
    rows = [["3adc9844-0054-422d-9bfc-7e2cfc04263c", "2001:db8:1234:5678::/64", "c"]] * 2
    lines = layout(["ID", "NETWORK", "COMMENT"], rows, 40)
    assert lines[:3] == ["ID       3adc9844-0054-422d-9bfc-7e2cfc04263c", "NETWORK  2001:db8:1234:5678::/64",
                         "COMMENT  c"]
    assert lines[3] == "" and len(lines) == 7


def test_comment_is_free_text() -> None:
    assert "COMMENT" in FREE_TEXT and "ID" not in FREE_TEXT


LISTINGS = [["routes"], ["tunnel", "list"], ["vnet", "list"], ["tunnel", "show", "office"], ["routes", "--overlaps"],
            ["route", "get", "10.0.0.7", "--vnet", "all"], ["connector", "list"], ["controller", "token", "list"]]


@pytest.mark.parametrize("columns", ["80", "40"])
@pytest.mark.parametrize("args", LISTINGS, ids=[" ".join(a) for a in LISTINGS])
def test_every_listing_keeps_ids_and_cidrs_whole(sh, paths, args, columns) -> None:
    long_comment = "a remark that goes on " * 20
    assert sh("tunnel", "create", "office").exit_code == 0
    assert sh("vnet", "add", "staging-with-a-long-name", "--comment", long_comment[:250]).exit_code == 0
    assert sh("route", "add", "10.0.0.0/16", "--comment", long_comment).exit_code == 0
    assert sh("route", "add", "10.0.0.0/24").exit_code == 0
    assert sh("route", "add", "2001:db8:1234:5678::/64", "--vnet", "staging-with-a-long-name").exit_code == 0
    assert sh("controller", "token", "create", "--name", "ci").exit_code == 0
    ids = [r["id"] for r in json.loads(sh("routes", "--json").stdout)]
    ids += [t["id"] for t in json.loads(sh("tunnel", "list", "--json").stdout)]
    r = sh(*args, env={"COLUMNS": columns})
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    for cidr in ("10.0.0.0/16", "10.0.0.0/24"):
        if args[0] == "routes" and args[1:] == []:
            assert cidr in out.split(), (cidr, out)
    if args == ["routes"]:
        assert all(i in out.split() for i in ids[:3]), out
    if args in (["tunnel", "list"],):
        assert ids[3] in out.split(), out
    assert "\x1b[" not in out
    assert all(line == line.rstrip() for line in out.splitlines())
    # within the width, except a line that holds a key value (an id, a CIDR, a name) it may not crop
    width = int(columns)
    for line in out.splitlines():
        if len(line) > width:
            keys = [w for w in line.split() if w in (*ids, "staging-with-a-long-name", "2001:db8:1234:5678::/64")
                    or re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", w)]
            assert keys and "…" not in line and "a remark" not in line, (width, line)


EMPTY = [(["routes"], "no routes"), (["tunnel", "list"], "no tunnels"), (["tunnel", "list", "--deleted"], "no deleted tunnels"),
         (["connector", "list"], "no connectors"), (["hub", "list"], "no hubs run on this host"),
         (["hub", "status"], "no hubs run on this host")]


@pytest.mark.parametrize(("args", "said"), EMPTY, ids=[" ".join(a) for a, _ in EMPTY])
def test_an_empty_listing_says_so_on_stderr(sh, args, said) -> None:
    """Not a bare header: one line on stderr, nothing on stdout; `--json` is an empty list."""
    r = sh(*args)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and r.stderr.strip() == said
    j = sh(*args, "--json")
    assert j.exit_code == 0 and json.loads(j.stdout) == []


@pytest.mark.parametrize(("args", "said"), [(["controller", "token", "list"], "no API tokens (revoked ones: --all)"),
                                            (["controller", "token", "list", "--all"], "no API tokens"),
                                            (["policy", "list"], "no rules; default: allow")])
def test_empty_tokens_and_policies_say_so_on_stderr(sh, args, said) -> None:
    r = sh(*args)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "" and r.stderr.strip() == said
