"""Writes ``cloudflare-openapi-additions.json``: the operations and shapes of Cloudflare's
current API that the 2024-08 subset lacks (shared/reference/README.md lists them).

Run ``python -m tests.cfstub.make_additions`` after editing; the output is committed and
``tests/test_cf_parity.py`` checks that it is what this script makes. Sources, for
every shape: the types of Cloudflare's official Python SDK, ``cloudflare`` 5.9.0 (PyPI),
files under ``cloudflare/types/zero_trust/`` named beside each entry, and its resources
(``cloudflare/resources/zero_trust/...``) for methods, paths and query parameters. The
operations reuse the subset's own components where the SDK's model is the same; only
what is new is defined here, the HA endpoints of ``warp_connector`` (connections,
failover, configurations) included.

The Zero Trust Gateway rules (``/gateway/rules``, what the ``cloudflare`` controller maps
network policies onto) are not in the subset: their operations and shapes are those of
Cloudflare's published ``openapi.json`` at the subset's commit (cloudflare/api-schemas
cca3064f, 2024-08-06: operation ids, summaries, the ``zero-trust-gateway_*`` components),
brought to the current API where the SDK differs (``gateway/gateway_rule.py``,
``rule_create_params.py``, ``rule_update_params.py``, ``gateway_filter.py``; the
resource ``resources/zero_trust/gateway/rules.py``): the rule's required fields and newer
members, the newer actions and filters, an API token among the credentials (the 2024
document named only the e-mail and key pair), and a delete without a body (the SDK sends
none). ``rule_settings`` and ``schedule`` are objects whose members are not spelled out:
warpcli never sends them and the stand-in never answers them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.cfstub.contract import SPEC_FILE

ADDITIONS_FILE = Path(__file__).with_name("cloudflare-openapi-additions.json")
SDK = "cloudflare 5.9.0 (PyPI), cloudflare/types/zero_trust/"
_A = "/accounts/{account_id}"
_SECURITY = [{"api_email": [], "api_key": []}, {"api_token": []}, {"user_service_key": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _path(name: str, schema: str) -> dict[str, Any]:
    return {"in": "path", "name": name, "required": True, "schema": _ref(schema)}


def _get(op_id: str, summary: str, description: str, params: list, single: str, tag: str, source: str) -> dict:
    return {
        "description": description,
        "operationId": op_id,
        "parameters": params,
        "responses": {
            "200": {"content": {"application/json": {"schema": _ref(single)}}, "description": f"{summary} response"},
            "4XX": {"content": {"application/json": {"schema": {"allOf": [
                _ref(single), _ref("tunnel_api-response-common-failure")]}}},
                "description": f"{summary} response failure"},
        },
        "security": copy.deepcopy(_SECURITY),
        "summary": summary,
        "tags": [tag],
        "x-source": SDK + source,
    }


def _put(op_id: str, summary: str, description: str, params: list, body: dict, single: dict, tag: str,
         source: str) -> dict:
    out = _get(op_id, summary, description, params, "tunnel_api-response-single", tag, source)
    out["requestBody"] = {"content": {"application/json": {"schema": body}}, "required": True}
    out["responses"]["200"]["content"]["application/json"]["schema"] = single
    out["responses"]["4XX"]["content"]["application/json"]["schema"] = {"allOf": [
        single, _ref("tunnel_api-response-common-failure")]}
    return out


def _ha(subset: dict[str, Any]) -> dict[str, Any]:
    """The HA endpoints of a WARP Connector tunnel (SDK 5.9.0, tunnels/warp_connector/)."""
    tunnel = [_path("account_id", "tunnel_account_id"), _path("tunnel_id", "tunnel_tunnel_id")]
    connections = _get(
        "cloudflare-tunnel-list-warp-connector-connections", "List WARP Connector Tunnel connections",
        "Fetches connection details for a WARP Connector Tunnel: its clients (replicas) and their HA status.",
        copy.deepcopy(tunnel), "tunnel_warp_connector_clients_response", "Warp Connector",
        "tunnels/warp_connector/connection_get_response.py "
        "(resources/zero_trust/tunnels/warp_connector/connections.py: get, a single page)")
    failover = _put(
        "cloudflare-tunnel-warp-connector-failover", "Trigger a WARP Connector Tunnel failover",
        "Triggers a manual failover for a specific WARP Connector Tunnel, setting the specified client as the "
        "active connector.", copy.deepcopy(tunnel),
        {"properties": {"client_id": _ref("tunnel_client_id")}, "required": ["client_id"], "type": "object",
         "x-source": SDK + "tunnels/warp_connector/failover_update_params.py"},
        {"allOf": [_ref("tunnel_api-response-single"),
                   {"properties": {"result": {"nullable": True, "type": "object"}}, "type": "object"}]},
        "Warp Connector", "resources/zero_trust/tunnels/warp_connector/failover.py: update (ResultWrapper[object])")
    get_config = _get(
        "cloudflare-tunnel-get-warp-connector-configuration", "Get WARP Connector Tunnel HA configuration",
        "Gets the high-availability configuration of a WARP Connector tunnel.", copy.deepcopy(tunnel),
        "tunnel_warp_connector_configuration_response", "Warp Connector",
        "tunnels/warp_connector/configuration_get_response.py (resources/zero_trust/tunnels/warp_connector/configurations.py: get)")
    put_config = _put(
        "cloudflare-tunnel-put-warp-connector-configuration", "Update WARP Connector Tunnel HA configuration",
        "Adds or updates the high-availability configuration for a WARP Connector tunnel.", copy.deepcopy(tunnel),
        {"properties": {"ha_mode": _ref("tunnel_ha_mode"), "config": _ref("tunnel_ha_config")},
         "required": ["ha_mode"], "type": "object",
         "x-source": SDK + "tunnels/warp_connector/configuration_update_params.py"},
        _ref("tunnel_warp_connector_configuration_response"), "Warp Connector",
        "tunnels/warp_connector/configuration_update_response.py (resources/zero_trust/tunnels/warp_connector/configurations.py: update)")
    return {
        f"{_A}/warp_connector/{{tunnel_id}}/connections": {"get": connections},
        f"{_A}/warp_connector/{{tunnel_id}}/failover": {"put": failover},
        f"{_A}/warp_connector/{{tunnel_id}}/configurations": {"get": get_config, "put": put_config},
    }


_VIPS = {"items": {"properties": {"address": {"description": "Virtual IP address (IPv4 or IPv6).", "type": "string"}},
                   "required": ["address"], "type": "object"}, "type": "array"}
HA_SCHEMAS: dict[str, Any] = {
    "tunnel_warp_connector_clients_response": {"allOf": [
        _ref("tunnel_api-response-collection"),
        {"properties": {"result": {"items": _ref("tunnel_warp_connector_client"), "type": "array"}},
         "type": "object"}]},
    "tunnel_ha_mode": {
        "description": "High-availability mode for the WARP Connector tunnel. `none` means HA is enabled but no "
                       "provider is configured yet (newly created tunnels default to this). `disabled` means HA is "
                       "explicitly turned off. `aws` uses AWS ENI move for failover. `local` uses virtual IPs "
                       "(VIPs) on the local interface.",
        "enum": ["none", "disabled", "aws", "local"], "type": "string",
        "x-source": SDK + "tunnels/warp_connector/configuration_get_response.py (ha_mode)"},
    "tunnel_ha_config": {
        "description": "Provider-specific configuration. Required shape depends on ha_mode. For `aws`, must "
                       "contain `fnr_id`. For `local`, must contain `vips`. For `none` and `disabled`, must be "
                       "empty or omitted.",
        "oneOf": [
            {"properties": {"fnr_id": {"type": "string"}}, "required": ["fnr_id"], "type": "object"},
            {"properties": {"vips": _VIPS, "vips_previous": _VIPS}, "required": ["vips"], "type": "object"},
        ],
        "x-source": SDK + "tunnels/warp_connector/configuration_get_response.py (Config)"},
    "tunnel_warp_connector_configuration": {
        "properties": {
            "configuration_version": {"description": "Monotonically increasing configuration version, "
                                                     "incremented on each PUT.", "type": "integer"},
            "created_at": {"description": "Timestamp of when the resource was created.", "format": "date-time",
                           "type": "string"},
            "ha_mode": _ref("tunnel_ha_mode"),
            "tunnel_id": {"description": "UUID of the tunnel.", "type": "string"},
            "config": _ref("tunnel_ha_config"),
            "updated_at": {"description": "Timestamp of the last update. Null if never updated.",
                           "format": "date-time", "nullable": True, "type": "string"},
        },
        "required": ["configuration_version", "created_at", "ha_mode", "tunnel_id"],
        "type": "object",
        "x-source": SDK + "tunnels/warp_connector/configuration_get_response.py (ConfigurationGetResponse)"},
    "tunnel_warp_connector_configuration_response": {"allOf": [
        _ref("tunnel_api-response-single"),
        {"properties": {"result": {"allOf": [_ref("tunnel_warp_connector_configuration")], "nullable": True}},
         "type": "object"}]},
}


# -- Zero Trust Gateway rules -------------------------------------------------------------------
_GW = "zero-trust-gateway_"
_PUBLISHED = "Cloudflare openapi.json (cloudflare/api-schemas cca3064f, 2024-08-06)"


def _gw(name: str) -> dict[str, str]:
    return _ref(_GW + name)


def _gw_op(op_id: str, summary: str, description: str, params: list, ok: str, source: str,
           body: dict | None = None) -> dict:
    """An operation as the published document has it, with the current API's credentials."""
    out: dict[str, Any] = {
        "description": description,
        "operationId": op_id,
        "parameters": params,
        "responses": {
            "200": {"content": {"application/json": {"schema": _gw(ok)}}, "description": f"{summary} response"},
            "4XX": {"content": {"application/json": {"schema": {"allOf": [
                _gw(ok), _gw("api-response-common-failure")]}}},
                "description": f"{summary} response failure"},
        },
        "security": copy.deepcopy(_SECURITY),
        "summary": summary,
        "tags": ["Zero Trust Gateway rules"],
        "x-source": SDK + source + "; " + _PUBLISHED + ", operation " + op_id,
    }
    if body is not None:
        out["requestBody"] = body
    return out


