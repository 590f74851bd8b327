"""What the commands do, on top of any controller: name resolution, defaults, lookups, reports.

The CLI calls these and renders what they return; library users can call them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from warpcli.core.cidr import Network, parse_address, parse_network
from warpcli.core.controller import Controller
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.core.model import Connector, Route, RouteFilter, Tunnel, VirtualNetwork, is_uuid
from warpcli.core.names import normalize_name
from warpcli.core.records import replace

if TYPE_CHECKING:  # the overlap engine loads only for the commands that use it
    from warpcli.core.overlap_view import OverlapView
    from warpcli.core.overlaps import OverlapReport

ALL = "all"


def _choices(names: list[str]) -> str:
    if not names:
        return "there are none yet"
    shown = ", ".join(names[:20])
    return f"choose one of: {shown}" + (f" (and {len(names) - 20} more)" if len(names) > 20 else "")


# -- resolution -------------------------------------------------------------------
def resolve_tunnel(ctrl: Controller, ref: str) -> Tunnel:
    """A tunnel by id or by name."""
    if is_uuid(ref):
        try:
            return ctrl.get_tunnel(ref.lower())
        except NotFound:
            pass
    found = ctrl.list_tunnels(name=normalize_name(ref))
    if found:
        return found[0]
    raise NotFound(f"no tunnel named {ref!r}", hint=_choices([t.name for t in ctrl.list_tunnels()]))


def resolve_vnet(ctrl: Controller, ref: str | None) -> VirtualNetwork:
    """A virtual network by id or name; ``None`` is the default one."""
    if ref is None:
        found = ctrl.list_virtual_networks(is_default=True)
        if not found:
            raise NotFound("there is no default virtual network")
        return found[0]
    if is_uuid(ref):
        found = ctrl.list_virtual_networks(id=ref.lower())
        if found:
            return found[0]
    found = ctrl.list_virtual_networks(name=normalize_name(ref))
    if found:
        return found[0]
    raise NotFound(
        f"no virtual network named {ref!r}", hint=_choices([v.name for v in ctrl.list_virtual_networks()])
    )


def default_tunnel(ctrl: Controller, enrolled_tunnel_id: str | None) -> Tunnel:
    """The tunnel ``route add`` uses without ``--tunnel``: this host's, else the only one."""
    if enrolled_tunnel_id:
        try:
            return ctrl.get_tunnel(enrolled_tunnel_id)
        except NotFound:
            pass
    tunnels = ctrl.list_tunnels()
    if len(tunnels) == 1:
        return tunnels[0]
    if not tunnels:
        raise NotFound("there are no tunnels yet", hint="create one with `warpcli tunnel create NAME`")
    raise InvalidInput("several tunnels exist; say which with --tunnel", hint=_choices([t.name for t in tunnels]))


# -- creation ---------------------------------------------------------------------
T = TypeVar("T")


@dataclass(frozen=True)
class Created(Generic[T]):
    """The result of an idempotent create: the object, and whether this call made it."""

    obj: T
    created: bool


def create_tunnel(ctrl: Controller, name: str, *, if_not_exists: bool = False, ha: bool = False) -> Created[Tunnel]:
    """``ha``: a tunnel meant for replicas (Cloudflare's ``ha: true``; its ``ha_mode`` is ``none``)."""
    try:
        return Created(ctrl.create_ha_tunnel(name) if ha else ctrl.create_tunnel(name), True)
    except Conflict as exc:
        if if_not_exists and isinstance(exc.existing, Tunnel):
            return Created(exc.existing, False)
        raise


def create_vnet(
    ctrl: Controller, name: str, *, comment: str = "", is_default: bool = False, if_not_exists: bool = False
) -> Created[VirtualNetwork]:
    try:
        return Created(ctrl.create_virtual_network(name, comment=comment, is_default=is_default), True)
    except Conflict as exc:
        if if_not_exists and isinstance(exc.existing, VirtualNetwork):
            return Created(exc.existing, False)
        raise


@dataclass(frozen=True)
class RouteAdded:
    route: Route
    created: bool
    #: routes of the same vnet that contain or are contained in the new one (a heads-up, not an error)
    related: list[Route]


