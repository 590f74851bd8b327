"""The server's own OpenAPI document, made from Cloudflare's (the subset this project keeps).

``server_openapi(cloudflare_subset)`` keeps the operations this server implements
(:data:`SERVED`), copied unchanged from Cloudflare's document, with the component schemas
they reference, and states the few ways the server differs, each one listed here and
nothing else (a test checks that removing them gives back Cloudflare's operations):

- :data:`ADDED_QUERY`: query parameters the server takes beyond Cloudflare's document:
  ``force`` on the two deletes (cloudflared sends it on a virtual network's);
- ``security``: only the bearer token (Cloudflare's ``api_token``); the e-mail + global key
  and service-key alternatives are not accepted here;
- ``servers`` and ``info`` name this server; the paths are relative to ``/client/v4``.

Not in it: the deprecated ``teamnet/routes/network/{cidr}`` operations and the
``cfd_tunnel`` ones (refused: :data:`REFUSED`), and warpcli's own extension endpoints
(enrollment), which have no Cloudflare counterpart to agree with.

The document is built from the contract at hand (Cloudflare's 2024-08 subset plus the
newer operations, ``tests/cfstub/contract.py``), not stored: the installed package does
not hold it. To serve the document, ship the contract as package data first.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

BASE_PATH = "/client/v4"
_ACCT = "/accounts/{account_id}"

#: (method, path template) of every Cloudflare operation this server implements
SERVED: tuple[tuple[str, str], ...] = (
    ("get", "/user/tokens/verify"),
    ("get", f"{_ACCT}/warp_connector"),
    ("post", f"{_ACCT}/warp_connector"),
    ("get", f"{_ACCT}/warp_connector/{{tunnel_id}}"),
    ("patch", f"{_ACCT}/warp_connector/{{tunnel_id}}"),
    ("delete", f"{_ACCT}/warp_connector/{{tunnel_id}}"),
    ("get", f"{_ACCT}/warp_connector/{{tunnel_id}}/token"),
    ("get", f"{_ACCT}/warp_connector/{{tunnel_id}}/connectors/{{connector_id}}"),
    ("get", f"{_ACCT}/warp_connector/{{tunnel_id}}/connections"),
    ("put", f"{_ACCT}/warp_connector/{{tunnel_id}}/failover"),
    ("get", f"{_ACCT}/warp_connector/{{tunnel_id}}/configurations"),
    ("put", f"{_ACCT}/warp_connector/{{tunnel_id}}/configurations"),
    ("get", f"{_ACCT}/tunnels"),
    ("get", f"{_ACCT}/teamnet/routes"),
    ("post", f"{_ACCT}/teamnet/routes"),
    ("get", f"{_ACCT}/teamnet/routes/ip/{{ip}}"),
    ("get", f"{_ACCT}/teamnet/routes/{{route_id}}"),
    ("patch", f"{_ACCT}/teamnet/routes/{{route_id}}"),
    ("delete", f"{_ACCT}/teamnet/routes/{{route_id}}"),
    ("get", f"{_ACCT}/teamnet/virtual_networks"),
    ("post", f"{_ACCT}/teamnet/virtual_networks"),
    ("get", f"{_ACCT}/teamnet/virtual_networks/{{virtual_network_id}}"),
    ("patch", f"{_ACCT}/teamnet/virtual_networks/{{virtual_network_id}}"),
    ("delete", f"{_ACCT}/teamnet/virtual_networks/{{virtual_network_id}}"),
)

_CFD = ("cfd_tunnel (Cloudflare Tunnel, run by cloudflared) is not served by this controller: it serves "
        "warp_connector tunnels only (GET .../tunnels lists them); cloudflared's `tunnel vnet` and "
        "`tunnel route ip` commands work against it, given a tunnel's id")
_DEPRECATED = ("the teamnet/routes/network/{cidr} endpoints are deprecated by Cloudflare and not served: "
               "use .../teamnet/routes and .../teamnet/routes/{route_id}")

#: (method, path template, why) of the Cloudflare operations of these resources the server
#: refuses on purpose, with 400 and code 1009 and the reason as the message.
REFUSED: tuple[tuple[str, str, str], ...] = (
    *((m, f"{_ACCT}/cfd_tunnel", _CFD) for m in ("get", "post")),
    *((m, f"{_ACCT}/cfd_tunnel/{{tunnel_id}}", _CFD) for m in ("get", "patch", "delete")),
    *((m, f"{_ACCT}/cfd_tunnel/{{tunnel_id}}/configurations", _CFD) for m in ("get", "put")),
    *((m, f"{_ACCT}/cfd_tunnel/{{tunnel_id}}/connections", _CFD) for m in ("get", "delete")),
    ("get", f"{_ACCT}/cfd_tunnel/{{tunnel_id}}/connectors/{{connector_id}}", _CFD),
    ("post", f"{_ACCT}/cfd_tunnel/{{tunnel_id}}/management", _CFD),
    ("get", f"{_ACCT}/cfd_tunnel/{{tunnel_id}}/token", _CFD),
    *((m, f"{_ACCT}/teamnet/routes/network/{{ip_network_encoded}}", _DEPRECATED)
      for m in ("post", "patch", "delete")),
)

_FORCE = {
    "name": "force", "in": "query", "required": False, "schema": {"type": "boolean"},
    "description": "warpcli: also delete what depends on it (routes); without it an object in use is "
                   "refused with 409. cloudflared sends it on `vnet delete --force`.",
}

#: query parameters the server adds to an operation, by (method, template)
ADDED_QUERY: dict[tuple[str, str], tuple[dict[str, Any], ...]] = {
    ("delete", f"{_ACCT}/warp_connector/{{tunnel_id}}"): (_FORCE,),
    ("delete", f"{_ACCT}/teamnet/virtual_networks/{{virtual_network_id}}"): (_FORCE,),
}

#: the only security requirement the server honours
SECURITY: list[dict[str, list]] = [{"api_token": []}]


def _refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` target anywhere below ``node``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _components(subset: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    """The component objects ``paths`` reference, followed transitively, copied unchanged."""
    found: dict[tuple[str, str], Any] = {}
    todo = list(_refs(paths))
    while todo:
        ref = todo.pop()
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"]:
            raise ValueError(f"unsupported $ref {ref!r}")
        key = (parts[2], parts[3].replace("~1", "/").replace("~0", "~"))
        if key not in found:
            found[key] = subset["components"][key[0]][key[1]]
            todo.extend(_refs(found[key]))
    out: dict[str, Any] = {}
    for (section, name), value in sorted(found.items()):
        out.setdefault(section, {})[name] = copy.deepcopy(value)
    return out


def server_openapi(subset: dict[str, Any], *, version: str | None = None) -> dict[str, Any]:
    """This server's OpenAPI 3.0 document, from Cloudflare's ``subset`` (not modified)."""
    if version is None:
        from warpcli import __version__ as version
    paths: dict[str, Any] = {}
    for method, template in SERVED:
        item = subset["paths"][template]
        if item[method].get("deprecated"):
            raise ValueError(f"{method.upper()} {template} is deprecated in the subset")
        out = paths.setdefault(template, {k: copy.deepcopy(v) for k, v in item.items() if k == "parameters"})
        operation = copy.deepcopy(item[method])
        operation["security"] = copy.deepcopy(SECURITY)
        added = ADDED_QUERY.get((method, template), ())
        if added:
            operation["parameters"] = [*operation.get("parameters", []), *copy.deepcopy(list(added))]
        out[method] = operation
    components = _components(subset, paths)
    components["securitySchemes"] = {"api_token": copy.deepcopy(subset["components"]["securitySchemes"]["api_token"])}
    return {
        "openapi": subset["openapi"],
        "info": {
            "title": "warpcli controller API (Cloudflare API v4 dialect)",
            "version": version,
            "description": "The operations of Cloudflare's API v4 that `warpcli controller serve` implements, "
                           "as Cloudflare documents them, with the differences listed in warpcli.server.openapi.",
            "x-derived-from": copy.deepcopy(subset.get("info", {}).get("x-subset-source", {})),
        },
        "servers": [{"url": BASE_PATH, "description": "warpcli controller serve"}],
        "security": copy.deepcopy(SECURITY),
        "paths": paths,
        "components": components,
    }


def without_additions(method: str, template: str, operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` with this server's documented additions taken out (for comparisons)."""
    out = copy.deepcopy(operation)
    added = {p["name"] for p in ADDED_QUERY.get((method, template), ())}
    if added:
        params = [p for p in out.get("parameters", []) if not (p.get("in") == "query" and p.get("name") in added)]
        if params:
            out["parameters"] = params
        else:
            out.pop("parameters", None)
    out.pop("security", None)
    return out
