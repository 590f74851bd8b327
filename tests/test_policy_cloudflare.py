"""Network policies on Cloudflare: the `cloudflare` controller maps them onto Zero Trust Gateway
network rules (warpcli/controllers/cloudflare/gateway.py), against the contract-checked stand-in.

The policy commands round-trip through Gateway rules; the ``traffic`` each rule gets is
exactly the documented expression; rules of other tools (and other vnets) keep their content
and precedence; ``icmp`` is refused before anything is sent; a stale revision is a conflict;
a failure midway is undone; Cloudflare's own SDK reads the rules the stand-in keeps.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import requests

from tests.cfstub.fixtures import cf_api  # noqa: F401  (the fixture)
from tests.cfstub.server import CloudflareStandIn
from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy, gateway
from warpcli.core import policies
from warpcli.core.cidr import parse_network
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.core.policies import PolicySpec, RuleSpec, make_rule
from warpcli.core.records import replace

RULES = r"/gateway/rules"


def client_for(cf: CloudflareStandIn, *, read_timeout: float = 10.0) -> CloudflareController:
    policy = RetryPolicy(read_timeout=read_timeout, backoff_factor=0.05, backoff_jitter=0.05)
    return CloudflareController(ApiClient(cf.url, cf.token, policy=policy), cf.account_id)


@pytest.fixture
def ctrl(cf_api: CloudflareStandIn) -> Iterator[CloudflareController]:
    c = client_for(cf_api)
    yield c
    c.close()


@pytest.fixture
def sites(cf_api: CloudflareStandIn) -> dict[str, str]:
    """Two tunnels with a route each in the default vnet, and two rules of someone else's."""
    local = cf_api.controller()
    a, b = local.create_tunnel("site-a"), local.create_tunnel("site-b")
    local.create_route(parse_network("10.1.0.0/24"), a.id)
    local.create_route(parse_network("10.2.0.0/24"), b.id)
    assert cf_api.gateway is not None
    cf_api.gateway.add(name="block bad sites", action="block", filters=["dns"], enabled=True, precedence=5000,
                       traffic='any(dns.domains[*] == "example.com")')
    cf_api.gateway.add(name="ssh to bastion", action="allow", filters=["l4"], enabled=True, precedence=7000,
                       description="made in the dashboard",
                       traffic='net.dst.ip in {192.0.2.10} and net.dst.port == 22 and net.protocol == "tcp"')
    return {"vnet": local.list_virtual_networks(is_default=True)[0].id}


