"""Issue 20: what Cloudflare's current API has, on every controller and on the stand-in.

- ``warpcli tunnel update NAME --name NEW`` on the embedded controller, through the
  Cloudflare client against the contract-checked stand-in, and against a real
  ``controller serve`` (the ``backend`` fixture runs each test three times);
- the Cloudflare controller's use of the new endpoints (get a route and a virtual
  network by id instead of listing), checked on the stand-in's request log;
- the server's list-valued query parameters, retry hints, ``GET .../tunnels``, the
  WARP connector client, and what it refuses;
- the contract's additions: made by tests/cfstub/make_additions.py from the subset, and
  every SDK model they name exists in the pinned SDK.
"""

from __future__ import annotations

import json
import math

import pytest
import requests

from tests.cfstub.fixtures import cf_api  # noqa: F401  (the fixture)
from tests.cfstub.server import CloudflareStandIn
from tests.conftest import dump_state
from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy
from warpcli.core.cidr import parse_network
from warpcli.core.errors import Conflict, InvalidInput, NotFound, StateError


# -- tunnel update, every controller ------------------------------------------------------------------
def test_tunnel_update_renames_and_keeps_id_token_and_routes(sh, backend) -> None:
    made = json.loads(sh("tunnel", "create", "office", "--json").stdout)
    assert sh("route", "add", "10.1.0.0/24", "--tunnel", "office").exit_code == 0
    token = sh("tunnel", "token", "office").stdout.strip()

    r = sh("tunnel", "update", "office", "--name", "office-berlin", "--json")
    assert r.exit_code == 0, r.stderr
    updated = json.loads(r.stdout)
    assert (updated["id"], updated["name"]) == (made["id"], "office-berlin")
    assert "updated tunnel 'office-berlin'" in r.stderr
    assert sh("tunnel", "token", "office-berlin").stdout.strip() == token
    (route,) = json.loads(sh("routes", "--json").stdout)
    assert (route["tunnel_id"], route["tunnel_name"]) == (made["id"], "office-berlin")
    assert sh("tunnel", "show", "office").exit_code == 3  # the old name is free

    by_id = sh("tunnel", "update", made["id"], "--name", "office")  # by id, back again; table output
    assert by_id.exit_code == 0 and "office" in by_id.stdout and made["id"] in by_id.stdout
    same = sh("tunnel", "update", "office", "--name", "office", "--json")
    assert same.exit_code == 0 and json.loads(same.stdout)["name"] == "office"


def test_tunnel_update_conflicts_and_bad_names_change_nothing(sh, backend, state) -> None:
    for name in ("office", "lab"):
        assert sh("tunnel", "create", name).exit_code == 0
    before = dump_state(state.state)
    taken = sh("tunnel", "update", "office", "--name", "lab")
    assert taken.exit_code == 4 and taken.stderr.count("\n") == 1
    assert "a tunnel named 'lab' already exists" in taken.stderr
    bad = sh("tunnel", "update", "office", "--name", " office ")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1
    looks = sh("tunnel", "update", "office", "--name", "\uff4c\uff41\uff42")  # fullwidth "lab"
    assert looks.exit_code == 4 and "looks the same as the existing tunnel 'lab'" in looks.stderr
    missing = sh("tunnel", "update", "nope", "--name", "x")
    assert missing.exit_code == 3 and missing.stderr.count("\n") == 1
    assert dump_state(state.state) == before
    assert "Traceback" not in taken.stderr + bad.stderr + looks.stderr + missing.stderr


def test_tunnel_update_stores_the_nfc_spelling(sh, backend) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    r = sh("tunnel", "update", "office", "--name", "bu\u0308ro", "--json")  # NFD: u + combining diaeresis
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "b\u00fcro"
    assert sh("tunnel", "show", "b\u00fcro").exit_code == 0


@pytest.fixture
def state(paths):
    return paths


# -- the Cloudflare controller against the stand-in -------------------------------------------------
def client_for(cf: CloudflareStandIn) -> CloudflareController:
    policy = RetryPolicy(read_timeout=10.0, backoff_factor=0.05, backoff_jitter=0.05)
    return CloudflareController(ApiClient(cf.url, cf.token, policy=policy), cf.account_id)


@pytest.fixture
def ctrl(cf_api: CloudflareStandIn):
    c = client_for(cf_api)
    yield c
    c.close()


