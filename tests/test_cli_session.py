"""The session of issue 2 ("What a user must be able to do"), with its ``--json`` outputs asserted.

Most tests run the in-process ``cli`` runner; the ``sh`` tests run the installed
entry point as a real process (pipes, stderr vs stdout, colour, exit codes).
"""

from __future__ import annotations

import base64
import json
import os
import pty
import re
import subprocess
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import WARPCLI, dump_state
from tests.ptyread import drain

pytestmark = pytest.mark.usefixtures("backend")

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
ANSI = re.compile(r"\x1b\[")


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def ok(result, *, code: int = 0):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def one_id(result) -> str:
    """A create command without --json prints exactly one line: the new id."""
    ok(result)
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    value = result.stdout.strip()
    assert is_uuid(value), value
    return value


def js(result, *, code: int = 0):
    ok(result, code=code)
    return json.loads(result.stdout)


@dataclass
class Session:
    office: str
    lab: str
    staging: str
    default: str
    r_office: str  # 10.0.0.0/24 -> office in default
    r_lab16: str  # 10.0.0.0/16 -> lab in default
    r_staging: str  # 10.0.0.0/24 -> lab in staging
    routes: dict  # route id -> its `routes --json` object


def run_session(run) -> Session:
    """The commands of the issue, as written (no --json where the issue has none)."""
    office = one_id(run("tunnel", "create", "office"))
    lab = one_id(run("tunnel", "create", "lab"))
    staging = one_id(run("vnet", "add", "staging", "--comment", "lab copy of prod"))
    r_office = one_id(run("route", "add", "10.0.0.0/24", "--tunnel", "office"))
    r_lab16 = one_id(run("route", "add", "10.0.0.0/16", "--tunnel", "lab", "--comment", "whole lab"))
    r_staging = one_id(run("route", "add", "10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging"))
    vnets = js(run("vnet", "list", "--json"))
    default = next(v["id"] for v in vnets if v["is_default_network"])
    routes = {r["id"]: r for r in js(run("routes", "--json"))}
    return Session(office, lab, staging, default, r_office, r_lab16, r_staging, routes)


@pytest.fixture
def session(cli) -> Session:
    return run_session(cli)


def route_obj(s: Session, rid: str, network: str, tunnel: str, vnet: str, comment: str = "") -> dict:
    tids = {"office": s.office, "lab": s.lab}
    vids = {"default": s.default, "staging": s.staging}
    created_at = s.routes[rid]["created_at"]
    assert RFC3339.match(created_at), created_at
    return {
        "id": rid,
        "network": network,
        "tunnel_id": tids[tunnel],
        "tunnel_name": tunnel,
        "tun_type": "warp_connector",
        "virtual_network_id": vids[vnet],
        "virtual_network_name": vnet,
        "comment": comment,
        "created_at": created_at,
        "deleted_at": None,
    }


def by_vnet_then_network(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["virtual_network_name"], r["network"]))


# -- the session as written -------------------------------------------------------------------
def test_session_messages_go_to_stderr_and_ids_to_stdout(cli) -> None:
    r = ok(cli("tunnel", "create", "office"))
    assert is_uuid(r.stdout.strip())
    assert "office" in r.stderr and "token" in r.stderr
    r = ok(cli("route", "add", "10.0.0.0/24", "--tunnel", "office"))
    assert r.stdout.count("\n") == 1 and is_uuid(r.stdout.strip())
    assert "10.0.0.0/24" in r.stderr and "office" in r.stderr


def test_every_route_of_the_session_as_json(cli, session: Session) -> None:
    s = session
    rows = js(cli("routes", "--json"))
    assert by_vnet_then_network(rows) == [
        route_obj(s, s.r_lab16, "10.0.0.0/16", "lab", "default", "whole lab"),
        route_obj(s, s.r_office, "10.0.0.0/24", "office", "default"),
        route_obj(s, s.r_staging, "10.0.0.0/24", "lab", "staging"),
    ]


def test_vnets_of_the_session(cli, session: Session) -> None:
    vnets = js(cli("vnet", "list", "--json"))
    assert [(v["name"], v["is_default_network"], v["comment"]) for v in vnets] == [
        ("default", True, "created with the state"), ("staging", False, "lab copy of prod"),
    ]
    assert {v["id"] for v in vnets} == {session.default, session.staging}
    for v in vnets:
        assert set(v) == {"id", "name", "comment", "is_default_network", "created_at", "deleted_at"}
        assert RFC3339.match(v["created_at"]) and v["deleted_at"] is None


