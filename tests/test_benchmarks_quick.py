"""`benchmarks/run.py --quick` in CI: every row runs at reduced size and works.

A slow figure is not a failure here (speed is for the full run on a quiet machine);
a row that cannot run, or whose command disagrees with its baseline, is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_benchmark_row_runs(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["quick"] is True
    rows = {r["row"] for r in doc["results"]}
    assert rows == _declared_rows(), rows
    assert not [r for r in doc["results"] if r.get("broken")]
    for r in doc["results"]:
        assert r["figure"] != "-" or r.get("ok") is None, r  # a figure, or a row that says why not (e.g. no root)


def _declared_rows() -> set[int]:
    """The row numbers benchmarks/run.py declares (its ROWS table), read without running it."""
    import ast

    tree = ast.parse((ROOT / "benchmarks" / "run.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ROWS" for t in node.targets):
            return {k.value for k in node.value.keys}  # type: ignore[union-attr]
    raise AssertionError("benchmarks/run.py has no ROWS table")