def _gw_body(params: str) -> dict:
    """The create and update body: every member the SDK's params have (name and action required)."""
    return {"content": {"application/json": {"schema": {
        "properties": {
            "action": _gw("action"), "description": _gw("schemas-description"),
            "device_posture": _gw("device_posture"), "enabled": _gw("enabled"),
            "expiration": _gw("expiration"), "filters": _gw("filters"), "identity": _gw("identity"),
            "name": _gw("components-schemas-name"), "precedence": _gw("precedence"),
            "rule_settings": _gw("rule-settings"), "schedule": _gw("schedule"), "traffic": _gw("traffic"),
        },
        "required": ["name", "action"],
        "type": "object",
        "x-source": SDK + "gateway/" + params,
    }}}, "required": True}


def _gateway() -> dict[str, Any]:
    """``/gateway/rules``: list, create; get, update, delete one (resources/zero_trust/gateway/rules.py)."""
    account = {"in": "path", "name": "account_id", "required": True, "schema": _gw("identifier")}
    rule = {"in": "path", "name": "rule_id", "required": True, "schema": _gw("rules_components-schemas-uuid")}
    rules = "resources/zero_trust/gateway/rules.py: "
    return {
        f"{_A}/gateway/rules": {
            "get": _gw_op("zero-trust-gateway-rules-list-zero-trust-gateway-rules", "List Zero Trust Gateway rules",
                          "Fetches the Zero Trust Gateway rules for an account.", [copy.deepcopy(account)],
                          "rules_components-schemas-response_collection", rules + "list (SyncSinglePage: one page)"),
            "post": _gw_op("zero-trust-gateway-rules-create-zero-trust-gateway-rule",
                           "Create a Zero Trust Gateway rule", "Creates a new Zero Trust Gateway rule.",
                           [copy.deepcopy(account)],
                           "rules_components-schemas-single_response", rules + "create",
                           _gw_body("rule_create_params.py")),
        },
        f"{_A}/gateway/rules/{{rule_id}}": {
            "delete": _gw_op("zero-trust-gateway-rules-delete-zero-trust-gateway-rule",
                             "Delete a Zero Trust Gateway rule", "Deletes a Zero Trust Gateway rule.",
                             [copy.deepcopy(rule), copy.deepcopy(account)], "empty_response",
                             rules + "delete (no body; ResultWrapper[object])",
                             {"content": {"application/json": {}}, "required": False}),
            "get": _gw_op("zero-trust-gateway-rules-zero-trust-gateway-rule-details",
                          "Get Zero Trust Gateway rule details", "Fetches a single Zero Trust Gateway rule.",
                          [copy.deepcopy(rule), copy.deepcopy(account)], "rules_components-schemas-single_response",
                          rules + "get"),
            "put": _gw_op("zero-trust-gateway-rules-update-zero-trust-gateway-rule",
                          "Update a Zero Trust Gateway rule", "Updates a configured Zero Trust Gateway rule.",
                          [copy.deepcopy(rule), copy.deepcopy(account)], "rules_components-schemas-single_response",
                          rules + "update", _gw_body("rule_update_params.py")),
        },
    }


