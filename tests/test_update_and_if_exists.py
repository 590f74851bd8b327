"""`route update`, `--if-exists` on deletes and the route count of `delete --force`, on every controller."""

from __future__ import annotations

import json

import pytest

from tests.conftest import dump_state


@pytest.fixture
def office(cli, backend):
    for args in (["tunnel", "create", "office"], ["tunnel", "create", "lab"], ["vnet", "add", "staging"]):
        assert cli(*args).exit_code == 0
    r = cli("route", "add", "10.1.0.0/24", "--tunnel", "office", "--comment", "first", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_update_changes_tunnel_comment_and_cidr_in_place(cli, office) -> None:
    r = cli("route", "update", "10.1.0.0/24", "--tunnel", "lab", "--comment", "moved", "--json")
    assert r.exit_code == 0, r.stderr
    moved = json.loads(r.stdout)
    assert moved["id"] == office["id"] and moved["tunnel_name"] == "lab" and moved["comment"] == "moved"
    r = cli("route", "update", office["id"], "--network", "10.1.0.0/23")
    assert r.exit_code == 0 and r.stdout.strip() == office["id"], r.stderr
    routes = json.loads(cli("routes", "--json").stdout)
    assert [(x["id"], x["network"], x["tunnel_name"]) for x in routes] == [(office["id"], "10.1.0.0/23", "lab")]
    assert cli("route", "update", "10.1.0.0/23", "--comment", "").exit_code == 0
    assert json.loads(cli("routes", "--json").stdout)[0]["comment"] == ""


@pytest.mark.parametrize(("args", "code", "says"), [
    (["route", "update", "10.1.0.0/24"], 2, "nothing to change"),
    (["route", "update", "10.9.0.0/24", "--comment", "x"], 3, "no route for 10.9.0.0/24"),
    (["route", "update", "10.1.0.0/24", "--tunnel", "nope"], 3, "no tunnel named 'nope'"),
    (["route", "update", "10.1.0.0/24", "--network", "10.1.0.1/24"], 2, "host bits"),
    (["route", "update", "10.1.0.0/24", "--comment", "a\x1bb"], 2, "control characters"),
])
def test_a_bad_update_is_one_line_and_changes_nothing(cli, office, paths, args, code, says) -> None:
    before = dump_state(paths.state)
    r = cli(*args)
    assert r.exit_code == code, r.stderr
    assert says in r.stderr and r.stderr.count("\n") == 1 and r.stdout == ""
    assert dump_state(paths.state) == before


def test_update_into_a_taken_cidr_is_a_conflict(cli, office, paths) -> None:
    assert cli("route", "add", "10.2.0.0/24", "--tunnel", "lab").exit_code == 0
    before = dump_state(paths.state)
    r = cli("route", "update", "10.2.0.0/24", "--network", "10.1.0.0/24")
    assert r.exit_code == 4 and "already routed" in r.stderr, r.stderr
    assert dump_state(paths.state) == before


@pytest.mark.parametrize("args", [
    ["route", "delete", "10.9.0.0/24"],
    ["route", "delete", "10.9.0.0/24", "--vnet", "nope"],
    ["tunnel", "delete", "nope"],
    ["vnet", "delete", "nope"],
    ["connector", "delete", "100.96.0.77"],
])
def test_if_exists_makes_a_delete_of_nothing_exit_0(cli, office, paths, args) -> None:
    assert cli(*args).exit_code == 3
    before = dump_state(paths.state)
    r = cli(*args, "--if-exists", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) is None and "nothing to delete" in r.stderr
    assert dump_state(paths.state) == before
    r = cli(*args, "--if-exists")
    assert r.exit_code == 0 and r.stdout == ""


def test_if_exists_still_deletes_what_exists(cli, office) -> None:
    r = cli("route", "delete", "10.1.0.0/24", "--if-exists", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["id"] == office["id"]
    assert json.loads(cli("routes", "--json").stdout) == []


def test_force_says_how_many_routes_went_along(cli, office) -> None:
    assert cli("route", "add", "10.3.0.0/24", "--tunnel", "office").exit_code == 0
    assert cli("route", "add", "10.4.0.0/24", "--tunnel", "lab", "--vnet", "staging").exit_code == 0
    r = cli("tunnel", "delete", "office", "--force")
    assert r.exit_code == 0 and "deleted tunnel 'office' and its 2 routes" in r.stderr, r.stderr
    r = cli("vnet", "delete", "staging", "--force")
    assert r.exit_code == 0 and "deleted virtual network 'staging' and its 1 route" in r.stderr, r.stderr
    assert "routes" not in r.stderr
    r = cli("tunnel", "delete", "lab")
    assert r.exit_code == 0 and r.stderr.strip() == "deleted tunnel 'lab'"
