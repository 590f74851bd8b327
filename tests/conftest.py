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
    """Every row of the state database, for before/after comparisons."""
    db = state_dir / "state.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


# -- one behavioural suite, every controller ------------------------------------------
BACKENDS = ("local", "cloudflare", "served")
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


def _served_backend(paths: Paths, monkeypatch: pytest.MonkeyPatch):
    from tests.served import ServedController

    served = ServedController(paths.state, log_file=paths.home.parent / "serve.log").start()
    try:
        for var, value in served.env.items():
            monkeypatch.setenv(var, value)
        yield Backend("served", served=served)
    finally:
        code = served.stop()
    assert code == 0, f"controller serve exited {code}:\n{served.log_text()}"
    problems = served.problems()
    assert not problems, "controller serve saw problems:\n  " + "\n  ".join(problems)
