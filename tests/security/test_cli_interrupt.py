"""Ctrl-C during `routes import` says what happened, and says it truthfully (issue 17, item 13).

The interrupt is delivered at chosen instants by the fault hook
(``WARPCLI_FAULT_SIGNAL_AT=POINT:INT``: the process sends itself SIGINT there, no
timing race), then at arbitrary instants by a real SIGINT from outside; every time
the message must match the database.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, Paths, dump_state

ROWS = 2000


def csv_rows(n: int = ROWS, first: int = 10) -> str:
    return "".join(f"{first}.{i // 256}.{i % 256}.0/24,office\n" for i in range(n))


def count_routes(state: Path) -> int:
    conn = sqlite3.connect(state / "state.db")
    try:
        return conn.execute("SELECT count(*) FROM routes WHERE deleted_at IS NULL").fetchone()[0]
    finally:
        conn.close()


def wait_until_open(proc: subprocess.Popen, path: Path, bound: float = 60.0) -> bool:
    """Wait (bounded) until ``pid`` has ``path`` open: it is then inside the import command."""
    pid = proc.pid
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True  # it already exited: any instant is fine
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            fds = []
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    return True
            except OSError:
                continue
        time.sleep(0.001)
    return False


@pytest.fixture
def office(paths: Paths, sh) -> Paths:
    assert sh("tunnel", "create", "office").exit_code == 0
    return paths


@pytest.mark.parametrize("point,committed", [("commit-before", False), ("commit", True), ("commit-after", True)])
def test_ctrl_c_at_each_point_reports_the_truth(office: Paths, sh, point: str, committed: bool) -> None:
    before = dump_state(office.state)
    r = sh("routes", "import", "-", "--format", "csv", input=csv_rows(),
           env={"WARPCLI_FAULT_SIGNAL_AT": f"{point}:INT"})
    assert r.exit_code == 130, r.stderr
    assert "Traceback" not in r.stderr
    if committed:
        assert r.stderr == (f"imported {ROWS} route(s)\n"
                            f"warpcli: error: interrupted after the commit; {ROWS} route(s) were imported\n")
        assert count_routes(office.state) == ROWS
    else:
        assert r.stderr == "warpcli: error: interrupted; nothing was imported\n"
        assert dump_state(office.state) == before


def test_ctrl_c_with_json_still_prints_the_result_after_the_commit(office: Paths, sh) -> None:
    r = sh("routes", "import", "-", "--format", "csv", "--json", input=csv_rows(10),
           env={"WARPCLI_FAULT_SIGNAL_AT": "commit:INT"})
    assert r.exit_code == 130 and json.loads(r.stdout)["imported"] == 10


def test_ctrl_c_at_any_instant_matches_the_database(office: Paths, tmp_path: Path) -> None:
    """A real SIGINT at spread-out instants: whatever happened, the message says it."""
    outcomes = set()
    for attempt in range(8):
        n_before = count_routes(office.state)
        table = tmp_path / f"table{attempt}.csv"
        table.write_text(csv_rows(20000, 10 if attempt % 2 == 0 else 10 + attempt))
        proc = subprocess.Popen([WARPCLI, "routes", "import", str(table)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_until_open(proc, table), "the import never opened its file"
        time.sleep(0.03 * attempt)  # not synchronisation: only spreads the instants; any outcome is checked
        try:
            os.kill(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        _out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        added = count_routes(office.state) - n_before
        if proc.returncode == 0:
            assert err == "imported 20000 route(s)\n" and added == 20000
            outcomes.add("finished")
        elif "nothing was imported" in err:
            assert proc.returncode == 130 and added == 0, err
            outcomes.add("nothing")
        elif "after the commit" in err:
            assert proc.returncode == 130 and added == 20000, err
            outcomes.add("committed")
        else:
            # a conflict because an earlier attempt imported these rows (even attempts reuse them)
            assert proc.returncode == 4 and added == 0, (proc.returncode, err)
            outcomes.add(f"exit {proc.returncode}")
    assert outcomes