def test_route_get_is_longest_prefix_in_the_default_vnet(cli, session: Session) -> None:
    s = session
    assert js(cli("route", "get", "10.0.0.7", "--json")) == {
        "ip": "10.0.0.7",
        "virtual_network_id": s.default,
        "virtual_network_name": "default",
        "route": route_obj(s, s.r_office, "10.0.0.0/24", "office", "default"),
    }
    # outside the /24 but inside the /16: lab
    got = js(cli("route", "get", "10.0.9.1", "--json"))
    assert got["route"] == route_obj(s, s.r_lab16, "10.0.0.0/16", "lab", "default", "whole lab")
    # human form: one line, tunnel first
    r = ok(cli("route", "get", "10.0.0.7"))
    assert r.stdout.split() == ["office", "10.0.0.0/24", "default", s.r_office]


def test_route_get_in_a_named_vnet_and_in_all(cli, session: Session) -> None:
    s = session
    got = js(cli("route", "get", "10.0.0.7", "--vnet", "staging", "--json"))
    assert got["virtual_network_name"] == "staging"
    assert got["route"] == route_obj(s, s.r_staging, "10.0.0.0/24", "lab", "staging")
    answers = js(cli("route", "get", "10.0.0.7", "--vnet", "all", "--json"))
    assert sorted(answers, key=lambda a: a["virtual_network_name"]) == [
        {"ip": "10.0.0.7", "virtual_network_id": s.default, "virtual_network_name": "default",
         "route": route_obj(s, s.r_office, "10.0.0.0/24", "office", "default")},
        {"ip": "10.0.0.7", "virtual_network_id": s.staging, "virtual_network_name": "staging",
         "route": route_obj(s, s.r_staging, "10.0.0.0/24", "lab", "staging")},
    ]
    # 10.0.9.1: lab's /16 in default, nothing in staging; still exit 0 as one vnet answers
    answers = js(cli("route", "get", "10.0.9.1", "--vnet", "all", "--json"))
    found = {a["virtual_network_name"]: a["route"] and a["route"]["id"] for a in answers}
    assert found == {"default": s.r_lab16, "staging": None}


def test_route_get_without_a_match_exits_3(cli, session: Session) -> None:
    r = cli("route", "get", "192.168.1.2")
    assert r.exit_code == 3 and r.stdout == ""
    assert r.stderr.startswith("warpcli: error: ") and "192.168.1.2" in r.stderr
    r = cli("route", "get", "10.0.9.1", "--vnet", "staging", "--json")
    assert r.exit_code == 3
    assert json.loads(r.stdout)["route"] is None
    r = cli("route", "get", "192.168.1.2", "--vnet", "all", "--json")
    assert r.exit_code == 3
    assert [a["route"] for a in json.loads(r.stdout)] == [None, None]


def test_routes_table_for_people(cli, session: Session) -> None:
    r = ok(cli("routes"))
    lines = r.stdout.splitlines()
    assert any(ln.split()[:3] == ["NETWORK", "TUNNEL", "VNET"] for ln in lines)
    body = [ln.split() for ln in lines if session.r_office in ln or session.r_lab16 in ln or session.r_staging in ln]
    assert sorted(b[:3] for b in body) == [
        ["10.0.0.0/16", "lab", "default"], ["10.0.0.0/24", "lab", "staging"], ["10.0.0.0/24", "office", "default"],
    ]
    assert not ANSI.search(r.stdout)


