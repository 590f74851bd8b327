"""The Cloudflare client under faults: retries, reconciliation, pagination, error lines.

Every test talks real HTTP to the contract-checked stand-in (tests/cfstub) on 127.0.0.1;
faults are injected there, one response at a time. "Nothing created twice" is checked on
the stand-in's own state, not on what the client believes.
"""

from __future__ import annotations

import logging
import time
import traceback

import pytest

from tests.cfstub.fixtures import cf_api  # noqa: F401
from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy
from warpcli.core.cidr import parse_network
from warpcli.core.controller import RouteSpec
from warpcli.core.errors import AuthError, Conflict, InvalidInput, NotFound, Unavailable
from warpcli.core.model import RouteFilter

TUNNELS = r"/warp_connector$"
ROUTES = r"/teamnet/routes$"


def client_for(cf, *, read_timeout: float = 5.0, token: str | None = None) -> CloudflareController:
    policy = RetryPolicy(read_timeout=read_timeout, backoff_factor=0.05, backoff_jitter=0.05)
    return CloudflareController(ApiClient(cf.url, token or cf.token, policy=policy), cf.account_id)


@pytest.fixture
def ctrl(cf_api):
    c = client_for(cf_api)
    yield c
    c.close()


def live_tunnels(cf, name: str) -> list:
    return [t for t in cf.controller().list_tunnels() if t.name == name]


# -- 429 and 5xx ---------------------------------------------------------------------------
def test_429_with_retry_after_is_waited_for_and_the_create_happens_once(cf_api, ctrl) -> None:
    cf_api.faults.respond("POST", TUNNELS, status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    t = ctrl.create_tunnel("office")
    assert time.monotonic() - started >= 0.9, "Retry-After: 1 was not honoured"
    assert [x.id for x in live_tunnels(cf_api, "office")] == [t.id]
    assert [r.status for r in cf_api.requests_to("POST", TUNNELS)] == [429, 200]


def test_500_on_a_list_is_retried(cf_api, ctrl) -> None:
    cf_api.controller().create_tunnel("office")
    cf_api.faults.respond("GET", TUNNELS, status=500)
    assert [t.name for t in ctrl.list_tunnels()] == ["office"]
    assert [r.status for r in cf_api.requests_to("GET", TUNNELS)] == [500, 200]


def test_a_502_html_page_from_a_proxy_is_retried_then_reported_in_one_line(cf_api, ctrl) -> None:
    for _ in range(5):  # the first try and four retries
        cf_api.faults.respond("GET", TUNNELS, status=502, body="<html><body>Bad gateway</body></html>",
                              content_type="text/html")
    with pytest.raises(Unavailable) as info:
        ctrl.list_tunnels()
    text = str(info.value)
    assert "\n" not in text and "HTML page" in text and "502" in text, text
    assert len(cf_api.requests_to("GET", TUNNELS)) == 5


def test_a_500_on_create_is_reconciled_before_the_post_is_sent_again(cf_api, ctrl) -> None:
    """The fault answers without creating: the client looks, finds nothing, and creates once."""
    tunnel = ctrl.create_tunnel("office")
    cf_api.faults.respond("POST", ROUTES, status=500)
    route = ctrl.create_route(parse_network("10.0.0.0/24"), tunnel.id)
    posts = cf_api.requests_to("POST", ROUTES)
    assert [r.status for r in posts] == [500, 200]
    live = list(cf_api.controller().list_routes())
    assert [(r.id, r.network) for r in live] == [(route.id, "10.0.0.0/24")]
    assert route.tunnel_name == "office" and route.virtual_network_name == "default"


@pytest.mark.parametrize("what", ["tunnel", "vnet", "route"])
def test_a_create_that_times_out_but_happened_is_found_not_made_twice(cf_api, what: str) -> None:
    ctrl = client_for(cf_api, read_timeout=0.5)
    try:
        tunnel = cf_api.controller().create_tunnel("office")
        path = {"tunnel": TUNNELS, "vnet": r"/teamnet/virtual_networks$", "route": ROUTES}[what]
        cf_api.faults.after_handling("POST", path, delay=3.0)
        if what == "tunnel":
            made = ctrl.create_tunnel("lab")
            assert [t.id for t in live_tunnels(cf_api, "lab")] == [made.id]
        elif what == "vnet":
            made = ctrl.create_virtual_network("staging", comment="x")
            assert [v.id for v in cf_api.controller().list_virtual_networks(name="staging")] == [made.id]
        else:
            made = ctrl.create_route(parse_network("10.0.0.0/24"), tunnel.id, comment="c")
            assert [r.id for r in cf_api.controller().list_routes()] == [made.id]
            assert made.network == "10.0.0.0/24" and made.tunnel_id == tunnel.id
        assert len(cf_api.requests_to("POST", path)) == 1, "the create was sent twice"
    finally:
        ctrl.close()


def test_a_post_that_keeps_failing_with_5xx_gives_up_after_two_tries(cf_api, ctrl) -> None:
    cf_api.faults.respond("POST", TUNNELS, status=503)
    cf_api.faults.respond("POST", TUNNELS, status=503)
    with pytest.raises(Unavailable) as info:
        ctrl.create_tunnel("office")
    assert "503" in str(info.value)
    assert live_tunnels(cf_api, "office") == []
    assert len(cf_api.requests_to("POST", TUNNELS)) == 2


# -- malformed answers ---------------------------------------------------------------------
def test_malformed_json_in_a_200_is_one_clear_error(cf_api, ctrl) -> None:
    cf_api.faults.respond("GET", TUNNELS, status=200, body='{"success": true, "result": [')
    with pytest.raises(Unavailable) as info:
        ctrl.list_tunnels()
    assert "malformed JSON" in str(info.value) and "\n" not in str(info.value)


def test_a_200_whose_envelope_says_failure_is_an_error(cf_api, ctrl) -> None:
    cf_api.faults.respond("GET", TUNNELS, status=200, body='{"success": false, "errors": [], "result": null}')
    with pytest.raises(Unavailable):
        ctrl.list_tunnels()


# -- 4xx ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path, call, permission",
    [
        (TUNNELS, lambda c: c.create_tunnel("office"), "Cloudflare One Connector: WARP Write"),
        (r"/teamnet/virtual_networks$", lambda c: c.list_virtual_networks(), "Cloudflare One Connectors Write"),
    ],
)
def test_403_names_the_missing_permission_and_changes_nothing(cf_api, ctrl, path, call, permission) -> None:
    before = cf_api.controller().list_tunnels()
    cf_api.faults.respond(None, path, status=403, errors=[{"code": 9109, "message": "Unauthorized to access requested resource"}])
    with pytest.raises(AuthError) as info:
        call(ctrl)
    text = str(info.value)
    assert permission in text and "9109" in text and "\n" not in text, text
    assert cf_api.controller().list_tunnels() == before


