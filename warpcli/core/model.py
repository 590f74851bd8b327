"""The model. Field names follow Cloudflare API v4 so every backend returns the same shapes.

``to_dict()`` is the documented JSON shape of each object (docs/json.md); it never
contains a secret.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from warpcli.core.cidr import Network, parse_network
from warpcli.core.records import record

TUN_TYPE = "warp_connector"
DEVICE_RANGE = "100.96.0.0/12"


def utcnow() -> str:
    """Now as RFC 3339 with microseconds and a ``Z``, as Cloudflare writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A random (version 4) UUID in its canonical text form.

    Built from ``os.urandom`` directly: the ``uuid`` module costs start-up time and
    bulk imports create a million of these.
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_HEX = frozenset("0123456789abcdefABCDEF")


def is_uuid(text: str) -> bool:
    """True for the 36-character hyphenated form, which is how ids are written.

    (No regex: compiling one costs more start-up time than this check ever takes.)
    """
    return (
        len(text) == 36
        and text[8] == text[13] == text[18] == text[23] == "-"
        and _HEX.issuperset(text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:])
    )


@record
class Tunnel:
    id: str
    name: str
    account_tag: str
    created_at: str
    status: str = "inactive"
    tun_type: str = TUN_TYPE
    deleted_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "account_tag": self.account_tag,
            "tun_type": self.tun_type,
            "status": self.status,
            "created_at": self.created_at,
            "deleted_at": self.deleted_at,
        }


@record
class VirtualNetwork:
    id: str
    name: str
    comment: str
    is_default_network: bool
    created_at: str
    deleted_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "comment": self.comment,
            "is_default_network": self.is_default_network,
            "created_at": self.created_at,
            "deleted_at": self.deleted_at,
        }


@record
class Route:
    id: str
    network: str
    tunnel_id: str
    virtual_network_id: str
    comment: str
    created_at: str
    tunnel_name: str | None = None
    virtual_network_name: str | None = None
    tun_type: str = TUN_TYPE
    deleted_at: str | None = None

    @property
    def net(self) -> Network:
        return parse_network(self.network)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "network": self.network,
            "tunnel_id": self.tunnel_id,
            "tunnel_name": self.tunnel_name,
            "tun_type": self.tun_type,
            "virtual_network_id": self.virtual_network_id,
            "virtual_network_name": self.virtual_network_name,
            "comment": self.comment,
            "created_at": self.created_at,
            "deleted_at": self.deleted_at,
        }


@record
class Connector:
    """An enrolled host: the public half of its WireGuard key and its device address."""

    id: str
    tunnel_id: str
    virtual_network_id: str
    public_key: str
    address: str  # in DEVICE_RANGE, e.g. "100.96.0.2"
    created_at: str
    tunnel_name: str | None = None
    last_seen: str | None = None
    deleted_at: str | None = None
    #: what the hub and the connector report (core.liveness); none of it moves the state version
    version: str | None = None  #: the connector's warpcli version (at enrollment, or as last reported)
    role: str | None = None  #: a replica's HA role as the hub hears it: active, standby or fault
    priority: int | None = None  #: a replica's HA priority as the hub hears it
    role_changed_at: str | None = None  #: when the hub saw that role start

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tunnel_id": self.tunnel_id,
            "tunnel_name": self.tunnel_name,
            "virtual_network_id": self.virtual_network_id,
            "public_key": self.public_key,
            "address": self.address,
            "created_at": self.created_at,
            "last_seen": self.last_seen,
            "deleted_at": self.deleted_at,
            "version": self.version,
            "role": self.role,
            "priority": self.priority,
            "role_changed_at": self.role_changed_at,
        }


@record
class Hub:
    """The self-hosted edge of one virtual network: where connectors send their traffic."""

    id: str
    virtual_network_id: str
    public_key: str
    endpoint: str  # HOST:PORT that connectors dial
    address: str  # the hub's device address, HUB_ADDRESS
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "virtual_network_id": self.virtual_network_id,
            "public_key": self.public_key,
            "endpoint": self.endpoint,
            "address": self.address,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


#: every hub answers on the first address of the device range (one hub per vnet,
#: each with its own interface and table, so the address never clashes)
HUB_ADDRESS = "100.96.0.1"


@record
class RouteFilter:
    """The filters of ``GET teamnet/routes``; ``None`` means "any".

    ``network_subset``: only routes contained in this network.
    ``network_superset``: only routes that contain this network (an IP is a /32 or /128).
    ``is_deleted``: False (default) hides deleted routes, True shows only those, None both.
    """

    tunnel_id: str | None = None
    virtual_network_id: str | None = None
    network_subset: Network | None = None
    network_superset: Network | None = None
    comment: str | None = None
    is_deleted: bool | None = False
    route_id: str | None = None