def add_route(
    ctrl: Controller,
    network: str,
    *,
    tunnel: str | None = None,
    vnet: str | None = None,
    comment: str = "",
    if_not_exists: bool = False,
    enrolled_tunnel_id: str | None = None,
) -> RouteAdded:
    net = parse_network(network)
    t = resolve_tunnel(ctrl, tunnel) if tunnel else default_tunnel(ctrl, enrolled_tunnel_id)
    v = resolve_vnet(ctrl, vnet)
    try:
        route = ctrl.create_route(net, t.id, virtual_network_id=v.id, comment=comment)
        created = True
    except Conflict as exc:
        existing = exc.existing
        if not (if_not_exists and isinstance(existing, Route) and existing.tunnel_id == t.id):
            raise
        route, created = existing, False
    related = [
        r
        for flt in (RouteFilter(virtual_network_id=v.id, network_superset=net),
                    RouteFilter(virtual_network_id=v.id, network_subset=net))
        for r in ctrl.list_routes(flt)
        if r.id != route.id
    ]
    return RouteAdded(route, created, related)


# -- deletion ---------------------------------------------------------------------
def find_route(ctrl: Controller, ref: str, vnet: str | None = None) -> Route:
    """A live route by id, or by CIDR within a vnet (default vnet unless named)."""
    if is_uuid(ref):
        found = list(ctrl.list_routes(RouteFilter(route_id=ref.lower())))
        if found:
            return found[0]
        raise NotFound(f"no route with id {ref}")
    net = parse_network(ref)
    v = resolve_vnet(ctrl, vnet)
    for r in ctrl.list_routes(RouteFilter(virtual_network_id=v.id, network_subset=net)):
        if r.network == str(net):
            return r
    raise NotFound(f"no route for {net} in virtual network {v.name!r}")


# -- queries ----------------------------------------------------------------------
def parse_filter_network(text: str, option: str) -> Network:
    try:
        return parse_network(text)
    except InvalidInput as exc:
        raise InvalidInput(f"{option}: {exc.message}", hint=exc.hint) from None


def route_filter(
    ctrl: Controller,
    *,
    vnet: str | None = None,
    tunnel: str | None = None,
    contains: str | None = None,
    within: str | None = None,
    comment: str | None = None,
) -> RouteFilter:
    """Turn the user's filter options into a controller filter (names resolved, CIDRs parsed)."""
    return RouteFilter(
        virtual_network_id=resolve_vnet(ctrl, vnet).id if vnet else None,
        tunnel_id=resolve_tunnel(ctrl, tunnel).id if tunnel else None,
        network_superset=parse_filter_network(contains, "--contains") if contains else None,
        network_subset=parse_filter_network(within, "--within") if within else None,
        comment=comment,
    )


@dataclass(frozen=True)
class Lookup:
    """The answer to "which tunnel has a route to IP?" in one virtual network."""

    ip: str
    virtual_network: VirtualNetwork
    route: Route | None

    def to_dict(self) -> dict[str, Any]:
        """The lookup result of docs/json.md (`route get --json`)."""
        return {
            "ip": self.ip,
            "virtual_network_id": self.virtual_network.id,
            "virtual_network_name": self.virtual_network.name,
            "route": self.route.to_dict() if self.route else None,
        }


def lookup(ctrl: Controller, ip: str, vnet: str | None = None) -> list[Lookup]:
    """Longest-prefix match in one vnet (the default unless named), or in each with ``"all"``."""
    version, address = parse_address(ip)
    vnets = ctrl.list_virtual_networks() if vnet == ALL else [resolve_vnet(ctrl, vnet)]
    return [
        Lookup(ip, v, ctrl.get_route_by_ip(version, address, virtual_network_id=v.id)) for v in vnets
    ]


class RouteRef(NamedTuple):
    """What the overlap report says of one route.

    A named tuple rather than a dataclass: the report holds one per route (a million
    at the design point), and a named tuple is built in one C call (``tuple.__new__``,
    a quarter of a frozen dataclass's cost) and is smaller.
    """

    id: str
    network: str
    tunnel_id: str
    virtual_network_id: str


def overlaps(ctrl: Controller, vnet: str | None = None) -> OverlapReport[RouteRef]:
    """Nested routes per vnet and CIDRs present in several vnets, by one sweep."""
    return _overlaps_in(ctrl, resolve_vnet(ctrl, vnet).id if vnet else None)


