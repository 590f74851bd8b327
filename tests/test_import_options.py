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
    assert cli("controller", "migrate").exit_code == 0  # the store exists (a read alone creates none)
    assert names(cli, "vnet") == ["default"]
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


# -- the separator, against the rows themselves as the oracle --------------------------------
def _cells():
    from hypothesis import strategies as st

    text = st.text(alphabet=st.sampled_from(list("ab ,;\"'=é\u00fc-")), max_size=8)
    network = st.builds(lambda a, b, p: f"10.{a}.{b}.0/{p}", st.integers(0, 255), st.integers(0, 255),
                        st.integers(24, 32))
    return st.tuples(network, text, text, text)


def test_any_table_reads_back_with_either_separator() -> None:
    """A table written by a spreadsheet with `,` or `;` (any quoting the csv module does, a BOM
    or not, a header or not) reads back as exactly its rows."""
    import csv
    import io

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from warpcli.core import bulk

    @settings(deadline=None, max_examples=300)
    @given(rows=st.lists(_cells(), min_size=1, max_size=6), sep=st.sampled_from([",", ";"]),
           header=st.booleans(), bom=st.booleans())
    def check(rows, sep, header, bom):
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
        if header:
            writer.writerow(bulk.COLUMNS)
        writer.writerows(rows)
        text = ("\ufeff" if bom else "") + buf.getvalue()
        lines = io.StringIO(text, newline="")
        first = bulk.strip_bom(lines.readline())
        got = [r for _, r in bulk.read_rows([first, *lines], "csv")]
        want = [dict(zip(bulk.COLUMNS, (c.strip() for c in row), strict=True)) for row in rows]
        want = [{k: bulk.restore_cell(v) for k, v in w.items()} for w in want]
        assert got == want

    check()


def test_if_not_exists_against_a_brute_force_oracle(tmp_path) -> None:
    """Any table already there, any file: identical rows are skipped and counted, a row whose CIDR
    is routed differently in its vnet refuses the import, everything else is imported."""
    import itertools

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from warpcli.controllers.local import LocalController
    from warpcli.core import bulk
    from warpcli.core.cidr import parse_network
    from warpcli.core.errors import BulkImportError
    from warpcli.secret_stores.file_store import FileStore

    row = st.tuples(st.sampled_from(["10.0.0.0/24", "10.0.1.0/24", "10.0.0.0/16", "10.9.0.0/24"]),
                    st.sampled_from(["t1", "t2"]), st.sampled_from(["", "v1"]), st.sampled_from(["", "c"]))
    counter = itertools.count()

    @settings(deadline=None, max_examples=40)
    @given(existing=st.lists(row, max_size=5, unique_by=lambda r: (r[0], r[2])),
           rows=st.lists(row, max_size=6, unique_by=lambda r: (r[0], r[2])))
    def check(existing, rows):
        state = tmp_path / f"s{next(counter)}"
        with LocalController(state, secrets=lambda: FileStore(state / "secrets.json")) as ctrl:
            ids = {"t1": ctrl.create_tunnel("t1").id, "t2": ctrl.create_tunnel("t2").id}
            vids = {"": ctrl.list_virtual_networks(is_default=True)[0].id, "v1": ctrl.create_virtual_network("v1").id}
            for net, t, v, c in existing:
                ctrl.create_route(parse_network(net), ids[t], virtual_network_id=vids[v], comment=c)
            there = {(net, v): (t, c) for net, t, v, c in existing}
            identical = [r for r in rows if there.get((r[0], r[2])) == (r[1], r[3])]
            differing = [r for r in rows if (r[0], r[2]) in there and r not in identical]
            text = [(i + 1, {"network": n, "tunnel": t, "vnet": v, "comment": c}) for i, (n, t, v, c) in enumerate(rows)]
            before = sorted((r.network, r.tunnel_name, r.virtual_network_name, r.comment) for r in ctrl.list_routes())
            try:
                result = bulk.import_table(ctrl, text, if_not_exists=True)
            except BulkImportError as exc:
                assert differing, exc.problems
                assert exc.conflict
                assert sorted(p["row"] for p in exc.problems) == sorted(rows.index(r) + 1 for r in differing)
                after = sorted((r.network, r.tunnel_name, r.virtual_network_name, r.comment)
                               for r in ctrl.list_routes())
                assert after == before
                return
            assert not differing
            assert result.skipped == len(identical)
            assert result.imported == len(rows) - len(identical)
            assert len(list(ctrl.list_routes())) == len(existing) + result.imported

    check()