def test_overlaps_json(cli, session: Session) -> None:
    s = session

    def ref(rid: str, network: str, tunnel: str, **extra: object) -> dict:
        return {"id": rid, "network": network, "tunnel_id": {"office": s.office, "lab": s.lab}[tunnel],
                "tunnel_name": tunnel, **extra}

    report = js(cli("routes", "--overlaps", "--json"))
    # "connected" depends on the machine's own networks: tests/host/test_local_table.py checks it in a netns
    assert set(report) == {"nested", "shared", "connected"} and isinstance(report.pop("connected"), list)
    assert report["nested"] == [{
        "virtual_network_id": s.default,
        "virtual_network_name": "default",
        "outer": ref(s.r_lab16, "10.0.0.0/16", "lab"),
        "inner": [ref(s.r_office, "10.0.0.0/24", "office", parent_id=s.r_lab16, parent_network="10.0.0.0/16")],
    }]
    assert len(report["shared"]) == 1
    shared = report["shared"][0]
    assert shared["network"] == "10.0.0.0/24"
    assert sorted(shared["routes"], key=lambda r: r["virtual_network_name"]) == [
        ref(s.r_office, "10.0.0.0/24", "office", virtual_network_id=s.default, virtual_network_name="default"),
        ref(s.r_staging, "10.0.0.0/24", "lab", virtual_network_id=s.staging, virtual_network_name="staging"),
    ]
    # limited to one vnet: staging alone has no nesting and nothing shared
    staging = js(cli("routes", "--overlaps", "--vnet", "staging", "--json"))
    staging.pop("connected")
    assert staging == {"nested": [], "shared": []}


def test_overlaps_for_people(cli, session: Session) -> None:
    r = ok(cli("routes", "--overlaps"))
    assert "10.0.0.0/16" in r.stdout and "inside 10.0.0.0/16" in r.stdout
    shared = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("10.0.0.0/24") and "staging" in ln]
    assert shared and "default" in shared[0]


def test_routes_contains_json(cli, session: Session) -> None:
    s = session
    rows = js(cli("routes", "--contains", "10.0.0.7", "--json"))
    assert by_vnet_then_network(rows) == [
        route_obj(s, s.r_lab16, "10.0.0.0/16", "lab", "default", "whole lab"),
        route_obj(s, s.r_office, "10.0.0.0/24", "office", "default"),
        route_obj(s, s.r_staging, "10.0.0.0/24", "lab", "staging"),
    ]
    rows = js(cli("routes", "--contains", "10.0.9.0/24", "--json"))
    assert [r["id"] for r in rows] == [s.r_lab16]
    assert js(cli("routes", "--contains", "10.1.0.1", "--json")) == []


def test_routes_within_in_staging_json(cli, session: Session) -> None:
    s = session
    assert js(cli("routes", "--within", "10.0.0.0/8", "--vnet", "staging", "--json")) == [
        route_obj(s, s.r_staging, "10.0.0.0/24", "lab", "staging"),
    ]
    rows = js(cli("routes", "--within", "10.0.0.0/20", "--json"))
    assert {r["id"] for r in rows} == {s.r_office, s.r_staging}


def test_routes_filters_by_tunnel_and_comment(cli, session: Session) -> None:
    s = session
    assert {r["id"] for r in js(cli("routes", "--tunnel", "lab", "--json"))} == {s.r_lab16, s.r_staging}
    assert {r["id"] for r in js(cli("routes", "--tunnel", s.office, "--json"))} == {s.r_office}
    assert [r["id"] for r in js(cli("routes", "--comment", "whole lab", "--json"))] == [s.r_lab16]
    assert [r["id"] for r in js(cli("routes", "--vnet", s.staging, "--json"))] == [s.r_staging]


def test_tunnel_list_json_ids(cli, session: Session) -> None:
    tunnels = js(cli("tunnel", "list", "--json"))
    assert sorted(t["id"] for t in tunnels) == sorted([session.office, session.lab])
    assert {t["name"]: t["id"] for t in tunnels} == {"office": session.office, "lab": session.lab}
    for t in tunnels:
        assert set(t) == {"id", "name", "account_tag", "tun_type", "status", "created_at", "deleted_at"}
        assert t["tun_type"] == "warp_connector" and t["deleted_at"] is None and RFC3339.match(t["created_at"])
    shown = js(cli("tunnel", "show", "office", "--json"))
    assert shown.pop("replicas") == []  # show adds the tunnel's replicas (none enrolled here)
    assert shown == next(t for t in tunnels if t["name"] == "office")
    assert js(cli("tunnel", "show", session.lab, "--json"))["name"] == "lab"


