"""warpcli enroll: keys stay on the host, re-runs are no-ops, bad input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import dump_state


def _files(p: Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()} if p.exists() else {}


def test_enroll_with_token_on_stdin_registers_a_key_pair(sh, paths) -> None:
    from warpcli.core.keys import public_key

    assert sh("tunnel", "create", "office").exit_code == 0
    token = sh("tunnel", "token", "office").stdout.strip()
    r = sh("enroll", "--interface", "wct0", "--json", input=token + "\n")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tunnel_name"] == "office" and out["address"] == "100.96.0.2" and out["changed"] is True
    assert out["interface"] == "wct0" and out["mtu"] == 1280
    assert token not in r.stdout + r.stderr
    secrets = json.loads((paths.config / "secrets.json").read_text())
    private = secrets[f"connector-key:{out['connector_id']}"]
    assert (paths.config / "secrets.json").stat().st_mode & 0o777 == 0o600
    # the controller knows the public half only
    state = "\n".join(dump_state(paths.state))
    assert public_key(private) in state
    assert private not in state
    assert private not in (paths.state / "secrets.json").read_text()
    # route add without --tunnel now uses the enrolled tunnel even with several tunnels
    assert sh("tunnel", "create", "lab").exit_code == 0
    added = json.loads(sh("route", "add", "10.9.0.0/16", "--json").stdout)
    assert added["tunnel_name"] == "office"


def test_re_enrolling_is_a_no_op_and_another_tunnel_needs_force(sh, paths) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    assert sh("tunnel", "create", "lab").exit_code == 0
    first = sh("enroll", "--tunnel", "office")
    assert first.exit_code == 0
    before = (dump_state(paths.state), _files(paths.config))
    again = sh("enroll", "--tunnel", "office")
    assert again.exit_code == 0 and again.stdout == first.stdout
    assert "nothing changed" in again.stderr
    other = sh("enroll", "--tunnel", "lab")
    assert other.exit_code == 4
    assert other.stderr.startswith("warpcli: error: this host is already enrolled in tunnel 'office'")
    assert (dump_state(paths.state), _files(paths.config)) == before
    forced = sh("enroll", "--tunnel", "lab", "--force", "--json")
    assert forced.exit_code == 0
    cfg = json.loads(forced.stdout)
    assert cfg["tunnel_name"] == "lab"
    connectors = [line for line in dump_state(paths.state) if "INSERT INTO \"connectors\"" in line]
    assert len(connectors) == 2  # the old one is retired (soft-deleted), not reused
    keys = json.loads((paths.config / "secrets.json").read_text())
    assert list(keys) == [f"connector-key:{cfg['connector_id']}"]


def test_bad_enrollment_input_changes_nothing(sh, paths, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    token = sh("tunnel", "token", "office").stdout.strip()
    empty = tmp_path / "empty"
    empty.write_text("\n")
    cases = [
        (["enroll"], "not a token", 2, "malformed"),
        (["enroll", "--token-file", str(tmp_path / "missing")], None, 2, "cannot read"),
        (["enroll", "--token-file", str(empty)], None, 2, "empty"),
        (["enroll", "--tunnel", "nope"], None, 3, "no tunnel named 'nope'"),
        (["enroll", "--tunnel", "office", "--interface", "this-name-is-too-long"], None, 2, "interface name"),
        (["enroll", "--tunnel", "office", "--vnet", "nope"], None, 3, "no virtual network"),
    ]
    before = (dump_state(paths.state), _files(paths.config))
    for args, stdin, code, needle in cases:
        r = sh(*args, input=stdin)
        assert r.exit_code == code, (args, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and needle in r.stderr, (args, r.stderr)
        assert token not in r.stderr
        assert (dump_state(paths.state), _files(paths.config)) == before, args
    # a token for a deleted tunnel is refused
    assert sh("tunnel", "delete", "office").exit_code == 0
    before = (dump_state(paths.state), _files(paths.config))
    r = sh("enroll", input=token)
    assert r.exit_code == 2 and "not valid" in r.stderr and token not in r.stderr
    assert (dump_state(paths.state), _files(paths.config)) == before


def test_a_corrupt_connector_config_is_one_clear_line(sh, paths) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    paths.config.mkdir(parents=True, exist_ok=True)
    (paths.config / "connector.toml").write_text('connector_id = "x"\nmtu = "big"\n')
    r = sh("enroll", "--tunnel", "office")
    assert r.exit_code == 2
    assert "connector.toml is not a valid connector config" in r.stderr and len(r.stderr.splitlines()) == 1
