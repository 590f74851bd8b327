"""Kernel objects as plain values (pure: no pyroute2). :mod:`netlink` returns them,
:mod:`plan` diffs them. Constructors canonicalise (CIDR text, default metric), so
two values that mean the same kernel object compare equal."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from warpcli.core.cidr import parse_network
from warpcli.host.constants import MAIN_TABLE, ROUTE_PROTO

#: what the kernel stores when a route is added without a metric
DEFAULT_METRIC = {4: 0, 6: 1024}


def _ip(text: str | None) -> str | None:
    return None if text is None else str(ipaddress.ip_address(text))


def family_of(cidr_or_ip: str) -> int:
    return 6 if ":" in cidr_or_ip else 4


@dataclass(frozen=True, order=True)
class Address:
    """An interface address, e.g. ``100.96.0.2/12`` on ``wg0`` (host bits allowed, as ``ip addr``)."""

    ifname: str
    address: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", str(ipaddress.ip_interface(self.address)))

    @property
    def family(self) -> int:
        return family_of(self.address)

    @property
    def network(self) -> str:
        return str(ipaddress.ip_interface(self.address).network)

    def describe(self) -> str:
        return f"address {self.address} dev {self.ifname}"


@dataclass(frozen=True)
class KernelRoute:
    """A unicast (or blackhole/unreachable/...) route in one table."""

    dst: str
    table: int = MAIN_TABLE
    ifname: str | None = None
    gateway: str | None = None
    metric: int | None = None
    proto: int = ROUTE_PROTO
    type: str = "unicast"
    prefsrc: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dst", str(parse_network(self.dst)))
        object.__setattr__(self, "gateway", _ip(self.gateway))
        object.__setattr__(self, "prefsrc", _ip(self.prefsrc))
        if self.metric is None:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.family])

    @classmethod
    def from_kernel(cls, dst: str, table: int, ifname: str | None, gateway: str | None, metric: int | None,
                    proto: int, type: str, prefsrc: str | None) -> KernelRoute:
        """A route as a route dump reports it (addresses from ``inet_ntop``, no host bits): the
        same value as the constructor gives, without parsing every address again (10,000 per
        ``up``). IPv6 text with a dotted quad (which ``inet_ntop`` and Python write differently)
        takes the constructor."""
        for text in (dst, gateway, prefsrc):
            if text and "." in text and ":" in text:
                return cls(dst, table, ifname, gateway, metric, proto, type, prefsrc)
        r = object.__new__(cls)
        if metric is None:
            metric = DEFAULT_METRIC[6 if ":" in dst else 4]
        r.__dict__.update(dst=dst, table=table, ifname=ifname, gateway=gateway, metric=metric, proto=proto,
                          type=type, prefsrc=prefsrc)
        return r

    @property
    def family(self) -> int:
        return family_of(self.dst)

    @property
    def key(self) -> tuple:
        """What the kernel identifies a route by (two routes with one key cannot coexist)."""
        return (self.family, self.table, self.dst, self.metric)

    def sort_key(self) -> tuple:
        net = parse_network(self.dst)
        return (self.family, self.table, net.value, net.prefixlen, self.metric)

    def describe(self) -> str:
        parts = [f"route {self.dst}" if self.type == "unicast" else f"route {self.type} {self.dst}"]
        if self.gateway:
            parts.append(f"via {self.gateway}")
        if self.ifname:
            parts.append(f"dev {self.ifname}")
        if self.prefsrc:
            parts.append(f"src {self.prefsrc}")
        parts.append(f"table {'main' if self.table == MAIN_TABLE else self.table}")
        if self.metric != DEFAULT_METRIC[self.family]:
            parts.append(f"metric {self.metric}")
        return " ".join(parts)


#: the rule actions warpcli uses, by their rtnetlink numbers (``FR_ACT_*``)
RULE_ACTIONS = {"lookup": 1, "unreachable": 7}


@dataclass(frozen=True)
class KernelRule:
    """A policy routing rule: ``lookup TABLE``, or (``action="unreachable"``, ``table`` 0) the
    end of the lookup for what it matches. ``oifname``: packets of sockets bound to that
    interface (a connector sharing its host with another vnet's routes its probes so)."""

    priority: int
    table: int
    family: int = 4
    suppress_prefixlength: int | None = None
    iifname: str | None = None
    src: str | None = None
    dst: str | None = None
    fwmark: int | None = None
    proto: int = ROUTE_PROTO
    oifname: str | None = None
    action: str = "lookup"

    def __post_init__(self) -> None:
        if self.family not in (4, 6):
            raise ValueError(f"rule family must be 4 or 6, not {self.family!r}")
        if self.action not in RULE_ACTIONS:
            raise ValueError(f"rule action must be one of {sorted(RULE_ACTIONS)}, not {self.action!r}")
        for name in ("src", "dst"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, str(parse_network(value)))

    def sort_key(self) -> tuple:
        return (self.family, self.priority, self.table, repr(self))

    def describe(self) -> str:
        parts = [f"rule{'' if self.family == 4 else ' -6'} {self.priority}:"]
        parts.append(f"from {self.src or 'all'}")
        if self.dst:
            parts.append(f"to {self.dst}")
        if self.iifname:
            parts.append(f"iif {self.iifname}")
        if self.oifname:
            parts.append(f"oif {self.oifname}")
        if self.fwmark is not None:
            parts.append(f"fwmark {self.fwmark:#x}")
        if self.action == "lookup":
            parts.append(f"lookup {'main' if self.table == MAIN_TABLE else self.table}")
        else:
            parts.append(self.action)
        if self.suppress_prefixlength is not None:
            parts.append(f"suppress_prefixlength {self.suppress_prefixlength}")
        return " ".join(parts)


def table_rules(suppress_priority: int, table_priority: int, table: int) -> list[KernelRule]:
    """The rule pair in front of one of warpcli's tables, for IPv4 and IPv6:
    ``lookup main suppress_prefixlength 0`` first (the host's own specific routes win),
    then ``lookup TABLE``."""
    return [
        rule
        for family in (4, 6)
        for rule in (
            KernelRule(suppress_priority, MAIN_TABLE, family, suppress_prefixlength=0),
            KernelRule(table_priority, table, family),
        )
    ]


@dataclass(frozen=True)
class LinkState:
    """Settings of an existing link; ``None`` means "not managed" in a desired state."""

    ifname: str
    mtu: int | None = None
    up: bool | None = None

    def describe(self) -> str:
        parts = [f"link {self.ifname}"]
        if self.mtu is not None:
            parts.append(f"mtu {self.mtu}")
        if self.up is not None:
            parts.append("up" if self.up else "down")
        return " ".join(parts)


@dataclass(frozen=True)
class Sysctl:
    key: str
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", str(self.value).strip())

    def describe(self) -> str:
        return f"sysctl {self.key}={self.value}"


@dataclass(frozen=True)
class LinkInfo:
    """What :meth:`warpcli.host.routing.netlink.Netlink.links` reports about a link."""

    index: int
    ifname: str
    kind: str | None
    mtu: int
    up: bool


@dataclass
class HostState:
    """A set of kernel objects: what ``up`` wants (desired) or what warpcli finds it owns (observed)."""

    addresses: list[Address] = field(default_factory=list)
    links: list[LinkState] = field(default_factory=list)
    routes: list[KernelRoute] = field(default_factory=list)
    rules: list[KernelRule] = field(default_factory=list)
    sysctls: list[Sysctl] = field(default_factory=list)


@dataclass(frozen=True)
class RouteResult:
    """What the kernel said to one route of a batch (netlink.py and rtnl_batch.py both answer with it)."""

    route: KernelRoute
    error: str | None = None  #: the kernel's reason, None when the route went in
    errno: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