# -- --if-not-exists --------------------------------------------------------------------------
def test_if_not_exists_returns_the_existing_object(cli, session: Session, paths) -> None:
    s = session
    existing_tunnel = js(cli("tunnel", "show", "office", "--json"))
    del existing_tunnel["replicas"]  # show's addition; create answers the tunnel alone
    before = dump_state(paths.state)

    r = cli("tunnel", "create", "office")
    assert r.exit_code == 4 and r.stdout == "" and s.office in r.stderr
    assert js(cli("tunnel", "create", "office", "--if-not-exists", "--json")) == existing_tunnel
    assert one_id(cli("tunnel", "create", "office", "--if-not-exists")) == s.office

    r = cli("vnet", "add", "staging")
    assert r.exit_code == 4 and r.stdout == ""
    v = js(cli("vnet", "add", "staging", "--if-not-exists", "--json"))
    assert v["id"] == s.staging and v["comment"] == "lab copy of prod"

    r = cli("route", "add", "10.0.0.0/24", "--tunnel", "office")
    assert r.exit_code == 4 and r.stdout == "" and s.r_office in r.stderr
    got = js(cli("route", "add", "10.0.0.0/24", "--tunnel", "office", "--if-not-exists", "--json"))
    assert got == route_obj(s, s.r_office, "10.0.0.0/24", "office", "default")
    assert one_id(cli("route", "add", "10.0.0.0/24", "--vnet", "staging", "--tunnel", "lab",
                      "--if-not-exists")) == s.r_staging
    # the same CIDR routed through another tunnel is not "the existing object": still a conflict
    r = cli("route", "add", "10.0.0.0/24", "--tunnel", "lab", "--if-not-exists")
    assert r.exit_code == 4 and "office" in r.stderr
    assert dump_state(paths.state) == before


# -- route add without --tunnel ---------------------------------------------------------------
def test_route_add_without_tunnel_uses_the_only_tunnel(cli) -> None:
    t = one_id(cli("tunnel", "create", "solo"))
    route = js(cli("route", "add", "192.168.10.0/24", "--json"))
    assert route["tunnel_id"] == t and route["tunnel_name"] == "solo"


def test_route_add_without_tunnel_and_several_lists_the_choices(cli, paths) -> None:
    cli("tunnel", "create", "office")
    cli("tunnel", "create", "lab")
    before = dump_state(paths.state)
    r = cli("route", "add", "192.168.10.0/24")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("warpcli: error: ")
    assert "--tunnel" in r.stderr and "lab" in r.stderr and "office" in r.stderr
    assert dump_state(paths.state) == before


def test_route_add_without_tunnel_and_none_says_how_to_create_one(cli) -> None:
    r = cli("route", "add", "192.168.10.0/24")
    assert r.exit_code == 3 and "tunnel create" in r.stderr


def test_route_add_without_tunnel_uses_the_enrolled_tunnel(cli, paths) -> None:
    cli("tunnel", "create", "office")
    lab = one_id(cli("tunnel", "create", "lab"))
    paths.config.mkdir(parents=True, exist_ok=True)
    (paths.config / "connector.toml").write_text(f'tunnel_id = "{lab}"\n')
    route = js(cli("route", "add", "192.168.10.0/24", "--json"))
    assert route["tunnel_id"] == lab
    # an explicit --tunnel still wins
    assert js(cli("route", "add", "192.168.11.0/24", "--tunnel", "office", "--json"))["tunnel_name"] == "office"


# -- deletes, defaults ------------------------------------------------------------------------
def test_route_delete_by_id_and_by_cidr_in_a_vnet(cli, session: Session) -> None:
    s = session
    deleted = js(cli("route", "delete", s.r_lab16, "--json"))
    assert deleted["id"] == s.r_lab16 and RFC3339.match(deleted["deleted_at"])
    gone = js(cli("route", "delete", "10.0.0.0/24", "--vnet", "staging", "--json"))
    assert gone["id"] == s.r_staging and gone["virtual_network_name"] == "staging"
    assert [r["id"] for r in js(cli("routes", "--json"))] == [s.r_office]
    # once gone, both forms say so with exit 3
    assert cli("route", "delete", s.r_lab16).exit_code == 3
    assert cli("route", "delete", "10.0.0.0/24", "--vnet", "staging").exit_code == 3
    # the CIDR form without --vnet means the default vnet
    ok(cli("route", "delete", "10.0.0.0/24"))
    assert js(cli("routes", "--json")) == []


