"""Cloudflare API v4 JSON -> the model. The inverse lives in the server (``warpcli.server``).

Missing fields get the model's defaults: Cloudflare omits what it does not know
(``deleted_at`` of a live object, ``comment`` of a route made without one, the
names in create/update responses of routes, which the controller fills in).
"""

from __future__ import annotations

from typing import Any

from warpcli.core.errors import Unavailable
from warpcli.core.model import HUB_ADDRESS, TUN_TYPE, Connector, Hub, Route, Tunnel, VirtualNetwork


def _str(obj: dict[str, Any], key: str, default: str | None = None) -> Any:
    value = obj.get(key, default)
    return default if value is None else value


def _need(obj: Any, what: str, *keys: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or any(not isinstance(obj.get(k), str) for k in keys):
        raise Unavailable(f"the API returned a malformed {what} (missing {', '.join(keys)})")
    return obj


def tunnel(obj: Any) -> Tunnel:
    o = _need(obj, "tunnel", "id", "name")
    return Tunnel(
        id=o["id"],
        name=o["name"],
        account_tag=_str(o, "account_tag", ""),
        created_at=_str(o, "created_at", ""),
        status=_str(o, "status", "inactive"),
        tun_type=_str(o, "tun_type", TUN_TYPE),
        deleted_at=o.get("deleted_at") or None,
    )


def virtual_network(obj: Any) -> VirtualNetwork:
    o = _need(obj, "virtual network", "id", "name")
    return VirtualNetwork(
        id=o["id"],
        name=o["name"],
        comment=_str(o, "comment", ""),
        is_default_network=bool(o.get("is_default_network", False)),
        created_at=_str(o, "created_at", ""),
        deleted_at=o.get("deleted_at") or None,
    )


def route(obj: Any, *, tunnel_names: dict[str, str] | None = None, vnet_names: dict[str, str] | None = None) -> Route:
    """A route; names missing from the object are looked up in the maps given."""
    o = _need(obj, "route", "id", "network", "tunnel_id")
    vid = _str(o, "virtual_network_id", "")
    return Route(
        id=o["id"],
        network=o["network"],
        tunnel_id=o["tunnel_id"],
        virtual_network_id=vid,
        comment=_str(o, "comment", ""),
        created_at=_str(o, "created_at", ""),
        tunnel_name=o.get("tunnel_name") or (tunnel_names or {}).get(o["tunnel_id"]),
        virtual_network_name=o.get("virtual_network_name") or (vnet_names or {}).get(vid),
        tun_type=_str(o, "tun_type", TUN_TYPE),
        deleted_at=o.get("deleted_at") or None,
    )


# -- the warpcli extension (a served warpcli controller; docs/controller-api.md) -------------
def connector(obj: Any) -> Connector:
    o = _need(obj, "connector", "id", "tunnel_id", "virtual_network_id", "public_key", "address")
    return Connector(
        id=o["id"],
        tunnel_id=o["tunnel_id"],
        virtual_network_id=o["virtual_network_id"],
        public_key=o["public_key"],
        address=o["address"],
        created_at=_str(o, "created_at", ""),
        tunnel_name=o.get("tunnel_name") or None,
        last_seen=o.get("last_seen") or None,
        deleted_at=o.get("deleted_at") or None,
        version=o.get("version") or None,
        role=o.get("role") or None,
        priority=o.get("priority") if isinstance(o.get("priority"), int) else None,
        role_changed_at=o.get("role_changed_at") or None,
    )


ROLE_OF_HA_STATUS = {"active": "active", "passive": "standby", "offline": "fault"}


def replica(o: dict[str, Any], tunnel_id: str) -> Connector:
    """One client of Cloudflare's ``connections`` list (``ConnectionGetResponse``) as a Connector."""
    run_at = o.get("run_at") if isinstance(o.get("run_at"), str) else None
    conns = [c for c in o.get("conns") or [] if isinstance(c, dict)]
    return Connector(
        id=str(o.get("id") or ""), tunnel_id=tunnel_id, virtual_network_id="", public_key="",
        address=str(o.get("address") or (conns[0].get("origin_ip") if conns else "") or ""),
        created_at=run_at or "", last_seen=o.get("last_seen") or run_at,
        version=o.get("version") or None, role=ROLE_OF_HA_STATUS.get(str(o.get("ha_status"))),
        priority=o.get("priority") if isinstance(o.get("priority"), int) else None,
        role_changed_at=o.get("role_changed_at") or None,
    )


def report(r: Any) -> dict[str, Any]:
    """A ConnectorReport as the extension's ``hub/report`` body holds it (unknown fields left out)."""
    d = {"id": r.connector_id, "last_seen": r.last_seen, "role": r.role, "priority": r.priority,
         "role_changed_at": r.role_changed_at, "version": r.version}
    return {k: v for k, v in d.items() if v is not None}


def tunnel_ha(obj: Any) -> Any:
    """Cloudflare's ``configurations`` object."""
    import json

    from warpcli.core.liveness import TunnelHa

    o = _need(obj, "configuration", "tunnel_id", "ha_mode")
    config = o.get("config")
    return TunnelHa(o["tunnel_id"], o["ha_mode"], int(o.get("configuration_version") or 0),
                    _str(o, "created_at", ""), o.get("updated_at") or None,
                    json.dumps(config, sort_keys=True, separators=(",", ":")) if config else None)


def hub(obj: Any) -> Hub:
    o = _need(obj, "hub", "id", "virtual_network_id", "public_key", "endpoint")
    return Hub(
        id=o["id"],
        virtual_network_id=o["virtual_network_id"],
        public_key=o["public_key"],
        endpoint=o["endpoint"],
        address=_str(o, "address", HUB_ADDRESS),
        created_at=_str(o, "created_at", ""),
        updated_at=_str(o, "updated_at", ""),
    )