def test_the_controller_reads_one_route_and_one_vnet_by_id(cf_api: CloudflareStandIn, ctrl) -> None:
    tunnel = ctrl.create_tunnel("office")
    vnet = ctrl.create_virtual_network("lab", comment="c")
    route = ctrl.create_route(parse_network("10.2.0.0/24"), tunnel.id, virtual_network_id=vnet.id, comment="x")
    cf_api.clear_requests()

    got = ctrl.get_route(route.id)
    assert (got.id, got.network, got.tunnel_name, got.virtual_network_name) == \
        (route.id, "10.2.0.0/24", "office", "lab")
    assert [(r.method, r.api_path) for r in cf_api.requests] == \
        [("GET", f"/accounts/{cf_api.account_id}/teamnet/routes/{route.id}")]

    cf_api.clear_requests()
    updated = ctrl.update_virtual_network(vnet.id, comment="d")
    assert updated.comment == "d"
    gets = cf_api.requests_to("GET", r"/teamnet/virtual_networks/")
    assert gets and all(r.api_path.endswith(f"/teamnet/virtual_networks/{vnet.id}") for r in gets)
    assert not cf_api.requests_to("GET", r"/teamnet/virtual_networks$")  # no listing to find one

    ctrl.delete_route(route.id)
    with pytest.raises(NotFound):
        ctrl.get_route(route.id)  # the server still answers it, with deleted_at: not a live route
    ctrl.delete_virtual_network(vnet.id)
    with pytest.raises(NotFound):
        ctrl.update_virtual_network(vnet.id, comment="gone")
    with pytest.raises(NotFound):
        ctrl.get_route("0b7c3a52-27d3-4f7c-9a54-5d1e1b0c1d2e")


def test_the_controller_renames_a_tunnel_with_one_patch(cf_api: CloudflareStandIn, ctrl) -> None:
    tunnel = ctrl.create_tunnel("office")
    ctrl.create_tunnel("lab")
    cf_api.clear_requests()
    renamed = ctrl.update_tunnel(tunnel.id, name="office-2")
    assert (renamed.id, renamed.name) == (tunnel.id, "office-2")
    (patch,) = cf_api.requests_to("PATCH", r"/warp_connector/")
    assert patch.body == {"name": "office-2"}
    with pytest.raises(Conflict) as info:
        ctrl.update_tunnel(tunnel.id, name="lab")
    assert info.value.existing.name == "lab"
    with pytest.raises(InvalidInput):
        ctrl.update_tunnel(tunnel.id, name="")
    assert len(cf_api.requests_to("PATCH", r"/warp_connector/")) == 1  # the refusals sent nothing
    assert cf_api.controller().get_tunnel(tunnel.id).name == "office-2"


def test_a_rename_that_races_a_create_is_the_same_conflict(cf_api: CloudflareStandIn, ctrl) -> None:
    tunnel = ctrl.create_tunnel("office")
    cf_api.controller().create_tunnel("lab")
    # the client's check sees no "lab" yet (someone creates it right after): the server's 409 decides
    cf_api.faults.respond("GET", r"/warp_connector$", status=200, result=[])
    with pytest.raises(Conflict) as info:
        ctrl.update_tunnel(tunnel.id, name="lab")
    assert "a tunnel named 'lab' already exists" in str(info.value) and info.value.existing.name == "lab"
    assert [r.status for r in cf_api.requests_to("PATCH", r"/warp_connector/")] == [409]


# -- the server's newer endpoints on the stand-in -------------------------------------------------------
class Api:
    def __init__(self, cf: CloudflareStandIn) -> None:
        self.cf = cf
        self.session = requests.Session()
        self.session.headers.update(cf.headers)

    def __call__(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, self.cf.account_url(path), timeout=30, **kw)

    def ok(self, method: str, path: str, **kw):
        resp = self(method, path, **kw)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
def api(cf_api: CloudflareStandIn):
    a = Api(cf_api)
    yield a
    a.session.close()


def test_tun_types_repeated_and_comma_separated_and_a_repeated_single_value_refused(cf_api, api) -> None:
    ctl = cf_api.controller()
    tunnel = ctl.create_tunnel("office")
    ctl.create_route(parse_network("10.3.0.0/24"), tunnel.id)
    for query in ("tun_types=cfd_tunnel&tun_types=warp_connector", "tun_types=gre,warp_connector",
                  "tun_types=gre&tun_types=ip_sec,warp_connector"):
        assert len(api.ok("GET", f"/teamnet/routes?{query}")["result"]) == 1, query
    assert api.ok("GET", "/teamnet/routes?tun_types=gre&tun_types=ip_sec")["result"] == []
    resp = api("GET", "/teamnet/routes?per_page=5&per_page=6")
    assert resp.status_code == 400 and "given more than once" in resp.json()["errors"][0]["message"]
    assert resp.headers["x-should-retry"] == "false"
    assert any("'per_page' is given 2 times" in v for v in cf_api.take_violations())


@pytest.mark.parametrize("per_page", [1, 2, 3, 7])
def test_list_all_tunnels_pages_every_tunnel_once(cf_api, api, per_page: int) -> None:
    ctl = cf_api.controller()
    made = {ctl.create_tunnel(f"t{i}").id for i in range(7)}
    ctl.delete_tunnel(sorted(made)[0])
    seen: list[str] = []
    for page in range(1, 20):
        body = api.ok("GET", "/tunnels", params={"per_page": per_page, "page": page,
                                                  "tun_types": ["warp_connector", "cfd_tunnel"]})
        if not body["result"]:
            break
        assert body["result_info"]["total_count"] == 7
        seen += [t["id"] for t in body["result"]]
    assert page == math.ceil(7 / per_page) + 1
    assert sorted(seen) == sorted(made)
    live = api.ok("GET", "/tunnels", params={"is_deleted": "false", "per_page": 100})["result"]
    assert len(live) == 6 and all(t["tun_type"] == "warp_connector" for t in live)
    assert api.ok("GET", "/tunnels", params={"tun_types": "magic"})["result"] == []
    resp = api("GET", "/tunnels", params={"tun_types": "magic", "status": "sleepy"})
    assert resp.status_code == 400  # filters are checked even when no type matches
    cf_api.take_violations()


