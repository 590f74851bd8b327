"""The rules of several hubs per vnet (pure: no sockets, no clock).

A connector probes every hub of its vnet through the tunnel (election's Probe, with
``via`` naming the hub it routes through now) and routes through one hub at a time:
:func:`choose_hub` picks the highest-priority hub that answered within ``HUB_LOST``
and is not draining. Each hub gives a tunnel's CIDRs to the connector's own peer
when the connector routes through this hub, else to the peer of the hub it routes
through (:func:`placement`); it learns that from the connector's probes, or, when
the connector cannot reach it, from the other hubs' :class:`Hello` (which lists the
connectors that route through the sender).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

HUB_LOST = 0.5  #: no ack from a hub for this long: the connector moves away from it
VIA_TTL = 1.0  #: a connector's (or another hub's) word on where it routes counts this long
HELLO_INTERVAL = 0.1


@dataclass(frozen=True)
class HubView:
    """A hub as one connector sees it."""

    address: str
    priority: int
    last_ack: float | None  #: monotonic; None: never answered
    draining: bool = False


def _key(address: str) -> int:
    return int(ipaddress.ip_address(address))


def live(h: HubView, now: float, lost: float = HUB_LOST) -> bool:
    return h.last_ack is not None and now - h.last_ack <= lost and not h.draining


def choose_hub(hubs: list[HubView], current: str | None, now: float, *, preempt: bool = True,
               lost: float = HUB_LOST) -> str | None:
    """The hub to route through: the best live one (priority, then lowest address). Without
    preempt a live current hub is kept. Nothing live: stay where we are (a draining hub that
    still answers beats none)."""
    alive = [h for h in hubs if live(h, now, lost)]
    if not alive:
        answering = [h for h in hubs if h.last_ack is not None and now - h.last_ack <= lost]
        if current in {h.address for h in answering} or not answering:
            return current
        alive = answering
    if not preempt and current in {h.address for h in alive}:
        return current
    return min(alive, key=lambda h: (-h.priority, _key(h.address))).address


@dataclass(frozen=True)
class Hello:
    """Hub to hub, every HELLO_INTERVAL: the connectors (device addresses) that route through ``hub``."""

    hub: str
    connectors: tuple[str, ...]
    draining: bool = False

    def encode(self) -> bytes:
        return json.dumps({"v": 1, "k": "hello", "h": self.hub, "c": list(self.connectors),
                           "d": int(self.draining)}, separators=(",", ":")).encode()


def decode_hello(data: bytes) -> Hello | None:
    try:
        d = json.loads(data)
        if not isinstance(d, dict) or d.get("k") != "hello" or not isinstance(d.get("c"), list):
            return None
        return Hello(str(ipaddress.ip_address(d["h"])), tuple(str(ipaddress.ip_address(a)) for a in d["c"]),
                     bool(d.get("d")))
    except (ValueError, KeyError, TypeError):
        return None


def route_via(connector: str, me: str, direct: dict[str, tuple[str, float]], heard: dict[str, tuple[str, float]],
              hubs: set[str], now: float, ttl: float = VIA_TTL) -> str:
    """The hub a connector routes through, as this hub (``me``) knows it: its own fresh word
    (``direct``: address -> (via, seen)), else another hub's fresh hello (``heard``), else this hub."""
    for source in (direct, heard):
        got = source.get(connector)
        if got is not None and now - got[1] <= ttl and (got[0] == me or got[0] in hubs):
            return got[0]
    return me


def placement(owners: dict[str, str], me: str, direct: dict[str, tuple[str, float]],
              heard: dict[str, tuple[str, float]], hubs: set[str], now: float) -> dict[str, str]:
    """tunnel id -> the peer (device address: a connector's or another hub's) that gets its CIDRs."""
    out = {}
    for tunnel, owner in owners.items():
        via = route_via(owner, me, direct, heard, hubs, now)
        out[tunnel] = owner if via == me else via
    return out
