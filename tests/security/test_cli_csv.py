"""CSV export is safe to open in a spreadsheet and imports back exactly (issue 17, item 5)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import WARPCLI, Paths
from warpcli.core.bulk import neutralise_cell, restore_cell

TRIGGERS = "=+-@\t\r"
COMMENTS = ["=HYPERLINK(\"http://x\",\"click\")", "+1 555 0100", "-2+3", "@SUM(A1:A9)", "'=already quoted",
            "''+two quotes", "'plain quote", "plain", "", "a=b", "x-y"]


def spreadsheet_would_run(cell: str) -> bool:
    return cell != "" and cell[0] in TRIGGERS


@given(st.text(alphabet=st.sampled_from(list("'=+-@\t\rab "))))
def test_neutralise_is_safe_and_exactly_reversible(value: str) -> None:
    cell = neutralise_cell(value)
    assert not spreadsheet_would_run(cell)
    assert restore_cell(cell) == value
    # the oracle: a quote is added exactly when the value is quotes-then-a-trigger
    assert (cell != value) == value.lstrip("'").startswith(tuple(TRIGGERS))


@given(st.text())
def test_values_that_need_nothing_pass_through(value: str) -> None:
    if not value.lstrip("'").startswith(tuple(TRIGGERS)):
        assert neutralise_cell(value) == value == restore_cell(value)


def test_export_neutralises_and_import_restores_the_exact_values(paths: Paths, sh, tmp_path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    for i, comment in enumerate(COMMENTS):
        assert sh("route", "add", f"10.{i}.0.0/16", "--tunnel", "office", "--comment", comment).exit_code == 0
    exported = sh("routes", "export")
    assert exported.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == len(COMMENTS)
    for row in rows:
        assert not spreadsheet_would_run(row["comment"]), row
    by_comment = {row["comment"] for row in rows}
    assert "'=HYPERLINK(\"http://x\",\"click\")" in by_comment and "'''+two quotes" in by_comment
    assert "'plain quote" in by_comment  # no trigger after the quote: left alone

    # import the CSV into a fresh state: the JSON export matches the original exactly
    fresh = {**os.environ, "WARPCLI_STATE_DIR": str(tmp_path / "fresh"), "WARPCLI_CONFIG_DIR": str(tmp_path / "c2")}
    p = subprocess.run([WARPCLI, "tunnel", "create", "office"], env=fresh, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([WARPCLI, "routes", "import", "-", "--format", "csv"], input=exported.stdout, env=fresh,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr

    def table(env: dict | None) -> list:
        out = subprocess.run([WARPCLI, "routes", "export", "--json"], env=env, capture_output=True, text=True,
                             timeout=60).stdout
        return sorted((json.loads(line) for line in out.splitlines()), key=lambda r: r["network"])

    assert table(fresh) == table(None)
    assert {r["comment"] for r in table(fresh)} == set(COMMENTS)


def test_jsonl_export_is_written_as_it_is(paths: Paths, sh) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    assert sh("route", "add", "10.0.0.0/24", "--tunnel", "office", "--comment", "=1+1").exit_code == 0
    line = sh("routes", "export", "--json").stdout.strip()
    assert json.loads(line)["comment"] == "=1+1"
