"""Terminal escape sequences from data never reach a terminal raw (issue 17, item 4).

A state file written by another tool (or a Cloudflare-dialect server) can hold any
characters in names and comments. Everything printed for people goes through one
escaping function (warpcli/core/text.py): the commands run on a real pseudo-terminal
and the bytes the terminal received are checked. JSON output stays exact.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Paths
from tests.security.cli_helpers import HOSTILE, RAW_SEQUENCES, VISIBLE, run_in_pty, set_in_state
from warpcli.core.text import visible


@pytest.fixture
def hostile(paths: Paths, sh) -> Paths:
    for args in (["tunnel", "create", "office"], ["vnet", "add", "staging"],
                 ["route", "add", "10.0.0.0/24", "--tunnel", "office", "--comment", "plain"],
                 ["route", "add", "10.0.0.0/16", "--tunnel", "office", "--vnet", "staging"],
                 ["route", "add", "10.0.0.0/8", "--tunnel", "office"]):
        assert sh(*args).exit_code == 0
    set_in_state(paths.state, "UPDATE tunnels SET name = ?", HOSTILE)
    set_in_state(paths.state, "UPDATE routes SET comment = ?", HOSTILE + " [bold]markup[/] [/nope]")
    set_in_state(paths.state, "UPDATE virtual_networks SET name = ? WHERE name = 'staging'", HOSTILE + "-vnet")
    return paths


def assert_safe(out: bytes) -> None:
    for raw in RAW_SEQUENCES:
        assert raw not in out, (raw, out)


@pytest.mark.parametrize("args", [
    ["tunnel", "list"], ["routes"], ["routes", "--overlaps"], ["route", "get", "10.0.0.7"],
    ["route", "get", "10.0.0.7", "--vnet", "all"], ["vnet", "list"], ["tunnel", "delete", "office"],
], ids=" ".join)
def test_names_and_comments_are_shown_escaped_on_a_terminal(hostile: Paths, args: list[str]) -> None:
    r = run_in_pty(args, dict(os.environ))
    assert_safe(r.output)
    text = r.output.decode()
    assert "Traceback" not in text
    if args != ["tunnel", "delete", "office"]:
        assert r.exit_code == 0, text
        assert "evil\\x1b]0;pwned\\x07" in text  # shown, visibly (a table may fold the rest)


def test_tunnel_show_and_comments_keep_their_brackets(hostile: Paths, sh) -> None:
    tid = json.loads(sh("tunnel", "list", "--json").stdout)[0]["id"]
    r = run_in_pty(["tunnel", "show", tid], dict(os.environ))
    assert r.exit_code == 0 and "Traceback" not in r.output.decode()
    assert_safe(r.output)
    assert VISIBLE in r.output.decode()
    wide = run_in_pty(["routes", "--vnet", "default"], dict(os.environ), cols=400)
    assert "[bold]markup[/] [/nope]" in wide.output.decode()  # data, not Rich markup


def test_plain_output_and_errors_are_escaped_without_a_terminal(hostile: Paths, sh) -> None:
    r = sh("route", "get", "10.0.0.7")  # tab-separated fields: a tab in data must not add a column
    assert r.exit_code == 0
    fields = r.stdout.rstrip("\n").split("\t")
    assert len(fields) == 4 and fields[0] == VISIBLE
    r = sh("route", "get", "10.0.0.7", "--vnet", "no\x1b[2Jsuch")
    assert r.exit_code == 3 and "\x1b" not in r.stderr and r.stderr.count("\n") == 1


def test_json_output_stays_exact(hostile: Paths, sh) -> None:
    tunnels = json.loads(sh("tunnel", "list", "--json").stdout)
    assert tunnels[0]["name"] == HOSTILE
    routes = json.loads(sh("routes", "--json").stdout)
    assert {r["comment"] for r in routes} == {HOSTILE + " [bold]markup[/] [/nope]"}
    assert "\x1b" not in sh("routes", "--json").stdout  # the JSON encoder escapes C0 itself


def test_an_import_error_echoes_the_bad_row_escaped(paths: Paths, sh) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    r = sh("routes", "import", "-", "--format", "csv", input=f"10.0.0.0/24,{HOSTILE.replace(chr(10), '')}\n")
    assert r.exit_code == 2
    assert "\x1b" not in r.stderr and "\x9b" not in r.stderr and "\u202e" not in r.stderr
    assert "\\x1b]0;pwned" in r.stderr or "'evil\\x1b]0;pwned" in r.stderr


def test_config_set_api_url_with_escapes_is_refused_and_shown_escaped(paths: Paths, sh) -> None:
    r = sh("config", "set", "api_url", "https://x\x1b]0;pwned\x07/client/v4")
    assert r.exit_code == 2 and "control characters" in r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert not (paths.config / "config.toml").exists() or "pwned" not in (paths.config / "config.toml").read_text()


def test_a_usage_error_echoing_argv_is_escaped(paths: Paths, sh) -> None:
    r = sh("tunnel", "show", "--bogus\x1b[31m")
    assert r.exit_code == 2 and "\x1b" not in r.stderr and "\\x1b[31m" in r.stderr


# -- the escaping function itself, against an oracle -----------------------------------------
def oracle(s: str) -> str:
    import unicodedata

    out = []
    for ch in s:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(ch) or
                       (f"\\x{ord(ch):02x}" if ord(ch) < 256 else
                        f"\\u{ord(ch):04x}" if ord(ch) < 65536 else f"\\U{ord(ch):08x}"))
        else:
            out.append(ch)
    return "".join(out)


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF)))
def test_visible_matches_the_oracle_and_leaves_no_control_character(s: str) -> None:
    v = visible(s)
    assert v == oracle(s)
    import unicodedata

    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in v)
    assert visible(v) == v  # idempotent: what it prints has nothing left to escape
