"""What runs, as the hub reports it: each connector's latest handshake and HA role, and the
tunnel status derived from them the way Cloudflare derives it.

Cloudflare's tunnel statuses (its "Tunnel status" documentation): *healthy* — the tunnel is
active and serving traffic through all its connections; *degraded* — active and serving
traffic, but at least one connection has failed; *down* — it cannot serve traffic, no
connection is up; *inactive* — created but never run. Ours count a connector (an enrolled
host; a replica counts as one) as connected when the hub saw a WireGuard handshake from it
within :data:`RECENT` seconds:

- ``healthy``: the tunnel has connectors and every one of them is connected;
- ``degraded``: some are connected, some are not;
- ``down``: none is connected, but one was seen at some time;
- ``inactive``: no connector was ever seen (or none is enrolled).

These reports are frequent (every ``hub up --follow`` poll), so no backend lets them move
the state version that ``--follow`` clients poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from warpcli.core.records import record

#: seconds: WireGuard renews a session's keys every 120 s while packets flow (connectors send a
#: keepalive every 25 s) and rejects a session older than 180 s (REJECT_AFTER_TIME), so a peer
#: whose latest handshake is older than this has no usable session
RECENT = 180.0
STATUSES = ("healthy", "degraded", "down", "inactive")
ROLES = ("active", "standby", "fault")


@record
class ConnectorReport:
    """What the hub knows of one connector of its vnet (``None``: not known, left unchanged)."""

    connector_id: str
    last_seen: str | None = None  #: its latest WireGuard handshake (RFC 3339)
    role: str | None = None  #: HA role the hub's responder hears: active, standby, fault
    priority: int | None = None
    role_changed_at: str | None = None
    version: str | None = None  #: the connector's warpcli version, when it reports it


@record
class FailoverRequest:
    """A pending promotion of one replica (``PUT .../warp_connector/{id}/failover``): the hub
    asks its responder to move the tunnel's role to ``address``."""

    tunnel_id: str
    connector_id: str
    address: str
    requested_at: str


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as written by :func:`warpcli.core.model.utcnow` (a ``Z`` or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds_since(text: str | None, now: datetime | None = None) -> float | None:
    if not text:
        return None
    return ((now or datetime.now(UTC)) - parse_time(text)).total_seconds()


def is_connected(last_seen: str | None, now: datetime | None = None, recent: float = RECENT) -> bool:
    age = seconds_since(last_seen, now)
    return age is not None and age <= recent


def tunnel_status(last_seens: Iterable[str | None], now: datetime | None = None, recent: float = RECENT) -> str:
    """The status of a tunnel whose live connectors were last seen at ``last_seens``."""
    seen = list(last_seens)
    connected = sum(1 for t in seen if is_connected(t, now, recent))
    if seen and connected == len(seen):
        return "healthy"
    if connected:
        return "degraded"
    if any(seen):
        return "down"
    return "inactive"


def check_report(r: ConnectorReport) -> ConnectorReport:
    """Refuse a malformed report (InvalidInput) before it is stored."""
    from warpcli.core.errors import InvalidInput

    if r.role is not None and r.role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {r.role!r}")
    if r.priority is not None and not 0 <= r.priority <= 255:
        raise InvalidInput(f"priority must be 0..255, not {r.priority}")
    for name in ("last_seen", "role_changed_at"):
        value = getattr(r, name)
        if value is not None:
            try:
                aware = parse_time(value).tzinfo is not None
            except ValueError:
                aware = False
            if not aware:
                raise InvalidInput(f"{name} is not an RFC 3339 time with a zone: {value!r}")
    if r.version is not None and (len(r.version) > 64 or not r.version.isprintable()):
        raise InvalidInput("version must be at most 64 printable characters")
    return r


#: Cloudflare's ``ha_mode`` values (``.../warp_connector/{id}/configurations``); ``aws`` (an ENI
#: moved between cloud hosts) has no meaning for warpcli's replicas and is refused
HA_MODES = ("none", "disabled", "local")


#: the keys of ``config`` for ``ha_mode: local`` (Cloudflare's shape): lists of ``{"address": IP}``
_VIP_LISTS = ("vips", "vips_previous")


def check_ha_config(ha_mode: str, config: object) -> dict | None:
    """``config`` of a ``configurations`` PUT, in Cloudflare's shape or refused: none for ``none`` and
    ``disabled``; for ``local``, ``{"vips": [{"address": IP}], "vips_previous": [...]}`` and nothing
    else (what is stored is answered back, so it must be what clients can read)."""
    from warpcli.core.cidr import parse_address
    from warpcli.core.errors import InvalidInput

    if config is None or config == {}:
        return None
    if ha_mode in ("none", "disabled"):
        raise InvalidInput(f"ha_mode {ha_mode!r} takes no config")
    if not isinstance(config, dict):
        raise InvalidInput("config must be an object")
    unknown = sorted(str(k) for k in config if k not in _VIP_LISTS)
    if unknown or "vips" not in config:
        raise InvalidInput("config of ha_mode 'local' is {\"vips\": [{\"address\": IP}, ...]} "
                           "(and optionally \"vips_previous\")" + (f"; unknown: {unknown[0]!r}" if unknown else ""))
    out: dict = {}
    for key in _VIP_LISTS:
        if key not in config:
            continue
        items = config[key]
        if not isinstance(items, list) or len(items) > 64:
            raise InvalidInput(f"config.{key} must be a list of at most 64 {{\"address\": IP}} objects")
        clean = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"address"} or not isinstance(item["address"], str):
                raise InvalidInput(f"config.{key} must be a list of {{\"address\": IP}} objects")
            parse_address(item["address"])  # one clear line when it is not an IP address
            clean.append({"address": item["address"]})
        out[key] = clean
    return out


@record
class TunnelHa:
    """A tunnel's HA settings, Cloudflare's ``configurations`` object. warpcli's replicas elect
    whatever the mode (the flags of `up` decide); the mode is recorded and answered."""

    tunnel_id: str
    ha_mode: str
    configuration_version: int
    created_at: str
    updated_at: str | None = None
    config: str | None = None  #: the provider settings as JSON text (``local``: ``{"vips": [...]}``)

    def to_dict(self) -> dict:
        import json

        return {"tunnel_id": self.tunnel_id, "ha_mode": self.ha_mode,
                "configuration_version": self.configuration_version, "created_at": self.created_at,
                "updated_at": self.updated_at, "config": json.loads(self.config) if self.config else None}


#: Cloudflare's ``ha_status`` of a replica, from the role the hub hears
HA_STATUS = {"active": "active", "standby": "passive"}


def ha_status(role: str | None, last_seen: str | None, now: datetime | None = None) -> str:
    """``active`` / ``passive`` for a connected replica in that role; ``offline`` otherwise."""
    if role in HA_STATUS and is_connected(last_seen, now):
        return HA_STATUS[role]
    return "offline"