def test_401_says_the_token_was_refused(cf_api) -> None:
    ctrl = client_for(cf_api, token="not-the-token")
    try:
        with pytest.raises(AuthError) as info:
            ctrl.list_tunnels()
    finally:
        ctrl.close()
    assert "401" in str(info.value) and "auth login" in str(info.value)


def test_the_error_envelope_becomes_one_line_with_the_code(cf_api, ctrl) -> None:
    cf_api.faults.respond("GET", TUNNELS, status=400, errors=[{"code": 1001, "message": "Bad filter"},
                                                              {"code": 1002, "message": "Another thing"}])
    with pytest.raises(InvalidInput) as info:
        ctrl.list_tunnels()
    assert str(info.value).count("\n") == 0
    assert "error 1001: Bad filter" in str(info.value) and "error 1002" in str(info.value)


def test_unknown_ids_are_not_found(ctrl) -> None:
    with pytest.raises(NotFound):
        ctrl.get_tunnel("0b7c3a52-27d3-4f7c-9a54-5d1e1b0c1d2e")


def test_a_duplicate_is_a_conflict_carrying_the_existing_object(cf_api, ctrl) -> None:
    t = ctrl.create_tunnel("office")
    with pytest.raises(Conflict) as info:
        ctrl.create_tunnel("office")
    assert info.value.existing.id == t.id
    r = ctrl.create_route(parse_network("10.0.0.0/24"), t.id)
    with pytest.raises(Conflict) as info:
        ctrl.create_route(parse_network("10.0.0.0/24"), t.id)
    assert info.value.existing.id == r.id


# -- pagination ----------------------------------------------------------------------------
@pytest.mark.parametrize("count, pages", [(999, 1), (1000, 1), (1001, 2), (2000, 2)])
def test_every_page_is_read_at_the_boundaries(cf_api, ctrl, count: int, pages: int) -> None:
    local = cf_api.controller()
    tunnel = local.create_tunnel("office")
    vnet = local.list_virtual_networks(is_default=True)[0]
    local.import_routes(
        RouteSpec(parse_network(f"10.{i // 256}.{i % 256}.0/24"), tunnel.id, vnet.id, row=i + 1) for i in range(count)
    )
    cf_api.clear_requests()
    got = list(ctrl.list_routes(RouteFilter(virtual_network_id=vnet.id)))
    assert len(got) == count and len({r.id for r in got}) == count
    lists = cf_api.requests_to("GET", ROUTES)
    assert [r.query["page"] for r in lists] == [[str(p)] for p in range(1, pages + 1)]
    assert all(r.query["per_page"] == ["1000"] for r in lists)


def test_a_server_that_ignores_page_is_an_error_not_a_loop(cf_api, ctrl) -> None:
    page = [{"id": f"00000000-0000-4000-8000-{i:012d}", "name": f"t{i}", "tun_type": "warp_connector",
             "created_at": "2026-11-27T00:00:00Z"} for i in range(1000)]
    for _ in range(2):
        cf_api.faults.respond("GET", TUNNELS, status=200, result=page)
    with pytest.raises(Unavailable) as info:
        ctrl.list_tunnels()
    assert "twice" in str(info.value)


