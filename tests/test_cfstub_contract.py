"""The contract checker itself: it must catch what a wrong client or server would do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cfstub.contract import SPEC_FILE, operations, validate_request, validate_response

ACCOUNT = "699d98642c564d2e855e9661899b7252"
A = f"/client/v4/accounts/{ACCOUNT}"
UUID = "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415"
AUTH = {"Authorization": "Bearer abcdef"}
JSON = {**AUTH, "Content-Type": "application/json"}
SHARED_SPEC = Path("/work/shared/reference/cloudflare-openapi-subset.json")


def ok(result, **extra) -> bytes:
    return json.dumps({"success": True, "errors": [], "messages": [], "result": result, **extra}).encode()


def fail(errors, success=False) -> bytes:
    return json.dumps({"success": success, "errors": errors, "messages": [], "result": None}).encode()


def tunnel(**fields) -> dict:
    return {"id": UUID, "name": "office", "tun_type": "warp_connector", "status": "inactive",
            "created_at": "2024-08-06T10:00:00.123456Z", **fields}


def vnet(**fields) -> dict:
    return {"id": UUID, "name": "default", "comment": "", "is_default_network": True,
            "created_at": "2024-08-06T10:00:00Z", **fields}


@pytest.mark.skipif(not SHARED_SPEC.exists(), reason="the shared reference is not on this machine")
def test_the_vendored_schema_is_the_shared_reference() -> None:
    assert SPEC_FILE.read_bytes() == SHARED_SPEC.read_bytes()


# -- requests that conform -------------------------------------------------------------
@pytest.mark.parametrize("method, path, query, body", [
    ("GET", "/client/v4/user/tokens/verify", {}, b""),
    ("GET", f"{A}/teamnet/routes", {"per_page": ["1000"], "page": ["2"], "is_deleted": ["false"],
                                      "network_subset": ["10.0.0.0/8"], "tun_types": ["warp_connector"]}, b""),
    ("POST", f"{A}/teamnet/routes", {}, json.dumps({"network": "10.0.0.0/24", "tunnel_id": UUID}).encode()),
    # DEVIATION 2: tunnel_id is readOnly in the schema but clients send it
    ("PATCH", f"{A}/teamnet/routes/{UUID}", {}, json.dumps({"tunnel_id": UUID, "comment": "x"}).encode()),
    ("GET", f"{A}/teamnet/routes/ip/10.1.0.137", {"virtual_network_id": [UUID]}, b""),
    ("POST", f"{A}/teamnet/virtual_networks", {}, json.dumps({"name": "lab", "is_default": False}).encode()),
    ("DELETE", f"{A}/teamnet/virtual_networks/{UUID}", {"force": ["true"]}, b"{}"),
    ("DELETE", f"{A}/warp_connector/{UUID}", {"force": ["false"]}, b"{}"),
    ("POST", f"{A}/warp_connector", {}, json.dumps({"name": "office", "ha": True}).encode()),
])
def test_conforming_requests_pass(method, path, query, body) -> None:
    assert validate_request(method, path, query, JSON if body else AUTH, body) == []


# -- requests that do not ----------------------------------------------------------------
def test_a_wrong_path_is_caught() -> None:
    (v,) = validate_request("GET", f"{A}/teamnet/route", {}, AUTH, b"")
    assert "no path of the contract matches" in v
    (v,) = validate_request("GET", "/v4/user/tokens/verify", {}, AUTH, b"")
    assert "not under /client/v4" in v


def test_a_wrong_method_is_caught() -> None:
    (v,) = validate_request("PUT", f"{A}/teamnet/routes/{UUID}", {}, AUTH, b"")
    assert "has no PUT operation" in v and "DELETE, GET, PATCH" in v


def test_an_unknown_query_parameter_is_caught() -> None:
    (v,) = validate_request("GET", f"{A}/teamnet/virtual_networks", {"per_page": ["10"]}, AUTH, b"")
    assert "'per_page' is not in the contract" in v


def test_force_is_allowed_only_where_documented() -> None:
    (v,) = validate_request("DELETE", f"{A}/teamnet/routes/{UUID}", {"force": ["true"]}, AUTH, b"")
    assert "'force' is not in the contract" in v
    (v,) = validate_request("DELETE", f"{A}/warp_connector/{UUID}", {"force": ["yes"]}, JSON, b"{}")
    assert "'force'" in v and "not a boolean" in v


@pytest.mark.parametrize("query, expected", [
    ({"per_page": ["1001"]}, "greater than the maximum of 1000"),
    ({"per_page": ["0"]}, "less than the minimum of 1"),
    ({"page": ["two"]}, "is not a valid number"),
    ({"is_deleted": ["1"]}, "is not a boolean"),
    ({"tunnel_id": ["office"]}, "is not a 'uuid'"),
    ({"page": ["1", "2"]}, "given 2 times"),
])
def test_query_values_are_typed_by_their_schema(query, expected) -> None:
    (v,) = validate_request("GET", f"{A}/teamnet/routes", query, AUTH, b"")
    assert expected in v


def test_a_path_parameter_of_the_wrong_format_is_caught() -> None:
    (v,) = validate_request("GET", f"{A}/warp_connector/office", {}, AUTH, b"")
    assert "path parameter 'tunnel_id'" in v and "uuid" in v


def test_a_wrong_body_field_type_is_caught() -> None:
    body = json.dumps({"network": "10.0.0.0/24", "tunnel_id": UUID, "comment": 5}).encode()
    (v,) = validate_request("POST", f"{A}/teamnet/routes", {}, JSON, body)
    assert "request body.comment" in v and "not of type 'string'" in v


def test_a_missing_required_body_field_is_caught() -> None:
    (v,) = validate_request("POST", f"{A}/teamnet/routes", {}, JSON, b'{"network": "10.0.0.0/24"}')
    assert "'tunnel_id' is a required property" in v


@pytest.mark.parametrize("method, path, headers, body, expected", [
    ("POST", f"{A}/teamnet/virtual_networks", AUTH, b"", "request body is required"),
    ("DELETE", f"{A}/teamnet/routes/{UUID}", JSON, b"{}", "takes no request body"),
    ("POST", f"{A}/warp_connector", JSON, b"{name", "not valid JSON"),
    ("POST", f"{A}/warp_connector", {**AUTH, "Content-Type": "text/plain"}, b'{"name": "x"}', "content type"),
])
def test_request_bodies_are_checked(method, path, headers, body, expected) -> None:
    (v,) = validate_request(method, path, {}, headers, body)
    assert expected in v


@pytest.mark.parametrize("path", [f"{A}/teamnet/virtual_networks/{UUID}", f"{A}/warp_connector/{UUID}"])
def test_deletes_take_a_body_or_none(path) -> None:
    """The current API (and its SDK, and cloudflared) sends none; the 2024-08 schema required one."""
    assert validate_request("DELETE", path, {}, AUTH, b"") == []
    assert validate_request("DELETE", path, {}, JSON, b"{}") == []


def test_list_valued_parameters_are_taken_repeated_and_comma_separated() -> None:
    routes = f"{A}/teamnet/routes"
    assert validate_request("GET", routes, {"tun_types": ["cfd_tunnel", "warp_connector,warp"]}, AUTH, b"") == []
    (v,) = validate_request("GET", routes, {"tun_types": ["warp_connector", "nope"]}, AUTH, b"")
    assert "'nope' is not one of" in v
    (v,) = validate_request("GET", routes, {"tunnel_id": [UUID, UUID]}, AUTH, b"")
    assert "'tunnel_id' is given 2 times" in v


def test_missing_credentials_are_caught() -> None:
    (v,) = validate_request("GET", f"{A}/teamnet/routes", {}, {}, b"")
    assert "no credentials" in v
    (v,) = validate_request("GET", "/client/v4/user/tokens/verify", {}, {"Authorization": "Basic abc"}, b"")
    assert "no credentials" in v


def test_deprecated_operations_are_caught() -> None:
    path = f"{A}/teamnet/routes/network/10.0.0.0%2F24"
    (v,) = validate_request("DELETE", path, {}, AUTH, b"")
    assert "deprecated" in v


# -- responses ----------------------------------------------------------------------------
def test_conforming_responses_pass() -> None:
    info = {"page": 1, "per_page": 20, "count": 1, "total_count": 1}
    assert validate_response("GET", f"{A}/warp_connector", 200, ok([tunnel()], result_info=info)) == []
    assert validate_response("GET", f"{A}/teamnet/virtual_networks", 200, ok([vnet()])) == []
    assert validate_response("GET", f"{A}/warp_connector/{UUID}/token", 200, ok("eyJh")) == []
    assert validate_response("GET", "/client/v4/user/tokens/verify", 200,
                             ok({"id": "ed17574386854bf78a67040be0a770b0", "status": "active"})) == []
    assert validate_response("GET", f"{A}/teamnet/routes", 404, fail([{"code": 1002, "message": "x"}])) == []
    # DEVIATION 1 covers 5XX with the family's failure schema
    assert validate_response("POST", f"{A}/warp_connector", 503, fail([{"code": 1005, "message": "x"}])) == []


def test_a_missing_required_response_field_is_caught() -> None:
    body = ok([{k: v for k, v in vnet().items() if k != "is_default_network"}])
    (v,) = validate_response("GET", f"{A}/teamnet/virtual_networks", 200, body)
    assert "result[0]" in v and "'is_default_network' is a required property" in v
    (v,) = validate_response("GET", "/client/v4/user/tokens/verify", 200, ok({"id": "abc"}))
    assert "'status' is a required property" in v


def test_a_failure_body_with_success_true_is_caught() -> None:
    (v,) = validate_response("GET", f"{A}/warp_connector/{UUID}", 404,
                             fail([{"code": 1002, "message": "no"}], success=True))
    assert "success" in v and "[False]" in v


@pytest.mark.parametrize("body, expected", [
    (fail([{"code": 999, "message": "x"}]), "less than the minimum of 1000"),
    (fail([{"message": "x"}]), "'code' is a required property"),
    (json.dumps({"success": False, "errors": [], "messages": [], "result": {"id": "x"}}).encode(), "result"),
])
def test_failure_envelopes_are_checked(body, expected) -> None:
    problems = validate_response("GET", f"{A}/teamnet/routes", 400, body)
    assert problems and any(expected in v for v in problems)


def test_wrong_response_types_and_formats_are_caught() -> None:
    (v,) = validate_response("GET", f"{A}/teamnet/virtual_networks", 200,
                             ok([vnet(created_at="2024-08-06 10:00")]))
    assert "is not a 'date-time'" in v
    (v,) = validate_response("GET", f"{A}/warp_connector", 200, ok([tunnel(name=5)]))
    assert "result[0]" in v and "not of type 'string'" in v
    (v,) = validate_response("GET", f"{A}/warp_connector/{UUID}", 200, ok(tunnel(deleted_at=None)))
    assert "None for not nullable" in v
    problems = validate_response("GET", f"{A}/teamnet/routes", 200, ok(None))
    assert any("result: None is not of type 'array'" in v for v in problems)


def test_undocumented_statuses_and_non_json_are_caught() -> None:
    (v,) = validate_response("POST", f"{A}/warp_connector", 201, ok(tunnel()))
    assert "status 201 is not documented" in v
    (v,) = validate_response("POST", f"{A}/warp_connector", 502, b"<html>bad gateway</html>")
    assert "not valid JSON" in v
    (v,) = validate_response("POST", f"{A}/warp_connector", 200, ok(tunnel()), content_type="text/html")
    assert "content type 'text/html'" in v


def test_every_operation_has_a_response_schema_the_checker_can_load() -> None:
    """Smoke: each operation's 200 and failure schemas resolve (no dangling $ref)."""
    for method, template in operations():
        path = "/client/v4" + template.replace("{account_id}", ACCOUNT).replace("{ip}", "10.0.0.1") \
            .replace("{ip_network_encoded}", "10.0.0.0%2F8").replace("{connector_id}", UUID)
        for name in ("tunnel_id", "route_id", "virtual_network_id"):
            path = path.replace("{" + name + "}", UUID)
        assert validate_response(method, path, 400, fail([{"code": 1001, "message": "x"}])) == []
        validate_response(method, path, 200, ok({}))  # loads and runs; {} need not conform