@pytest.fixture
def cf_env(cf_api, paths, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", cf_api.account_id)
    monkeypatch.setenv("WARPCLI_API_URL", cf_api.url)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", cf_api.token)
    return cf_api


def warpcli(cli, *args: str):
    return cli("--controller", "cloudflare", *args)


def rules(cf: CloudflareStandIn) -> list[dict]:
    assert cf.gateway is not None
    return cf.gateway.rules()


def managed(cf: CloudflareStandIn) -> list[dict]:
    return [r for r in rules(cf) if r["name"].startswith("warpcli:")]


def foreign(cf: CloudflareStandIn) -> list[dict]:
    return [r for r in rules(cf) if not r["name"].startswith("warpcli:")]


def writes(cf: CloudflareStandIn) -> list:
    return [r for r in cf.requests_to(None, RULES) if r.method != "GET"]


def one_error_line(r, code: int) -> str:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warpcli: error: "), r.stderr
    return lines[0]


def assert_unique_precedences(cf: CloudflareStandIn) -> None:
    seen = [r["precedence"] for r in rules(cf)]
    assert len(seen) == len(set(seen)), seen


# -- the commands ---------------------------------------------------------------------------------
def test_the_policy_commands_round_trip_through_gateway_rules(cf_env, cli, sites) -> None:
    vid = sites["vnet"]
    theirs = foreign(cf_env)
    steps = [
        ("policy", "default", "deny"),
        ("policy", "add", "ci-to-staging", "--from", "site-b", "--to", "10.1.0.5", "--proto", "tcp",
         "--port", "443,8443,10000-20000", "--action", "allow", "--comment", "the CI runners"),
        ("policy", "add", "voip", "--from", "10.3.0.0/24", "--to", "site-a", "--proto", "udp", "--port", "5060",
         "--action", "allow", "--log"),
    ]
    for args in steps:
        r = warpcli(cli, *args)
        assert r.exit_code == 0, (args, r.stderr)
        assert_unique_precedences(cf_env)

    doc = json.loads(warpcli(cli, "policy", "list", "--json").stdout)
    assert doc["default"] == "deny" and isinstance(doc["revision"], int) and doc["revision"] > 0
    assert [(r["name"], r["action"], r["sources"], r["destinations"], r["protocol"], r["ports"], r["log"],
             r["comment"]) for r in doc["rules"]] == [
        ("ci-to-staging", "allow", ["site-b"], ["10.1.0.5/32"], "tcp", ["443", "8443", "10000-20000"], False,
         "the CI runners"),
        ("voip", "allow", ["10.3.0.0/24"], ["site-a"], "udp", ["5060"], True, ""),
    ]
    ok = warpcli(cli, "policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:443/tcp")
    assert (ok.exit_code, ok.stdout.strip()) == (0, "allowed by 'ci-to-staging' (rule 1)")
    assert warpcli(cli, "policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:22/tcp").exit_code == 11

    # what Gateway holds: one l4 rule per warpcli rule, in order, then the catch-all
    vnet = f'net.vnet_id == "{vid}"'
    got = managed(cf_env)
    assert [(r["name"], r["action"], r["enabled"], r["filters"], r["traffic"]) for r in got] == [
        ("warpcli:default:ci-to-staging", "allow", True, ["l4"],
         f'{vnet} and net.src.ip in {{10.2.0.0/24}} and net.dst.ip in {{10.1.0.5}} and net.protocol == "tcp" '
         "and (net.dst.port in {443 8443} or (net.dst.port >= 10000 and net.dst.port <= 20000))"),
        ("warpcli:default:voip", "allow", True, ["l4"],
         f'{vnet} and net.src.ip in {{10.3.0.0/24}} and net.dst.ip in {{10.1.0.0/24}} and net.protocol == "udp" '
         "and net.dst.port in {5060}"),
        ("warpcli:default:default deny", "block", True, ["l4"], vnet),
    ]
    assert got[0]["description"].startswith(gateway.MARKER)
    # what the stand-in received is exactly that (no reformatting in between)
    sent = [r.body["traffic"] for r in cf_env.requests_to("POST", RULES + "$")]
    assert sorted(sent) == sorted(r["traffic"] for r in got)

    before_move = {r["name"]: r["id"] for r in got}
    cf_env.clear_requests()
    assert warpcli(cli, "policy", "move", "voip", "--before", "ci-to-staging").exit_code == 0
    assert [(w.method) for w in writes(cf_env)] == ["PUT"]  # one rule moves; nothing is made again
    assert [r["name"] for r in managed(cf_env)] == ["warpcli:default:voip", "warpcli:default:ci-to-staging",
                                                    "warpcli:default:default deny"]
    assert {r["name"]: r["id"] for r in managed(cf_env)} == before_move
    listed = json.loads(warpcli(cli, "policy", "list", "--json").stdout)
    assert [r["name"] for r in listed["rules"]] == ["voip", "ci-to-staging"]
    assert_unique_precedences(cf_env)

    assert warpcli(cli, "policy", "delete", "voip").exit_code == 0
    assert warpcli(cli, "policy", "default", "allow").exit_code == 0
    assert [r["name"] for r in managed(cf_env)] == ["warpcli:default:ci-to-staging"]
    assert warpcli(cli, "policy", "test", "--from", "10.2.0.7", "--to", "10.1.0.5:22/tcp").exit_code == 0
    assert warpcli(cli, "policy", "delete", "ci-to-staging").exit_code == 0
    assert managed(cf_env) == []
    assert json.loads(warpcli(cli, "policy", "list", "--json").stdout) == {"default": "allow", "rules": [],
                                                                           "revision": 0}
    # someone else's rules: never written, same content, same precedence
    assert foreign(cf_env) == theirs
    for w in cf_env.requests_to(None, RULES + "/"):
        assert w.method == "GET" or w.path.rsplit("/", 1)[1] not in {r["id"] for r in theirs}


def test_icmp_is_refused_naming_the_rule_and_nothing_changes(cf_env, cli, sites) -> None:
    assert warpcli(cli, "policy", "add", "web", "--to", "10.1.0.0/24", "--proto", "tcp", "--action", "allow",
                   ).exit_code == 0
    before = rules(cf_env)
    cf_env.clear_requests()
    line = one_error_line(warpcli(cli, "policy", "add", "ping", "--to", "site-a", "--proto", "icmp",
                                  "--action", "allow"), 2)
    assert "'ping'" in line and "icmp" in line and "Gateway" in line
    assert writes(cf_env) == [] and rules(cf_env) == before


def test_a_stale_revision_is_a_conflict(cf_api, ctrl, sites) -> None:
    vid = sites["vnet"]
    exists = lambda n: bool(ctrl.list_tunnels(name=n))  # noqa: E731
    policies.add_rule(ctrl, vid, make_rule("web", action="allow", sources=[], destinations=["10.1.0.0/24"],
                                           protocol="tcp", port="443", tunnel_exists=exists))
    read = ctrl.get_policy(vid)
    assert read.revision == ctrl.get_policy(vid).revision  # stable while nothing changes
    # another writer adds a rule meanwhile
    other = client_for(cf_api)
    policies.add_rule(other, vid, make_rule("dns", action="allow", sources=[], destinations=["10.1.0.0/24"],
                                            protocol="udp", port="53", tunnel_exists=exists))
    other.close()
    before = rules(cf_api)
    with pytest.raises(Conflict, match="changed meanwhile"):
        ctrl.put_policy(vid, PolicySpec("deny", read.rules, read.revision))
    assert rules(cf_api) == before
    # an edit in the dashboard (any field, here the precedence) moves the revision too
    now = ctrl.get_policy(vid)
    rule = managed(cf_api)[0]
    body = {k: rule[k] for k in ("name", "description", "action", "enabled", "filters", "traffic")}
    cf_api.clear_requests()
    resp = requests.put(cf_api.account_url(f"/gateway/rules/{rule['id']}"), headers=cf_api.headers,
                        json={**body, "precedence": rule["precedence"] + 1})
    assert resp.status_code == 200, resp.text
    assert ctrl.get_policy(vid).revision != now.revision
    with pytest.raises(Conflict, match="changed meanwhile"):
        ctrl.put_policy(vid, PolicySpec("allow", (), now.revision))
    # the read-modify-write of the commands retries and wins
    assert policies.set_default(ctrl, vid, "deny").default == "deny"


def test_rules_of_another_vnet_are_not_this_vnets(cf_api, ctrl, sites) -> None:
    vid = sites["vnet"]
    lab = ctrl.create_virtual_network("lab")
    exists = lambda n: bool(ctrl.list_tunnels(name=n))  # noqa: E731
    policies.set_default(ctrl, lab.id, "deny")
    policies.add_rule(ctrl, lab.id, make_rule("x", action="deny", sources=[], destinations=["10.9.0.0/16"],
                                              tunnel_exists=exists))
    lab_rules = [r for r in rules(cf_api) if r["name"].startswith("warpcli:lab:")]
    assert len(lab_rules) == 2 and all(f'net.vnet_id == "{lab.id}"' in r["traffic"] for r in lab_rules)
    assert ctrl.get_policy(vid) == PolicySpec()
    policies.add_rule(ctrl, vid, make_rule("x", action="allow", sources=[], destinations=["10.1.0.0/24"],
                                           tunnel_exists=exists))
    policies.set_default(ctrl, vid, "deny")
    policies.delete_rule(ctrl, vid, "x")
    policies.set_default(ctrl, vid, "allow")
    assert [r for r in rules(cf_api) if r["name"].startswith("warpcli:lab:")] == lab_rules
    assert [r.name for r in ctrl.get_policy(lab.id).rules] == ["x"]


def test_tunnels_resolve_when_written_and_a_tunnel_without_routes_is_a_disabled_rule(cf_api, ctrl, sites) -> None:
    vid = sites["vnet"]
    local = cf_api.controller()
    c = local.create_tunnel("site-c")
    exists = lambda n: bool(ctrl.list_tunnels(name=n))  # noqa: E731
    policies.add_rule(ctrl, vid, make_rule("to-c", action="allow", sources=["site-a", "10.2.0.0/24"],
                                           destinations=["site-c"], tunnel_exists=exists))
    (rule,) = managed(cf_api)
    assert rule["enabled"] is False and "net.dst.ip" not in rule["traffic"]
    assert rule["traffic"] == f'net.vnet_id == "{vid}" and net.src.ip in {{10.1.0.0/24 10.2.0.0/24}}'
    assert ctrl.get_policy(vid).rules[0].destinations == ("site-c",)
    local.create_route(parse_network("10.3.0.0/24"), c.id)
    local.create_route(parse_network("2001:db8::/48"), c.id)
    assert managed(cf_api)[0]["enabled"] is False  # a route change reaches Gateway with the next write
    policies.add_rule(ctrl, vid, make_rule("any", action="deny", sources=[], destinations=[], tunnel_exists=exists))
    rule = managed(cf_api)[0]
    assert rule["enabled"] is True
    assert rule["traffic"] == (f'net.vnet_id == "{vid}" and net.src.ip in {{10.1.0.0/24 10.2.0.0/24}} '
                               "and net.dst.ip in {10.3.0.0/24 2001:db8::/48}")
    assert managed(cf_api)[1]["traffic"] == f'net.vnet_id == "{vid}"' and managed(cf_api)[1]["action"] == "block"


@pytest.mark.parametrize("protocol, port, clauses", [
    ("tcp", "443", 'net.protocol == "tcp" and net.dst.port in {443}'),
    ("udp", "10000-20000", 'net.protocol == "udp" and (net.dst.port >= 10000 and net.dst.port <= 20000)'),
    ("tcp", "22,80-89,443,8000-8099", 'net.protocol == "tcp" and (net.dst.port in {22 443} or '
                                      "(net.dst.port >= 80 and net.dst.port <= 89) or "
                                      "(net.dst.port >= 8000 and net.dst.port <= 8099))"),
    ("udp", None, 'net.protocol == "udp"'),
    ("any", None, None),
])
def test_ports_and_protocols_become_these_clauses(protocol: str, port: str | None, clauses: str | None) -> None:
    rule = make_rule("r", action="allow", sources=["192.0.2.0/24"], destinations=["2001:db8::1"],
                     protocol=protocol, port=port, tunnel_exists=lambda n: False)
    text, live = gateway.traffic("V", rule, lambda name: [])
    head = 'net.vnet_id == "V" and net.src.ip in {192.0.2.0/24} and net.dst.ip in {2001:db8::1}'
    assert live and text == (head if clauses is None else f"{head} and {clauses}")


def test_the_stand_in_parses_what_warpcli_sends_and_refuses_garbage(cf_api) -> None:
    from tests.cfstub.gateway import TrafficError, check_l4_traffic

    rule = make_rule("r", action="allow", sources=["site"], destinations=["10.0.0.0/8"], protocol="tcp",
                     port="1-2,3,4", tunnel_exists=lambda n: True)
    check_l4_traffic(gateway.traffic("V", rule, lambda n: [parse_network("10.1.0.0/24")])[0])
    for bad in ("net.dst.ip in {10.0.0.1/8}", "net.dst.port in {70000}", "net.dst.ip >= 10.0.0.1",
                'net.protocol == "sctp"', "net.dst.ip in {10.0.0.0/8", "net.src.ip in {}", "foo == 1", ""):
        with pytest.raises(TrafficError):
            check_l4_traffic(bad)
    resp = requests.post(cf_api.account_url("/gateway/rules"), headers=cf_api.headers,
                         json={"name": "x", "action": "block", "filters": ["l4"], "traffic": "net.dst.port in {0-9}"})
    assert resp.status_code == 400 and resp.json()["errors"][0]["message"].startswith("traffic:")
    assert rules(cf_api) == []


# -- undo, reconcile, errors --------------------------------------------------------------------
def test_a_failure_midway_is_undone(cf_api, ctrl, sites) -> None:
    vid = sites["vnet"]
    exists = lambda n: bool(ctrl.list_tunnels(name=n))  # noqa: E731
    a = make_rule("a", action="allow", sources=[], destinations=["10.1.0.0/24"], tunnel_exists=exists)
    b = make_rule("b", action="deny", sources=[], destinations=["10.2.0.0/24"], tunnel_exists=exists)
    c = make_rule("c", action="allow", sources=["site-a"], destinations=[], tunnel_exists=exists)
    for r in (a, b):
        policies.add_rule(ctrl, vid, r)
    before = ctrl.get_policy(vid)

    def state() -> list[tuple]:
        return [(r["name"], r["precedence"], r["action"], r["enabled"], r["traffic"], r["description"])
                for r in rules(cf_api)]

    was = state()
    # c is created, a changes (an update), b goes (a delete): the delete fails
    cf_api.faults.respond("DELETE", RULES + "/", status=400, errors=[{"code": 2001, "message": "no"}])
    a2 = replace(a, comment="changed")
    with pytest.raises(InvalidInput, match=r"was not changed: the 2 Gateway rule change\(s\) made before were undone"):
        ctrl.put_policy(vid, PolicySpec("allow", (a2, c), before.revision))
    assert state() == was
    assert [(w.method, w.status) for w in writes(cf_api)][-5:] == [
        ("POST", 200), ("PUT", 200), ("DELETE", 400), ("PUT", 200), ("DELETE", 200)]
    # a create that fails: the one made before it is deleted again
    cf_api.clear_requests()
    cf_api.faults.after_handling("POST", RULES + "$", delay=0)  # the first goes through
    cf_api.faults.respond("POST", RULES + "$", status=400, errors=[{"code": 2001, "message": "refused"}])
    d = make_rule("d", action="allow", sources=[], destinations=["10.4.0.0/24"], tunnel_exists=exists)
    with pytest.raises(InvalidInput, match=r"refused.*the 1 Gateway rule change\(s\) made before were undone"):
        ctrl.put_policy(vid, PolicySpec("deny", (a, b, c, d), ctrl.get_policy(vid).revision))
    assert state() == was
    assert [(w.method, w.status) for w in writes(cf_api)] == [("POST", 200), ("POST", 400), ("DELETE", 200)]


def test_an_unclear_create_is_reconciled_not_made_twice(cf_api, sites) -> None:
    ctrl = client_for(cf_api, read_timeout=0.5)
    cf_api.faults.after_handling("POST", RULES + "$", delay=3.0)
    spec = policies.set_default(ctrl, sites["vnet"], "deny")
    assert spec.default == "deny" and len(managed(cf_api)) == 1
    assert len(cf_api.requests_to("POST", RULES + "$")) == 1
    ctrl.close()


def test_missing_gateway_permission_exits_7_naming_it_without_the_token(cf_env, cli, sites) -> None:
    cf_env.faults.respond("GET", RULES + "$", status=403)
    line = one_error_line(warpcli(cli, "policy", "list"), 7)
    assert "Zero Trust Write" in line and cf_env.token not in line


def test_state_version_covers_the_policy_and_survives_a_token_without_gateway(cf_api, ctrl, sites) -> None:
    vid = sites["vnet"]
    v0 = ctrl.state_version(vid)
    assert ctrl.state_version(vid) == v0
    policies.set_default(ctrl, vid, "deny")
    v1 = ctrl.state_version(vid)
    assert v1 != v0
    cf_api.faults.respond("GET", RULES + "$", status=403)
    assert ctrl.state_version(vid) not in (v0, v1)  # no policy to read: the fingerprint goes on


def test_unknown_vnet_and_tunnel(cf_api, ctrl, sites) -> None:
    with pytest.raises(NotFound):
        ctrl.get_policy("00000000-0000-4000-8000-000000000000")
    with pytest.raises(NotFound, match="site-z"):
        ctrl.put_policy(sites["vnet"], PolicySpec("allow", (RuleSpec("r", "allow", ("site-z",)),), 0))
    assert managed(cf_api) == []


# -- Cloudflare's SDK reads them --------------------------------------------------------------------
def test_the_sdk_reads_and_writes_the_stand_ins_rules(cf_api, ctrl, sites) -> None:
    cloudflare = pytest.importorskip("cloudflare")
    client = cloudflare.Cloudflare(api_token=cf_api.token, base_url=cf_api.url, _strict_response_validation=True,
                                   max_retries=0)
    gw = client.zero_trust.gateway.rules
    mine = gw.create(account_id=cf_api.account_id, name="sdk rule", action="block", filters=["l4"], enabled=True,
                     precedence=9000, traffic="net.dst.port in {23}", description="via the SDK")
    assert mine is not None and mine.id and mine.precedence == 9000
    exists = lambda n: bool(ctrl.list_tunnels(name=n))  # noqa: E731
    policies.add_rule(ctrl, sites["vnet"], make_rule("web", action="allow", sources=["site-b"],
                                                     destinations=["10.1.0.0/24"], protocol="tcp", port="443",
                                                     tunnel_exists=exists))
    listed = list(gw.list(account_id=cf_api.account_id))
    assert [r.name for r in listed] == ["block bad sites", "ssh to bastion", "sdk rule", "warpcli:default:web"]
    assert [r.precedence for r in listed] == sorted(r.precedence for r in listed)
    web = listed[-1]
    assert web.filters == ["l4"] and web.action == "allow" and web.enabled and web.created_at is not None
    assert web.traffic == (f'net.vnet_id == "{sites["vnet"]}" and net.src.ip in {{10.2.0.0/24}} '
                           'and net.dst.ip in {10.1.0.0/24} and net.protocol == "tcp" and net.dst.port in {443}')
    got = gw.get(mine.id, account_id=cf_api.account_id)
    assert got is not None and got.description == "via the SDK"
    updated = gw.update(mine.id, account_id=cf_api.account_id, name="sdk rule", action="allow", filters=["l4"],
                        precedence=9001, traffic="net.dst.port in {24}", enabled=False)
    assert updated is not None and updated.version == 2 and updated.action == "allow"
    gw.delete(mine.id, account_id=cf_api.account_id)
    assert "sdk rule" not in [r.name for r in gw.list(account_id=cf_api.account_id)]
    assert [r.name for r in ctrl.get_policy(sites["vnet"]).rules] == ["web"]  # untouched by all that
    client.close()


def test_the_served_controller_keeps_using_its_extension(tmp_path) -> None:
    """With the extension (``controller serve``), policies are not Gateway rules."""
    with CloudflareStandIn(tmp_path / "cf", warpcli_extension=True) as cf:
        ctrl = client_for(cf)
        vnet = ctrl.list_virtual_networks(is_default=True)[0].id
        policies.set_default(ctrl, vnet, "deny")
        assert cf.gateway is None and cf.requests_to(None, RULES) == []
        assert [r.method for r in cf.requests_to(None, "/policy$")] == ["GET", "PUT"]
        ctrl.close()
        assert cf.problems() == []


def test_no_secret_in_a_gateway_rule(cf_env, cli, sites) -> None:
    assert warpcli(cli, "policy", "default", "deny").exit_code == 0
    text = json.dumps(rules(cf_env)) + json.dumps([w.body for w in writes(cf_env)])
    assert cf_env.token not in text and os.environ["CLOUDFLARE_API_TOKEN"] not in text


def test_the_plan_keeps_precedences_unique_and_renumbers_only_without_room() -> None:
    def rule(name: str, precedence: int) -> dict:
        body = gateway.desired("V", "v", PolicySpec(rules=(RuleSpec(name, "allow"),)), lambda n: [])[0][1]
        return {**body, "id": f"id-{name}", "precedence": precedence}

    def want(*names: str) -> list[tuple[str, dict]]:
        return gateway.desired("V", "v", PolicySpec(rules=tuple(RuleSpec(n, "allow") for n in names)), lambda n: [])

    theirs = [{"id": "t", "name": "theirs", "precedence": 15, "filters": ["l4"]}]
    mine, _ = gateway.managed([rule("a", 10), rule("b", 20), *theirs], "V")
    # a new rule between a and b: the free gap, not their 15
    p = gateway.plan(mine, theirs, want("a", "n", "b"))
    assert not p.updates and not p.deletes and len(p.creates) == 1
    assert 10 < p.creates[0]["precedence"] < 20 and p.creates[0]["precedence"] != 15
    # after b: before nothing of anyone else's, so after the account's last rule
    p = gateway.plan(mine, theirs, want("a", "b", "n"))
    assert [c["precedence"] for c in p.creates] == [20 + gateway.STEP]
    # no room between 10 and 11: every rule of the vnet moves after the account's last one
    mine, _ = gateway.managed([rule("a", 10), rule("b", 11)], "V")
    p = gateway.plan(mine, [], want("a", "n", "b"))
    moved = [c["precedence"] for c in p.creates] + [u[1]["precedence"] for u in p.updates]
    assert len(p.updates) == 2 and min(moved) > 11 and len(set(moved)) == 3
    # nothing changed: nothing to send
    assert not gateway.plan(*gateway.managed([rule("a", 10), rule("b", 11)], "V"), want("a", "b"))
