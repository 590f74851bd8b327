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
    """``tunnel_warp_connector_tunnel``; ``account_tag`` is the account this server serves."""
    return _without_nulls({
        "id": t.id,
        "account_tag": account_id,
        "name": t.name,
        "tun_type": t.tun_type,
        "status": t.status,
        "created_at": t.created_at,
        "deleted_at": t.deleted_at,
        "connections": [],
    })


def warp_connector_client(c: Connector) -> dict[str, Any]:
    """``ConnectorGetResponse`` of Cloudflare's SDK (a WARP Connector client), from an enrolled connector.

    Cloudflare's fields that warpcli knows: ``id``, ``run_at`` (when it was last seen, else
    when it enrolled), ``features`` (none), ``conns`` (none: warpcli tracks no edge
    connections), ``version`` (its warpcli version, when it said) and, for a replica whose
    role the hub reported, ``ha_status`` (``active``/``passive``, ``offline`` when not seen
    recently: core.liveness). ``arch`` is not recorded, so left out.
    Added (warpcli): ``address`` (its device address), ``tunnel_id``, ``virtual_network_id``,
    ``public_key``, ``created_at``, ``last_seen``, ``role``, ``priority``, ``role_changed_at``.
    """
    from warpcli.core.liveness import ha_status

    return _without_nulls({
        "id": c.id,
        "run_at": c.last_seen or c.created_at,
        "features": [],
        "conns": [],
        "version": c.version,
        "ha_status": ha_status(c.role, c.last_seen) if c.role is not None else None,
        "role": c.role,
        "priority": c.priority,
        "role_changed_at": c.role_changed_at,
        "address": c.address,
        "tunnel_id": c.tunnel_id,
        "virtual_network_id": c.virtual_network_id,
        "public_key": c.public_key,
        "created_at": c.created_at,
        "last_seen": c.last_seen,
    })


def ha_configuration(h: TunnelHa) -> dict[str, Any]:
    """``ConfigurationGetResponse``: a tunnel's HA settings; ``config`` is left out when there is none
    (the SDK's default), ``updated_at`` is null until the first PUT."""
    d = h.to_dict()
    if d["config"] is None:
        del d["config"]
    return d


def virtual_network(v: VirtualNetwork) -> dict[str, Any]:
    """``tunnel_virtual-network``."""
    return _without_nulls({
        "id": v.id,
        "name": v.name,
        "comment": v.comment,
        "is_default_network": v.is_default_network,
        "created_at": v.created_at,
        "deleted_at": v.deleted_at,
    })


def route(r: Route) -> dict[str, Any]:
    """``tunnel_route``: what create, update and delete answer (no names in it)."""
    return _without_nulls({
        "id": r.id,
        "network": r.network,
        "tunnel_id": r.tunnel_id,
        "virtual_network_id": r.virtual_network_id,
        "comment": r.comment,
        "created_at": r.created_at,
        "deleted_at": r.deleted_at,
    })


def teamnet(r: Route) -> dict[str, Any]:
    """``tunnel_teamnet``: a route as lists and the IP lookup show it, with names and type."""
    return _without_nulls({
        **route(r),
        "tunnel_name": r.tunnel_name,
        "tun_type": r.tun_type,
        "virtual_network_name": r.virtual_network_name,
    })


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