def _published(name: str) -> str:
    return SDK + "gateway/gateway_rule.py; " + _PUBLISHED + ", " + _GW + name


_MESSAGES = {"items": {"properties": {"code": {"minimum": 1000, "type": "integer"}, "message": {"type": "string"}},
                       "required": ["code", "message"], "type": "object", "uniqueItems": True},
             "example": [], "type": "array"}
GATEWAY_SCHEMAS: dict[str, Any] = {
    # the envelope, as published
    _GW + "messages": {**_MESSAGES, "x-source": _published("messages")},
    _GW + "api-response-common": {
        "properties": {"errors": _gw("messages"), "messages": _gw("messages"),
                       "success": {"description": "Whether the API call was successful", "enum": [True],
                                   "example": True, "type": "boolean"}},
        "required": ["success", "errors", "messages"], "type": "object",
        "x-source": _published("api-response-common")},
    _GW + "api-response-common-failure": {
        "properties": {
            "errors": {"allOf": [_gw("messages")], "example": [{"code": 7003, "message": "No route for the URI"}],
                       "minLength": 1},
            "messages": {"allOf": [_gw("messages")], "example": []},
            "result": {"enum": [None], "nullable": True, "type": "object"},
            "success": {"description": "Whether the API call was successful", "enum": [False], "example": False,
                        "type": "boolean"}},
        "required": ["success", "errors", "messages", "result"], "type": "object",
        "x-source": _published("api-response-common-failure")},
    _GW + "api-response-single": {
        "allOf": [_gw("api-response-common"),
                  {"properties": {"result": {"anyOf": [{"type": "object"}, {"type": "string"}]}}}],
        "type": "object", "x-source": _published("api-response-single")},
    _GW + "api-response-collection": {
        "allOf": [_gw("api-response-common"),
                  {"properties": {"result": {"items": {}, "nullable": True, "type": "array"},
                                  "result_info": _gw("result_info")}}],
        "type": "object", "x-source": _published("api-response-collection")},
    _GW + "result_info": {
        "properties": {k: {"description": d, "type": "number"} for k, d in (
            ("count", "Total number of results for the requested service"),
            ("page", "Current page within paginated list of results"),
            ("per_page", "Number of results per page of results"),
            ("total_count", "Total results available without any search parameters"))},
        "type": "object", "x-source": _published("result_info")},
    _GW + "empty_response": {
        "allOf": [_gw("api-response-single"), {"properties": {"result": {"type": "object"}}}],
        "x-source": _published("empty_response")},
    _GW + "rules_components-schemas-response_collection": {
        "allOf": [_gw("api-response-collection"),
                  {"properties": {"result": {"items": _gw("rules"), "type": "array"}}}],
        "x-source": _published("rules_components-schemas-response_collection")},
    _GW + "rules_components-schemas-single_response": {
        "allOf": [_gw("api-response-single"), {"properties": {"result": _gw("rules")}}],
        "x-source": _published("rules_components-schemas-single_response")},
    # identifiers and members, as published (descriptions as the SDK words them now)
    _GW + "identifier": {"description": "Specify the Cloudflare account identifier.",
                         "example": "699d98642c564d2e855e9661899b7252", "type": "string",
                         "x-source": _published("identifier")},
    _GW + "rules_components-schemas-uuid": {
        "description": "Identify the API resource with a UUID.", "example": "f174e90a-fafe-4643-bbbc-4a0ed4fc8415",
        "maxLength": 36, "type": "string", "x-source": _published("rules_components-schemas-uuid")},
    _GW + "timestamp": {"example": "2014-01-01T05:20:00.12345Z", "format": "date-time", "type": "string",
                        "x-source": _published("timestamp")},
    _GW + "deleted_at": {"description": "Indicate the date of deletion, if any.", "format": "date-time",
                         "nullable": True, "readOnly": True, "type": "string", "x-source": _published("deleted_at")},
    _GW + "schemas-description": {"description": "Specify the rule description.", "type": "string",
                                  "x-source": _published("schemas-description")},
    _GW + "components-schemas-name": {"description": "Specify the rule name.", "type": "string",
                                      "x-source": _published("components-schemas-name")},
    _GW + "precedence": {
        "description": "Set the order of your rules. Lower values indicate higher precedence. At each processing "
                       "phase, evaluate applicable rules in ascending order of this value.",
        "type": "integer", "x-source": _published("precedence")},
    _GW + "traffic": {"description": "Specify the wirefilter expression used for traffic matching. The API "
                                     "automatically formats and sanitizes expressions before storing them.",
                      "type": "string", "x-source": _published("traffic")},
    _GW + "enabled": {"description": "Specify whether the rule is enabled.", "type": "boolean",
                      "x-source": _published("enabled")},
    _GW + "identity": {"description": "Specify the wirefilter expression used for identity matching.",
                       "type": "string", "x-source": _published("identity")},
    _GW + "device_posture": {"description": "Specify the wirefilter expression used for device posture check.",
                             "type": "string", "x-source": _published("device_posture")},
    # the current API's (the SDK's)
    _GW + "action": {
        "description": "Specify the action to perform when the associated traffic, identity, and device posture "
                       "expressions either absent or evaluate to `true`.",
        "enum": ["on", "off", "allow", "block", "scan", "noscan", "safesearch", "ytrestricted", "isolate",
                 "noisolate", "override", "l4_override", "egress", "resolve", "quarantine", "redirect"],
        "type": "string", "x-source": SDK + "gateway/gateway_rule.py (GatewayRule.action)"},
    _GW + "filters": {
        "description": "Specify the protocol or layer to evaluate the traffic, identity, and device posture "
                       "expressions. Can only contain a single value.",
        "items": {"enum": ["http", "dns", "l4", "egress", "dns_resolver"], "type": "string"},
        "type": "array", "x-source": SDK + "gateway/gateway_filter.py (GatewayFilter)"},
    _GW + "expiration": {
        "description": "Defines the expiration time stamp and default duration of a DNS policy. Settable only "
                       "for `dns` rules.",
        "nullable": True,
        "properties": {"duration": {"type": "integer"}, "expired": {"type": "boolean"},
                       "expires_at": {"format": "date-time", "type": "string"}},
        "required": ["expires_at"], "type": "object",
        "x-source": SDK + "gateway/gateway_rule.py (Expiration), gateway/rule_create_params.py (Expiration)"},
    _GW + "rule-settings": {
        "description": "Defines settings for this rule (members not spelled out here: see the module doc).",
        "type": "object", "x-source": SDK + "gateway/rule_setting.py, gateway/rule_setting_param.py (RuleSetting)"},
    _GW + "schedule": {
        "description": "Defines the schedule for activating DNS policies (members not spelled out here).",
        "nullable": True, "type": "object",
        "x-source": SDK + "gateway/schedule.py, gateway/schedule_param.py (Schedule)"},
    _GW + "rules": {
        "properties": {
            "action": _gw("action"), "created_at": _gw("timestamp"), "deleted_at": _gw("deleted_at"),
            "description": _gw("schemas-description"), "device_posture": _gw("device_posture"),
            "enabled": _gw("enabled"), "expiration": _gw("expiration"), "filters": _gw("filters"),
            "id": _gw("rules_components-schemas-uuid"), "identity": _gw("identity"),
            "name": _gw("components-schemas-name"), "precedence": _gw("precedence"),
            "read_only": {"description": "Indicate that this rule is shared via the Orgs API and read only.",
                          "type": "boolean"},
            "rule_settings": _gw("rule-settings"), "schedule": _gw("schedule"),
            "sharable": {"description": "Indicate that this rule is sharable via the Orgs API.", "type": "boolean"},
            "source_account": {"description": "Provide the account tag of the account that created the rule.",
                               "type": "string"},
            "traffic": _gw("traffic"), "updated_at": _gw("timestamp"),
            "version": {"description": "Indicate the version number of the rule(read-only).", "type": "integer"},
            "warning_status": {"description": "Indicate a warning for a misconfigured rule, if any.",
                               "nullable": True, "type": "string"},
        },
        "required": ["action", "enabled", "filters", "name", "precedence", "traffic"],
        "type": "object",
        "x-source": SDK + "gateway/gateway_rule.py (GatewayRule: its required members and the newer ones); "
                    + _PUBLISHED + ", " + _GW + "rules"},
}


