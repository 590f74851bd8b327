"""`routes import --create-missing / --if-not-exists / --dry-run`, spreadsheet CSV (issue 18, items 5 and 6)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Paths, dump_state

TABLE = "network,tunnel,vnet,comment\n10.0.0.0/24,t1,v1,branch\n10.1.0.0/24,t1,,\n10.2.0.0/24,t2,v1,x\n"


def names(cli, kind: str) -> list[str]:
    r = cli(kind, "list", "--json")
    assert r.exit_code == 0, r.stderr
    return sorted(x["name"] for x in json.loads(r.stdout))


def routes(cli) -> list[tuple]:
    r = cli("routes", "--json")
    assert r.exit_code == 0, r.stderr
    return sorted((x["network"], x["tunnel_name"], x["virtual_network_name"], x["comment"])
                  for x in json.loads(r.stdout))


EXPECTED = [("10.0.0.0/24", "t1", "v1", "branch"), ("10.1.0.0/24", "t1", "default", ""),
            ("10.2.0.0/24", "t2", "v1", "x")]


@pytest.mark.usefixtures("backend")
def test_export_into_a_fresh_store_needs_create_missing_and_says_so(cli, paths: Paths) -> None:
    """The issue's report: every row 'unknown tunnel', no hint, the vnet only on the next try."""
    assert names(cli, "vnet") == ["default"]  # the store exists
    before = dump_state(paths.state)
    r = cli("routes", "import", "-", input=TABLE)
    assert r.exit_code == 2
    first = r.stderr.splitlines()[0]
    assert "--create-missing" in first, first
    assert "row 2: 10.0.0.0/24: unknown tunnel 't1'; unknown virtual network 'v1'" in r.stderr
    assert dump_state(paths.state) == before

    r = cli("routes", "import", "-", "--create-missing", "--dry-run", "--json", input=TABLE)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"imported": 3, "skipped": 0, "created_tunnels": ["t1", "t2"],
                                    "created_virtual_networks": ["v1"], "dry_run": True}
    assert "would create tunnel(s): t1, t2" in r.stderr
    assert dump_state(paths.state) == before

    r = cli("routes", "import", "-", "--create-missing", "--json", input=TABLE)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["created_tunnels"] == ["t1", "t2"]
    assert names(cli, "tunnel") == ["t1", "t2"] and names(cli, "vnet") == ["default", "v1"]
    assert routes(cli) == EXPECTED


@pytest.mark.usefixtures("backend")
def test_a_refused_create_missing_import_leaves_nothing_behind(cli, paths: Paths) -> None:
    """What it created is deleted again (the store keeps deleted objects as deleted, as Cloudflare does)."""
    assert names(cli, "vnet") == ["default"]
    r = cli("routes", "import", "-", "--create-missing", input="10.0.0.0/24,t1,v1\n10.0.0.1/33,t2,v2\n")
    assert r.exit_code == 2 and "row 2" in r.stderr
    assert names(cli, "tunnel") == [] and names(cli, "vnet") == ["default"]
    assert routes(cli) == []


@pytest.mark.usefixtures("backend")
def test_reimport_with_if_not_exists_skips_identical_rows_only(cli, paths: Paths) -> None:
    assert cli("routes", "import", "-", "--create-missing", input=TABLE).exit_code == 0
    before = dump_state(paths.state)
    r = cli("routes", "import", "-", input=TABLE)
    assert r.exit_code == 4
    assert "--if-not-exists" in r.stderr.splitlines()[0]
    assert dump_state(paths.state) == before

    r = cli("routes", "import", "-", "--if-not-exists", "--json", input=TABLE + "10.3.0.0/24,t2,,new\n")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"imported": 1, "skipped": 3, "created_tunnels": [],
                                    "created_virtual_networks": [], "dry_run": False}
    assert "imported 1 route(s); 3 already there, skipped" in r.stderr
    assert routes(cli) == sorted([*EXPECTED, ("10.3.0.0/24", "t2", "default", "new")])

    before = dump_state(paths.state)
    differing = "10.0.0.0/24,t1,v1,another comment\n10.1.0.0/24,t2,,\n10.4.0.0/24,t1,,\n"
    r = cli("routes", "import", "-", "--if-not-exists", "--json", input=differing)
    assert r.exit_code == 4, r.stderr
    assert [p["row"] for p in json.loads(r.stdout)["problems"]] == [1, 2]
    assert dump_state(paths.state) == before


