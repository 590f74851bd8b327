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
        }},
    }


def main() -> None:
    text = json.dumps(build(json.loads(SPEC_FILE.read_text())), indent=1, sort_keys=True) + "\n"
    ADDITIONS_FILE.write_text(text)


if __name__ == "__main__":
    main()
