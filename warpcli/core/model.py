"""The model. Field names follow Cloudflare API v4 so every backend returns the same shapes.

``to_dict()`` is the documented JSON shape of each object (docs/json.md): every field of
the record, in the order declared here (the one list of a model's fields); it never
contains a secret.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from warpcli.core.cidr import Network, parse_address, parse_network
from warpcli.core.records import Record, record

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
class Tunnel(Record):
    id: str
    name: str
    account_tag: str
    created_at: str
    status: str = "inactive"
    tun_type: str = TUN_TYPE
    deleted_at: str | None = None



@record
class VirtualNetwork(Record):
    id: str
    name: str
    comment: str
    is_default_network: bool
    created_at: str
    deleted_at: str | None = None



@record
class Route(Record):
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



@record
class Connector(Record):
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



@record
class Hub(Record):
    """The self-hosted edge of one virtual network: where connectors send their traffic."""

    id: str
    virtual_network_id: str
    public_key: str
    endpoint: str  # HOST:PORT that connectors dial
    address: str  # the hub's device address: HUB_ADDRESS for a vnet's first hub, then from the device range
    created_at: str
    updated_at: str
    priority: int = 100  # several hubs per vnet: connectors route through the best one they reach

    @property
    def sort_key(self) -> tuple[int, int]:
        """Connectors prefer the highest priority, then the lowest address."""
        return -self.priority, parse_address(self.address)[1]



#: a vnet's first hub answers on the first address of the device range (each hub has
#: its own interface and table per vnet, so the address never clashes across vnets);
#: further hubs of the vnet take free addresses of the device range, as connectors do
HUB_ADDRESS = "100.96.0.1"
#: a hub's priority when `hub up` names none; connectors use the highest they reach
DEFAULT_HUB_PRIORITY = 100
HUB_PRIORITY_RANGE = (1, 254)


def check_hub_priority(priority: int) -> int:
    """A hub's priority, refused outside 1..254 (the range a replica's priority has)."""
    from warpcli.core.errors import InvalidInput

    lo, hi = HUB_PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not lo <= priority <= hi:
        raise InvalidInput(f"hub priority {priority!r} is out of range", hint=f"{lo}..{hi} (higher wins)")
    return priority


def best_hub(hubs: list[Hub]) -> Hub | None:
    """The hub connectors prefer when every hub answers: highest priority, then lowest address."""
    return min(hubs, key=lambda h: h.sort_key) if hubs else None


#: the tunnel MTU of a connector and of a hub when none is given (fits IPv6 paths with WireGuard's overhead)
DEFAULT_MTU = 1280


@record
class RouteFilter:
    """The filters of ``GET teamnet/routes``; ``None`` means "any".

    ``network_subset``: only routes contained in this network.
    ``network_superset``: only routes that contain this network (an IP is a /32 or /128).
    ``is_deleted``: False (default) hides deleted routes, True shows only those, None both.
    Both network filters take a Network or its text (``"10.0.0.0/8"``; an address for the superset).
    """

    tunnel_id: str | None = None
    virtual_network_id: str | None = None
    network_subset: Network | None = None
    network_superset: Network | None = None
    comment: str | None = None
    is_deleted: bool | None = False
    route_id: str | None = None

    def __init__(self, tunnel_id: str | None = None, virtual_network_id: str | None = None,
                 network_subset: Network | str | None = None, network_superset: Network | str | None = None,
                 comment: str | None = None, is_deleted: bool | None = False, route_id: str | None = None) -> None:
        from warpcli.core.cidr import parse_address_or_network

        if isinstance(network_subset, str):
            network_subset = parse_network(network_subset)
        if isinstance(network_superset, str):
            network_superset = parse_address_or_network(network_superset)
        for name, value in (("tunnel_id", tunnel_id), ("virtual_network_id", virtual_network_id),
                            ("network_subset", network_subset), ("network_superset", network_superset),
                            ("comment", comment), ("is_deleted", is_deleted), ("route_id", route_id)):
            object.__setattr__(self, name, value)
