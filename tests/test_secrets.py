"""Where tunnel tokens live: the OS keyring through ``keyring``, else a 0600 file (issue 2, scope 7).

Real processes only: ``keyring`` caches its backend per process, and the
backend is chosen by environment variables.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, Paths, dump_state

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
REPO = str(Path(__file__).resolve().parents[1])
#: an encrypting keyring backend (tests/keyring_backends.py): warpcli refuses plaintext ones
KEYRING = {"WARPCLI_SECRET_BACKEND": "keyring", "PYTHON_KEYRING_BACKEND": "tests.keyring_backends.FernetFileKeyring",
           "WARPCLI_TEST_KEYRING_KEY": "x6Hk1nW0l9cLQ7hQ3vQ0Yk0M5o8g6x2hJcJt5XvG1yE=", "PYTHONPATH": REPO}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def keyring_get(key: str, env: dict) -> str | None:
    """Ask the keyring itself (a separate process, same environment) for a secret."""
    code = (f"import json, keyring; print(json.dumps(keyring.get_password('warpcli', {key!r})))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def created(sh, name: str, env: dict | None = None) -> tuple[str, str]:
    r = sh("tunnel", "create", name, env=env)
    assert r.exit_code == 0, r.stderr
    return r.stdout.strip(), r.stderr


# -- the 0600 file ----------------------------------------------------------------------------
def test_file_fallback_is_0600_and_named(paths: Paths, sh) -> None:
    tid, stderr = created(sh, "office")
    secrets = paths.state / "secrets.json"
    assert str(secrets) in stderr and "0600" in stderr  # the tool says which store it used
    assert mode(secrets) == 0o600
    token = sh("tunnel", "token", "office").stdout.strip()
    assert json.loads(secrets.read_text()) == {f"tunnel-token:{tid}": token}
    assert token not in stderr
    # the state directory is private too
    assert mode(paths.state) & 0o077 == 0


def test_file_stays_0600_under_a_permissive_umask_and_after_rewrites(paths: Paths) -> None:
    def under_umask_0(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", 'umask 000 && exec "$@"', "sh", WARPCLI, *args],
                              capture_output=True, text=True, timeout=60)

    assert under_umask_0("tunnel", "create", "office").returncode == 0
    secrets = paths.state / "secrets.json"
    assert mode(secrets) == 0o600
    # someone loosened it; the next write tightens it again
    os.chmod(secrets, 0o644)
    assert under_umask_0("tunnel", "create", "lab").returncode == 0
    assert mode(secrets) == 0o600
    assert under_umask_0("tunnel", "delete", "office").returncode == 0
    assert mode(secrets) == 0o600
    assert len(json.loads(secrets.read_text())) == 1
    leftovers = [p.name for p in paths.state.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_deleting_a_tunnel_removes_its_token_from_the_file(paths: Paths, sh) -> None:
    office, _ = created(sh, "office")
    lab, _ = created(sh, "lab")
    lab_token = sh("tunnel", "token", "lab").stdout.strip()
    assert sh("tunnel", "delete", "office").exit_code == 0
    assert json.loads((paths.state / "secrets.json").read_text()) == {f"tunnel-token:{lab}": lab_token}
    r = sh("tunnel", "token", office)
    assert r.exit_code == 3


def test_a_corrupt_secret_file_refuses_tunnel_create_and_changes_nothing(paths: Paths, sh) -> None:
    created(sh, "office")
    secrets = paths.state / "secrets.json"
    secrets.write_bytes(b"\x00{not json")
    before = (dump_state(paths.state), secrets.read_bytes())
    for args, code in ((("tunnel", "create", "lab"), 1), (("tunnel", "token", "office"), 1)):
        r = sh(*args)
        assert r.exit_code == code and r.stdout == ""
        assert r.stderr.startswith("warpcli: error: ") and r.stderr.count("\n") == 1
        assert str(secrets) in r.stderr and "corrupt" in r.stderr and "Traceback" not in r.stderr
    assert (dump_state(paths.state), secrets.read_bytes()) == before


# -- the keyring ------------------------------------------------------------------------------
def test_keyring_backend_stores_reads_and_deletes_the_token(paths: Paths, sh) -> None:
    tid, stderr = created(sh, "office", KEYRING)
    assert "the OS keyring (FernetFileKeyring)" in stderr
    assert not (paths.state / "secrets.json").exists()  # nothing went to the fallback file
    # the keyring's own data lives under the test's XDG data dir, not the real home
    assert any(paths.home.rglob("warpcli-test-keyring.json"))

    r = sh("tunnel", "token", "office", env=KEYRING)
    assert r.exit_code == 0
    token = r.stdout.strip()
    assert keyring_get(f"tunnel-token:{tid}", KEYRING) == token
    for args in (("tunnel", "list", "--json"), ("tunnel", "show", "office", "--json"), ("tunnel", "show", "office")):
        out = sh(*args, env=KEYRING)
        assert out.exit_code == 0 and token not in out.stdout and token not in out.stderr

    lab, _ = created(sh, "lab", KEYRING)
    assert sh("tunnel", "delete", "office", env=KEYRING).exit_code == 0
    assert keyring_get(f"tunnel-token:{tid}", KEYRING) is None
    assert keyring_get(f"tunnel-token:{lab}", KEYRING) is not None
    assert sh("tunnel", "token", "lab", env=KEYRING).exit_code == 0


def test_a_token_in_another_store_is_reported_not_found(paths: Paths, sh) -> None:
    created(sh, "office", KEYRING)
    r = sh("tunnel", "token", "office")  # the file backend (the fixture's default) has no such token
    assert r.exit_code == 3 and r.stdout == ""
    assert "secrets.json" in r.stderr and "another secret backend" in r.stderr


# -- auto -------------------------------------------------------------------------------------
@pytest.mark.parametrize("keyring_env", [{}, {"PYTHON_KEYRING_BACKEND": PLAINTEXT}], ids=["no-backend", "plaintext"])
def test_auto_on_a_headless_machine_falls_back_to_the_file(paths: Paths, sh, keyring_env: dict) -> None:
    # no D-Bus session here: no SecretService; a plaintext keyring is no better than the 0600 file
    env = {"WARPCLI_SECRET_BACKEND": "auto", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent", **keyring_env}
    tid, stderr = created(sh, "office", env)
    secrets = paths.state / "secrets.json"
    assert str(secrets) in stderr
    assert mode(secrets) == 0o600
    token = sh("tunnel", "token", "office", env=env).stdout.strip()
    assert json.loads(secrets.read_text())[f"tunnel-token:{tid}"] == token


def test_auto_is_the_default(paths: Paths, sh) -> None:
    r = sh("config", "show", "--json", env={"WARPCLI_SECRET_BACKEND": ""})
    assert json.loads(r.stdout)["secret_backend"] == "auto"


# -- plaintext keyring backends are refused (issue 17, item 11) -------------------------------
@pytest.mark.parametrize("backend", ["keyring", "auto"])
def test_a_plaintext_keyring_is_never_used_the_0600_file_is_and_says_why(paths: Paths, sh, backend: str) -> None:
    env = {"WARPCLI_SECRET_BACKEND": backend, "PYTHON_KEYRING_BACKEND": PLAINTEXT,
           "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent"}
    tid, stderr = created(sh, "office", env)
    secrets = paths.state / "secrets.json"
    if backend == "keyring":  # asked for the keyring: the message says why it was not used
        assert f"{secrets} (0600; the keyring backend PlaintextKeyring stores secrets unencrypted" in stderr
    assert "the OS keyring" not in stderr
    assert mode(secrets) == 0o600
    token = sh("tunnel", "token", "office", env=env).stdout.strip()
    assert json.loads(secrets.read_text()) == {f"tunnel-token:{tid}": token}
    assert keyring_get(f"tunnel-token:{tid}", {"PYTHON_KEYRING_BACKEND": PLAINTEXT}) is None
    assert not any(paths.home.rglob("keyring_pass.cfg"))  # the plaintext keyring's file was never written