def test_tunnel_delete_with_routes_needs_force(cli, session: Session, paths) -> None:
    before = dump_state(paths.state)
    r = cli("tunnel", "delete", "lab")
    assert r.exit_code == 4 and "--force" in r.stderr and "2 route" in r.stderr
    assert dump_state(paths.state) == before
    deleted = js(cli("tunnel", "delete", "lab", "--force", "--json"))
    assert deleted["id"] == session.lab and deleted["deleted_at"] is not None
    assert [r["id"] for r in js(cli("routes", "--json"))] == [session.r_office]
    assert [t["name"] for t in js(cli("tunnel", "list", "--json"))] == ["office"]
    assert [t["id"] for t in js(cli("tunnel", "list", "--deleted", "--json"))] == [session.lab]
    # its token is gone from the secret store
    assert cli("tunnel", "token", session.lab).exit_code == 3
    secrets = json.loads((paths.state / "secrets.json").read_text())
    assert list(secrets) == [f"tunnel-token:{session.office}"]
    # a tunnel without routes deletes without --force; the name is free again
    ok(cli("route", "delete", session.r_office))
    ok(cli("tunnel", "delete", "office"))
    assert js(cli("tunnel", "list", "--json")) == []
    one_id(cli("tunnel", "create", "office"))


def test_vnet_update_default_moves_the_default(cli, session: Session) -> None:
    s = session
    updated = js(cli("vnet", "update", "staging", "--default", "--json"))
    assert updated["id"] == s.staging and updated["is_default_network"] is True
    vnets = js(cli("vnet", "list", "--json"))
    assert [(v["name"], v["is_default_network"]) for v in vnets] == [("staging", True), ("default", False)]
    # commands without --vnet now mean staging
    assert js(cli("route", "get", "10.0.0.7", "--json"))["route"]["id"] == s.r_staging
    assert js(cli("route", "add", "172.16.0.0/12", "--tunnel", "office", "--json"))["virtual_network_id"] == s.staging
    # the old default can now be deleted (with its routes, by --force); the new one cannot
    r = cli("vnet", "delete", "staging")
    assert r.exit_code == 4
    r = cli("vnet", "delete", "default")
    assert r.exit_code == 4 and "--force" in r.stderr
    ok(cli("vnet", "delete", "default", "--force"))
    assert {r["virtual_network_name"] for r in js(cli("routes", "--json"))} == {"staging"}


def test_vnet_update_renames_and_recomments(cli, session: Session) -> None:
    v = js(cli("vnet", "update", "staging", "--name", "stage", "--comment", "renamed", "--json"))
    assert (v["id"], v["name"], v["comment"], v["is_default_network"]) == (session.staging, "stage", "renamed", False)
    assert js(cli("route", "get", "10.0.0.7", "--vnet", "stage", "--json"))["virtual_network_name"] == "stage"


# -- secrets ----------------------------------------------------------------------------------
def test_tunnel_token_prints_it_and_nothing_else_shows_it(cli, session: Session, paths) -> None:
    r = ok(cli("tunnel", "token", "office"))
    token = r.stdout.strip()
    assert r.stdout == token + "\n"
    decoded = json.loads(base64.b64decode(token))
    assert decoded["t"] == session.office and set(decoded) == {"a", "t", "s"}
    assert js(cli("tunnel", "token", "office", "--json")) == {"id": session.office, "name": "office", "token": token}
    other = ok(cli("tunnel", "token", "lab")).stdout.strip()
    assert other != token
    secret_part = decoded["s"]
    outputs = [
        cli("tunnel", "list", "--json"), cli("tunnel", "list"), cli("tunnel", "show", "office", "--json"),
        cli("tunnel", "show", "office"), cli("routes", "--json"), cli("routes"), cli("vnet", "list", "--json"),
        cli("tunnel", "create", "office", "--if-not-exists", "--json"), cli("config", "show", "--json"),
        cli("route", "get", "10.0.0.7", "--json"), cli("routes", "export", "--json"),
    ]
    for out in outputs:
        ok(out)
        for secret in (token, other, secret_part):
            assert secret not in out.stdout and secret not in out.stderr
    # nor in the state database: it keeps only a digest
    assert not any(token in line or secret_part in line for line in dump_state(paths.state))


def test_create_json_has_no_token(cli) -> None:
    created = js(cli("tunnel", "create", "office", "--json"))
    assert "token" not in json.dumps(created)
    token = ok(cli("tunnel", "token", "office")).stdout.strip()
    assert token not in json.dumps(created)