def build(subset: dict[str, Any]) -> dict[str, Any]:
    cfd_list = subset["paths"][f"{_A}/cfd_tunnel"]["get"]
    list_all = _get(
        "cloudflare-tunnel-list-all-tunnels", "List All Tunnels",
        "Lists and filters all types of Tunnels in an account.",
        [*copy.deepcopy(cfd_list["parameters"]),
         {"in": "query", "name": "tun_types", "schema": _ref("tunnel_tunnel_types")}],
        "tunnel_tunnel-response-collection", "Cloudflare Tunnel",
        "tunnel_list_params.py, tunnel_list_response.py (resources/zero_trust/tunnels/tunnels.py: list)",
    )
    return {
        "info": {
            "description": "Operations, parameters and shapes of Cloudflare's current API that "
                           "cloudflare-openapi-subset.json (2024-08-06) lacks; merged over it by "
                           "tests/cfstub/contract.py. Made by tests/cfstub/make_additions.py.",
            "x-sources": [SDK, "developers.cloudflare.com/api (operation names), "
                          "shared/reference/README.md (the list of newer endpoints)"],
        },
        "paths": {
            f"{_A}/teamnet/routes/{{route_id}}": {"get": _get(
                "tunnel-route-get-tunnel-route", "Get tunnel route",
                "Get a private network route in an account.",
                [_path("route_id", "tunnel_route_id"), _path("account_id", "tunnel_account_id")],
                "tunnel_teamnet_response_single", "Tunnel Routing",
                "networks/teamnet.py (resources/zero_trust/networks/routes/routes.py: get)")},
            f"{_A}/teamnet/virtual_networks/{{virtual_network_id}}": {"get": _get(
                "tunnel-virtual-network-get", "Get a virtual network",
                "Get a virtual network.",
                [_path("virtual_network_id", "tunnel_virtual_network_id"), _path("account_id", "tunnel_account_id")],
                "tunnel_virtual_network_response_single", "Tunnel Virtual Network",
                "networks/virtual_network.py (resources/zero_trust/networks/virtual_networks.py: get)")},
            f"{_A}/tunnels": {"get": list_all},
            f"{_A}/warp_connector/{{tunnel_id}}/connectors/{{connector_id}}": {"get": _get(
                "cloudflare-tunnel-get-warp-connector-tunnel-connector", "Get Warp Connector Tunnel connector",
                "Fetches connector and connection details for a Warp Connector Tunnel.",
                [_path("account_id", "tunnel_account_id"), _path("tunnel_id", "tunnel_tunnel_id"),
                 _path("connector_id", "tunnel_client_id")],
                "tunnel_warp_connector_client_response", "Warp Connector",
                "tunnels/warp_connector/connector_get_response.py "
                "(resources/zero_trust/tunnels/warp_connector/connectors.py: get)")},
            **_ha(subset),
            **_gateway(),
        },
        "x-query-parameters": {
            f"get {_A}/teamnet/virtual_networks": [{
                "in": "query", "name": "is_default_network",
                "schema": {"description": "If `true`, only include the default virtual network. If `false`, exclude "
                                          "the default virtual network. If empty, all virtual networks will be "
                                          "included.", "type": "boolean"},
                "x-source": SDK + "networks/virtual_network_list_params.py"}],
            f"get {_A}/teamnet/routes/ip/{{ip}}": [{
                "in": "query", "name": "default_virtual_network_fallback",
                "schema": {"description": "When the virtual_network_id parameter is not provided the request filter "
                                          "will default search routes that are in the default virtual network for "
                                          "the account. If this parameter is set to false, the search will include "
                                          "routes that do not have a virtual network.", "type": "boolean"},
                "x-source": SDK + "networks/routes/ip_get_params.py"}],
        },
        # the current API's deletes take no body: the SDK sends none (its delete methods have no body
        # parameters), nor does cloudflared on a virtual network's; the 2024-08 schema required one
        "x-optional-request-body": [
            f"delete {_A}/warp_connector/{{tunnel_id}}",
            f"delete {_A}/teamnet/virtual_networks/{{virtual_network_id}}",
        ],
        "components": {"schemas": {
            # replaced: the newer API's tunnel types, and tun_types as a list (the SDK's List[Literal])
            "tunnel_tunnel_type": {
                "description": "The type of tunnel.",
                "enum": ["cfd_tunnel", "warp_connector", "warp", "magic", "ip_sec", "gre", "cni"],
                "example": "cfd_tunnel", "type": "string",
                "x-source": SDK + "networks/teamnet.py (tun_type)"},
            "tunnel_tunnel_types": {
                "description": "The types of tunnels to filter by, separated by commas.",
                "items": _ref("tunnel_tunnel_type"), "type": "array",
                "example": ["cfd_tunnel", "warp_connector"],
                "x-source": SDK + "networks/route_list_params.py, tunnel_list_params.py (tun_types)"},
            # new
            "tunnel_virtual_network_response_single": {"allOf": [
                _ref("tunnel_api-response-single"),
                {"properties": {"result": _ref("tunnel_virtual-network")}, "type": "object"}]},
            "tunnel_warp_connector_client_response": {"allOf": [
                _ref("tunnel_api-response-single"),
                {"properties": {"result": _ref("tunnel_warp_connector_client")}, "type": "object"}]},
            "tunnel_warp_connector_client": {
                "description": "A WARP Connector client that maintains a connection to a Cloudflare data center.",
                "properties": {
                    "id": _ref("tunnel_client_id"),
                    "arch": _ref("tunnel_arch"),
                    "conns": {"description": "The WARP Connector Tunnel connections between your origin and "
                                             "Cloudflare's edge.",
                              "items": _ref("tunnel_warp_connector_conn"), "type": "array"},
                    "features": _ref("tunnel_features"),
                    "ha_status": {"description": "The HA status of a WARP Connector client.",
                                  "enum": ["offline", "passive", "active"], "type": "string"},
                    "run_at": _ref("tunnel_run_at"),
                    "version": _ref("tunnel_version"),
                },
                "type": "object",
                "x-source": SDK + "tunnels/warp_connector/connector_get_response.py (ConnectorGetResponse)"},
            "tunnel_warp_connector_conn": {
                "properties": {
                    "id": _ref("tunnel_connection_id"),
                    "client_id": _ref("tunnel_client_id"),
                    "client_version": {"description": "The cloudflared version used to establish this connection.",
                                       "type": "string"},
                    "colo_name": _ref("tunnel_colo_name"),
                    "opened_at": {"description": "Timestamp of when the connection was established.",
                                  "format": "date-time", "type": "string"},
                    "origin_ip": {"description": "The public IP address of the host running WARP Connector.",
                                  "type": "string"},
                },
                "type": "object",
                "x-source": SDK + "tunnels/warp_connector/connector_get_response.py (Conn)"},
            **copy.deepcopy(HA_SCHEMAS),
            **copy.deepcopy(GATEWAY_SCHEMAS),
        }},
    }


def main() -> None:
    text = json.dumps(build(json.loads(SPEC_FILE.read_text())), indent=1, sort_keys=True) + "\n"
    ADDITIONS_FILE.write_text(text)


if __name__ == "__main__":
    main()
