"""Enrollment over HTTP: the warpcli extension of a served controller, and its client.

The server is warpcli's own (``create_app``) behind the contract-checked stand-in on
127.0.0.1, with the extension switched on and tunnel tokens accepted as tunnel
principals. Every request is checked: Cloudflare paths against the OpenAPI subset, the
extension's paths (an explicit allow-list) for credentials and the envelope.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.cfstub.contract import EXTENSION_PATHS, contract, validate_request
from tests.cfstub.server import CloudflareStandIn
from tests.conftest import dump_state
from warpcli.controllers.cloudflare import ApiClient, CloudflareController
from warpcli.core.cidr import parse_network
from warpcli.core.errors import AuthError, InvalidInput, NotFound, NotSupported
from warpcli.core.keys import generate_keypair, public_key
from warpcli.core.model import RouteFilter
from warpcli.server.extension import templates

TIMEOUT = 10


@pytest.fixture
def served(tmp_path: Path) -> Iterator[CloudflareStandIn]:
    """A served warpcli controller (extension on), contract-checked; problems fail the test."""
    stand_in = CloudflareStandIn(tmp_path / "cf-state", warpcli_extension=True).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()
    problems = stand_in.problems()
    assert not problems, "the server saw problems:\n  " + "\n  ".join(problems)


class World:
    """Two tunnels (A, B) with tokens, a second vnet, and request helpers."""

    def __init__(self, cf: CloudflareStandIn) -> None:
        self.cf = cf
        ctl = cf.controller()
        self.a = ctl.create_tunnel("site-a")
        self.b = ctl.create_tunnel("site-b")
        self.token_a = ctl.get_tunnel_token(self.a.id)
        self.token_b = ctl.get_tunnel_token(self.b.id)
        self.default = ctl.list_virtual_networks(is_default=True)[0]
        self.staging = ctl.create_virtual_network("staging")
        self.ctl = ctl

    def url(self, path: str) -> str:
        return self.cf.url + path.replace("{a}", self.cf.account_id)

    def call(self, method: str, path: str, token: str | None, body: dict | None = None,
             params: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return requests.request(method, self.url(path), headers=headers, json=body, params=params, timeout=TIMEOUT)

    def enroll(self, tunnel_id: str, token: str, key: str | None = None, **body) -> requests.Response:
        key = key or generate_keypair().public_key
        return self.call("POST", f"/accounts/{{a}}/warpcli/tunnels/{tunnel_id}/connectors", token,
                         {"public_key": key, **body})

    def state(self) -> list[str]:
        return dump_state(self.cf.state_dir)


@pytest.fixture
def world(served: CloudflareStandIn) -> World:
    return World(served)


def _error(resp: requests.Response) -> tuple[int, int]:
    body = resp.json()
    assert body["success"] is False and body["result"] is None
    return resp.status_code, body["errors"][0]["code"]


# -- the paths ------------------------------------------------------------------------------
def test_the_allow_list_is_exactly_what_the_server_serves() -> None:
    served = sorted(templates())
    listed = sorted((m, t) for t, methods in EXTENSION_PATHS.items() for m in methods)
    assert served == listed


@pytest.mark.parametrize("method,template", sorted(templates()))
def test_no_extension_path_collides_with_a_cloudflare_path(method: str, template: str) -> None:
    assert "warpcli" in template.strip("/").split("/"), "every extension path has a warpcli segment"
    concrete = re.sub(r"\{[a-z_]+\}", "0123456789abcdef0123456789abcdef", template)
    assert contract().match(concrete) is None, f"{template} would shadow a Cloudflare path"


def test_the_contract_stays_strict_outside_the_allow_list() -> None:
    base = "/client/v4/accounts/0123456789abcdef0123456789abcdef"
    auth = {"Authorization": "Bearer x"}
    assert validate_request("GET", f"{base}/warpcli/tunnels/t/peers", {}, auth, b"") == []
    # an unlisted /warpcli/ path, or a listed one with another method, is still a violation
    assert validate_request("GET", f"{base}/warpcli/tunnels/t/secrets", {}, auth, b"")
    assert validate_request("PATCH", f"{base}/warpcli/tunnels/t/peers", {}, auth, b"")
    # listed: checked for credentials (health aside) and for a JSON body
    assert any("credentials" in p for p in validate_request("GET", f"{base}/warpcli/connectors", {}, {}, b""))
    assert validate_request("GET", "/client/v4/warpcli/health", {}, {}, b"") == []
    assert validate_request("POST", f"{base}/warpcli/tunnels/t/connectors", {},
                            {**auth, "Content-Type": "text/plain"}, b"key")


# -- health and authentication -------------------------------------------------------------
def test_health_needs_no_token(world: World) -> None:
    resp = requests.get(world.url("/warpcli/health"), timeout=TIMEOUT)
    assert resp.status_code == 200
    body = resp.json()
    assert body["success"] is True
    assert body["result"]["status"] == "ok"
    assert body["result"]["extensions"] == ["connectors", "hubs", "reports", "policies"]
    assert isinstance(body["result"]["warpcli"], str)


def _concrete(template: str, world: World) -> str:
    return (template.replace("{account_id}", world.cf.account_id).replace("{tunnel_id}", world.a.id)
            .replace("{virtual_network_id}", world.default.id).replace("{connector_id}", world.a.id))


@pytest.mark.parametrize("token", [None, "not-a-token", "Ym9ndXM="])
def test_every_other_extension_endpoint_refuses_no_or_a_wrong_token(world: World, token: str | None) -> None:
    before = world.state()
    for method, template in templates():
        if template == "/warpcli/health":
            continue
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        body = {"public_key": generate_keypair().public_key, "endpoint": "192.0.2.1:51820"}
        resp = requests.request(method, world.cf.url + _concrete(template, world), headers=headers,
                                json=body if method in ("POST", "PUT") else None, timeout=TIMEOUT)
        assert resp.status_code == 401, (method, template, resp.text)
        assert resp.json()["errors"][0]["code"] == (9106 if token is None else 10000)
    assert world.state() == before
    provoked = world.cf.take_violations()  # the contract checker flags the missing credentials too
    expected = len([t for _, t in templates() if t != "/warpcli/health"])
    assert all("no credentials" in v for v in provoked) and len(provoked) == (expected if token is None else 0)


def test_a_path_naming_another_account_is_refused(world: World) -> None:
    resp = requests.get(world.cf.url + f"/accounts/{'f' * 32}/warpcli/tunnels/{world.a.id}/peers",
                        headers={"Authorization": f"Bearer {world.token_a}"}, timeout=TIMEOUT)
    assert _error(resp) == (403, 9109)


# -- enrolling with a tunnel token ---------------------------------------------------------------
def test_a_tunnel_token_enrolls_its_tunnel_idempotently_per_key(world: World) -> None:
    key = generate_keypair().public_key
    first = world.enroll(world.a.id, world.token_a, key)
    assert first.status_code == 200, first.text
    result = first.json()["result"]
    c = result["connector"]
    assert (c["tunnel_id"], c["public_key"], c["address"]) == (world.a.id, key, "100.96.0.2")
    assert c["virtual_network_id"] == world.default.id
    assert result["hub"] is None
    again = world.enroll(world.a.id, world.token_a, key).json()["result"]["connector"]
    assert again == c
    other = world.enroll(world.a.id, world.token_a).json()["result"]["connector"]
    assert other["address"] == "100.96.0.3" and other["id"] != c["id"]
    assert len(world.ctl.list_connectors(tunnel_id=world.a.id)) == 2


def test_enrolling_answers_the_hub_once_there_is_one(world: World) -> None:
    hub_key = generate_keypair().public_key
    put = world.call("PUT", f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/hub", world.cf.token,
                     {"public_key": hub_key, "endpoint": "192.0.2.1:51820"})
    assert put.status_code == 200, put.text
    result = world.enroll(world.a.id, world.token_a).json()["result"]
    assert result["hub"]["public_key"] == hub_key
    assert (result["hub"]["endpoint"], result["hub"]["address"]) == ("192.0.2.1:51820", "100.96.0.1")


def test_a_tunnel_token_cannot_touch_another_tunnel_or_the_account(world: World) -> None:
    mine = world.enroll(world.a.id, world.token_a).json()["result"]["connector"]
    theirs = world.enroll(world.b.id, world.token_b).json()["result"]["connector"]
    before = world.state()
    b, a_tok = world.b.id, world.token_a
    refused = [
        world.enroll(b, a_tok),
        world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{b}", a_tok),
        world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{b}/peers", a_tok),
        world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{b}/connectors", a_tok),
        world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{b}/virtual_networks", a_tok),
        world.call("DELETE", f"/accounts/{{a}}/warpcli/tunnels/{b}/connectors/{theirs['id']}", a_tok),
        # its own connector id under another tunnel's path is no way round
        world.call("DELETE", f"/accounts/{{a}}/warpcli/tunnels/{b}/connectors/{mine['id']}", a_tok),
        world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{'0' * 8}-0000-4000-8000-{'0' * 12}/peers", a_tok),
        # the account-wide endpoints, Cloudflare's included
        world.call("GET", "/accounts/{a}/warpcli/connectors", a_tok),
        world.call("PUT", f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/hub", a_tok,
                   {"public_key": generate_keypair().public_key, "endpoint": "192.0.2.66:51820"}),
        world.call("GET", f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/hub/peers", a_tok),
        world.call("POST", "/accounts/{a}/teamnet/routes", a_tok, {"network": "10.66.0.0/16", "tunnel_id": world.a.id}),
        world.call("POST", "/accounts/{a}/warp_connector", a_tok, {"name": "sneaky"}),
        world.call("POST", "/accounts/{a}/teamnet/virtual_networks", a_tok, {"name": "sneaky"}),
        world.call("GET", "/accounts/{a}/warp_connector", a_tok),
        world.call("GET", f"/accounts/{{a}}/warp_connector/{world.a.id}/token", a_tok),
        world.call("DELETE", f"/accounts/{{a}}/warp_connector/{b}", a_tok, {}),
    ]
    for resp in refused:
        assert _error(resp) == (403, 9109), (resp.request.method, resp.request.url, resp.text)
    assert world.state() == before


def test_a_tunnel_token_reads_only_the_peers_of_a_vnet_it_is_enrolled_in(world: World) -> None:
    path = f"/accounts/{{a}}/warpcli/tunnels/{world.a.id}/peers"
    assert _error(world.call("GET", path, world.token_a)) == (403, 9109)  # not enrolled yet
    world.enroll(world.a.id, world.token_a)
    world.ctl.create_route(parse_network("10.2.0.0/24"), world.b.id)
    peers = world.call("GET", path, world.token_a).json()["result"]
    assert peers["virtual_network_id"] == world.default.id and peers["hub"] is None
    assert [(r["network"], r["tunnel_id"]) for r in peers["routes"]] == [("10.2.0.0/24", world.b.id)]
    assert set(peers["routes"][0]) == {"id", "network", "tunnel_id", "virtual_network_id", "created_at"}
    staging = world.call("GET", path, world.token_a, params={"virtual_network_id": world.staging.id})
    assert _error(staging) == (403, 9109)


def test_bad_keys_and_endpoints_are_refused_and_change_nothing(world: World) -> None:
    before = world.state()
    for key in ("not base64!", "c2hvcnQ=", ""):
        assert _error(world.enroll(world.a.id, world.token_a, key=key or " ")) == (400, 1001)
    hub = f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/hub"
    for endpoint in ("192.0.2.1", "192.0.2.1:0", "[2001:db8::1:51820", ":51820"):
        body = {"public_key": generate_keypair().public_key, "endpoint": endpoint}
        resp = world.call("PUT", hub, world.cf.token, body)
        assert _error(resp) == (400, 1001), endpoint
    assert _error(world.call("PUT", hub, world.cf.token, {"endpoint": "192.0.2.1:51820"})) == (400, 1001)
    assert world.state() == before


# -- the API token: everything ---------------------------------------------------------------
def test_an_api_token_can_do_everything(world: World) -> None:
    tok = world.cf.token
    c_a = world.enroll(world.a.id, tok).json()["result"]["connector"]
    c_b = world.enroll(world.b.id, tok, virtual_network_id=world.staging.id).json()["result"]["connector"]
    assert c_b["virtual_network_id"] == world.staging.id
    listed = world.call("GET", "/accounts/{a}/warpcli/connectors", tok).json()["result"]
    assert {c["id"] for c in listed} == {c_a["id"], c_b["id"]}
    only_staging = world.call("GET", "/accounts/{a}/warpcli/connectors", tok,
                              params={"virtual_network_id": world.staging.id}).json()["result"]
    assert [c["id"] for c in only_staging] == [c_b["id"]]
    hub = f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/hub"
    assert _error(world.call("GET", hub, tok)) == (404, 1002)
    hub_key = generate_keypair().public_key
    put = world.call("PUT", hub, tok, {"public_key": hub_key, "endpoint": "hub.example.net:51820"}).json()["result"]
    assert world.call("GET", hub, tok).json()["result"] == put
    peers = world.call("GET", hub + "/peers", tok).json()["result"]
    assert peers["hub"] == put and [c["id"] for c in peers["connectors"]] == [c_a["id"]]
    assert world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{world.b.id}/peers", tok).json()["result"]["hub"] == put
    deleted = world.call("DELETE", f"/accounts/{{a}}/warpcli/tunnels/{world.b.id}/connectors/{c_b['id']}", tok)
    assert deleted.json()["result"]["deleted_at"]
    wrong_tunnel = world.call("DELETE", f"/accounts/{{a}}/warpcli/tunnels/{world.b.id}/connectors/{c_a['id']}", tok)
    assert _error(wrong_tunnel) == (404, 1002)
    assert world.call("DELETE", hub, tok).status_code == 200
    assert _error(world.call("GET", hub, tok)) == (404, 1002)


# -- the client ----------------------------------------------------------------------------------
def _client(cf: CloudflareStandIn, token: str, tunnel_id: str | None = None) -> CloudflareController:
    return CloudflareController(ApiClient(cf.url, token, tunnel_token=tunnel_id is not None), cf.account_id,
                                tunnel_id=tunnel_id)


def test_against_cloudflare_connectors_and_hubs_stay_unsupported(tmp_path: Path) -> None:
    with CloudflareStandIn(tmp_path / "cf", warpcli_extension=False) as cf:
        ctrl = _client(cf, cf.token)
        assert ctrl.warpcli_server() is None
        with pytest.raises(NotSupported) as exc:
            ctrl.get_hub()
        assert "warp-cli" in (exc.value.hint or "")
        with pytest.raises(NotSupported):
            ctrl.register_connector("x", generate_keypair().public_key)
        assert ctrl.list_connectors() == []
        assert [r.path for r in cf.requests_to("GET", r"/warpcli/health")] == ["/client/v4/warpcli/health"]
        ctrl.close()
        assert cf.problems() == []


def test_the_client_asks_once_whether_it_talks_to_a_warpcli_server(world: World) -> None:
    ctrl = _client(world.cf, world.cf.token)
    with pytest.raises(NotFound):
        ctrl.get_hub()
    ctrl.list_connectors()
    assert ctrl.warpcli_server()["extensions"] == ["connectors", "hubs", "reports", "policies"]
    assert len(world.cf.requests_to("GET", r"/warpcli/health$")) == 1
    assert all(r.auth == "missing" for r in world.cf.requests_to("GET", r"/warpcli/health$"))
    ctrl.close()


def test_the_client_with_an_api_token_registers_hubs_and_manages_connectors(world: World) -> None:
    ctrl = _client(world.cf, world.cf.token)
    c = ctrl.register_connector(world.a.id, generate_keypair().public_key)
    assert c.address == "100.96.0.2" and c.tunnel_name == "site-a"
    hub_key = generate_keypair().public_key
    hub = ctrl.register_hub(hub_key, "192.0.2.1:51820")
    assert (hub.virtual_network_id, hub.public_key, hub.address) == (world.default.id, hub_key, "100.96.0.1")
    assert ctrl.get_hub(world.default.id) == hub
    assert [x.id for x in ctrl.list_connectors(virtual_network_id=world.default.id)] == [c.id]
    assert ctrl.list_connectors(tunnel_id=world.b.id) == []
    assert ctrl.delete_connector(c.id).deleted_at
    assert ctrl.list_connectors() == []
    with pytest.raises(NotFound):
        ctrl.delete_connector(c.id)
    ctrl.delete_hub()
    with pytest.raises(NotFound):
        ctrl.get_hub()
    ctrl.close()


def test_the_client_with_a_tunnel_token_does_what_a_connector_needs(world: World) -> None:
    admin = _client(world.cf, world.cf.token)
    admin.create_route(parse_network("10.1.0.0/24"), world.a.id)
    admin.create_route(parse_network("10.2.0.0/24"), world.b.id)
    admin.create_route(parse_network("10.2.7.0/24"), world.b.id)
    admin.create_route(parse_network("10.9.0.0/24"), world.b.id, virtual_network_id=world.staging.id)
    ctrl = _client(world.cf, world.token_a, tunnel_id=world.a.id)

    assert ctrl.verify_tunnel_token(world.token_a).id == world.a.id
    with pytest.raises(InvalidInput):
        ctrl.verify_tunnel_token(world.token_b)
    assert [v.name for v in ctrl.list_virtual_networks()] == ["default", "staging"]
    assert ctrl.list_virtual_networks(name="staging")[0].id == world.staging.id
    c = ctrl.register_connector(world.a.id, generate_keypair().public_key)
    with pytest.raises(NotFound, match="no hub yet"):
        ctrl.get_hub(world.default.id)
    hub = admin.register_hub(generate_keypair().public_key, "192.0.2.1:51820")
    assert ctrl.get_hub(world.default.id) == hub
    routes = list(ctrl.list_routes(RouteFilter(virtual_network_id=world.default.id)))
    assert sorted(r.network for r in routes) == ["10.1.0.0/24", "10.2.0.0/24", "10.2.7.0/24"]
    within = ctrl.list_routes(RouteFilter(tunnel_id=world.b.id, network_subset=parse_network("10.2.0.0/16")))
    assert sorted(r.network for r in within) == ["10.2.0.0/24", "10.2.7.0/24"]
    containing = ctrl.list_routes(RouteFilter(network_superset=parse_network("10.2.7.5/32")))
    assert [r.network for r in containing] == ["10.2.7.0/24"]
    assert [x.id for x in ctrl.list_connectors()] == [c.id]
    assert ctrl.list_connectors(tunnel_id=world.b.id) == []
    assert ctrl.state_version(world.default.id) == ctrl.state_version(world.default.id)

    before = world.state()
    with pytest.raises(AuthError, match="HTTP 403") as refused:
        ctrl.create_route(parse_network("10.66.0.0/16"), world.a.id)
    assert "API token" in (refused.value.hint or "")
    with pytest.raises(AuthError):
        ctrl.register_hub(generate_keypair().public_key, "192.0.2.66:51820")
    assert world.state() == before
    assert ctrl.delete_connector(c.id).id == c.id
    admin.close()
    ctrl.close()


# -- the CLI: a connector host with only its tunnel token --------------------------------------
def _env(world: World, paths) -> dict[str, str]:
    env = {**os.environ, "WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": world.cf.url}
    for var in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"):
        env.pop(var, None)
    return env


def test_enroll_with_only_a_tunnel_token_keeps_it_for_up_and_status(world: World, paths, sh) -> None:
    from tests.test_docs import _conforms, _field_tables

    env = _env(world, paths)
    r = sh("enroll", "--interface", "wcsrv0", "--json", input=world.token_a + "\n", env=env)
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    _conforms(out, _field_tables()["Connector config"], "enroll --json (served)")
    assert (out["tunnel_id"], out["address"], out["changed"]) == (world.a.id, "100.96.0.2", True)
    assert world.token_a not in r.stdout + r.stderr
    toml = (paths.config / "connector.toml").read_text()
    assert f'api_url = "{world.cf.url}"' in toml and f'account_id = "{world.cf.account_id}"' in toml
    assert world.token_a not in toml
    secrets = json.loads((paths.config / "secrets.json").read_text())
    assert secrets[f"tunnel-token:{world.a.id}"] == world.token_a
    # the server learnt the public key, and every request carried the tunnel token
    assert [c.public_key for c in world.ctl.list_connectors()] == [
        public_key(secrets[f"connector-key:{out['connector_id']}"])]
    assert {r.auth for r in world.cf.requests if "/warpcli/health" not in r.path} == {"tunnel"}

    again = sh("enroll", "--interface", "wcsrv0", "--json", input=world.token_a + "\n", env=env)
    assert again.exit_code == 0 and json.loads(again.stdout)["changed"] is False

    # status asks the served controller with the kept token: the settings say nothing of it
    world.ctl.register_hub(generate_keypair().public_key, "192.0.2.1:51820")
    world.ctl.create_route(parse_network("10.2.0.0/24"), world.b.id)
    world.cf.clear_requests()
    plain = {k: v for k, v in env.items() if k not in ("WARPCLI_CONTROLLER", "WARPCLI_API_URL")}
    status = sh("status", "--json", env=plain)
    report = json.loads(status.stdout)
    assert status.exit_code == 8, status.stderr  # degraded: nothing is up on this host
    assert "10.2.0.0/24" in report["routes"]["desired"], report
    assert world.cf.requests and {r.auth for r in world.cf.requests if "/health" not in r.path} == {"tunnel"}


def test_enroll_with_a_tunnel_token_of_a_deleted_tunnel_is_refused(world: World, paths, sh) -> None:
    world.ctl.delete_tunnel(world.b.id)
    before = world.state()
    r = sh("enroll", "--json", input=world.token_b + "\n", env=_env(world, paths))
    assert r.exit_code == 7 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "tunnel token was refused" in r.stderr, r.stderr
    assert world.token_b not in r.stderr
    assert not (paths.config / "connector.toml").exists()
    assert world.state() == before


def test_enroll_against_cloudflare_still_means_warp_cli(tmp_path: Path, paths, sh) -> None:
    with CloudflareStandIn(tmp_path / "cf", warpcli_extension=False) as cf:
        ctl = cf.controller()
        tunnel = ctl.create_tunnel("office")
        token = ctl.get_tunnel_token(tunnel.id)
        env = {**os.environ, "WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": cf.url,
               "CLOUDFLARE_ACCOUNT_ID": cf.account_id, "CLOUDFLARE_API_TOKEN": cf.token,
               "PATH": "/nonexistent"}
        r = sh("enroll", "--json", input=token + "\n", env=env)
        assert r.exit_code == 1 and "warp-cli" in r.stderr, r.stderr
        assert [(x.method, x.api_path) for x in cf.requests] == [("GET", "/warpcli/health")]
        assert not (paths.config / "connector.toml").exists()
        assert cf.problems() == []


def test_enroll_with_an_api_token_and_up_uses_that_token_later(world: World, paths, sh) -> None:
    api = {**_env(world, paths), "CLOUDFLARE_ACCOUNT_ID": world.cf.account_id, "CLOUDFLARE_API_TOKEN": world.cf.token}
    r = sh("enroll", "--tunnel", "site-b", "--json", env=api)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["tunnel_id"] == world.b.id
    secrets = json.loads((paths.config / "secrets.json").read_text())
    assert not any(k.startswith("tunnel-token:") for k in secrets), "no tunnel token was given, none is kept"
    world.ctl.register_hub(generate_keypair().public_key, "192.0.2.1:51820")
    world.cf.clear_requests()
    only_token = {k: v for k, v in api.items() if k not in ("WARPCLI_CONTROLLER", "WARPCLI_API_URL",
                                                             "CLOUDFLARE_ACCOUNT_ID")}
    status = sh("status", "--json", env=only_token)
    assert status.exit_code == 8 and json.loads(status.stdout)["routes"]["desired"] is not None, status.stderr
    assert {r.auth for r in world.cf.requests if "/health" not in r.path} == {"valid"}
    without = {k: v for k, v in only_token.items() if k != "CLOUDFLARE_API_TOKEN"}
    refused = sh("status", "--json", env=without)
    assert refused.exit_code == 7 and f"no API token for {world.cf.url}" in refused.stderr, refused.stderr


def test_a_forced_enrollment_into_another_tunnel_swaps_the_kept_token(world: World, paths, sh) -> None:
    env = _env(world, paths)
    assert sh("enroll", "--json", input=world.token_a, env=env).exit_code == 0
    refused = sh("enroll", "--json", input=world.token_b, env=env)
    assert refused.exit_code == 4 and "--force" in refused.stderr
    moved = sh("enroll", "--force", "--json", input=world.token_b, env=env)
    assert moved.exit_code == 0, moved.stderr
    assert json.loads(moved.stdout)["tunnel_id"] == world.b.id
    secrets = json.loads((paths.config / "secrets.json").read_text())
    assert sorted(k for k in secrets if k.startswith("tunnel-token:")) == [f"tunnel-token:{world.b.id}"]
    assert [c.tunnel_id for c in world.ctl.list_connectors(tunnel_id=world.b.id)] == [world.b.id]


def test_a_connector_toml_with_a_bad_api_url_is_refused(paths, sh) -> None:
    paths.config.mkdir(parents=True, exist_ok=True)
    (paths.config / "connector.toml").write_text(
        'connector_id = "c"\ntunnel_id = "t"\ntunnel_name = "n"\nvirtual_network_id = "v"\n'
        'address = "100.96.0.2"\napi_url = "ftp://x"\naccount_id = "a"\n')
    r = sh("status")
    assert r.exit_code == 2 and "not a valid connector config" in r.stderr


# -- the state version that `--follow` polls -------------------------------------------------
def test_the_state_version_is_one_request_and_moves_with_the_vnet(world: World) -> None:
    cf = world.cf
    assert world.enroll(world.a.id, world.token_a).status_code == 200
    client = ApiClient(cf.url, world.token_a)
    as_tunnel = CloudflareController(client, cf.account_id, tunnel_id=world.a.id)
    as_admin = CloudflareController(ApiClient(cf.url, cf.token), cf.account_id)
    try:
        first = as_tunnel.state_version(None)
        assert first == world.ctl.state_version(world.default.id) == as_admin.state_version(None)
        cf.clear_requests()
        assert as_tunnel.state_version(None) == first
        assert [r.api_path.rsplit("/", 1)[-1] for r in cf.requests] == ["version"], "one request per poll"
        world.ctl.create_route(parse_network("10.7.0.0/24"), world.b.id)
        assert as_tunnel.state_version(None) != first
        assert as_admin.state_version(None) == as_tunnel.state_version(None)
        world.ctl.create_route(parse_network("10.8.0.0/24"), world.b.id, virtual_network_id=world.staging.id)
        moved = as_tunnel.state_version(None)
        assert as_tunnel.state_version(None) == moved, "another vnet's change is not this vnet's"
    finally:
        as_tunnel.close()
        as_admin.close()
    # tunnel B has no connector in the default vnet: its token may not read the version
    before = world.state()
    resp = world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{world.b.id}/version", world.token_b)
    assert resp.status_code == 403
    resp = world.call("GET", f"/accounts/{{a}}/warpcli/tunnels/{world.a.id}/version", world.token_b)
    assert resp.status_code == 403
    resp = world.call("GET", f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/version", world.token_a)
    assert resp.status_code == 403
    assert world.state() == before
