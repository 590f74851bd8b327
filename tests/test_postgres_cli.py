"""The embedded controller on PostgreSQL through the CLI: migrate, copy, the password, DB loss.

Real ``warpcli`` processes against a private PostgreSQL cluster (tests/pg.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Paths
from tests.pg import PASSWORD


def _ok(r) -> str:
    assert r.exit_code == 0, r.stderr
    return r.stdout


def _dump(sh, url: str, tmp: Path) -> dict:
    """Every row behind ``url``: a SQLite file read directly; PostgreSQL through a copy into a new file."""
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite://"):])
        db = db / "state.db" if db.is_dir() else db
    else:
        target = tmp / f"dump-{len(list(tmp.glob('dump-*')))}"
        _ok(sh("controller", "copy", "--from", url, "--to", f"sqlite:///{target}", "--json"))
        db = target / "state.db"
    conn = sqlite3.connect(db)
    try:
        out = {}
        for table in ("meta", "virtual_networks", "tunnels", "routes", "connectors", "hubs", "api_tokens",
                      "connector_reports", "tunnel_ha"):
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        return out
    finally:
        conn.close()


def _fill(sh) -> None:
    _ok(sh("tunnel", "create", "office"))
    _ok(sh("tunnel", "create", "lab", "--ha"))  # its HA settings (tunnel_ha) go along
    _ok(sh("vnet", "add", "staging", "--comment", "stage"))
    _ok(sh("route", "add", "10.0.0.0/16", "--tunnel", "office"))
    _ok(sh("route", "add", "2001:db8::/48", "--tunnel", "lab", "--vnet", "staging", "--comment", "v6"))
    deleted = json.loads(_ok(sh("route", "add", "10.9.0.0/24", "--tunnel", "lab", "--json")))
    _ok(sh("route", "delete", deleted["id"]))
    _ok(sh("route", "add", "10.9.0.0/24", "--tunnel", "office"))  # the soft-deleted CIDR again
    _ok(sh("enroll", "--tunnel", "office", "--json"))
    _ok(sh("controller", "token", "create", "--name", "ci", "--json"))


def test_migrate_is_idempotent_and_versioned(sh, paths: Paths, pg_url: str) -> None:
    env = {"WARPCLI_DATABASE_URL": pg_url}
    first = json.loads(_ok(sh("controller", "migrate", "--json", env=env)))
    assert first["engine"] == "postgresql" and first["from_version"] == 0 and first["changed"] is True
    again = json.loads(_ok(sh("controller", "migrate", "--json", env=env)))
    assert again["from_version"] == again["to_version"] == first["to_version"] and again["changed"] is False
    for doc in (first, again):
        assert PASSWORD not in json.dumps(doc) and "***" in doc["location"]
    # the SQLite store migrates the same way
    local = json.loads(_ok(sh("controller", "migrate", "--json")))
    assert local["engine"] == "sqlite" and local["location"] == str(paths.state / "state.db")
    assert json.loads(_ok(sh("controller", "migrate", "--json")))["changed"] is False


def test_commands_run_on_the_database_and_never_print_its_password(sh, paths: Paths, pg_url: str) -> None:
    env = {"WARPCLI_DATABASE_URL": pg_url}
    _ok(sh("tunnel", "create", "office", env=env))
    _ok(sh("route", "add", "10.0.0.0/24", "--tunnel", "office", env=env))
    routes = json.loads(_ok(sh("routes", "--json", env=env)))
    assert [r["network"] for r in routes] == ["10.0.0.0/24"]
    assert not (paths.state / "state.db").exists()  # nothing went to SQLite
    # the same through --database
    r = sh("--database", pg_url, "route", "add", "10.0.0.0/24", "--tunnel", "office")
    assert r.exit_code == 4 and "already routed" in r.stderr
    shown = sh("config", "show", "--json", env=env)
    assert PASSWORD not in shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["database_url"].count("***") == 1


def test_an_unreachable_database_is_one_line_and_exit_5(sh, pg_cluster) -> None:
    url = pg_cluster.url("nosuchdb")
    r = sh("tunnel", "list", env={"WARPCLI_DATABASE_URL": url, "WARPCLI_LOCK_TIMEOUT": "2"})
    assert r.exit_code == 5, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "unavailable" in r.stderr


@pytest.mark.slow
def test_copy_round_trip_sqlite_postgresql_sqlite_is_identical(sh, paths: Paths, pg_cluster, tmp_path: Path) -> None:
    _fill(sh)
    source = f"sqlite:///{paths.state / 'state.db'}"
    pg = pg_cluster.new_database()
    done = json.loads(_ok(sh("controller", "copy", "--from", source, "--to", pg, "--json")))
    assert done["rows"]["routes"] == 4 and done["rows"]["connectors"] == 1 and done["rows"]["api_tokens"] == 1
    assert done["rows"]["connector_reports"] == 1 and done["rows"]["tunnel_ha"] == 1  # its version; lab's mode
    assert PASSWORD not in json.dumps(done)
    back = tmp_path / "back"
    _ok(sh("controller", "copy", "--from", pg, "--to", f"sqlite:///{back}"))
    before, after = _dump(sh, source, tmp_path), _dump(sh, f"sqlite:///{back}", tmp_path)
    assert before == after
    assert before["routes"] and before["connectors"] and before["api_tokens"]
    # the copy is usable: the same routes, tunnels and API tokens through the CLI
    env = {"WARPCLI_DATABASE_URL": pg}
    for args in (("routes", "--json"), ("tunnel", "list", "--json"), ("controller", "token", "list", "--json")):
        assert _ok(sh(*args, env=env)) == _ok(sh(*args))


def test_copy_refuses_a_non_empty_target_and_changes_nothing(sh, paths: Paths, pg_url: str, tmp_path: Path) -> None:
    _fill(sh)
    env = {"WARPCLI_DATABASE_URL": pg_url}
    _ok(sh("tunnel", "create", "elsewhere", env=env))
    before = _dump(sh, pg_url, tmp_path)
    source = f"sqlite:///{paths.state}"
    r = sh("controller", "copy", "--from", source, env=env)
    assert r.exit_code == 4 and "not empty" in r.stderr and "--replace" in r.stderr
    assert PASSWORD not in r.stderr
    assert _dump(sh, pg_url, tmp_path) == before
    _ok(sh("controller", "copy", "--from", source, "--replace", env=env))
    assert _dump(sh, pg_url, tmp_path) == _dump(sh, source, tmp_path)


def test_copy_is_all_or_nothing(sh, paths: Paths, pg_url: str, tmp_path: Path) -> None:
    """A source row the target cannot take (a NUL in a comment: PostgreSQL text refuses it) fails the
    whole copy: the target keeps exactly what it had."""
    _fill(sh)
    conn = sqlite3.connect(paths.state / "state.db")
    conn.execute("UPDATE routes SET comment = 'a' || char(0) || 'b' WHERE network = '2001:db8::/48'")
    conn.commit()
    conn.close()
    env = {"WARPCLI_DATABASE_URL": pg_url}
    _ok(sh("controller", "migrate", env=env))
    before = _dump(sh, pg_url, tmp_path)
    r = sh("controller", "copy", "--from", f"sqlite:///{paths.state}", env=env)
    assert r.exit_code == 5, r.stderr
    assert "Traceback" not in r.stderr and PASSWORD not in r.stderr
    assert _dump(sh, pg_url, tmp_path) == before


def test_copy_bad_input(sh, paths: Paths, tmp_path: Path) -> None:
    r = sh("controller", "copy", "--from", "mysql://u:pw-secret@h/db")
    assert r.exit_code == 2 and "pw-secret" not in r.stderr and "not a database URL" in r.stderr
    r = sh("controller", "copy", "--from", f"sqlite:///{tmp_path / 'none' / 'state.db'}")
    assert r.exit_code == 3 and "no SQLite state" in r.stderr
    _ok(sh("tunnel", "create", "office"))
    r = sh("controller", "copy", "--from", f"sqlite:///{paths.state}")
    assert r.exit_code == 2 and "same store" in r.stderr
    assert os.path.exists(paths.state / "state.db")