@pytest.mark.usefixtures("backend")
def test_dry_run_reports_conflicts_and_changes_nothing(cli, paths: Paths) -> None:
    assert cli("routes", "import", "-", "--create-missing", input=TABLE).exit_code == 0
    before = dump_state(paths.state)
    r = cli("routes", "import", "-", "--dry-run", input="10.9.0.0/24,t1\n10.0.0.0/24,t1,v1,branch\n")
    assert r.exit_code == 4 and "row 2: 10.0.0.0/24: already routed" in r.stderr
    r = cli("routes", "import", "-", "--dry-run", "--if-not-exists", input="10.9.0.0/24,t1\n10.0.0.0/24,t1,v1,branch\n")
    assert r.exit_code == 0 and "would import 1 route(s); 1 already there, skipped" in r.stderr
    assert dump_state(paths.state) == before


# -- spreadsheets -----------------------------------------------------------------------------
@pytest.fixture
def two_tunnels(cli):
    for args in (("tunnel", "create", "t1"), ("tunnel", "create", "t2"), ("vnet", "add", "v1")):
        assert cli(*args).exit_code == 0
    return cli


@pytest.mark.parametrize("bom", ["", "\ufeff"])
@pytest.mark.parametrize("sep", [",", ";"])
@pytest.mark.parametrize("header", [True, False])
def test_spreadsheet_csv_bom_and_semicolons(two_tunnels, tmp_path, bom: str, sep: str, header: bool) -> None:
    rows = [["10.0.0.0/24", "t1", "v1", "branch"], ["10.1.0.0/24", "t1", "", ""], ["10.2.0.0/24", "t2", "v1", "x"]]
    lines = ([["network", "tunnel", "vnet", "comment"]] if header else []) + rows
    text = bom + "".join(sep.join(cells) + "\r\n" for cells in lines)
    f = tmp_path / "table.csv"
    f.write_bytes(text.encode("utf-8"))
    r = two_tunnels("routes", "import", str(f))
    assert r.exit_code == 0, r.stderr
    assert routes(two_tunnels) == EXPECTED


def test_semicolon_csv_with_commas_in_a_quoted_comment(two_tunnels) -> None:
    r = two_tunnels("routes", "import", "-", input='10.0.0.0/24;t1;v1;"a, b; c"\n10.1.0.0/24;t1;;\n')
    assert r.exit_code == 0, r.stderr
    assert ("10.0.0.0/24", "t1", "v1", "a, b; c") in routes(two_tunnels)


def test_a_comma_csv_with_semicolons_in_comments_stays_comma(two_tunnels) -> None:
    r = two_tunnels("routes", "import", "-", input="10.0.0.0/24,t1,v1,a;b;c;d;e\n")
    assert r.exit_code == 0, r.stderr
    assert routes(two_tunnels) == [("10.0.0.0/24", "t1", "v1", "a;b;c;d;e")]


def test_an_empty_tunnel_cell_is_worded_for_import(two_tunnels, paths: Paths) -> None:
    before = dump_state(paths.state)
    r = two_tunnels("routes", "import", "-", input="10.0.0.0/24,,\n10.1.0.0/24,,\n")
    assert r.exit_code == 2
    assert "--tunnel" not in r.stderr
    assert "row 1: 10.0.0.0/24: the tunnel cell is empty and several tunnels exist; fill in the tunnel column" \
        in r.stderr
    assert dump_state(paths.state) == before
