"""Cloudflare API v4 JSON -> the model. The inverse lives in the server (``warpcli.server``).

Missing fields get the model's defaults: Cloudflare omits what it does not know
(``deleted_at`` of a live object, ``comment`` of a route made without one, the
names in create/update responses of routes, which the controller fills in).
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from warpcli.core.errors import Unavailable
from warpcli.core.model import (
    DEFAULT_HUB_PRIORITY,
    HUB_ADDRESS,
    TUN_TYPE,
    Connector,
    Hub,
    Route,
    Tunnel,
    VirtualNetwork,
)
from warpcli.core.records import field_names

T = TypeVar("T")


def _str(obj: dict[str, Any], key: str, default: str | None = None) -> Any:
    value = obj.get(key, default)
    return default if value is None else value


def _need(obj: Any, what: str, *keys: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or any(not isinstance(obj.get(k), str) for k in keys):
        raise Unavailable(f"the API returned a malformed {what} (missing {', '.join(keys)})")
    return obj


def _from_api(cls: type[T], o: dict[str, Any], **exceptions: Any) -> T:
    """A model record from an API object, field by field from the model's own field list: a
    missing or null field takes the model's default, else "" (a string Cloudflare left out);
    ``deleted_at`` of a live object, and the optional names, are None; ``exceptions`` are the
    fields read otherwise."""
    get = o.get
    plan = _plan(cls)  # type: ignore[arg-type]  # (a class is hashable; mypy's Hashable check misses it)
    values = [exceptions[name] if name in exceptions
              else (get(name) or None) if optional
              else (default if (v := get(name)) is None else v)
              for name, optional, default in plan]
    return cls(*values)


@cache
def _plan(cls: type) -> tuple[tuple[str, bool, Any], ...]:
    return tuple((name, name in _OPTIONAL, _DEFAULTS.get(name, "")) for name in field_names(cls))


#: fields that stay None when the API leaves them out (the model's optional strings)
_OPTIONAL = frozenset({"tunnel_name", "virtual_network_name", "last_seen", "deleted_at", "version", "role",
                       "role_changed_at"})
#: defaults other than "" for fields the API may leave out
_DEFAULTS: dict[str, Any] = {"status": "inactive", "tun_type": TUN_TYPE, "is_default_network": False,
                             "address": HUB_ADDRESS}


def tunnel(obj: Any) -> Tunnel:
    return _from_api(Tunnel, _need(obj, "tunnel", "id", "name"))


def virtual_network(obj: Any) -> VirtualNetwork:
    o = _need(obj, "virtual network", "id", "name")
    return _from_api(VirtualNetwork, o, is_default_network=bool(o.get("is_default_network", False)))


def route(obj: Any, *, tunnel_names: dict[str, str] | None = None, vnet_names: dict[str, str] | None = None) -> Route:
    """A route; names missing from the object are looked up in the maps given."""
    o = _need(obj, "route", "id", "network", "tunnel_id")
    vid = _str(o, "virtual_network_id", "")
    return _from_api(Route, o, virtual_network_id=vid,
                     tunnel_name=o.get("tunnel_name") or (tunnel_names or {}).get(o["tunnel_id"]),
                     virtual_network_name=o.get("virtual_network_name") or (vnet_names or {}).get(vid))


# -- the warpcli extension (a served warpcli controller; docs/controller-api.md) -------------
def connector(obj: Any) -> Connector:
    o = _need(obj, "connector", "id", "tunnel_id", "virtual_network_id", "public_key", "address")
    return _from_api(Connector, o, priority=_int_or_none(o.get("priority")))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
    return _from_api(Hub, o, priority=_priority(o))


def _priority(o: dict[str, Any]) -> int:
    """A hub's priority; a server from before several hubs per vnet sends none."""
    value = o.get("priority")
    if value is None:
        return DEFAULT_HUB_PRIORITY
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unavailable("the API returned a malformed hub (priority)")
    return value
