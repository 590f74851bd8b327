"""The local table: static routes on a host that does not use the connector as its gateway.

"On each host in that subnet, add a static route to the remote networks via the
connector." warpcli keeps these routes in its own table (``LOCAL_TABLE``), tagged
with its protocol number, behind two rules of its own: ``lookup main
suppress_prefixlength 0`` first (every specific route of the host wins), then
``lookup LOCAL_TABLE``. The rules come with the first local route and go with the
last, so a host without local routes carries nothing of warpcli's.
"""

from __future__ import annotations

from dataclasses import dataclass

from warpcli.core.cidr import parse_address, parse_network
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.host.constants import ROUTE_PROTO
from warpcli.host.model import KernelRoute, KernelRule, table_rules
from warpcli.host.routing.plan import find_shadowing

LOCAL_TABLE = 24501
PRIORITY_LOCAL_SUPPRESS_MAIN = 24501
PRIORITY_LOCAL_TABLE = 24511


def local_rules() -> list[KernelRule]:
    return table_rules(PRIORITY_LOCAL_SUPPRESS_MAIN, PRIORITY_LOCAL_TABLE, LOCAL_TABLE)


@dataclass(frozen=True)
class LocalRoute:
    network: str
    via: str | None
    dev: str | None

    def to_dict(self) -> dict:
        return {"network": self.network, "via": self.via, "dev": self.dev, "table": "local"}


def _as_local(r: KernelRoute) -> LocalRoute:
    return LocalRoute(r.dst, r.gateway, r.ifname)


def list_local(netns: str | None = None) -> list[LocalRoute]:
    from warpcli.host.routing.netlink import Netlink

    with Netlink(netns) as nl:
        return [_as_local(r) for r in sorted(nl.routes(table=LOCAL_TABLE, proto=ROUTE_PROTO), key=KernelRoute.sort_key)]


def _is_own_address(nl, ip: str) -> bool:
    return parse_address(ip) in {parse_address(a.address.partition("/")[0]) for a in nl.addresses()}


def plan_add(cidr: str, *, via: str | None, dev: str | None, netns: str | None = None) -> tuple[KernelRoute, list[str]]:
    """The route to add and the plan lines; refuses what would lock the host out."""
    from warpcli.host.routing.netlink import Netlink

    net = parse_network(cidr)
    if via is not None:
        version, _ = parse_address(via)
        if version != net.version:
            raise InvalidInput(f"--via {via} is not an IPv{net.version} address like {net}")
    route = KernelRoute(str(net), table=LOCAL_TABLE, gateway=via, ifname=None if via else dev)
    with Netlink(netns) as nl:
        if via is not None and _is_own_address(nl, via):  # the kernel takes it; the traffic goes nowhere
            raise InvalidInput(f"--via {via} is this host's own address",
                               hint="give the connector's address in this subnet: the next hop, not this host")
        connected = nl.connected_networks()
        shadow = find_shadowing([str(net)], connected=connected)
        if shadow:
            raise Conflict(
                f"refused: {shadow[0].message()}",
                hint="a local route must not capture this host's own networks or its default route",
            )
        existing = [r for r in nl.routes(table=LOCAL_TABLE, proto=ROUTE_PROTO) if r.dst == route.dst]
        have_rules = set(nl.rules(proto=ROUTE_PROTO))
    if existing:
        if existing[0].gateway == route.gateway and (via or existing[0].ifname == route.ifname):
            return route, []
        raise Conflict(f"{net} already has a local route via {existing[0].gateway or existing[0].ifname}",
                       hint="delete it first with `warpcli route delete CIDR --table local`")
    lines = [f"+ {r.describe()}" for r in local_rules() if r not in have_rules]
    lines.insert(0, f"+ {route.describe()}")
    return route, lines


def add(cidr: str, *, via: str | None, dev: str | None, dry_run: bool = False,
        netns: str | None = None) -> tuple[LocalRoute, list[str]]:
    """Install one local route (and the two rules, the first time); all or nothing."""
    from warpcli.host.routing.kernel import KernelExecutor
    from warpcli.host.routing.plan import Action, apply

    route, lines = plan_add(cidr, via=via, dev=dev, netns=netns)
    if dry_run or not lines:
        return _as_local(route), lines
    with KernelExecutor(netns) as executor:
        have = set(executor.nl.rules(proto=ROUTE_PROTO))
        actions = [Action("add", route)] + [Action("add", r) for r in local_rules() if r not in have]
        apply(actions, executor)
    return _as_local(route), lines


def delete(cidr: str, *, netns: str | None = None) -> tuple[LocalRoute, list[str]]:
    from warpcli.host.routing.netlink import Netlink

    net = parse_network(cidr)
    with Netlink(netns) as nl:
        found = [r for r in nl.routes(table=LOCAL_TABLE, proto=ROUTE_PROTO) if r.dst == str(net)]
        if not found:
            raise NotFound(f"no local route for {net}", hint="see `warpcli routes --table local`")
        lines = []
        for r in found:
            nl.delete_route(r, missing_ok=True)
            lines.append(f"- {r.describe()}")
        if not nl.routes(table=LOCAL_TABLE, proto=ROUTE_PROTO):
            for rule in [r for r in nl.rules(proto=ROUTE_PROTO) if r in set(local_rules())]:
                nl.delete_rule(rule, missing_ok=True)
                lines.append(f"- {rule.describe()}")
    return _as_local(found[0]), lines


def host_networks(netns: str | None = None) -> list[str]:
    """This host's directly connected networks, without loopback and link-local ones."""
    from warpcli.host.routing.netlink import Netlink

    with Netlink(netns) as nl:
        return [n for n in nl.connected_networks()
                if not (n.startswith("127.") or n == "::1/128" or n.startswith("fe80:"))]
