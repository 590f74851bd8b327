"""examples/ works: provision.sh runs twice to the same route table; routes.csv imports."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, dump_state

ROOT = Path(__file__).resolve().parent.parent
PROVISION = ROOT / "examples" / "provision.sh"
ROUTES_CSV = ROOT / "examples" / "routes.csv"


def _env() -> dict[str, str]:
    # the `paths` fixture has already pointed HOME, WARPCLI_STATE_DIR, ... into tmp_path
    return {**os.environ, "PATH": f"{Path(WARPCLI).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _provision() -> subprocess.CompletedProcess:
    return subprocess.run([str(PROVISION)], capture_output=True, text=True, env=_env(), timeout=300)


@pytest.fixture
def need_jq() -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed; examples/provision.sh needs it (apt-get install jq)")


def test_provision_script_is_strict_bash() -> None:
    text = PROVISION.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(PROVISION, os.X_OK), "examples/provision.sh must be executable"


def test_provision_is_idempotent(need_jq, paths, sh) -> None:
    first = _provision()
    assert first.returncode == 0, first.stderr
    assert (paths.state / "state.db").exists(), "provision.sh must use WARPCLI_STATE_DIR"
    routes_1 = json.loads(sh("routes", "--json").stdout)
    state_1 = dump_state(paths.state)
    secrets_1 = (paths.state / "secrets.json").read_bytes()

    second = _provision()
    assert second.returncode == 0, second.stderr
    routes_2 = json.loads(sh("routes", "--json").stdout)
    assert routes_2 == routes_1  # same ids, same timestamps: nothing was re-created
    assert dump_state(paths.state) == state_1
    assert (paths.state / "secrets.json").read_bytes() == secrets_1, "no new token on re-run"
    assert second.stdout == first.stdout
    assert "already exists" in second.stderr and "created tunnel" not in second.stderr

    # what it provisioned: two tunnels, a vnet, the same CIDR in two vnets, a nested route
    got = {(r["network"], r["tunnel_name"], r["virtual_network_name"]) for r in routes_1}
    assert {("10.0.0.0/24", "office", "default"), ("10.0.0.0/16", "lab", "default"),
            ("10.0.0.0/24", "lab", "staging")} <= got
    assert [t["name"] for t in json.loads(sh("tunnel", "list", "--json").stdout)] == ["lab", "office"]
    assert "  10.0.0.7 goes via: office (default), lab (staging)" in first.stdout
    assert f"  state dir: {paths.state}" in first.stdout


def test_provision_fails_on_an_unexpected_overlap(need_jq, paths, sh) -> None:
    assert _provision().returncode == 0
    assert sh("route", "add", "10.0.0.0/25", "--tunnel", "lab").exit_code == 0
    before = dump_state(paths.state)
    r = _provision()
    assert r.returncode == 1
    assert "provision.sh: unexpected overlap: nested in default: 10.0.0.0/25 inside 10.0.0.0/24" in r.stderr
    assert dump_state(paths.state) == before


def _csv_rows(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(text.splitlines()))
    for row in rows:
        row["vnet"] = row["vnet"] or "default"
    return rows


def test_routes_csv_imports(sh, paths) -> None:
    for args in (("tunnel", "create", "office"), ("tunnel", "create", "lab"), ("vnet", "add", "staging")):
        assert sh(*args).exit_code == 0
    expected = _csv_rows(ROUTES_CSV.read_text())
    assert len(expected) >= 5 and {r["vnet"] for r in expected} == {"default", "staging"}

    r = sh("routes", "import", str(ROUTES_CSV), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["imported"] == len(expected)

    exported = sh("routes", "export")
    assert exported.exit_code == 0, exported.stderr
    key = lambda row: (row["vnet"], row["network"])  # noqa: E731
    assert sorted(_csv_rows(exported.stdout), key=key) == sorted(expected, key=key)

    # and a second import is refused as a whole, changing nothing
    before = dump_state(paths.state)
    again = sh("routes", "import", str(ROUTES_CSV))
    assert again.exit_code == 4
    assert dump_state(paths.state) == before
