"""Model objects as Cloudflare API v4 JSON, and the response envelopes around them.

Each function follows one schema of the API (named in its docstring). A field whose
value is ``None`` is left out rather than written as ``null``: the schemas mark
``deleted_at``, ``tunnel_name`` and friends as strings, not nullable.
"""

from __future__ import annotations

from typing import Any

from warpcli.core.liveness import TunnelHa
from warpcli.core.model import Connector, Route, Tunnel, VirtualNetwork


def _without_nulls(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def tunnel(t: Tunnel, account_id: str) -> dict[str, Any]:
    """``tunnel_warp_connector_tunnel``: the model's fields; ``account_tag`` is the account this
    server serves; ``connections`` none (warpcli tracks no edge connections)."""
    return _without_nulls({**t.to_dict(), "account_tag": account_id, "connections": []})


def warp_connector_client(c: Connector) -> dict[str, Any]:
    """``ConnectorGetResponse`` of Cloudflare's SDK (a WARP Connector client), from an enrolled connector.

    Cloudflare's fields that warpcli knows: ``id``, ``run_at`` (when it was last seen, else
    when it enrolled), ``features`` (none), ``conns`` (none: warpcli tracks no edge
    connections), ``version`` (its warpcli version, when it said) and, for a replica whose
    role the hub reported, ``ha_status`` (``active``/``passive``, ``offline`` when not seen
    recently: core.liveness). ``arch`` is not recorded, so left out.
    Added (warpcli): the model's own fields (its device ``address``, ``tunnel_id``,
    ``virtual_network_id``, ``public_key``, ``created_at``, ``last_seen``, ``role``, ``priority``,
    ``role_changed_at``…).
    """
    from warpcli.core.liveness import ha_status

    return _without_nulls({"run_at": c.last_seen or c.created_at, "features": [], "conns": [],
                           "ha_status": ha_status(c.role, c.last_seen) if c.role is not None else None,
                           **c.to_dict()})


def ha_configuration(h: TunnelHa) -> dict[str, Any]:
    """``ConfigurationGetResponse``: a tunnel's HA settings; ``config`` is left out when there is none
    (the SDK's default), ``updated_at`` is null until the first PUT."""
    d = h.to_dict()
    if d["config"] is None:
        del d["config"]
    return d


def virtual_network(v: VirtualNetwork) -> dict[str, Any]:
    """``tunnel_virtual-network``: the model's fields."""
    return _without_nulls(v.to_dict())


#: Route fields that only lists and the IP lookup show (``tunnel_teamnet``), not create/update/delete
TEAMNET_ONLY = ("tunnel_name", "virtual_network_name", "tun_type")


def route(r: Route) -> dict[str, Any]:
    """``tunnel_route``: what create, update and delete answer (no names in it)."""
    return _without_nulls({k: v for k, v in r.to_dict().items() if k not in TEAMNET_ONLY})


def teamnet(r: Route) -> dict[str, Any]:
    """``tunnel_teamnet``: a route as lists and the IP lookup show it, with names and type."""
    return _without_nulls(r.to_dict())


def success(result: Any, result_info: dict[str, int] | None = None) -> dict[str, Any]:
    """``*api-response-common`` (+ ``result_info`` on paginated lists)."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return body


def failure(code: int, message: str) -> dict[str, Any]:
    """``*api-response-common-failure``."""
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def result_info(page: int, per_page: int, count: int, total_count: int) -> dict[str, int]:
    """``tunnel_result_info``: ``count`` is the items on this page, ``total_count`` all that matched."""
    return {"page": page, "per_page": per_page, "count": count, "total_count": total_count}