def _overlaps_in(ctrl: Controller, vnet_id: str | None) -> OverlapReport[RouteRef]:
    from warpcli.core.overlaps import overlap_report

    new = tuple.__new__  # RouteRef(...) goes through a Python-level __new__: twice the cost
    entries = (
        (vid, version, lo, plen, new(RouteRef, (rid, network, tid, vid)))
        for rid, network, version, lo, plen, tid, vid in ctrl.route_entries(vnet_id)
    )
    return overlap_report(entries)


def connected_overlaps(ctrl: Controller, connected: list[str], vnet: str | None = None) -> list[dict]:
    """Gateway routes that contain or lie inside one of ``connected`` (this host's networks).

    Two indexed queries per connected network (routes inside it, routes containing it),
    never a pass over the whole table; each route once per connected network, in
    listing order.
    """
    return _connected_in(ctrl, connected, resolve_vnet(ctrl, vnet).id if vnet else None)


def _connected_in(ctrl: Controller, connected: list[str], vnet_id: str | None) -> list[dict]:
    hits = []
    for c in connected:
        net = parse_network(c)
        found: dict[str, Route] = {}
        for flt in (RouteFilter(virtual_network_id=vnet_id, network_superset=net),
                    RouteFilter(virtual_network_id=vnet_id, network_subset=net)):
            for route in ctrl.list_routes(flt):
                found.setdefault(route.id, route)
        hits += [
            {"connected": str(net), "id": r.id, "network": r.network, "tunnel_name": r.tunnel_name,
             "virtual_network_name": r.virtual_network_name}
            for r in found.values()
        ]
    return hits


def overlap_view(ctrl: Controller, vnet: str | None = None,
                 host_networks: Callable[[], list[str]] = list) -> OverlapView:
    """The overlap report, and the routes over this host's networks, in its JSON shapes.

    ``host_networks`` is called once ``vnet`` is known to exist, so a wrong name is the
    only thing reported.
    """
    from warpcli.core.overlap_view import OverlapView

    vnet_id = resolve_vnet(ctrl, vnet).id if vnet else None
    connected = host_networks()
    report = _overlaps_in(ctrl, vnet_id)
    tunnels = {t.id: t.name for t in ctrl.list_tunnels()}
    listed = sorted(ctrl.list_virtual_networks(), key=lambda v: (not v.is_default_network, v.name))
    vnets = {v.id: v.name for v in listed}
    return OverlapView(report, tunnels, vnets, _connected_in(ctrl, connected, vnet_id))


# -- connectors (enrolled hosts) --------------------------------------------------------
def list_connectors(ctrl: Controller, *, tunnel: str | None = None, vnet: str | None = None) -> list[Connector]:
    """Enrolled connectors, by tunnel then address; ``tunnel``/``vnet`` are names or ids."""
    tunnel_id = resolve_tunnel(ctrl, tunnel).id if tunnel is not None else None
    vnet_id = resolve_vnet(ctrl, vnet).id if vnet is not None else None
    found = ctrl.list_connectors(tunnel_id=tunnel_id, virtual_network_id=vnet_id)
    names = {t.id: t.name for t in ctrl.list_tunnels()} if any(c.tunnel_name is None for c in found) else {}
    out = [c if c.tunnel_name is not None else replace(c, tunnel_name=names.get(c.tunnel_id)) for c in found]
    return sorted(out, key=lambda c: (c.tunnel_name or "", parse_address(c.address), c.id))


def tunnel_replicas(ctrl: Controller, tunnel: Tunnel) -> list[Connector]:
    """The tunnel's connectors (its replicas), by address, with what the hubs reported of them."""
    found = ctrl.list_replicas(tunnel.id)
    return sorted((c if c.tunnel_name else replace(c, tunnel_name=tunnel.name) for c in found),
                  key=lambda c: (parse_address(c.address) if c.address else (0, 0), c.id))


