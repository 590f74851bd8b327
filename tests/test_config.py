"""Settings: flag > WARPCLI_* environment > config.toml > default; `config set|unset|show` (issue 2, scope 8)."""

from __future__ import annotations

import json
import os
import threading
import tomllib
from pathlib import Path

import pytest

from tests.conftest import Paths


def show(cli, *extra: str) -> dict:
    r = cli(*extra, "config", "show", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def write_config(paths: Paths, text: str) -> Path:
    paths.config.mkdir(parents=True, exist_ok=True)
    path = paths.config / "config.toml"
    path.write_text(text)
    return path


def default_state_dir(paths: Paths) -> str:
    if os.geteuid() == 0:
        return "/var/lib/warpcli"
    return str(paths.home / ".local/share/warpcli")


def test_state_dir_precedence(cli, paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARPCLI_STATE_DIR")
    assert show(cli)["state_dir"] == default_state_dir(paths)

    from_file, from_env, from_flag = tmp_path / "from-file", tmp_path / "from-env", tmp_path / "from-flag"
    write_config(paths, f'state_dir = "{from_file}"\n')
    assert show(cli)["state_dir"] == str(from_file)

    monkeypatch.setenv("WARPCLI_STATE_DIR", str(from_env))
    assert show(cli)["state_dir"] == str(from_env)

    assert show(cli, "--state-dir", str(from_flag))["state_dir"] == str(from_flag)

    # and the data really goes where the winner says
    assert cli("--state-dir", str(from_flag), "tunnel", "create", "office").exit_code == 0
    assert (from_flag / "state.db").is_file()
    assert not from_env.exists() and not from_file.exists()
    assert cli("tunnel", "create", "lab").exit_code == 0
    assert (from_env / "state.db").is_file() and not from_file.exists()


def test_other_keys_follow_the_same_precedence(cli, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARPCLI_SECRET_BACKEND")
    s = show(cli)
    assert (s["controller"], s["secret_backend"], s["lock_timeout"]) == ("local", "auto", 10.0)
    write_config(paths, 'secret_backend = "keyring"\nlock_timeout = 2\n')
    s = show(cli)
    assert (s["secret_backend"], s["lock_timeout"]) == ("keyring", 2.0)
    monkeypatch.setenv("WARPCLI_SECRET_BACKEND", "file")
    monkeypatch.setenv("WARPCLI_LOCK_TIMEOUT", "0.5")
    s = show(cli)
    assert (s["secret_backend"], s["lock_timeout"]) == ("file", 0.5)
    # an empty variable counts as unset
    monkeypatch.setenv("WARPCLI_LOCK_TIMEOUT", "")
    assert show(cli)["lock_timeout"] == 2.0


def test_config_dir_flag_beats_the_environment(cli, paths: Paths, tmp_path: Path) -> None:
    other = tmp_path / "other-config"
    other.mkdir()
    (other / "config.toml").write_text("lock_timeout = 7\n")
    write_config(paths, "lock_timeout = 3\n")
    assert show(cli)["lock_timeout"] == 3.0
    s = show(cli, "--config-dir", str(other))
    assert s["lock_timeout"] == 7.0 and s["config_file"] == str(other / "config.toml")


def test_config_show_for_people(cli) -> None:
    r = cli("config", "show")
    assert r.exit_code == 0
    keys = [line.split()[0] for line in r.stdout.splitlines()]
    assert keys == ["config_file", "state_dir", "controller", "secret_backend", "lock_timeout", "run_dir",
                    "account_id", "api_url", "api_timeout", "database_url"]


# -- config set / unset -----------------------------------------------------------------------
def test_set_and_unset_round_trip(cli, paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARPCLI_STATE_DIR")
    path = paths.config / "config.toml"
    assert not paths.config.exists()

    r = cli("config", "set", "lock_timeout", "2.5", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"lock_timeout": 2.5}
    assert str(path) in r.stderr
    assert tomllib.loads(path.read_text()) == {"lock_timeout": 2.5}
    assert show(cli)["lock_timeout"] == 2.5

    target = tmp_path / "elsewhere"
    r = cli("config", "set", "state_dir", str(target), "--json")
    assert json.loads(r.stdout) == {"lock_timeout": 2.5, "state_dir": str(target)}
    assert show(cli)["state_dir"] == str(target)
    assert cli("tunnel", "create", "office").exit_code == 0
    assert (target / "state.db").is_file()

    r = cli("config", "unset", "lock_timeout", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"state_dir": str(target)}
    assert show(cli)["lock_timeout"] == 10.0
    assert tomllib.loads(path.read_text()) == {"state_dir": str(target)}
    # unsetting what is not set is fine
    assert cli("config", "unset", "lock_timeout").exit_code == 0


def test_set_writes_atomically(cli, paths: Paths) -> None:
    path = write_config(paths, "# hand-written\nlock_timeout = 1\n")
    old_inode = path.stat().st_ino
    assert cli("config", "set", "controller", "local").exit_code == 0
    # a new file was renamed over the old one (readers see the old or the new, never half)
    assert path.stat().st_ino != old_inode
    assert tomllib.loads(path.read_text()) == {"lock_timeout": 1, "controller": "local"}
    assert sorted(p.name for p in paths.config.iterdir()) == ["config.toml"]


def test_a_reader_never_sees_a_partial_file(cli, paths: Paths) -> None:
    """Set 30 values while another thread keeps parsing the file: every read is a whole file."""
    path = write_config(paths, "lock_timeout = 0\n")
    done = threading.Event()
    seen: list[float] = []
    errors: list[Exception] = []

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(tomllib.loads(path.read_text())["lock_timeout"])
            except Exception as exc:
                errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(1, 31):
            assert cli("config", "set", "lock_timeout", str(i)).exit_code == 0
    finally:
        done.set()
        t.join(timeout=60)
    assert errors == []
    assert seen and set(seen) <= set(range(31))
    assert tomllib.loads(path.read_text()) == {"lock_timeout": 30.0}


@pytest.mark.parametrize(
    "key,value,says",
    [
        ("lock_timeout", "soon", "lock_timeout"),
        ("lock_timeout", "-1", "lock_timeout"),
        ("lock_timeout", "nan", "lock_timeout"),
        ("lock_timeout", "inf", "lock_timeout"),
        ("controller", "etcd", "local"),
        ("secret_backend", "vault", "auto, keyring, file"),
        ("state_dir", "", "state_dir"),
        ("colour", "red", "known keys"),
    ],
)
def test_invalid_values_are_refused(cli, paths: Paths, key: str, value: str, says: str) -> None:
    path = write_config(paths, "lock_timeout = 4\n")
    before = path.read_bytes()
    r = cli("config", "set", "--", key, value)  # "--": a value may start with "-"
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith("warpcli: error: ") and r.stderr.count("\n") == 1 and says in r.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in paths.config.iterdir()) == ["config.toml"]


def test_invalid_value_creates_no_file(cli, paths: Paths) -> None:
    assert cli("config", "set", "lock_timeout", "soon").exit_code == 2
    assert not (paths.config / "config.toml").exists()


def test_a_bad_config_file_can_be_repaired_with_config_commands(cli, paths: Paths) -> None:
    """A stale or wrong key makes every command fail, but `config set/unset` can still fix it."""
    path = write_config(paths, 'colour = "red"\ncontroller = "etcd"\n')
    r = cli("routes")
    assert r.exit_code == 2 and str(path) in r.stderr
    assert cli("config", "unset", "colour").exit_code == 0
    assert cli("routes").exit_code == 2  # controller is still wrong
    assert cli("config", "set", "controller", "local").exit_code == 0
    assert cli("routes", "--json").exit_code == 0
    assert tomllib.loads(path.read_text()) == {"controller": "local"}


def test_invalid_toml_names_the_file_and_line(cli, paths: Paths) -> None:
    path = write_config(paths, 'controller = "local"\n\nlock_timeout = [1,\n')
    r = cli("config", "show")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and str(path) in r.stderr and "line " in r.stderr


def test_invalid_connector_toml_names_the_file(cli, paths: Paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    paths.config.mkdir(parents=True, exist_ok=True)
    (paths.config / "connector.toml").write_text("tunnel_id = \n")
    r = cli("route", "add", "10.0.0.0/24")
    assert r.exit_code == 2 and "connector.toml" in r.stderr and "line 1" in r.stderr


def test_config_that_is_not_utf8_is_an_error_not_a_traceback(cli, paths: Paths) -> None:
    path = write_config(paths, "")
    path.write_bytes(b'controller = "local"\nstate_dir = "\xff"\n')
    r = cli("config", "show")
    assert r.exit_code == 2 and str(path) in r.stderr and "line 2" in r.stderr and "UTF-8" in r.stderr


def test_the_database_password_is_never_shown(cli, monkeypatch) -> None:
    """config show masks the password of WARPCLI_DATABASE_URL, and a refused URL is not echoed with it."""
    monkeypatch.setenv("WARPCLI_DATABASE_URL", "postgresql://warpcli:hunter2-secret@db.example.net:5433/warpcli")
    for args in (("config", "show"), ("config", "show", "--json")):
        r = cli(*args)
        assert r.exit_code == 0, r.stderr
        assert "hunter2-secret" not in r.stdout + r.stderr
        assert "postgresql://warpcli:***@db.example.net:5433/warpcli" in r.stdout
    monkeypatch.setenv("WARPCLI_DATABASE_URL", "mysql://warpcli:hunter2-secret@db/warpcli")
    r = cli("config", "show")
    assert r.exit_code == 2
    assert "hunter2-secret" not in r.stdout + r.stderr
    assert "not a postgresql:// URL" in r.stderr
    monkeypatch.delenv("WARPCLI_DATABASE_URL")
    r = cli("--database", "postgresql://u@h/db?password=hunter2-secret", "config", "show", "--json")
    assert r.exit_code == 0 and "hunter2-secret" not in r.stdout + r.stderr