# -- bulk -------------------------------------------------------------------------------------
def test_an_import_that_fails_half_way_deletes_what_it_made(cf_api, ctrl) -> None:
    t = ctrl.create_tunnel("office")
    vid = ctrl.list_virtual_networks(is_default=True)[0].id
    gone = "0b7c3a52-27d3-4f7c-9a54-5d1e1b0c1d2e"  # the server refuses the third row (no such tunnel)
    specs = [RouteSpec(parse_network(f"10.0.{i}.0/24"), t.id if i < 2 else gone, vid, row=i + 1) for i in range(3)]
    with pytest.raises(NotFound) as info:
        ctrl.import_routes(specs)
    assert "the 2 route(s) it had created were deleted again" in str(info.value)
    assert [r.status for r in cf_api.requests_to("POST", ROUTES)] == [200, 200, 404]
    assert list(cf_api.controller().list_routes()) == []


# -- secrets -----------------------------------------------------------------------------------
def test_the_api_token_is_in_no_log_line_and_no_error(cf_api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctrl = client_for(cf_api)
    try:
        t = ctrl.create_tunnel("office")
        ctrl.create_route(parse_network("10.0.0.0/24"), t.id)
        cf_api.faults.respond("GET", TUNNELS, status=403)
        with pytest.raises(AuthError) as info:
            ctrl.list_tunnels()
        assert cf_api.token not in "".join(traceback.format_exception(info.value))
        assert cf_api.token not in repr(ctrl.client)
    finally:
        ctrl.close()
    assert caplog.records, "expected urllib3's debug lines to be captured"
    assert cf_api.token not in caplog.text


# -- through the command line --------------------------------------------------------------
@pytest.fixture
def cf_env(cf_api, paths, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WARPCLI_CONTROLLER", "cloudflare")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", cf_api.account_id)
    monkeypatch.setenv("WARPCLI_API_URL", cf_api.url)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", cf_api.token)
    return cf_api


def one_error_line(r, code: int) -> str:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warpcli: error: "), r.stderr
    return lines[0]


def test_cli_403_exits_7_naming_the_permission(cf_env, cli) -> None:
    cf_env.faults.respond("POST", TUNNELS, status=403)
    line = one_error_line(cli("tunnel", "create", "office", "--json"), 7)
    assert "Cloudflare One Connector: WARP Write" in line
    assert cf_env.controller().list_tunnels() == []


def test_cli_unreachable_api_exits_9(cf_env, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("WARPCLI_API_URL", f"http://127.0.0.1:{port}/client/v4")
    line = one_error_line(cli("routes", "--json"), 9)
    assert "connection refused" in line


def test_cli_timeout_on_create_is_reconciled(cf_env, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARPCLI_API_TIMEOUT", "0.5")
    cf_env.faults.after_handling("POST", TUNNELS, delay=3.0)
    r = cli("tunnel", "create", "office", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(cf_env.controller().list_tunnels()) == 1
    # and the pipeline's re-run is idempotent too
    assert cli("tunnel", "create", "office", "--if-not-exists", "--json").exit_code == 0
    assert len(cf_env.controller().list_tunnels()) == 1


def test_cli_no_token_exits_7_and_says_how_to_get_one(cf_env, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    line = one_error_line(cli("tunnel", "list"), 7)
    assert "CLOUDFLARE_API_TOKEN" in line and "auth login" in line
    assert cf_env.requests == []


def test_auth_login_refuses_a_bad_token_and_stores_nothing(cf_env, cli, paths, monkeypatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    line = one_error_line(cli("auth", "login", input="wrong-token\n"), 7)
    assert "401" in line and "wrong-token" not in line
    assert not (paths.config / "secrets.json").exists() or "wrong-token" not in (paths.config / "secrets.json").read_text()
    assert one_error_line(cli("auth", "login", input="\n"), 7)
    assert one_error_line(cli("auth", "login", input="two words\n"), 7)
    # the right one is verified, stored, and then used without the variable
    r = cli("auth", "login", input=cf_env.token + "\n")
    assert r.exit_code == 0 and cf_env.token not in r.stdout + r.stderr
    assert cli("tunnel", "create", "office").exit_code == 0
    assert cli("auth", "logout").exit_code == 0
    one_error_line(cli("tunnel", "list"), 7)


def test_the_session_never_prints_the_api_token(cf_env, sh) -> None:
    outs = []
    for args in (["tunnel", "create", "office"], ["route", "add", "10.0.0.0/24"], ["routes", "--overlaps"],
                 ["route", "get", "10.0.0.1", "--json"], ["auth", "status", "--json"], ["config", "show", "--json"],
                 ["tunnel", "delete", "office"]):
        r = sh(*args)
        outs.append(r.stdout + r.stderr)
    assert all(cf_env.token not in o for o in outs)