def failover(ctrl: Controller, tunnel: str, replica: str, *, timeout: float = 0.0,
             poll: float = 0.5) -> Connector:
    """Ask the controller to make ``replica`` (id or device address) the tunnel's active one; with a
    ``timeout``, wait (polling) until the hubs report it active, else Conflict."""
    import time

    t = resolve_tunnel(ctrl, tunnel)
    found = [c for c in ctrl.list_replicas(t.id) if replica.lower() in (c.id, c.address)]
    if not found:
        raise NotFound(f"tunnel {t.name!r} has no replica {replica!r}",
                       hint=f"`warpcli tunnel show {t.name}` lists them")
    ctrl.request_failover(t.id, found[0].id)
    deadline = time.monotonic() + timeout
    while timeout > 0:
        now = [c for c in ctrl.list_replicas(t.id) if c.id == found[0].id]
        if now and now[0].role == "active":
            return now[0]
        if time.monotonic() >= deadline:
            raise Conflict(f"the failover to {found[0].address or found[0].id} was asked for, but it was not "
                           f"reported active within {timeout:g} s",
                           hint="the hub passes it on at its next poll (`hub up --follow`); see `warpcli tunnel show`")
        time.sleep(poll)
    return found[0]


def find_connector(ctrl: Controller, ref: str) -> Connector:
    """A connector by id or by device address (``100.96.0.2``)."""
    connectors = ctrl.list_connectors()
    by_id = [c for c in connectors if c.id == ref.lower()]
    if by_id:
        return by_id[0]
    try:
        address = parse_address(ref)
    except InvalidInput:
        address = None
    by_address = [c for c in connectors if address is not None and parse_address(c.address) == address]
    if by_address:
        return by_address[0]
    raise NotFound(f"no connector with id or address {ref!r}",
                   hint="`warpcli connector list` shows them" if connectors else "no connector is enrolled")


# -- updates and re-runnable deletes ---------------------------------------------------
def update_route(
    ctrl: Controller, ref: str, *, vnet: str | None = None, network: str | None = None, tunnel: str | None = None,
    comment: str | None = None,
) -> Route:
    """Change a route in place (its CIDR, tunnel or comment); the id stays. ``ref`` is an id, or a
    CIDR within ``vnet``. Nothing to change is refused, so a typo in a flag is not a silent success."""
    if network is None and tunnel is None and comment is None:
        raise InvalidInput("nothing to change", hint="give --network, --tunnel or --comment")
    route = find_route(ctrl, ref, vnet)
    return ctrl.update_route(
        route.id,
        network=parse_network(network) if network is not None else None,
        tunnel_id=resolve_tunnel(ctrl, tunnel).id if tunnel is not None else None,
        comment=comment,
    )


class Deleted(NamedTuple, Generic[T]):
    """What a delete removed: the object (None when ``--if-exists`` found nothing), and how many
    routes went with it (``--force``)."""

    obj: T | None
    routes: int = 0


def _routes_of(ctrl: Controller, flt: RouteFilter) -> int:
    return sum(1 for _ in ctrl.list_routes(flt))


def _found(find: Callable[[], T], if_exists: bool) -> T | None:
    """``find()``, or None when it finds nothing and ``if_exists`` makes that a success."""
    try:
        return find()
    except NotFound:
        if if_exists:
            return None
        raise


def delete_tunnel(ctrl: Controller, ref: str, *, force: bool = False, if_exists: bool = False) -> Deleted[Tunnel]:
    tunnel = _found(lambda: resolve_tunnel(ctrl, ref), if_exists)
    if tunnel is None:
        return Deleted(None)
    routes = _routes_of(ctrl, RouteFilter(tunnel_id=tunnel.id)) if force else 0
    return Deleted(ctrl.delete_tunnel(tunnel.id, force=force), routes)


def delete_vnet(ctrl: Controller, ref: str, *, force: bool = False, if_exists: bool = False) -> Deleted[VirtualNetwork]:
    vnet = _found(lambda: resolve_vnet(ctrl, ref), if_exists)
    if vnet is None:
        return Deleted(None)
    routes = _routes_of(ctrl, RouteFilter(virtual_network_id=vnet.id)) if force else 0
    return Deleted(ctrl.delete_virtual_network(vnet.id, force=force), routes)


def delete_route(ctrl: Controller, ref: str, vnet: str | None = None, *, if_exists: bool = False) -> Deleted[Route]:
    route = _found(lambda: find_route(ctrl, ref, vnet), if_exists)
    return Deleted(None if route is None else ctrl.delete_route(route.id))


def delete_connector(ctrl: Controller, ref: str, *, if_exists: bool = False) -> Deleted[Connector]:
    connector = _found(lambda: find_connector(ctrl, ref), if_exists)
    return Deleted(None if connector is None else ctrl.delete_connector(connector.id))
