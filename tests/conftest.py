"""Shared fixtures: an isolated home, state and config per test; CLI runners.

Hypothesis runs with ``deadline=None`` and a fixed profile; CI selects the "ci"
profile (more examples, derandomized) through HYPOTHESIS_PROFILE.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# pytest-xdist's workers run with COLUMNS=80 and LINES=24 in their environment (a plain pytest
# run has neither): tables would then fit 80 columns in some runs and not others. The tests start
# from what a pipe sees; the ones about a width set COLUMNS themselves.
for _var in ("COLUMNS", "LINES"):
    os.environ.pop(_var, None)

settings.register_profile(
    "dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

WARPCLI = str(Path(sys.executable).with_name("warpcli"))


@dataclass
class Paths:
    home: Path
    state: Path
    config: Path


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """Point every warpcli location (and HOME, for keyring) into tmp_path."""
    p = Paths(tmp_path / "home", tmp_path / "state", tmp_path / "config")
    p.home.mkdir()
    for var, value in {
        "HOME": p.home,
        "XDG_DATA_HOME": p.home / ".local/share",
        "XDG_CONFIG_HOME": p.home / ".config",
        "WARPCLI_STATE_DIR": p.state,
        "WARPCLI_CONFIG_DIR": p.config,
        "WARPCLI_RUN_DIR": tmp_path / "run",
        "WARPCLI_SECRET_BACKEND": "file",
        "NO_COLOR": "1",
    }.items():
        monkeypatch.setenv(var, str(value))
    for var in ("WARPCLI_CONTROLLER", "WARPCLI_LOCK_TIMEOUT", "PYTHON_KEYRING_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    return p


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(paths: Paths):
    """Run warpcli in-process (Typer's CliRunner) with the isolated environment."""
    from typer.testing import CliRunner

    from warpcli.cli.app import app

    def run(*args: str, input: str | None = None) -> Result:
        # WARPCLI_DEBUG: an internal error reaches the test as its exception, not as exit 70
        r = CliRunner().invoke(app, list(args), input=input, env={**os.environ, "WARPCLI_DEBUG": "1"})
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise r.exception
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


@pytest.fixture
def sh(paths: Paths):
    """Run the installed ``warpcli`` entry point as a real subprocess."""

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 60) -> Result:
        p = subprocess.run(
            [WARPCLI, *args], input=input, capture_output=True, text=True,
            env={**os.environ, **(env or {})}, timeout=timeout,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    return run


def dump_state(state_dir: Path) -> list[str]:
    """Every row of the state database, for before/after comparisons (the PostgreSQL one when
    ``WARPCLI_DATABASE_URL`` is set: the shared suite's PostgreSQL runs)."""
    url = os.environ.get("WARPCLI_DATABASE_URL")
    if url:
        return _dump_postgres(url)
    db = state_dir / "state.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _dump_postgres(url: str) -> list[str]:
    import psycopg

    out = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        for table in tables:
            out += [f"{table} {row!r}" for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1")]
    return out


# -- one behavioural suite, every controller ------------------------------------------
#: the embedded controller (SQLite, and on PostgreSQL), the Cloudflare client against the
#: contract-checked stand-in, and against ``controller serve`` (SQLite, and on PostgreSQL)
BACKENDS = ("local", "cloudflare", "served", "postgresql", "served-postgresql")
#: fixtures that fill ``paths.state`` before a test runs (e.g. a copied template)
SEEDERS = ("state",)


@dataclass
class Backend:
    """The controller a parametrised test runs against; ``cf`` is the Cloudflare stand-in,
    ``served`` the ``warpcli controller serve`` process (:class:`tests.served.ServedController`)."""

    name: str
    cf: object = None
    served: object = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_only(reason): the test checks something only the embedded controller has")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, paths: Paths, monkeypatch: pytest.MonkeyPatch):
    """Run the test on the embedded controller, then twice through the Cloudflare client.

    The "cloudflare" run talks HTTP to a contract-checked stand-in on 127.0.0.1, the
    "served" run to a real ``warpcli controller serve`` process on 127.0.0.1 (with an API
    token made by ``warpcli controller token create``). Both serve the embedded
    controller's database in ``paths.state``: ``dump_state`` and every "nothing changed"
    check read the same file in every run.
    """
    if request.param == "local":
        yield Backend("local")
        return
    marker = request.node.get_closest_marker("local_only")
    if marker is not None:
        pytest.skip(f"embedded controller only: {marker.args[0] if marker.args else ''}")
    if request.param in ("postgresql", "served-postgresql"):
        _to_postgres(request, paths, monkeypatch)
        if request.param == "postgresql":
            yield Backend("postgresql")
        else:
            yield from _served_backend(paths, monkeypatch, "served-postgresql")
        return
    from tests.cfstub.server import CloudflareStandIn

    for name in SEEDERS:  # a test's prepared state must be in place before the server opens it
        if name in request.fixturenames:
            request.getfixturevalue(name)
    if request.param == "served":
        yield from _served_backend(paths, monkeypatch)
        return
    stand_in = CloudflareStandIn(paths.state).start()
    try:
        monkeypatch.setenv("WARPCLI_CONTROLLER", "cloudflare")
        monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", stand_in.account_id)
        monkeypatch.setenv("WARPCLI_API_URL", stand_in.url)
        monkeypatch.setenv("CLOUDFLARE_API_TOKEN", stand_in.token)
        yield Backend("cloudflare", stand_in)
    finally:
        stand_in.stop()
    problems = stand_in.problems()
    assert not problems, "the Cloudflare stand-in saw problems:\n  " + "\n  ".join(problems)


def _to_postgres(request: pytest.FixtureRequest, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the embedded controller at a fresh PostgreSQL database; a prepared SQLite state
    (a seeder's) moves there with ``controller copy`` and its file is removed."""
    url = request.getfixturevalue("pg_url")
    for name in SEEDERS:
        if name in request.fixturenames:
            request.getfixturevalue(name)
    db = paths.state / "state.db"
    if db.exists():
        p = subprocess.run([WARPCLI, "controller", "copy", "--from", f"sqlite:///{db}", "--to", url],
                           capture_output=True, text=True, env=dict(os.environ), timeout=120)
        assert p.returncode == 0, p.stderr
        for f in paths.state.glob("state.db*"):
            f.unlink()
    monkeypatch.setenv("WARPCLI_DATABASE_URL", url)


def _served_backend(paths: Paths, monkeypatch: pytest.MonkeyPatch, name: str = "served"):
    from tests.served import ServedController

    served = ServedController(paths.state, log_file=paths.home.parent / "serve.log").start()
    try:
        for var, value in served.env.items():
            monkeypatch.setenv(var, value)
        yield Backend(name, served=served)
    finally:
        code = served.stop()
    assert code == 0, f"controller serve exited {code}:\n{served.log_text()}"
    problems = served.problems()
    assert not problems, "controller serve saw problems:\n  " + "\n  ".join(problems)


def assert_one_line_error(r, code: int) -> None:
    """A refused command: the documented exit code, and one line on stderr (no traceback)."""
    assert r.exit_code == code, (r.exit_code, r.stderr)
    assert r.stderr.startswith("warpcli: error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
# -- a private PostgreSQL cluster (tests/pg.py), one per test session (per xdist worker) ------
@pytest.fixture(scope="session")
def pg_cluster():
    """Started on first use, stopped and removed at the end; skips where it cannot start."""
    from tests.pg import PgCluster

    why = PgCluster.unavailable()
    if why is not None:
        pytest.skip(f"no PostgreSQL for the tests: {why}")
    cluster = PgCluster.start()
    try:
        yield cluster
    finally:
        from warpcli.controllers.local.postgres import close_pools

        close_pools()
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty database of the session's cluster (its URL holds the password)."""
    url = pg_cluster.new_database()
    yield url
    from warpcli.controllers.local.postgres import close_pool

    close_pool(url)


#: the engines of the embedded controller's store
ENGINES = ("sqlite", "postgresql")


def open_engine(engine: str, state: Path, request: pytest.FixtureRequest, **kw):
    """A store of ``engine`` whose secrets are in ``state`` (PostgreSQL: a fresh database)."""
    from warpcli.controllers.local.interface import open_store
    from warpcli.secret_stores.file_store import FileStore

    url = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    return open_store(url, state, secrets=lambda: FileStore(state / "secrets.json"), **kw)
