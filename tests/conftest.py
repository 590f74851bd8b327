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
        r = CliRunner().invoke(app, list(args), input=input, env=dict(os.environ))
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