# -- IPv6 -------------------------------------------------------------------------------------
def test_ipv6_end_to_end(cli) -> None:
    office = one_id(cli("tunnel", "create", "office"))
    lab = one_id(cli("tunnel", "create", "lab"))
    ok(cli("vnet", "add", "staging"))
    wide = js(cli("route", "add", "2001:0DB8::/32", "--tunnel", "lab", "--json"))
    assert wide["network"] == "2001:db8::/32"  # canonical form
    narrow = js(cli("route", "add", "2001:db8:1::/48", "--tunnel", "office", "--json"))
    host = js(cli("route", "add", "2001:db8:1::5", "--tunnel", "lab", "--json"))
    assert host["network"] == "2001:db8:1::5/128"
    other = js(cli("route", "add", "2001:db8::/32", "--tunnel", "office", "--vnet", "staging", "--json"))
    v4 = js(cli("route", "add", "10.0.0.0/8", "--tunnel", "office", "--json"))

    assert js(cli("route", "get", "2001:db8:1::7", "--json"))["route"]["id"] == narrow["id"]
    assert js(cli("route", "get", "2001:db8:1::5", "--json"))["route"]["id"] == host["id"]
    assert js(cli("route", "get", "2001:db8:ffff::1", "--json"))["route"]["tunnel_id"] == lab
    assert js(cli("route", "get", "2001:db8:1::7", "--vnet", "staging", "--json"))["route"]["id"] == other["id"]
    assert cli("route", "get", "2001:db9::1").exit_code == 3
    assert cli("route", "get", "::ffff:10.0.0.1").exit_code == 3  # a v6 address never matches a v4 route

    r = cli("route", "add", "2001:db8:0::/32", "--tunnel", "office")
    assert r.exit_code == 4 and wide["id"] in r.stderr
    r = cli("route", "add", "2001:db8::1/32", "--tunnel", "office")
    assert r.exit_code == 2 and "did you mean 2001:db8::/32?" in r.stderr

    contains = js(cli("routes", "--contains", "2001:db8:1::5", "--vnet", "default", "--json"))
    assert sorted(r["network"] for r in contains) == ["2001:db8:1::/48", "2001:db8:1::5/128", "2001:db8::/32"]
    within = js(cli("routes", "--within", "2001:db8:1::/48", "--json"))
    assert sorted(r["id"] for r in within) == sorted([narrow["id"], host["id"]])
    assert {r["id"] for r in js(cli("routes", "--within", "::/0", "--json"))} == {
        wide["id"], narrow["id"], host["id"], other["id"]}
    assert [r["id"] for r in js(cli("routes", "--within", "0.0.0.0/0", "--json"))] == [v4["id"]]

    report = js(cli("routes", "--overlaps", "--json"))
    assert len(report["nested"]) == 1
    group = report["nested"][0]
    assert group["outer"]["id"] == wide["id"]
    assert {(i["network"], i["parent_network"]) for i in group["inner"]} == {
        ("2001:db8:1::/48", "2001:db8::/32"), ("2001:db8:1::5/128", "2001:db8:1::/48")}
    assert [s["network"] for s in report["shared"]] == ["2001:db8::/32"]

    gone = js(cli("route", "delete", "2001:db8:1::/48", "--json"))
    assert gone["id"] == narrow["id"]
    assert js(cli("route", "get", "2001:db8:1::7", "--json"))["route"]["id"] == wide["id"]
    assert office != lab


