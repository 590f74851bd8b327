"""`routes import` / `routes export`: CSV and JSON lines, all or nothing (issue 2, scope 10)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WARPCLI, Paths, dump_state

pytestmark = pytest.mark.usefixtures("backend")

TABLE_CSV = """network,tunnel,vnet,comment
10.0.0.0/24,office,,branch
10.0.0.0/16,lab,default,whole lab
10.0.0.0/24,lab,staging,
2001:db8::/32,lab,,"v6, with a comma"
192.168.1.7,office,staging,"quoted ""name"" and ünïcode"
"""

EXPECTED = sorted([
    ("10.0.0.0/24", "office", "default", "branch"),
    ("10.0.0.0/16", "lab", "default", "whole lab"),
    ("10.0.0.0/24", "lab", "staging", ""),
    ("2001:db8::/32", "lab", "default", "v6, with a comma"),
    ("192.168.1.7/32", "office", "staging", 'quoted "name" and ünïcode'),
])


def table(cli) -> list[tuple]:
    r = cli("routes", "--json")
    assert r.exit_code == 0, r.stderr
    return sorted((x["network"], x["tunnel_name"], x["virtual_network_name"], x["comment"])
                  for x in json.loads(r.stdout))


@pytest.fixture
def setup(cli):
    for args in (("tunnel", "create", "office"), ("tunnel", "create", "lab"), ("vnet", "add", "staging")):
        assert cli(*args).exit_code == 0
    return cli


def as_jsonl(csv_text: str) -> str:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_text)))
    return "".join(json.dumps(r) + "\n" for r in rows)


# -- the formats ------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["file", "stdin"])
@pytest.mark.parametrize("fmt", ["csv-header", "csv-no-header", "csv-reordered", "jsonl"])
def test_import(setup, tmp_path: Path, fmt: str, source: str) -> None:
    cli = setup
    if fmt == "csv-header":
        text, name = TABLE_CSV, "routes.csv"
    elif fmt == "csv-no-header":
        text, name = TABLE_CSV.split("\n", 1)[1], "routes.txt"
    elif fmt == "csv-reordered":
        lines = [ln.split(",", 2) for ln in TABLE_CSV.splitlines()]
        text = "tunnel,network,vnet,comment\n" + "".join(
            f"{t},{n},{rest}\n" for n, t, rest in lines[1:]
        )
        name = "routes.csv"
    else:
        text, name = as_jsonl(TABLE_CSV), "routes.jsonl"
    if source == "file":
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        r = cli("routes", "import", str(path), "--json")
    else:
        r = cli("routes", "import", "-", "--json", input=text)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["imported"] == 5
    assert "imported 5 route(s)" in r.stderr
    assert table(cli) == EXPECTED


def test_import_without_tunnel_column_uses_the_only_tunnel(cli) -> None:
    assert cli("tunnel", "create", "solo").exit_code == 0
    r = cli("routes", "import", "-", input="10.1.0.0/24\n10.2.0.0/24\n")
    assert r.exit_code == 0, r.stderr
    assert [t[1] for t in table(cli)] == ["solo", "solo"]


def test_import_of_nothing_is_fine(setup) -> None:
    r = setup("routes", "import", "-", "--json", input="")
    assert r.exit_code == 0 and json.loads(r.stdout)["imported"] == 0
    r = setup("routes", "import", "-", input="network,tunnel,vnet,comment\n\n")
    assert r.exit_code == 0


# -- all or nothing ---------------------------------------------------------------------------
BAD_ROWS = """network,tunnel,vnet,comment
10.1.0.0/24,office,,fine
10.1.0.1/24,office,,host bits
10.1.1.0/24,nope,,unknown tunnel
10.1.2.0/24,office,prod,unknown vnet
10.1.0.0/24,lab,,duplicate within the file
10.0.0.0/24,lab,,duplicate of an existing route
not-a-cidr,office,,
10.1.3.0/24,office,,fine,extra field
"""


def test_bad_rows_are_all_reported_and_nothing_is_imported(setup, paths: Paths) -> None:
    cli = setup
    assert cli("route", "add", "10.0.0.0/24", "--tunnel", "office").exit_code == 0
    before = dump_state(paths.state)
    r = cli("routes", "import", "-", input=BAD_ROWS)
    assert r.exit_code == 2
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("warpcli: error: ") and "7 bad row(s)" in lines[0] and "nothing" in lines[0]
    report = lines[1:]
    assert len(report) == 7
    expect = {
        3: "did you mean 10.1.0.0/24?",
        4: "unknown tunnel 'nope'",
        5: "unknown virtual network 'prod'",
        6: "duplicate of row 2",
        7: "already routed",
        8: "not-a-cidr",
        9: "5 fields",
    }
    for line, (row, reason) in zip(report, sorted(expect.items()), strict=False):
        assert line.strip().startswith(f"row {row}:") and reason in line, (line, row, reason)
    assert dump_state(paths.state) == before

    # with --json the same report is on stdout, machine-readable
    r = cli("routes", "import", "-", "--json", input=BAD_ROWS)
    assert r.exit_code == 2
    got = json.loads(r.stdout)
    assert [p["row"] for p in got["problems"]] == sorted(expect)
    assert got["problems"][0]["network"] == "10.1.0.1/24"
    assert dump_state(paths.state) == before


def test_conflicts_with_existing_routes_exit_4(setup, paths: Paths) -> None:
    cli = setup
    existing = json.loads(cli("route", "add", "10.0.0.0/24", "--tunnel", "office", "--json").stdout)
    cli("route", "add", "10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging")
    before = dump_state(paths.state)
    rows = "10.5.0.0/24,office\n10.0.0.0/24,lab\n10.6.0.0/24,office\n10.0.0.0/24,office,staging\n"
    r = cli("routes", "import", "-", "--json", input=rows)
    assert r.exit_code == 4
    got = json.loads(r.stdout)
    assert "2 conflicting row(s)" in got["error"]
    assert [(p["row"], p["network"]) for p in got["problems"]] == [(2, "10.0.0.0/24"), (4, "10.0.0.0/24")]
    assert existing["id"] in got["problems"][0]["reason"]
    assert r.stderr.splitlines()[0].startswith("warpcli: error: ")
    assert dump_state(paths.state) == before


def test_duplicates_within_the_file_only(setup, paths: Paths) -> None:
    before = dump_state(paths.state)
    r = setup("routes", "import", "-", input='{"network": "10.0.0.0/8", "tunnel": "lab"}\n'
                                             '{"network": "10.0.0.0/8", "tunnel": "office"}\n'
                                             '{"network": "10.0.0.0/8", "tunnel": "office", "vnet": "staging"}\n'
                                             '[1, 2]\n')
    assert r.exit_code == 2
    assert "row 2: 10.0.0.0/8: duplicate of row 1" in r.stderr
    assert "row 4: not a JSON object" in r.stderr
    assert "row 3" not in r.stderr  # the same CIDR in another vnet is fine
    assert dump_state(paths.state) == before


def test_import_refuses_unknown_columns(setup, paths: Paths) -> None:
    before = dump_state(paths.state)
    r = setup("routes", "import", "-", input="network,tunnel,colour\n10.0.0.0/24,office,red\n")
    assert r.exit_code == 2 and "colour" in r.stderr
    assert dump_state(paths.state) == before


# -- moving a table ---------------------------------------------------------------------------
@pytest.mark.local_only("a second, fresh state dir; the move to Cloudflare has its own test below")
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_then_import_into_a_fresh_state_reproduces_the_table(
    setup, paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    cli = setup
    r = cli("routes", "import", "-", input=TABLE_CSV)
    assert r.exit_code == 0, r.stderr
    # a comment CSV must quote: commas, quotes, non-ASCII (control characters are refused at the door)
    assert cli("route", "add", "10.9.0.0/24", "--tunnel", "office", "--comment", 'a, "quoted" ünï ✓').exit_code == 0
    original = table(cli)

    out = tmp_path / f"table.{fmt}"
    r = cli("routes", "export", str(out), "--format", fmt)
    assert r.exit_code == 0 and r.stdout == "" and "exported 6 route(s)" in r.stderr
    # to stdout, the same bytes
    assert cli("routes", "export", "--format", fmt).stdout == out.read_text(encoding="utf-8")
    if fmt == "jsonl":
        assert cli("routes", "export", "--json").stdout == out.read_text(encoding="utf-8")

    monkeypatch.setenv("WARPCLI_STATE_DIR", str(tmp_path / "fresh"))
    for args in (("tunnel", "create", "office"), ("tunnel", "create", "lab"), ("vnet", "add", "staging")):
        assert cli(*args).exit_code == 0
    r = cli("routes", "import", str(out))
    assert r.exit_code == 0, r.stderr
    assert table(cli) == original
    # and the exports of both are the same
    fresh = cli("routes", "export", "--format", fmt).stdout
    assert sorted(fresh.splitlines()) == sorted(out.read_text(encoding="utf-8").splitlines())


def test_export_filters_and_empty_table(setup) -> None:
    cli = setup
    assert cli("routes", "export").stdout == "network,tunnel,vnet,comment\n"
    assert cli("routes", "export", "--json").stdout == ""
    cli("routes", "import", "-", input=TABLE_CSV)
    lines = cli("routes", "export", "--vnet", "staging", "--json").stdout.splitlines()
    assert sorted(json.loads(ln)["network"] for ln in lines) == ["10.0.0.0/24", "192.168.1.7/32"]
    lines = cli("routes", "export", "--tunnel", "office").stdout.splitlines()
    assert lines[0] == "network,tunnel,vnet,comment" and len(lines) == 3
    r = cli("routes", "export", "--format", "xml")
    assert r.exit_code == 2 and r.stdout == ""


def test_export_to_an_unwritable_place_fails_cleanly(setup, tmp_path: Path) -> None:
    r = setup("routes", "export", str(tmp_path / "no" / "such" / "dir" / "t.csv"))
    assert r.exit_code == 2 and r.stderr.startswith("warpcli: error: ") and r.stderr.count("\n") == 1
    assert not (tmp_path / "no").exists()


# -- size -------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.local_only("Cloudflare's rate limit (1200 calls / 5 min) makes 20k single creates a 90-minute job")
def test_twenty_thousand_rows_through_the_real_entry_point(paths: Paths, sh, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    assert sh("tunnel", "create", "lab").exit_code == 0
    n = 20_000
    spec = [(f"10.{i >> 8 & 255}.{i & 255}.0/24", "office" if i % 3 else "lab", "", f"row {i}") for i in range(n // 2)]
    spec += [(f"2001:db8:{i + 1:x}::/48", "lab", "default", "") for i in range(n // 2)]
    rows = [",".join(r) for r in spec]
    src = tmp_path / "big.csv"
    src.write_text("network,tunnel,vnet,comment\n" + "\n".join(rows) + "\n")
    r = sh("routes", "import", str(src), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["imported"] == n

    # the table is queryable and exports back to the same rows, streaming through a pipe
    env = dict(os.environ)
    exporter = subprocess.Popen([WARPCLI, "routes", "export"], stdout=subprocess.PIPE, env=env, text=True)
    exported = exporter.stdout.read().splitlines()
    assert exporter.wait(timeout=120) == 0
    assert exported[0] == "network,tunnel,vnet,comment"
    assert sorted(exported[1:]) == sorted(",".join((net, t, v or "default", c)) for net, t, v, c in spec)
    got = json.loads(sh("route", "get", "10.39.15.200", "--json").stdout)
    assert got["route"]["network"] == "10.39.15.0/24" and got["route"]["comment"] == f"row {39 * 256 + 15}"

    # a second import of the same file conflicts on every row and changes nothing
    before = dump_state(paths.state)
    r = sh("routes", "import", str(src), "--json")
    assert r.exit_code == 4
    assert len(json.loads(r.stdout)["problems"]) == n
    assert dump_state(paths.state) == before


@pytest.mark.local_only("it moves a table from the embedded controller to Cloudflare itself")
def test_a_table_moves_from_the_embedded_controller_to_cloudflare(setup, tmp_path: Path, monkeypatch) -> None:
    """export on one controller, import on the other: the same table, names resolved again."""
    from tests.cfstub.fixtures import cf_server

    cli = setup
    assert cli("routes", "import", "-", input=TABLE_CSV).exit_code == 0
    original = table(cli)
    out = tmp_path / "table.csv"
    assert cli("routes", "export", str(out)).exit_code == 0
    with cf_server(tmp_path / "cloud") as cf:
        for var, value in {"WARPCLI_CONTROLLER": "cloudflare", "CLOUDFLARE_ACCOUNT_ID": cf.account_id,
                           "WARPCLI_API_URL": cf.url, "CLOUDFLARE_API_TOKEN": cf.token}.items():
            monkeypatch.setenv(var, value)
        for args in (("tunnel", "create", "office"), ("tunnel", "create", "lab"), ("vnet", "add", "staging")):
            assert cli(*args).exit_code == 0
        r = cli("routes", "import", str(out), "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["imported"] == len(original), r.stderr
        assert table(cli) == original
        assert len(cf.requests_to("POST", r"/teamnet/routes$")) == len(original)
        # once more: every row conflicts, nothing is created
        r = cli("routes", "import", str(out), "--json")
        assert r.exit_code == 4 and len(json.loads(r.stdout)["problems"]) == len(original)
        assert len(cf.requests_to("POST", r"/teamnet/routes$")) == len(original)


def test_import_of_a_file_that_is_not_utf8(sh, paths, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    for name, data in (("latin1.csv", "network,tunnel,vnet,comment\n10.0.0.0/24,office,,caf\xe9\n".encode("latin-1")),
                       ("binary.csv", b"\xff\xfe\x00\x01garbage")):
        f = tmp_path / name
        f.write_bytes(data)
        r = sh("routes", "import", str(f))
        assert r.exit_code == 2 and "Traceback" not in r.stderr, r.stderr
        assert "not UTF-8" in r.stderr
    assert dump_state(paths.state) == before


def test_import_with_a_huge_csv_field(sh, paths, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    f = tmp_path / "huge.csv"
    f.write_text("network,tunnel,vnet,comment\n10.0.0.0/24,office,,\"" + "x" * 200_000 + "\"\n")
    r = sh("routes", "import", str(f))
    assert r.exit_code == 2 and "unreadable CSV" in r.stderr and "Traceback" not in r.stderr
    assert dump_state(paths.state) == before


def test_import_refuses_rows_whose_tunnel_was_deleted_meanwhile(tmp_path: Path) -> None:
    """Rows are resolved before the write transaction; the transaction checks again."""
    import pytest

    from warpcli.controllers.local import LocalController
    from warpcli.core.cidr import parse_network
    from warpcli.core.controller import RouteSpec
    from warpcli.core.errors import BulkImportError
    from warpcli.secret_stores.file_store import FileStore

    ctrl = LocalController(tmp_path / "s", secrets=lambda: FileStore(tmp_path / "s" / "secrets.json"))
    keep, gone = ctrl.create_tunnel("keep"), ctrl.create_tunnel("gone")
    vnet = ctrl.list_virtual_networks()[0]
    specs = [RouteSpec(parse_network("10.0.0.0/24"), keep.id, vnet.id, "", 1),
             RouteSpec(parse_network("10.0.1.0/24"), gone.id, vnet.id, "", 2)]
    ctrl.delete_tunnel(gone.id)  # another process, between resolution and import
    with pytest.raises(BulkImportError) as err:
        ctrl.import_routes(specs)
    assert [p["row"] for p in err.value.problems] == [2]
    assert list(ctrl.list_routes()) == []
    ctrl.close()
