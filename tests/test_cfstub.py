"""The Cloudflare-dialect server through real HTTP, inside the contract-checked stand-in.

Every test runs against ``cf_api``: a request or response that breaks the OpenAPI
contract fails the test at teardown, unless the test provokes it on purpose and takes
it with ``take_violations()``.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.cfstub.fixtures import cf_api  # noqa: F401  (the fixture)
from tests.cfstub.server import CloudflareStandIn
from tests.conftest import dump_state


class Api:
    """A requests session with the stand-in's token, paths relative to the account."""

    def __init__(self, cf: CloudflareStandIn, token: str | None = None) -> None:
        self.cf = cf
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, *, timeout: float = 10, **kwargs) -> requests.Response:
        url = self.cf.url + path if path.startswith("/user/") else self.cf.account_url(path)
        return self.session.request(method, url, timeout=timeout, **kwargs)


@pytest.fixture
def api(cf_api: CloudflareStandIn) -> Api:
    return Api(cf_api, cf_api.token)


def ok(resp: requests.Response):
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    return body["result"]


def page(resp: requests.Response) -> tuple[list, dict]:
    ok(resp)
    body = resp.json()
    return body["result"], body["result_info"]


def err(resp: requests.Response, status: int, code: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    assert [e["code"] for e in body["errors"]] == [code], body
    assert "Traceback" not in resp.text
    return body["errors"][0]["message"]


def taken(cf: CloudflareStandIn, *fragments: str) -> list[str]:
    """Take the violations a test provoked: each fragment must be in one of them, and each
    of them must contain one of the fragments (no unexpected violation slips through)."""
    violations = cf.take_violations()
    for fragment in fragments:
        assert any(fragment in v for v in violations), (fragment, violations)
    for v in violations:
        assert any(fragment in v for fragment in fragments), f"unexpected violation: {v}"
    return violations


def live(**params) -> dict:
    return {"is_deleted": "false", **params}


def new_tunnel(api: Api, name: str) -> dict:
    return ok(api("POST", "/warp_connector", json={"name": name}))


def new_route(api: Api, network: str, tunnel_id: str, **fields) -> dict:
    return ok(api("POST", "/teamnet/routes", json={"network": network, "tunnel_id": tunnel_id, **fields}))


def new_vnet(api: Api, name: str, **fields) -> dict:
    return ok(api("POST", "/teamnet/virtual_networks", json={"name": name, **fields}))


def default_vnet(api: Api) -> dict:
    (vnet,) = ok(api("GET", "/teamnet/virtual_networks", params={"is_default": "true", "is_deleted": "false"}))
    return vnet


# -- token verify ----------------------------------------------------------------------
def test_verify_token(api: Api, cf_api: CloudflareStandIn) -> None:
    result = ok(api("GET", "/user/tokens/verify"))
    assert result["status"] == "active" and len(result["id"]) == 32
    assert cf_api.token not in result["id"]
    assert err(Api(cf_api, "wrong")("GET", "/user/tokens/verify"), 401, 10000) == "Authentication error"
    err(Api(cf_api)("GET", "/user/tokens/verify"), 401, 9106)
    taken(cf_api, "no credentials")


# -- tunnels ---------------------------------------------------------------------------
def test_tunnel_lifecycle(api: Api, cf_api: CloudflareStandIn) -> None:
    created = new_tunnel(api, "office")
    assert created["name"] == "office" and created["tun_type"] == "warp_connector"
    assert created["account_tag"] == cf_api.account_id and created["status"] == "inactive"
    assert "deleted_at" not in created
    tid = created["id"]
    assert ok(api("GET", f"/warp_connector/{tid}")) == created
    assert ok(api("GET", "/warp_connector", params=live()))[0] == created
    token = ok(api("GET", f"/warp_connector/{tid}/token"))
    assert token == cf_api.controller().get_tunnel_token(tid)
    assert ok(api("PATCH", f"/warp_connector/{tid}", json={"name": "office"})) == created

    deleted = ok(api("DELETE", f"/warp_connector/{tid}", json={}))
    assert deleted["id"] == tid and deleted["deleted_at"] >= created["created_at"]
    assert ok(api("GET", f"/warp_connector/{tid}")) == deleted  # fetched by id, with deleted_at
    assert "no tunnel" in err(api("GET", "/warp_connector/f70ff985-a4ef-4643-bbbc-4a0ed4fc8415"), 404, 1002)
    err(api("PATCH", f"/warp_connector/{tid}", json={"name": "office"}), 404, 1002)
    err(api("GET", f"/warp_connector/{tid}/token"), 404, 1002)
    err(api("DELETE", f"/warp_connector/{tid}", json={}), 404, 1002)
    assert ok(api("GET", "/warp_connector", params=live())) == []
    assert [t["id"] for t in ok(api("GET", "/warp_connector", params={"is_deleted": "true"}))] == [tid]
    # is_deleted absent: deleted and live alike, as the API documents
    assert [t["id"] for t in ok(api("GET", "/warp_connector"))] == [tid]


def test_tunnel_create_refusals(api: Api, cf_api: CloudflareStandIn) -> None:
    new_tunnel(api, "office")
    assert "already exists" in err(api("POST", "/warp_connector", json={"name": "office"}), 409, 1003)
    assert ok(api("POST", "/warp_connector", json={"name": "x", "ha": True}))["name"] == "x"
    assert ok(api("POST", "/warp_connector", json={"name": "replica-less", "ha": False}))["name"] == "replica-less"
    err(api("POST", "/warp_connector", json={}), 400, 1001)
    err(api("POST", "/warp_connector", json={"name": 7}), 400, 1001)
    err(api("POST", "/warp_connector", json={"name": " padded "}), 400, 1001)
    taken(cf_api, "'name' is a required property", "7 is not of type 'string'")
    assert [t.name for t in cf_api.controller().list_tunnels()] == ["office", "replica-less", "x"]


def test_tunnel_rename_takes_a_free_name_only(api: Api) -> None:
    tid = new_tunnel(api, "office")["id"]
    new_tunnel(api, "lab")
    resp = api("PATCH", f"/warp_connector/{tid}", json={"name": "lab"})
    assert "already exists" in err(resp, 409, 1003)
    assert resp.headers["x-should-retry"] == "false"  # Cloudflare's SDKs would retry a 409 twice otherwise
    assert ok(api("PATCH", f"/warp_connector/{tid}", json={"name": "office-2"}))["name"] == "office-2"
    err(api("PATCH", f"/warp_connector/{tid}", json={"tunnel_secret": "AQIDBAUGBwg="}), 400, 1009)
    err(api("PATCH", f"/warp_connector/{tid}", json={"name": ""}), 400, 1001)
    assert ok(api("GET", f"/warp_connector/{tid}"))["name"] == "office-2"


def test_tunnel_delete_with_routes_needs_force(api: Api, cf_api: CloudflareStandIn) -> None:
    tid = new_tunnel(api, "office")["id"]
    rid = new_route(api, "10.0.0.0/24", tid)["id"]
    assert "still has 1 route" in err(api("DELETE", f"/warp_connector/{tid}", json={}), 409, 1003)
    assert ok(api("GET", f"/warp_connector/{tid}"))["id"] == tid
    ok(api("DELETE", f"/warp_connector/{tid}", json={}, params={"force": "true"}))
    assert ok(api("GET", "/teamnet/routes", params=live())) == []
    (gone,) = ok(api("GET", "/teamnet/routes", params={"route_id": rid}))
    assert "deleted_at" in gone


def test_tunnel_list_filters(api: Api, cf_api: CloudflareStandIn) -> None:
    ids = {name: new_tunnel(api, name)["id"] for name in ("vpc1-a", "vpc1-b", "vpc2-a")}
    ok(api("DELETE", f"/warp_connector/{ids['vpc2-a']}", json={}))

    def names(**params) -> list[str]:
        return [t["name"] for t in ok(api("GET", "/warp_connector", params=params))]

    assert names(name="vpc1-b") == ["vpc1-b"]
    assert names(uuid=ids["vpc1-a"]) == ["vpc1-a"]
    assert names(include_prefix="vpc1-") == ["vpc1-a", "vpc1-b"]
    assert names(exclude_prefix="vpc1-") == ["vpc2-a"]
    assert names(exclude_prefix="vpc1-", is_deleted="false") == []
    assert names(status="inactive", is_deleted="false") == ["vpc1-a", "vpc1-b"]
    assert names(status="healthy") == []
    assert names(existed_at="2000-01-01T00:00:00Z") == []
    assert names(existed_at="2999-01-01T00:00:00Z") == ["vpc1-a", "vpc1-b"]
    err(api("GET", "/warp_connector", params={"existed_at": "yesterday"}), 400, 1001)
    err(api("GET", "/warp_connector", params={"was_active_at": "2024-01-01T00:00:00Z"}), 400, 1009)
    taken(cf_api, "'yesterday' is not a 'date-time'")


# -- pagination ------------------------------------------------------------------------------
def test_pagination_at_the_per_page_boundary(api: Api) -> None:
    for name in ("t1", "t2", "t3"):
        new_tunnel(api, name)
    items, info = page(api("GET", "/warp_connector", params=live(per_page=3)))
    assert [t["name"] for t in items] == ["t1", "t2", "t3"]
    assert info == {"page": 1, "per_page": 3, "count": 3, "total_count": 3}
    items, info = page(api("GET", "/warp_connector", params=live(per_page=3, page=2)))
    assert items == [] and info == {"page": 2, "per_page": 3, "count": 0, "total_count": 3}

    new_tunnel(api, "t4")
    items, info = page(api("GET", "/warp_connector", params=live(per_page=3, page=2)))
    assert [t["name"] for t in items] == ["t4"]
    assert info == {"page": 2, "per_page": 3, "count": 1, "total_count": 4}
    _, info = page(api("GET", "/warp_connector", params=live()))
    assert info == {"page": 1, "per_page": 20, "count": 4, "total_count": 4}


def test_route_pages_cover_the_table_once(api: Api, cf_api: CloudflareStandIn) -> None:
    tid = new_tunnel(api, "office")["id"]
    networks = [f"10.0.{i}.0/24" for i in range(5)]
    for n in networks:
        new_route(api, n, tid)
    seen = []
    for number, size in ((1, 2), (2, 2), (3, 1)):
        items, info = page(api("GET", "/teamnet/routes", params=live(per_page=2, page=number)))
        assert info == {"page": number, "per_page": 2, "count": size, "total_count": 5}
        seen += [r["network"] for r in items]
    assert seen == networks
    assert page(api("GET", "/teamnet/routes", params=live(per_page=1000)))[1]["count"] == 5

    err(api("GET", "/teamnet/routes", params={"per_page": 1001}), 400, 1001)
    err(api("GET", "/teamnet/routes", params={"page": 0}), 400, 1001)
    err(api("GET", "/teamnet/routes", params={"per_page": 2.5}), 400, 1001)  # a number, but not whole
    taken(cf_api, "greater than the maximum of 1000", "less than the minimum of 1")


# -- routes -------------------------------------------------------------------------------
def test_route_create_update_delete(api: Api, cf_api: CloudflareStandIn) -> None:
    office, lab = new_tunnel(api, "office")["id"], new_tunnel(api, "lab")["id"]
    vnet = default_vnet(api)
    created = new_route(api, "10.0.0.0/24", office, comment="first floor")
    assert set(created) == {"id", "network", "tunnel_id", "virtual_network_id", "comment", "created_at"}
    assert created["virtual_network_id"] == vnet["id"] and created["comment"] == "first floor"

    (listed,) = ok(api("GET", "/teamnet/routes", params=live()))
    assert listed == {**created, "tunnel_name": "office", "virtual_network_name": vnet["name"],
                      "tun_type": "warp_connector"}

    rid = created["id"]
    updated = ok(api("PATCH", f"/teamnet/routes/{rid}", json={"tunnel_id": lab, "comment": "moved"}))
    assert updated == {**created, "tunnel_id": lab, "comment": "moved"}
    updated = ok(api("PATCH", f"/teamnet/routes/{rid}", json={"network": "10.0.1.0/24"}))
    assert updated["network"] == "10.0.1.0/24" and updated["tunnel_id"] == lab

    deleted = ok(api("DELETE", f"/teamnet/routes/{rid}"))
    assert deleted["id"] == rid and "deleted_at" in deleted
    err(api("DELETE", f"/teamnet/routes/{rid}"), 404, 1002)
    err(api("PATCH", f"/teamnet/routes/{rid}", json={"comment": "x"}), 404, 1002)


def test_route_refusals(api: Api, cf_api: CloudflareStandIn) -> None:
    tid = new_tunnel(api, "office")["id"]
    new_route(api, "10.0.0.0/24", tid)
    assert "already routed" in err(
        api("POST", "/teamnet/routes", json={"network": "10.0.0.0/24", "tunnel_id": tid}), 409, 1003)
    assert "10.0.0.0/24" in err(
        api("POST", "/teamnet/routes", json={"network": "10.0.0.1/24", "tunnel_id": tid}), 400, 1001)
    err(api("POST", "/teamnet/routes", json={"network": "10.0.0.0/33", "tunnel_id": tid}), 400, 1001)
    err(api("POST", "/teamnet/routes",
            json={"network": "10.9.0.0/24", "tunnel_id": "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415"}), 404, 1002)
    err(api("POST", "/teamnet/routes", json={"network": "10.9.0.0/24"}), 400, 1001)
    taken(cf_api, "'tunnel_id' is a required property")
    assert len(list(cf_api.controller().list_routes())) == 1


@pytest.fixture
def routed(api: Api) -> dict:
    """Two tunnels, a second vnet and five routes (one deleted)."""
    a, b = new_tunnel(api, "a")["id"], new_tunnel(api, "b")["id"]
    staging = new_vnet(api, "staging")["id"]
    ids = {
        "big": new_route(api, "10.0.0.0/8", a, comment="big")["id"],
        "mid": new_route(api, "10.1.0.0/16", b)["id"],
        "small": new_route(api, "10.1.2.0/24", a)["id"],
        "staging": new_route(api, "10.1.0.0/16", b, virtual_network_id=staging)["id"],
        "gone": new_route(api, "192.168.0.0/24", a)["id"],
        "v6": new_route(api, "2001:db8::/32", b)["id"],
    }
    ok(api("DELETE", f"/teamnet/routes/{ids['gone']}"))
    return {"a": a, "b": b, "staging_vnet": staging, **ids}


def test_route_list_filters(api: Api, routed: dict, cf_api: CloudflareStandIn) -> None:
    by_id = {v: k for k, v in routed.items()}

    def found(**params) -> set[str]:
        return {by_id[r["id"]] for r in ok(api("GET", "/teamnet/routes", params=params))}

    assert found(is_deleted="false") == {"big", "mid", "small", "staging", "v6"}
    assert found(is_deleted="true") == {"gone"}
    assert found() == {"big", "mid", "small", "staging", "v6", "gone"}
    assert found(network_subset="10.1.0.0/16", is_deleted="false") == {"mid", "small", "staging"}
    assert found(network_superset="10.1.2.3", is_deleted="false") == {"big", "mid", "small", "staging"}
    assert found(network_superset="10.1.0.0/16", virtual_network_id=default_vnet(api)["id"]) == {"big", "mid"}
    assert found(virtual_network_id=routed["staging_vnet"]) == {"staging"}
    assert found(tunnel_id=routed["b"], is_deleted="false") == {"mid", "staging", "v6"}
    assert found(comment="big") == {"big"}
    assert found(route_id=routed["small"]) == {"small"}
    # every tunnel here is a warp_connector; cfd_tunnel selects them too (cloudflared sends it)
    assert found(tun_types="cfd_tunnel") == found(tun_types="warp_connector") == found()
    assert found(tun_types="ip_sec,gre") == set()
    assert found(tun_types="cfd_tunnel,warp_connector", is_deleted="false") == found(is_deleted="false")
    assert found(existed_at="2000-01-01T00:00:00Z") == set()
    assert found(existed_at="2999-01-01T00:00:00Z") == {"big", "mid", "small", "staging", "v6"}
    err(api("GET", "/teamnet/routes", params={"tun_types": "bogus"}), 400, 1001)
    err(api("GET", "/teamnet/routes", params={"network_subset": "10.1.0.1/16"}), 400, 1001)
    taken(cf_api, "'bogus' is not one of")


def test_route_by_ip_is_longest_prefix_match(api: Api, routed: dict) -> None:
    def hit(ip: str, **params) -> str:
        result = ok(api("GET", f"/teamnet/routes/ip/{ip}", params=params))
        assert {"tunnel_name", "virtual_network_name", "tun_type"} <= set(result)
        return result["id"]

    assert hit("10.1.2.3") == routed["small"]
    assert hit("10.1.9.9") == routed["mid"]
    assert hit("10.200.0.1") == routed["big"]
    assert hit("10.1.2.3", virtual_network_id=routed["staging_vnet"]) == routed["staging"]
    assert hit("2001:db8::1") == routed["v6"]
    assert "192.168.0.1" in err(api("GET", "/teamnet/routes/ip/192.168.0.1"), 404, 1002)  # deleted
    err(api("GET", "/teamnet/routes/ip/11.0.0.1", params={"virtual_network_id": routed["staging_vnet"]}), 404, 1002)
    err(api("GET", "/teamnet/routes/ip/not-an-ip"), 400, 1001)


# -- virtual networks ------------------------------------------------------------------
def test_vnet_create_list_update(api: Api, cf_api: CloudflareStandIn) -> None:
    default = default_vnet(api)
    staging = new_vnet(api, "staging", comment="lab copy")
    assert staging["comment"] == "lab copy" and staging["is_default_network"] is False
    assert "deleted_at" not in staging

    def names(**params) -> list[str]:
        return [v["name"] for v in ok(api("GET", "/teamnet/virtual_networks", params=params))]

    assert names(is_deleted="false") == [default["name"], "staging"]
    assert names(name="staging") == ["staging"]
    assert names(id=default["id"]) == [default["name"]]
    assert names(is_default="false") == ["staging"]
    assert "result_info" not in api("GET", "/teamnet/virtual_networks").json()  # not paginated

    renamed = ok(api("PATCH", f"/teamnet/virtual_networks/{staging['id']}",
                     json={"name": "stage", "comment": "renamed"}))
    assert renamed == {**staging, "name": "stage", "comment": "renamed"}
    made_default = ok(api("PATCH", f"/teamnet/virtual_networks/{staging['id']}", json={"is_default_network": True}))
    assert made_default["is_default_network"] is True
    assert default_vnet(api)["id"] == staging["id"]
    err(api("PATCH", f"/teamnet/virtual_networks/{staging['id']}", json={"is_default_network": False}), 409, 1003)
    err(api("PATCH", "/teamnet/virtual_networks/f70ff985-a4ef-4643-bbbc-4a0ed4fc8415", json={"name": "x"}),
        404, 1002)


def test_vnet_default_flag_accepts_both_names(api: Api, cf_api: CloudflareStandIn) -> None:
    first = new_vnet(api, "by-schema", is_default=True)
    assert first["is_default_network"] is True
    second = new_vnet(api, "by-cloudflared", is_default_network=True)  # what cloudflared sends
    assert second["is_default_network"] is True and default_vnet(api)["id"] == second["id"]
    err(api("POST", "/teamnet/virtual_networks", json={"name": "x", "is_default": True,
                                                        "is_default_network": False}), 400, 1001)
    assert "already exists" in err(api("POST", "/teamnet/virtual_networks", json={"name": "by-schema"}), 409, 1003)
    err(api("POST", "/teamnet/virtual_networks", json={"name": "long", "comment": "c" * 257}), 400, 1001)
    taken(cf_api, "is too long")


def test_vnet_delete_needs_force_while_routes_use_it(api: Api, cf_api: CloudflareStandIn) -> None:
    tid = new_tunnel(api, "office")["id"]
    staging = new_vnet(api, "staging")["id"]
    new_route(api, "10.0.0.0/24", tid, virtual_network_id=staging)
    assert "still has 1 route" in err(api("DELETE", f"/teamnet/virtual_networks/{staging}", json={}), 409, 1003)
    deleted = ok(api("DELETE", f"/teamnet/virtual_networks/{staging}", json={}, params={"force": "true"}))
    assert deleted["id"] == staging and "deleted_at" in deleted
    assert ok(api("GET", "/teamnet/routes", params=live(virtual_network_id=staging))) == []
    assert [v["id"] for v in ok(api("GET", "/teamnet/virtual_networks", params={"is_deleted": "true"}))] == [staging]
    err(api("DELETE", f"/teamnet/virtual_networks/{staging}", json={}), 404, 1002)
    assert "default" in err(api("DELETE", f"/teamnet/virtual_networks/{default_vnet(api)['id']}", json={}),
                            409, 1003)


# -- auth, accounts, routing, bodies ---------------------------------------------------------
def test_no_token_or_a_wrong_token_changes_nothing(cf_api: CloudflareStandIn) -> None:
    before = dump_state(cf_api.state_dir)
    for caller, code in ((Api(cf_api), 9106), (Api(cf_api, "not-the-token"), 10000)):
        resp = caller("POST", "/warp_connector", json={"name": "intruder"})
        err(resp, 401, code)
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        err(caller("DELETE", f"/teamnet/virtual_networks/{default_vnet(Api(cf_api, cf_api.token))['id']}",
                   json={}), 401, code)
    assert dump_state(cf_api.state_dir) == before
    assert [r.auth for r in cf_api.requests_to("POST", r"/warp_connector$")] == ["missing", "invalid"]
    taken(cf_api, "no credentials")


def test_another_account_is_forbidden(api: Api, cf_api: CloudflareStandIn) -> None:
    other = cf_api.url + "/accounts/" + "0" * 32 + "/warp_connector"
    resp = api.session.post(other, json={"name": "x"}, timeout=10)
    assert err(resp, 403, 9109) == "Unauthorized to access requested resource"
    assert cf_api.controller().list_tunnels() == []


def test_unknown_paths_and_methods_answer_in_the_envelope(api: Api, cf_api: CloudflareStandIn) -> None:
    assert err(api.session.get(cf_api.url + "/zones", timeout=10), 404, 7003) == "No route for the URI"
    err(api.session.get(cf_api.url.replace("/client/v4", "/"), timeout=10), 404, 7003)
    err(api("GET", "/teamnet/routes/network/10.0.0.0%2F8"), 405, 10405)  # not even in Cloudflare's API
    # deprecated by Cloudflare: refused, saying so
    assert "deprecated" in err(api("DELETE", "/teamnet/routes/network/10.0.0.0%2F8"), 400, 1009)
    resp = api("PUT", "/teamnet/routes")
    err(resp, 405, 10405)
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    err(api("OPTIONS", "/warp_connector"), 405, 10405)
    taken(cf_api, "no path of the contract matches", "the path is not under /client/v4",
          "/teamnet/routes/network/{ip_network_encoded} has no GET operation", "is deprecated",
          "has no PUT operation",
          "has no OPTIONS operation")


def test_bad_bodies_are_refused_in_the_envelope(api: Api, cf_api: CloudflareStandIn) -> None:
    json_header = {"Content-Type": "application/json"}
    assert err(api("POST", "/warp_connector", data="{name", headers=json_header), 400, 6007) \
        == "Malformed JSON in request body"
    err(api("POST", "/warp_connector", json=["office"]), 400, 1001)
    err(api("POST", "/warp_connector", data=b'{"name": "' + b"x" * (2 << 20) + b'"}', headers=json_header),
        413, 1008)
    assert cf_api.controller().list_tunnels() == []
    taken(cf_api, "not valid JSON", "is not of type 'object'")


def test_concurrent_clients(cf_api: CloudflareStandIn) -> None:
    failures: list[str] = []

    def client(n: int) -> None:
        caller = Api(cf_api, cf_api.token)
        for i in range(5):
            resp = caller("POST", "/warp_connector", json={"name": f"t{n}-{i}"})
            if resp.status_code != 200:
                failures.append(resp.text)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    _, info = page(Api(cf_api, cf_api.token)("GET", "/warp_connector", params=live(per_page=100)))
    assert info["total_count"] == 40


# -- the instruments: request log, contract check, faults ------------------------------------
def test_the_request_log(api: Api, cf_api: CloudflareStandIn) -> None:
    tid = new_tunnel(api, "office")["id"]
    ok(api("GET", "/warp_connector", params=live(name="office")))
    post, get = cf_api.requests_to(None, r"/warp_connector$")
    assert (post.method, post.body, post.status, post.auth) == ("POST", {"name": "office"}, 200, "valid")
    assert post.response["result"]["id"] == tid and post.fault is None
    assert post.api_path == f"/accounts/{cf_api.account_id}/warp_connector"
    assert get.query == {"is_deleted": ["false"], "name": ["office"]} and get.body is None
    assert len(cf_api.requests) == 2
    cf_api.clear_requests()
    assert cf_api.requests == []


def test_the_contract_check_records_violations(api: Api, cf_api: CloudflareStandIn) -> None:
    ok(api("GET", "/warp_connector", params={"bogus": "1"}))  # the server ignores it; the contract does not
    (violation,) = cf_api.violations
    assert "query parameter 'bogus' is not in the contract" in violation
    assert cf_api.problems() == [f"contract violation: {violation}"]
    assert cf_api.take_violations() == [violation]
    assert cf_api.violations == [] and cf_api.problems() == []


def test_fault_rate_limit_then_success(api: Api, cf_api: CloudflareStandIn) -> None:
    fault = cf_api.faults.respond("POST", r"/warp_connector$", status=429, headers={"Retry-After": "1"})
    resp = api("POST", "/warp_connector", json={"name": "office"})
    err(resp, 429, 1000)
    assert resp.headers["Retry-After"] == "1"
    assert fault.consumed and cf_api.faults.pending() == []
    assert cf_api.controller().list_tunnels() == []  # an injected answer: not handled
    new_tunnel(api, "office")  # consumed once: the next request is real
    first, second = cf_api.requests_to("POST", r"/warp_connector$")
    assert (first.status, first.fault, second.status, second.fault) == (429, fault, 200, None)


def test_fault_server_errors_in_and_off_contract(api: Api, cf_api: CloudflareStandIn) -> None:
    cf_api.faults.respond("GET", r"/user/tokens/verify$", status=500)
    cf_api.faults.respond("GET", r"/user/tokens/verify$", status=502, body="<html>bad gateway</html>",
                          content_type="text/html")
    cf_api.faults.respond("GET", r"/user/tokens/verify$", status=200, body="{not json")
    cf_api.faults.respond(None, r"/user/tokens/verify$", status=403,
                          errors=[{"code": 10000, "message": "token lacks permission"}])
    err(api("GET", "/user/tokens/verify"), 500, 1000)
    resp = api("GET", "/user/tokens/verify")
    assert (resp.status_code, resp.headers["Content-Type"], resp.text) == (502, "text/html", "<html>bad gateway</html>")
    resp = api("GET", "/user/tokens/verify")
    assert (resp.status_code, resp.text) == (200, "{not json")
    assert err(api("GET", "/user/tokens/verify"), 403, 10000) == "token lacks permission"
    ok(api("GET", "/user/tokens/verify"))
    marks = [(r.status, r.fault.off_contract if r.fault else None) for r in cf_api.requests]
    assert marks == [(500, False), (502, True), (200, True), (403, False), (200, None)]
    assert cf_api.violations == []  # the off-contract ones are exempt, the others conform


def test_injected_envelopes_are_contract_checked(api: Api, cf_api: CloudflareStandIn) -> None:
    cf_api.faults.respond("GET", r"/warp_connector$", status=200, result={"not": "a list"})
    ok(api("GET", "/warp_connector"))
    taken(cf_api, "is not of type 'array'")


def test_fault_after_handling_lets_the_client_time_out(api: Api, cf_api: CloudflareStandIn) -> None:
    cf_api.faults.after_handling("POST", r"/warp_connector$", delay=60)  # cut short at teardown
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("POST", "/warp_connector", json={"name": "office"}, timeout=1)
    deadline = time.monotonic() + 30
    while not cf_api.requests_to("POST", r"/warp_connector$") and time.monotonic() < deadline:
        time.sleep(0.05)
    (post,) = cf_api.requests_to("POST", r"/warp_connector$")
    assert post.status == 200 and post.fault is not None
    assert [t.name for t in cf_api.controller().list_tunnels()] == ["office"]  # it was created


def test_unconsumed_faults_are_reported(cf_api: CloudflareStandIn) -> None:
    cf_api.faults.respond("DELETE", r"/teamnet/routes/", status=500)
    (problem,) = cf_api.problems()
    assert "fault never consumed" in problem and "DELETE" in problem
    cf_api.faults.clear()
    assert cf_api.problems() == []


def test_faults_are_consumed_in_order_once_each(api: Api, cf_api: CloudflareStandIn) -> None:
    cf_api.faults.respond("GET", r"/user/tokens/verify$", status=503)
    cf_api.faults.respond("GET", r"/user/tokens/verify$", status=502)
    statuses = [api("GET", "/user/tokens/verify").status_code for _ in range(3)]
    assert statuses == [503, 502, 200]


def test_ha_endpoints_answer_our_replicas_in_cloudflares_shapes(api: Api, cf_api: CloudflareStandIn) -> None:
    """connections (ha_status from the hub's reports), failover, configurations: contract-checked."""
    from datetime import UTC, datetime

    from warpcli.core.keys import generate_keypair
    from warpcli.core.liveness import ConnectorReport

    tid = ok(api("POST", "/warp_connector", json={"name": "site-a", "ha": True}))["id"]
    plain = new_tunnel(api, "site-b")["id"]
    ctl = cf_api.controller()
    a = ctl.register_connector(tid, generate_keypair().public_key, version="0.1.0")
    b = ctl.register_connector(tid, generate_keypair().public_key)
    vnet = ctl.list_virtual_networks(is_default=True)[0]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ctl.report_connectors(vnet.id, [ConnectorReport(a.id, last_seen=now, role="active", priority=200),
                                    ConnectorReport(b.id, last_seen=now, role="standby", priority=100)])
    conns = ok(api("GET", f"/warp_connector/{tid}/connections"))
    assert [(c["id"], c["ha_status"], c.get("version")) for c in conns] == [(a.id, "active", "0.1.0"),
                                                                         (b.id, "passive", None)]
    assert ok(api("GET", f"/warp_connector/{tid}/connectors/{a.id}"))["ha_status"] == "active"
    assert ok(api("GET", f"/warp_connector/{plain}/connections")) == []

    assert ok(api("GET", f"/warp_connector/{tid}/configurations"))["ha_mode"] == "none"
    assert ok(api("GET", f"/warp_connector/{plain}/configurations"))["ha_mode"] == "disabled"
    put = ok(api("PUT", f"/warp_connector/{tid}/configurations",
                 json={"ha_mode": "local", "config": {"vips": [{"address": "10.1.0.1"}]}}))
    assert put["config"] == {"vips": [{"address": "10.1.0.1"}]} and put["configuration_version"] == 2
    assert ok(api("GET", f"/warp_connector/{tid}/configurations")) == put
    assert "aws" in err(api("PUT", f"/warp_connector/{tid}/configurations",
                            json={"ha_mode": "aws", "config": {"fnr_id": "eni-1"}}), 400, 1009)
    err(api("PUT", f"/warp_connector/{tid}/configurations", json={"ha_mode": "none", "config": {"vips": []}}),
        400, 1001)

    asked = ok(api("PUT", f"/warp_connector/{tid}/failover", json={"client_id": b.id}))
    assert asked["client_id"] == b.id
    [pending] = ctl.report_connectors(vnet.id, [])
    assert (pending.connector_id, pending.address) == (b.id, b.address)
    err(api("PUT", f"/warp_connector/{plain}/failover", json={"client_id": b.id}), 404, 1002)
    err(api("PUT", f"/warp_connector/{tid}/failover", json={}), 400, 1001)
    taken(cf_api, "'client_id' is a required property")