# -- the real entry point ---------------------------------------------------------------------
def test_session_through_the_installed_entry_point(sh, paths) -> None:
    r = sh("tunnel", "create", "office")
    assert r.exit_code == 0 and is_uuid(r.stdout.strip()) and r.stdout.count("\n") == 1
    assert "token" in r.stderr and "warpcli: error" not in r.stderr
    assert sh("tunnel", "create", "lab").exit_code == 0
    assert sh("vnet", "add", "staging", "--comment", "lab copy of prod").exit_code == 0
    for args in (("10.0.0.0/24", "--tunnel", "office"),
                 ("10.0.0.0/16", "--tunnel", "lab", "--comment", "whole lab"),
                 ("10.0.0.0/24", "--tunnel", "lab", "--vnet", "staging")):
        r = sh("route", "add", *args, "--json")
        assert r.exit_code == 0, r.stderr
        json.loads(r.stdout)  # stdout is only the data...
        assert r.stderr.startswith("added ")  # ...and the messages are on stderr

    # `warpcli tunnel list --json | jq -r '.[].id'`, with a real pipe between two processes
    env = {**os.environ}
    lister = subprocess.Popen([WARPCLI, "tunnel", "list", "--json"], stdout=subprocess.PIPE, env=env)
    reader = subprocess.run(
        ["python3", "-c", "import json,sys; print('\\n'.join(t['id'] for t in json.load(sys.stdin)))"],
        stdin=lister.stdout, capture_output=True, text=True, env=env, timeout=60,
    )
    lister.stdout.close()
    assert lister.wait(timeout=60) == 0 and reader.returncode == 0
    ids = reader.stdout.split()
    assert len(ids) == 2 and all(is_uuid(i) for i in ids)

    r = sh("route", "get", "10.0.0.7", "--json")
    got = json.loads(r.stdout)
    assert r.exit_code == 0 and r.stderr == ""
    assert (got["route"]["tunnel_name"], got["route"]["network"], got["virtual_network_name"]) == (
        "office", "10.0.0.0/24", "default")
    assert got["route"]["tunnel_id"] in ids

    r = sh("routes", "--overlaps", "--json")
    report = json.loads(r.stdout)
    assert [(g["outer"]["network"], [i["network"] for i in g["inner"]]) for g in report["nested"]] == [
        ("10.0.0.0/16", ["10.0.0.0/24"])]
    assert sorted(x["virtual_network_name"] for x in report["shared"][0]["routes"]) == ["default", "staging"]

    r = sh("route", "get", "192.168.1.2", "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["route"] is None
    assert r.stderr.startswith("warpcli: error: ") and r.stderr.count("\n") == 1

    r = sh("route", "add", "10.0.0.0/24", "--tunnel", "office", "--if-not-exists", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["network"] == "10.0.0.0/24"
    r = sh("tunnel", "create", "office", "--json")
    assert r.exit_code == 4 and r.stdout == "" and "Traceback" not in r.stderr

    # python -m warpcli is the same program
    import sys

    r = subprocess.run([sys.executable, "-m", "warpcli", "routes", "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 3


def _strip_colour_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
                                                            "TTY_INTERACTIVE", "CLICOLOR_FORCE")}
    env.update(TERM="xterm-256color", COLUMNS="200")
    return env


def _run_on_pty(args: list[str], env: dict) -> str:
    """Run with stdout on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE, env=env)
    finally:
        os.close(slave)
    try:
        output = drain(master)
    finally:
        assert p.wait(timeout=60) == 0
        p.stderr.close()
    return output.decode()


def test_no_ansi_escapes_when_stdout_is_not_a_terminal(sh, paths) -> None:
    sh("tunnel", "create", "office")
    sh("route", "add", "10.0.0.0/24")
    sh("route", "add", "10.0.0.0/16")
    env = _strip_colour_env()
    for args in (["routes"], ["routes", "--overlaps"], ["tunnel", "list"], ["vnet", "list"], ["tunnel", "show",
                                                                                             "office"]):
        p = subprocess.run([WARPCLI, *args], capture_output=True, text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "10.0.0.0/24" in p.stdout or "office" in p.stdout or "default" in p.stdout
        assert not ANSI.search(p.stdout) and not ANSI.search(p.stderr), (args, p.stdout)
    # the control: on a terminal the table is styled, and NO_COLOR turns that off
    assert ANSI.search(_run_on_pty([WARPCLI, "routes"], env))
    # NO_COLOR (no-color.org) forbids colour; bold and italic may stay
    plain = _run_on_pty([WARPCLI, "routes", "--overlaps"], {**env, "NO_COLOR": "1"})
    assert "10.0.0.0/24" in plain and not colour_codes(plain), plain


def colour_codes(text: str) -> list[str]:
    """The SGR parameters in ``text`` that set a foreground or background colour."""
    out = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = [int(c) for c in params.split(";") if c]
        for i, c in enumerate(codes):
            if 30 <= c <= 49 or 90 <= c <= 107:
                out.append(params)
                break
            if i and codes[i - 1] in (38, 48):
                break
    return out
