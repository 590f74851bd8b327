"""The rules of the replicas' data-plane protocol (pure: no sockets, no clock).

A replica's agent sends a :class:`Probe` through the tunnel to the hub every
``PROBE_INTERVAL`` seconds and at once on every role change; the hub answers each
with an :class:`Ack`. The replica counts the hub as lost when no ack came for
``HUB_TIMEOUT``; the hub counts a claim as current for ``CLAIM_TTL``.

The hub gives a tunnel's CIDRs to one replica (:func:`choose_owner`): the current
owner while it still claims ``active``, otherwise the freshest-claiming active
replica with the highest priority (ties: the lowest device address). So two
replicas that both claim ``active`` (split brain on the LAN) never share a CIDR,
and the CIDRs stay where they are while nobody else claims them.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

PORT = 24500  #: UDP, on the hub's device address, inside the tunnel only
PROBE_INTERVAL = 0.1
HUB_TIMEOUT = 1.0  #: no ack for this long: the hub is lost, the replica is unhealthy
CLAIM_TTL = 1.0  #: a claim older than this does not count at the hub
ROLES = ("active", "standby", "fault")
MAX_DATAGRAM = 1024


@dataclass(frozen=True)
class Probe:
    tunnel_id: str
    address: str  #: the replica's device address (also the datagram's source)
    role: str
    priority: int
    seq: int
    promote: int = 0  #: a `ha promote` request's number (0: none); the hub asks the owner to yield
    via: str = ""  #: several hubs: the device address of the hub this connector routes through now

    def encode(self) -> bytes:
        d = {"v": 1, "t": self.tunnel_id, "a": self.address, "r": self.role, "p": self.priority,
             "s": self.seq, "y": self.promote}
        if self.via:
            d["h"] = self.via
        return json.dumps(d, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Ack:
    seq: int
    owner: str | None  #: the device address the hub routes the tunnel's CIDRs to
    yield_to: str | None = None  #: set for the owner when another replica asked to be promoted
    replicas: dict = field(default_factory=dict)  #: address -> [role, priority, seconds since heard]
    draining: bool = False  #: the hub is going down (planned): connectors move to another hub
    #: a failover the controller asked for (``PUT .../failover``): [address to promote, request id];
    #: that replica promotes itself as `warpcli ha promote` would, once per request id
    failover: list | None = None

    def encode(self) -> bytes:
        d: dict[str, object] = {"v": 1, "s": self.seq, "o": self.owner, "g": self.yield_to, "r": self.replicas}
        if self.draining:
            d["d"] = 1
        if self.failover:
            d["f"] = self.failover
        return json.dumps(d, separators=(",", ":")).encode()


def decode_probe(data: bytes) -> Probe | None:
    """A probe, or None for anything malformed (the hub ignores it)."""
    try:
        d = json.loads(data)
        via = str(ipaddress.ip_address(d["h"])) if d.get("h") else ""
        p = Probe(str(d["t"]), str(ipaddress.ip_address(d["a"])), str(d["r"]), int(d["p"]), int(d["s"]),
                  int(d.get("y") or 0), via)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return p if p.role in ROLES and 0 <= p.priority <= 255 else None


def decode_ack(data: bytes) -> Ack | None:
    try:
        d = json.loads(data)
        f = d.get("f")
        failover = [str(f[0]), str(f[1])] if isinstance(f, list) and len(f) == 2 else None
        return Ack(int(d["s"]), d.get("o") if isinstance(d.get("o"), str) else None,
                   d.get("g") if isinstance(d.get("g"), str) else None,
                   d.get("r") if isinstance(d.get("r"), dict) else {}, bool(d.get("d")), failover)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Claim:
    role: str
    priority: int
    seen: float  #: when the hub last heard it (the hub's monotonic clock)


def _address_key(address: str) -> int:
    return int(ipaddress.ip_address(address))


def choose_owner(current: str | None, claims: dict[str, Claim], now: float, ttl: float = CLAIM_TTL) -> str | None:
    """The replica (device address) that gets the tunnel's CIDRs."""
    active = [a for a, c in claims.items() if c.role == "active" and now - c.seen <= ttl]
    if current in active:
        return current
    if active:
        return min(active, key=lambda a: (-claims[a].priority, _address_key(a)))
    return current


def vrid(tunnel_id: str) -> int:
    """The VRRP router id both replicas of a tunnel derive from its id (1..255)."""
    import hashlib

    return hashlib.sha256(tunnel_id.encode()).digest()[0] % 255 + 1
