"""The state store under hostile conditions (issue 17, items 7-10).

Real processes and real SQLite files: a full disk (SQLite's own page limits, set in
the process that runs the command), a 0-byte ``state.db``, a state directory the
user cannot read (run as the user ``nobody``), and the file mode of a new database.
The CLI error cases of tests/test_cli_errors.py also run here as ``nobody``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, Paths, dump_state
from tests.security.cli_helpers import as_nobody_argv, nobody_dir, nobody_reason

#: run warpcli in a real process whose SQLite connections have a page limit: the
#: temporary store (where `routes import` stages its rows) or the main database
FULL_DISK = """
import sqlite3, sys
limit, schema = int(sys.argv[1]), sys.argv[2]
_connect = sqlite3.connect
def connect(*a, **k):
    conn = _connect(*a, **k)
    if schema == "temp":
        conn.execute("PRAGMA temp_store = FILE")
    conn.execute(f"PRAGMA {schema}.max_page_count = {limit}")
    return conn
sqlite3.connect = connect
from warpcli.cli.app import main
sys.argv = ["warpcli", *sys.argv[3:]]
main()
"""


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warpcli: error: "), stderr
    return lines[0]


def routes_csv(n: int) -> str:
    return "".join(f"10.{i // 256}.{i % 256}.0/24,office,,{'c' * 200}\n" for i in range(n))


@pytest.mark.parametrize("schema", ["temp", "main"])
def test_a_full_disk_during_import_says_so_and_changes_nothing(paths: Paths, sh, schema: str) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    assert sh("route", "add", "192.168.0.0/24", "--tunnel", "office").exit_code == 0
    before = dump_state(paths.state)
    pages = 4 if schema == "temp" else 40
    p = subprocess.run([sys.executable, "-c", FULL_DISK, str(pages), schema, "routes", "import", "-",
                        "--format", "csv"], input=routes_csv(3000), capture_output=True, text=True, timeout=120)
    line = one_error_line(p.stderr)
    assert p.returncode == 5, line
    assert "database or disk is full" in line and "nothing was changed" in line, line
    assert "import_rows" not in line
    assert dump_state(paths.state) == before


def test_a_zero_byte_state_db_is_refused_not_recreated(paths: Paths, sh) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    secrets = (paths.state / "secrets.json").read_bytes()
    (paths.state / "state.db").write_bytes(b"")
    for args in (["tunnel", "list"], ["tunnel", "create", "lab"], ["routes", "--json"]):
        r = sh(*args)
        line = one_error_line(r.stderr)
        assert r.exit_code == 5 and r.stdout == ""
        assert "empty (0 bytes)" in line and "restore it from a backup" in line and "secrets.json" in line
        assert (paths.state / "state.db").stat().st_size == 0
        assert (paths.state / "secrets.json").read_bytes() == secrets


def test_state_db_is_created_0600_whatever_the_directory_and_umask(paths: Paths) -> None:
    paths.state.mkdir(mode=0o755)
    os.chmod(paths.state, 0o755)
    p = subprocess.run(["sh", "-c", 'umask 000 && exec "$@"', "sh", WARPCLI, "tunnel", "create", "office"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for name in ("state.db", "secrets.json"):
        assert stat.S_IMODE((paths.state / name).stat().st_mode) == 0o600, name
    # nothing left over from the atomic creation
    assert sorted(os.listdir(paths.state)) == ["secrets.json", "secrets.json.lock", "state.db"]


def test_concurrent_first_runs_make_one_database(paths: Paths) -> None:
    procs = [subprocess.Popen([WARPCLI, "vnet", "add", f"v{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(6)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(code == 0 for code, _ in results), results
    out = subprocess.run([WARPCLI, "vnet", "list", "--json"], capture_output=True, text=True, timeout=60).stdout
    assert out.count('"name"') == 7  # default + 6: every process used the same database


# -- as a user who cannot read the state ------------------------------------------------------
needs_nobody = pytest.mark.skipif(nobody_reason() is not None, reason=nobody_reason() or "")


@pytest.fixture
def shared() -> Path:
    d = nobody_dir()
    yield d
    shutil.rmtree(d)


def nobody_env(base: Path, state: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARPCLI_", "PYTHON_KEYRING", "XDG_"))}
    env.update(HOME=str(base), WARPCLI_STATE_DIR=str(state), WARPCLI_CONFIG_DIR=str(base / "config"),
               WARPCLI_RUN_DIR=str(base / "run"), WARPCLI_SECRET_BACKEND="file", NO_COLOR="1")
    return env


@needs_nobody
@pytest.mark.parametrize("args", [["tunnel", "list"], ["routes", "--json"], ["tunnel", "create", "x"],
                                  ["route", "get", "10.0.0.1"], ["routes", "export"]], ids=" ".join)
def test_an_unreadable_state_dir_is_one_line_exit_5(shared: Path, args: list[str]) -> None:
    state = Path("/tmp") / f"warpcli-root-only-{os.getpid()}"  # like root's /var/lib/warpcli
    state.mkdir(mode=0o700)
    try:
        p = subprocess.run([WARPCLI, "tunnel", "create", "office"], env=nobody_env(shared, state),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        before = sorted(os.listdir(state))
        p = subprocess.run(as_nobody_argv([WARPCLI, *args]), env=nobody_env(shared, state), capture_output=True,
                           text=True, timeout=60)
        line = one_error_line(p.stderr)
        assert p.returncode == 5, line
        assert str(state) in line and "Permission denied" in line, line
        assert p.stdout == ""
        assert sorted(os.listdir(state)) == before
    finally:
        shutil.rmtree(state)


@needs_nobody
def test_the_cli_error_cases_hold_as_an_unprivileged_user(shared: Path) -> None:
    """tests/test_cli_errors.py's cases on the embedded controller, run as ``nobody``."""
    from tests import test_cli_errors as errors_suite
    from tests.conftest import Paths as P

    template = shared / "template"
    env = nobody_env(shared, template)
    for args in (["tunnel", "create", "office"], ["tunnel", "create", "lab"], ["vnet", "add", "staging"],
                 ["route", "add", "10.0.0.0/24", "--tunnel", "office"],
                 ["route", "add", "10.0.0.0/16", "--tunnel", "lab", "--comment", "whole lab"],
                 ["route", "add", "10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging"],
                 ["route", "add", "2001:db8::/32", "--tunnel", "lab"]):
        p = subprocess.run(as_nobody_argv([WARPCLI, *args]), env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (args, p.stderr)
    ran = 0
    for case in errors_suite.CASES:
        if case.id.startswith("locked-"):
            continue  # the lock is held by this (root) process: covered by the root run
        work = shared / f"case-{ran}"
        work.mkdir()
        paths = P(work / "home", work / "state", work / "config")
        paths.home.mkdir()
        shutil.copytree(template, paths.state)
        ctx = case.prepare(paths) if case.prepare else None
        assert ctx is None
        subprocess.run(["chown", "-R", "nobody:nogroup", str(work)], check=True, timeout=60)
        before = errors_suite.snapshot(paths)
        p = subprocess.run(as_nobody_argv([WARPCLI, *case.args]),
                           env={**nobody_env(work, paths.state), "WARPCLI_CONFIG_DIR": str(paths.config), **case.env},
                           input=case.stdin or "", capture_output=True, text=True, timeout=60)
        line = one_error_line(p.stderr)
        for fragment in case.says:
            assert fragment in line, (case.id, fragment, line)
        assert p.returncode == case.code, (case.id, p.returncode, line)
        assert p.stdout == "", (case.id, p.stdout)
        assert errors_suite.snapshot(paths) == before, case.id
        ran += 1
    assert ran > 60
