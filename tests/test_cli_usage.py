"""Parser errors are bad input too: one line, exit 2, nothing changed; output order is stable."""

from __future__ import annotations

import json

import pytest

from tests.conftest import dump_state


@pytest.mark.parametrize(
    "args, needle",
    [
        (["route", "add"], "Missing argument 'NETWORK'; see 'warpcli route add --help'"),
        (["route", "add", "10.0.0.0/8", "--bogus"], "No such option: --bogus"),
        (["nope"], "No such command 'nope'"),
        (["routes", "--contains"], "requires an argument"),
        (["route", "add", "1.2.3.4/032"], "invalid prefix length"),
    ],
)
def test_parser_errors_are_one_line(sh, paths, args: list[str], needle: str) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    r = sh(*args)
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warpcli: error: "), r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr
    assert dump_state(paths.state) == before


def test_a_group_without_a_command_prints_its_help(sh, paths) -> None:
    r = sh("tunnel")
    assert r.exit_code == 2
    assert "create" in r.stdout and "warpcli: error" not in r.stderr


def test_routes_are_listed_by_vnet_default_first_then_name_then_address(cli, paths) -> None:
    assert cli("tunnel", "create", "t").exit_code == 0
    for name in ("zeta", "alpha"):
        assert cli("vnet", "add", name).exit_code == 0
    for cidr, vnet in [("10.2.0.0/16", "zeta"), ("10.1.0.0/16", "alpha"), ("10.0.0.0/8", "alpha"),
                       ("192.168.0.0/24", None), ("10.9.0.0/16", None), ("2001:db8::/32", None)]:
        args = ["route", "add", cidr] + (["--vnet", vnet] if vnet else [])
        assert cli(*args).exit_code == 0
    rows = json.loads(cli("routes", "--json").stdout)
    assert [(r["virtual_network_name"], r["network"]) for r in rows] == [
        ("default", "10.9.0.0/16"), ("default", "192.168.0.0/24"), ("default", "2001:db8::/32"),
        ("alpha", "10.0.0.0/8"), ("alpha", "10.1.0.0/16"), ("zeta", "10.2.0.0/16"),
    ]
