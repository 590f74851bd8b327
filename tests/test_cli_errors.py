"""Bad input gets a clear error and changes nothing (issue 2).

Every case runs the installed entry point as a real process against a copy of
the session's state, then checks: exactly one stderr line starting
``warpcli: error:``, no traceback, nothing on stdout, the documented exit code,
and the state database, the secrets file and config.toml byte-for-byte as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, Paths, dump_state

pytestmark = pytest.mark.usefixtures("backend")

USAGE, NOT_FOUND, CONFLICT, STATE, ERROR = 2, 3, 4, 5, 1
UNKNOWN_ID = "0b7c3a52-27d3-4f7c-9a54-5d1e1b0c1d2e"


# -- the state every case starts from ---------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's session, built once by real processes; each case copies it."""
    root = tmp_path_factory.mktemp("template")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARPCLI_", "PYTHON_KEYRING"))}
    env.update(HOME=str(root / "home"), XDG_DATA_HOME=str(root / "home/data"), XDG_CONFIG_HOME=str(root / "home/cfg"),
               WARPCLI_STATE_DIR=str(root / "state"), WARPCLI_CONFIG_DIR=str(root / "config"),
               WARPCLI_SECRET_BACKEND="file", NO_COLOR="1")
    for args in (
        ["tunnel", "create", "office"], ["tunnel", "create", "lab"],
        ["vnet", "add", "staging", "--comment", "lab copy of prod"],
        ["route", "add", "10.0.0.0/24", "--tunnel", "office"],
        ["route", "add", "10.0.0.0/16", "--tunnel", "lab", "--comment", "whole lab"],
        ["route", "add", "10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging"],
        ["route", "add", "2001:db8::/32", "--tunnel", "lab"],
    ):
        p = subprocess.run([WARPCLI, *args], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (args, p.stderr)
    assert sorted(os.listdir(root / "state")) == ["secrets.json", "secrets.json.lock", "state.db"]
    return root / "state"


@pytest.fixture
def state(template: Path, paths: Paths) -> Paths:
    shutil.copytree(template, paths.state)
    return paths


def snapshot(p: Paths) -> dict:
    """Everything a failed command must leave alone."""
    files = {}
    for base in (p.state, p.config):
        if base.is_file():
            files[str(base)] = base.read_bytes()
        elif base.is_dir():
            for f in sorted(base.rglob("*")):
                if f.is_file() and not f.name.endswith(("-wal", "-shm", ".lock")):
                    files[str(f)] = f.read_bytes()
                elif f.is_dir():
                    files[str(f)] = "<dir>"
    try:
        rows = dump_state(p.state) if (p.state / "state.db").is_file() else []
    except sqlite3.DatabaseError:
        rows = ["<not a database>"]
    return {"files": files, "rows": rows}


# -- ways to spoil the environment before a command -------------------------------------------
Prepare = Callable[[Paths], "contextlib.AbstractContextManager[None] | None"]


def state_db_is_a_directory(p: Paths) -> None:
    (p.state / "state.db").unlink()
    (p.state / "state.db").mkdir()


def state_db_is_text(p: Paths) -> None:
    (p.state / "state.db").write_text("this is not a database\n")


def state_db_is_random_bytes(p: Paths) -> None:
    (p.state / "state.db").write_bytes(os.urandom(3 * 4096))


def state_db_pages_overwritten(p: Paths) -> None:
    """A real database whose pages after the first are garbage (valid header, broken tree)."""
    with open(p.state / "state.db", "r+b") as fh:
        fh.seek(4096)
        fh.write(os.urandom(3 * 4096))


def state_db_truncated(p: Paths) -> None:
    os.truncate(p.state / "state.db", 8192)


def state_db_from_a_newer_version(p: Paths) -> None:
    conn = sqlite3.connect(p.state / "state.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()


def state_dir_is_a_file(p: Paths) -> None:
    shutil.rmtree(p.state)
    p.state.write_text("not a directory\n")


@contextlib.contextmanager
def database_locked(p: Paths) -> Iterator[None]:
    """Another process (a second connection) holds the write lock for the whole command."""
    conn = sqlite3.connect(p.state / "state.db", isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def config_file(text: str) -> Prepare:
    def prepare(p: Paths) -> None:
        p.config.mkdir(parents=True, exist_ok=True)
        (p.config / "config.toml").write_text(text)

    return prepare


NO_KEYRING = {"WARPCLI_SECRET_BACKEND": "keyring", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
LOCK = {"WARPCLI_LOCK_TIMEOUT": "0.2"}


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    says: list[str] = field(default_factory=list)  # fragments the one error line must contain
    prepare: Prepare | None = None
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None

    @property
    def local_only(self) -> bool:
        """The embedded controller's own file, lock or secret store: nothing of it exists on an API."""
        return self.id.startswith(("state-", "corrupt-", "truncated", "newer-schema", "locked-", "no-keyring",
                                   "unknown-secret-backend"))


CASES = [
    # malformed CIDRs
    Case("host-bits", ["route", "add", "10.0.0.1/24", "--tunnel", "office"], USAGE,
         ["10.0.0.1/24", "did you mean 10.0.0.0/24?"]),
    Case("host-bits-v6", ["route", "add", "2001:db8::1/32", "--tunnel", "office"], USAGE,
         ["did you mean 2001:db8::/32?"]),
    Case("host-bits-delete", ["route", "delete", "10.0.0.1/24"], USAGE, ["did you mean 10.0.0.0/24?"]),
    Case("host-bits-within", ["routes", "--within", "10.0.0.1/8"], USAGE, ["--within", "did you mean 10.0.0.0/8?"]),
    Case("prefix-too-long", ["route", "add", "10.0.0.0/33", "--tunnel", "office"], USAGE, ["prefix length", "0 to 32"]),
    Case("prefix-too-long-v6", ["route", "add", "2001:db8::/129", "--tunnel", "office"], USAGE, ["0 to 128"]),
    Case("prefix-empty", ["route", "add", "10.0.0.0/", "--tunnel", "office"], USAGE, ["prefix length"]),
    Case("prefix-signed", ["route", "add", "10.0.0.0/+8", "--tunnel", "office"], USAGE, ["prefix length"]),
    Case("prefix-non-ascii", ["route", "add", "10.0.0.0/\u0668", "--tunnel", "office"], USAGE, ["prefix length"]),
    Case("two-slashes", ["route", "add", "10.0.0.0/24/8", "--tunnel", "office"], USAGE, ["10.0.0.0/24/8"]),
    Case("octet-too-big", ["route", "add", "300.0.0.0/8", "--tunnel", "office"], USAGE, ["not a CIDR"]),
    Case("leading-zero", ["route", "add", "010.0.0.0/8", "--tunnel", "office"], USAGE, ["not a CIDR"]),
    Case("not-an-address", ["route", "add", "office", "--tunnel", "office"], USAGE, ["not a CIDR", "10.0.0.0/24"]),
    Case("empty-cidr", ["route", "add", "", "--tunnel", "office"], USAGE, ["not a CIDR"]),
    Case("double-colon-twice", ["route", "add", "1::2::3/64", "--tunnel", "office"], USAGE, ["not a CIDR"]),
    Case("contains-garbage", ["routes", "--contains", "1.2.3", "--json"], USAGE, ["--contains"]),
    # malformed IPs
    Case("ip-octet", ["route", "get", "10.0.0.256"], USAGE, ["10.0.0.256", "not a valid IPv4 address"]),
    Case("ip-short", ["route", "get", "1.2.3", "--json"], USAGE, ["not a valid IPv4 address"]),
    Case("ip-long", ["route", "get", "1.2.3.4.5"], USAGE, ["not a valid IPv4 address"]),
    Case("ip-empty", ["route", "get", ""], USAGE, ["not a valid"]),
    Case("ip-v6-bad", ["route", "get", "2001:db8::g"], USAGE, ["not a valid IPv6 address"]),
    Case("ip-v6-zone", ["route", "get", "fe80::1%eth0"], USAGE, ["not a valid IPv6 address"]),
    Case("ip-is-a-network", ["route", "get", "10.0.0.0/24"], USAGE, ["a network, not an address"]),
    # unknown names: the message lists the choices
    Case("unknown-tunnel", ["route", "add", "10.9.0.0/24", "--tunnel", "ofice"], NOT_FOUND,
         ["'ofice'", "lab, office"]),
    Case("unknown-vnet", ["route", "add", "10.9.0.0/24", "--tunnel", "office", "--vnet", "stagin"], NOT_FOUND,
         ["'stagin'", "default, staging"]),
    Case("unknown-vnet-get", ["route", "get", "10.0.0.7", "--vnet", "prod", "--json"], NOT_FOUND,
         ["default, staging"]),
    Case("unknown-vnet-delete", ["route", "delete", "10.0.0.0/24", "--vnet", "prod"], NOT_FOUND, ["default, staging"]),
    Case("unknown-tunnel-filter", ["routes", "--tunnel", "nope"], NOT_FOUND, ["lab, office"]),
    Case("unknown-vnet-filter", ["routes", "--vnet", "nope", "--json"], NOT_FOUND, ["default, staging"]),
    Case("unknown-tunnel-show", ["tunnel", "show", "nope"], NOT_FOUND, ["lab, office"]),
    Case("unknown-tunnel-token", ["tunnel", "token", "nope"], NOT_FOUND, ["lab, office"]),
    Case("unknown-tunnel-delete", ["tunnel", "delete", "nope", "--force"], NOT_FOUND, ["lab, office"]),
    Case("unknown-tunnel-id", ["tunnel", "show", UNKNOWN_ID], NOT_FOUND, [UNKNOWN_ID]),
    Case("unknown-vnet-update", ["vnet", "update", "nope", "--comment", "x"], NOT_FOUND, ["default, staging"]),
    Case("unknown-vnet-remove", ["vnet", "delete", "nope"], NOT_FOUND, ["default, staging"]),
    Case("unknown-route-id", ["route", "delete", UNKNOWN_ID], NOT_FOUND, [UNKNOWN_ID]),
    Case("no-such-route", ["route", "delete", "10.99.0.0/24"], NOT_FOUND, ["10.99.0.0/24", "default"]),
    # duplicates and broken rules
    Case("duplicate-tunnel", ["tunnel", "create", "office"], CONFLICT, ["'office'", "already exists"]),
    Case("duplicate-vnet", ["vnet", "add", "staging"], CONFLICT, ["'staging'", "already exists"]),
    Case("rename-onto-existing", ["vnet", "update", "staging", "--name", "default"], CONFLICT, ["'default'"]),
    Case("duplicate-route", ["route", "add", "10.0.0.0/24", "--tunnel", "lab"], CONFLICT,
         ["10.0.0.0/24", "already routed", "'office'"]),
    Case("duplicate-route-v6", ["route", "add", "2001:DB8:0::/32", "--tunnel", "office", "--json"], CONFLICT,
         ["2001:db8::/32", "'lab'"]),
    Case("tunnel-in-use", ["tunnel", "delete", "office"], CONFLICT, ["--force"]),
    Case("vnet-in-use", ["vnet", "delete", "staging"], CONFLICT, ["--force"]),
    Case("delete-default-vnet", ["vnet", "delete", "default", "--force"], CONFLICT, ["default"]),
    Case("bad-name-empty", ["tunnel", "create", ""], USAGE, ["empty"]),
    Case("bad-name-spaces", ["vnet", "add", " lab "], USAGE, ["spaces"]),
    Case("bad-name-uuid", ["tunnel", "create", UNKNOWN_ID], USAGE, ["looks like an id"]),
    Case("bad-name-control", ["tunnel", "create", "a\tb"], USAGE, ["control characters"]),
    # an unreadable or corrupt state file
    Case("state-db-is-directory", ["routes"], STATE, ["state.db", "directory"], state_db_is_a_directory),
    Case("state-db-is-directory-write", ["tunnel", "create", "x"], STATE, ["state.db"], state_db_is_a_directory),
    Case("state-db-is-text", ["routes", "--json"], STATE, ["state.db", "not a usable"], state_db_is_text),
    Case("state-db-is-text-write", ["route", "add", "10.9.0.0/24", "--tunnel", "office"], STATE,
         ["not a usable"], state_db_is_text),
    Case("state-dir-is-a-file", ["tunnel", "list"], STATE, ["state directory"], state_dir_is_a_file),
    Case("corrupt-random-bytes", ["tunnel", "list", "--json"], STATE, ["state.db", "move it aside"],
         state_db_is_random_bytes),
    Case("corrupt-random-bytes-write", ["tunnel", "create", "x"], STATE, ["state.db"], state_db_is_random_bytes),
    Case("corrupt-pages", ["routes", "--json"], STATE, ["malformed"], state_db_pages_overwritten),
    Case("corrupt-pages-get", ["route", "get", "10.0.0.7"], STATE, ["state.db"], state_db_pages_overwritten),
    Case("corrupt-pages-export", ["routes", "export"], STATE, ["state.db"], state_db_pages_overwritten),
    Case("corrupt-pages-write", ["route", "add", "10.9.0.0/24", "--tunnel", "office"], STATE, ["state.db"],
         state_db_pages_overwritten),
    Case("truncated", ["routes", "--overlaps", "--json"], STATE, ["state.db"], state_db_truncated),
    Case("newer-schema", ["routes"], STATE, ["newer warpcli", "upgrade"], state_db_from_a_newer_version),
    # a database locked by another process
    Case("locked-route-add", ["route", "add", "10.9.0.0/24", "--tunnel", "office"], STATE,
         ["locked by another process", "WARPCLI_LOCK_TIMEOUT"], database_locked, LOCK),
    Case("locked-tunnel-create", ["tunnel", "create", "x"], STATE, ["locked"], database_locked, LOCK),
    Case("locked-vnet-add", ["vnet", "add", "x", "--json"], STATE, ["locked"], database_locked, LOCK),
    Case("locked-route-delete", ["route", "delete", "10.0.0.0/24"], STATE, ["locked"], database_locked, LOCK),
    Case("locked-tunnel-delete", ["tunnel", "delete", "lab", "--force"], STATE, ["locked"], database_locked, LOCK),
    Case("locked-import", ["routes", "import", "-"], STATE, ["locked"], database_locked, LOCK,
         "10.9.0.0/24,office\n"),
    # no keyring backend
    Case("no-keyring-create", ["tunnel", "create", "x"], ERROR, ["no usable OS keyring", "WARPCLI_SECRET_BACKEND=file"],
         env=NO_KEYRING),
    Case("no-keyring-token", ["tunnel", "token", "office"], ERROR, ["no usable OS keyring"], env=NO_KEYRING),
    Case("unknown-secret-backend", ["tunnel", "create", "x"], USAGE, ["WARPCLI_SECRET_BACKEND", "auto, keyring, file"],
         env={"WARPCLI_SECRET_BACKEND": "vault"}),
    # config.toml and the environment
    Case("invalid-toml", ["routes"], USAGE, ["config.toml", "line 2"],
         config_file('secret_backend = "file"\nlock_timeout = = 3\n')),
    Case("invalid-toml-config-set", ["config", "set", "lock_timeout", "3"], USAGE, ["config.toml", "line 1"],
         config_file("[unclosed\n")),
    Case("unknown-config-key", ["tunnel", "list"], USAGE, ["config.toml", "'colour'", "state_dir"],
         config_file('colour = "red"\n')),
    Case("config-bad-type", ["routes"], USAGE, ["config.toml", "lock_timeout"], config_file('lock_timeout = "soon"\n')),
    Case("config-bad-controller", ["routes"], USAGE, ["controller", "local"], config_file('controller = "etcd"\n')),
    Case("env-bad-timeout", ["routes"], USAGE, ["WARPCLI_LOCK_TIMEOUT"], env={"WARPCLI_LOCK_TIMEOUT": "-1"}),
    Case("config-set-unknown-key", ["config", "set", "colour", "red"], USAGE, ["'colour'", "known keys"],
         config_file('lock_timeout = 3.0\n')),
    Case("config-set-bad-value", ["config", "set", "lock_timeout", "soon"], USAGE, ["lock_timeout"],
         config_file('lock_timeout = 3.0\n')),
    Case("config-set-bad-choice", ["config", "set", "controller", "aws"], USAGE, ["local", "cloudflare"]),
    # a value that starts with "-" is a value (refused by its rule), not an unknown option
    Case("config-set-negative", ["config", "set", "lock_timeout", "-1"], USAGE, ["lock_timeout", "'-1'", "0 or more"],
         config_file('lock_timeout = 3.0\n')),
    Case("config-set-zero-api-timeout", ["config", "set", "api_timeout", "0"], USAGE, ["api_timeout", "more than 0"],
         config_file('lock_timeout = 3.0\n')),
    # bulk input that cannot even be read
    Case("import-missing-file", ["routes", "import", "/nonexistent/routes.csv"], USAGE, ["/nonexistent/routes.csv"]),
    Case("import-bad-format", ["routes", "import", "-", "--format", "xml"], USAGE, ["xml", "csv, jsonl"],
         stdin="10.9.0.0/24,office\n"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(case: Case, state: Paths, sh, backend) -> None:
    if backend.name != "local" and case.local_only:
        pytest.skip("about the embedded controller's own state file")
    ctx = case.prepare(state) if case.prepare else None
    with ctx if isinstance(ctx, contextlib.AbstractContextManager) else contextlib.nullcontext():
        before = snapshot(state)
        r = sh(*case.args, input=case.stdin if case.stdin is not None else "", env=case.env)
    after = snapshot(state)

    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and r.stderr.endswith("\n"), r.stderr
    line = lines[0]
    assert line.startswith("warpcli: error: "), line
    for fragment in case.says:
        assert fragment in line, (fragment, line)
    assert r.exit_code == case.code, (r.exit_code, line)
    assert r.stdout == "", r.stdout
    assert after == before


def test_the_secret_is_never_in_an_error(state: Paths, sh) -> None:
    """A tunnel's token must not leak through an error message either."""
    token = sh("tunnel", "token", "office").stdout.strip()
    assert token
    for args in (["tunnel", "create", "office"], ["tunnel", "token", "nope"], ["tunnel", "delete", "office"]):
        r = sh(*args)
        assert r.exit_code != 0
        assert token not in r.stderr and token not in r.stdout