def test_the_warp_connector_client_is_the_enrolled_connector(cf_api, api) -> None:
    import base64
    import os

    ctl = cf_api.controller()
    tunnel, other = ctl.create_tunnel("office"), ctl.create_tunnel("lab")
    connector = ctl.register_connector(tunnel.id, base64.b64encode(os.urandom(32)).decode())
    got = api.ok("GET", f"/warp_connector/{tunnel.id}/connectors/{connector.id}")["result"]
    assert got["id"] == connector.id and got["address"] == connector.address
    assert got["run_at"] == connector.created_at and got["conns"] == [] and got["features"] == []
    assert "public_key" in got and "token" not in json.dumps(got)
    resp = api("GET", f"/warp_connector/{other.id}/connectors/{connector.id}")
    assert resp.status_code == 404 and resp.headers["x-should-retry"] == "false"


def test_refused_operations_say_why_and_are_not_retried(cf_api, api) -> None:
    for method, path in (("GET", "/cfd_tunnel"), ("POST", "/cfd_tunnel"),
                         ("GET", "/cfd_tunnel/0b7c3a52-27d3-4f7c-9a54-5d1e1b0c1d2e/token"),
                         ("DELETE", "/teamnet/routes/network/10.0.0.0%2F8")):
        resp = api(method, path, json={"name": "x"} if method == "POST" else None)
        assert resp.status_code == 400, (method, path, resp.text)
        error = resp.json()["errors"][0]
        assert error["code"] == 1009 and ("cfd_tunnel" in error["message"] or "deprecated" in error["message"])
        assert resp.headers["x-should-retry"] == "false"
    cf_api.take_violations()  # the deprecated route operation is flagged by the contract, as it should be


def test_retry_hints_on_every_status() -> None:
    """400/401/403/404/409 say "do not retry"; 503 (a locked state) says when to come back."""
    from warpcli.server import create_app

    class Locked:
        def list_virtual_networks(self, **kw):
            raise StateError("the state database is locked by another process")

        def close(self) -> None:
            pass

    app = create_app(Locked, account_id="a" * 32, authorize=lambda token: token == "good")
    client = app.test_client()
    good = {"Authorization": "Bearer good"}
    resp = client.get(f"/client/v4/accounts/{'a' * 32}/teamnet/virtual_networks", headers=good)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert "x-should-retry" not in resp.headers
    for status, headers, path in (
        (401, {"Authorization": "Bearer bad"}, "/client/v4/user/tokens/verify"),
        (403, good, f"/client/v4/accounts/{'b' * 32}/teamnet/virtual_networks"),
        (404, good, "/client/v4/zones"),
    ):
        resp = client.get(path, headers=headers)
        assert resp.status_code == status and resp.headers["x-should-retry"] == "false"
    ok = client.get("/client/v4/user/tokens/verify", headers=good)
    assert ok.status_code == 200 and "x-should-retry" not in ok.headers and "Retry-After" not in ok.headers


# -- the contract's additions ------------------------------------------------------------------------
def test_the_additions_file_is_what_the_script_makes() -> None:
    from tests.cfstub.contract import ADDITIONS_FILE, SPEC_FILE
    from tests.cfstub.make_additions import build

    made = build(json.loads(SPEC_FILE.read_text()))
    assert json.loads(ADDITIONS_FILE.read_text()) == made


def test_every_sdk_source_the_additions_name_exists() -> None:
    """Each shape's ``x-source`` names files of the pinned SDK (its types and resources); they are there."""
    import re
    from pathlib import Path

    cloudflare = pytest.importorskip("cloudflare")
    from tests.cfstub.contract import ADDITIONS_FILE

    package = Path(cloudflare.__file__).parent
    sources = re.findall(r'"x-sources?": "([^"]+)"', ADDITIONS_FILE.read_text())
    assert len(sources) >= 10
    checked = 0
    for source in sources:
        assert source.startswith("cloudflare 5.9.0 (PyPI), cloudflare/types/zero_trust/"), source
        for name in re.findall(r"[\w/]+\.py", source.split("cloudflare/types/zero_trust/", 1)[1]):
            where = package / name if name.startswith("resources/") else package / "types" / "zero_trust" / name
            assert where.is_file(), (source, name)
            checked += 1
    assert checked >= len(sources)


def test_the_merged_contract_serves_and_refuses_what_the_server_does() -> None:
    from tests.cfstub.contract import merged_spec
    from warpcli.server.openapi import REFUSED, SERVED

    spec = merged_spec()
    for method, template in SERVED:
        assert method in spec["paths"][template], (method, template)
    for method, template, reason in REFUSED:
        assert method in spec["paths"][template] and reason
    assert not {(m, t) for m, t in SERVED} & {(m, t) for m, t, _ in REFUSED}
