"""On a connector enrolled with a served controller, read-only commands ask that server, as `up`
does, and never create a local store (issue 18, item 3). A real `controller serve` on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Paths
from tests.served import ServedController

NOTE = "(the served controller this connector enrolled with"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedController]:
    with ServedController(tmp_path / "ctl", log_file=tmp_path / "serve.log") as s:
        yield s


@pytest.fixture
def enrolled(served: ServedController, sh, paths: Paths) -> ServedController:
    """A tunnel with two routes (one nested) in the default vnet, on the server; this host enrolled
    in it with the tunnel's token only (no API token on the host)."""
    admin = {**served.env, "WARPCLI_CONFIG_DIR": str(paths.home / "admin")}
    for args in (("tunnel", "create", "office"), ("route", "add", "10.0.0.0/16", "--tunnel", "office"),
                 ("route", "add", "10.0.1.0/24", "--tunnel", "office", "--comment", "inner")):
        r = sh(*args, env=admin)
        assert r.exit_code == 0, r.stderr
    token = sh("tunnel", "token", "office", env=admin).stdout.strip()
    enroll_env = {k: v for k, v in served.env.items() if k != "CLOUDFLARE_API_TOKEN"}
    r = sh("enroll", "--interface", "wctrd0", input=token + "\n", env=enroll_env)
    assert r.exit_code == 0, r.stderr
    assert not (paths.state / "state.db").exists()
    return served


def test_read_only_commands_ask_the_served_controller(enrolled: ServedController, sh, paths: Paths) -> None:
    r = sh("routes", "--json")
    assert r.exit_code == 0, r.stderr
    got = sorted((x["network"], x["tunnel_name"]) for x in json.loads(r.stdout))
    assert got == [("10.0.0.0/16", "office"), ("10.0.1.0/24", "office")]
    assert enrolled.url in r.stderr and NOTE in r.stderr

    r = sh("routes")
    assert r.exit_code == 0 and "10.0.1.0/24" in r.stdout and enrolled.url in r.stderr

    r = sh("routes", "--overlaps", "--json")
    assert r.exit_code == 0, r.stderr
    nested = json.loads(r.stdout)["nested"]
    assert nested and nested[0]["outer"]["network"] == "10.0.0.0/16"

    r = sh("route", "get", "10.0.1.7", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["route"]["network"] == "10.0.1.0/24"

    r = sh("routes", "export")
    assert r.exit_code == 0, r.stderr
    assert "10.0.0.0/16,office" in r.stdout

    for args in (("tunnel", "list", "--json"), ("tunnel", "show", "office", "--json"), ("vnet", "list", "--json"),
                 ("connector", "list", "--json")):
        r = sh(*args)
        assert r.exit_code == 0, (args, r.stderr)
        assert "office" in r.stdout or "default" in r.stdout, (args, r.stdout)
        assert NOTE in r.stderr
    # none of them made a local store
    assert not (paths.state / "state.db").exists()
    assert not any(paths.state.glob("state.db*")) if paths.state.exists() else True


def test_a_controller_named_for_the_run_wins(enrolled: ServedController, sh, paths: Paths) -> None:
    r = sh("--controller", "local", "routes", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == [] and NOTE not in r.stderr
    r = sh("routes", "--json", env={"WARPCLI_CONTROLLER": "local"})
    assert r.exit_code == 0 and json.loads(r.stdout) == [] and NOTE not in r.stderr


READS = [("routes", "--json"), ("routes", "--overlaps", "--json"), ("tunnel", "list", "--json"),
         ("vnet", "list", "--json"), ("connector", "list", "--json"), ("routes", "export"),
         ("export",), ("export", "--format", "csv"), ("policy", "list", "--json"), ("policy", "lint", "--json"),
         ("policy", "test", "--from", "10.0.0.1", "--to", "10.1.0.1:80/tcp", "--json"),
         ("apply", "-f", "-", "--dry-run"), ("routes", "import", "-", "--create-missing", "--dry-run")]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_on_a_host_with_no_state_creates_none(args: tuple[str, ...], sh, paths: Paths) -> None:
    """A read-only command (and a dry run) on a host with no state answers as the empty state
    would and leaves no file behind: state.db is made by the first change, not by a look."""
    stdin = {"apply": '[[tunnels]]\nname = "a"\n', "import": "network,tunnel\n10.0.0.0/24,t1\n"}
    r = sh(*args, input=next((v for k, v in stdin.items() if k in args), None))
    assert r.exit_code in (0, 10), (args, r.stderr)  # 10: the dry run has changes pending
    assert "Traceback" not in r.stderr
    assert not paths.state.exists() or not any(paths.state.iterdir()), sorted(paths.state.iterdir())


def test_the_first_change_after_reads_makes_the_state(sh, paths: Paths) -> None:
    r = sh("vnet", "list", "--json")
    assert r.exit_code == 0 and [v["name"] for v in json.loads(r.stdout)] == ["default"]
    assert not (paths.state / "state.db").exists()
    assert sh("tunnel", "create", "office").exit_code == 0
    assert (paths.state / "state.db").exists()
    listed = sh("tunnel", "list", "--json")
    assert [t["name"] for t in json.loads(listed.stdout)] == ["office"]
    first = json.loads(sh("vnet", "list", "--json").stdout)
    assert first == json.loads(sh("vnet", "list", "--json").stdout)  # the stored default vnet now, stable


def test_status_on_a_connector_whose_controller_state_is_gone_creates_none(sh, paths: Paths) -> None:
    """`status` only reads: on an enrolled host whose embedded state went away (moved, or the
    controller host is down) it reports, and makes no new empty store in its place."""
    assert sh("tunnel", "create", "office").exit_code == 0
    r = sh("enroll", "--tunnel", "office", "--interface", "wctst0")
    assert r.exit_code == 0, r.stderr
    away = paths.state.with_name("state.away")
    paths.state.rename(away)
    r = sh("status", "--json")
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["tunnel_name"] in (None, "office")
    assert not paths.state.exists() or not any(paths.state.iterdir()), sorted(paths.state.iterdir())
