"""The control-plane interface every backend implements.

Method names and arguments follow Cloudflare API v4: ``warp_connector`` tunnels,
``teamnet/routes`` and ``teamnet/virtual_networks``. A ``virtual_network_id`` of
``None`` always means the account's default virtual network.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from warpcli.core.cidr import Network
from warpcli.core.liveness import ConnectorReport, FailoverRequest, TunnelHa
from warpcli.core.model import Connector, Hub, Route, RouteFilter, Tunnel, VirtualNetwork
from warpcli.core.records import record

if TYPE_CHECKING:
    from warpcli.core.policies import PolicySpec


@record
class RouteSpec:
    """A route to create in bulk; ``row`` is its line in the input, for error reports."""

    network: Network
    tunnel_id: str
    virtual_network_id: str
    comment: str = ""
    row: int = 0


class Controller(ABC):
    """A control plane: tunnels, virtual networks and the gateway route table."""

    kind: str = "abstract"
    #: ``import_routes`` commits all rows at once (a Ctrl-C before the commit leaves nothing)
    atomic_import: bool = False

    # -- tunnels (warp_connector) ------------------------------------------------
    @abstractmethod
    def create_tunnel(self, name: str) -> Tunnel:
        """Create a tunnel and its token; raise Conflict if the name is taken."""

    @abstractmethod
    def list_tunnels(self, *, name: str | None = None, is_deleted: bool | None = False) -> list[Tunnel]: ...

    @abstractmethod
    def get_tunnel(self, tunnel_id: str) -> Tunnel:
        """Raise NotFound for an unknown (or deleted) id."""

    @abstractmethod
    def delete_tunnel(self, tunnel_id: str, *, force: bool = False) -> Tunnel:
        """Refuse (Conflict) while routes point at it, unless ``force`` deletes them too."""

    @abstractmethod
    def get_tunnel_token(self, tunnel_id: str) -> str: ...

    def update_tunnel(self, tunnel_id: str, *, name: str | None = None) -> Tunnel:
        """Rename a live tunnel; Conflict if another live tunnel has the name (as on create).

        Concrete so that a backend without renames still loads; every shipped one overrides it.
        """
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller cannot rename a tunnel")

    # -- virtual networks -------------------------------------------------------
    @abstractmethod
    def create_virtual_network(
        self, name: str, *, comment: str = "", is_default: bool = False
    ) -> VirtualNetwork: ...

    @abstractmethod
    def list_virtual_networks(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        is_default: bool | None = None,
        is_deleted: bool | None = False,
    ) -> list[VirtualNetwork]: ...

    @abstractmethod
    def update_virtual_network(
        self,
        vnet_id: str,
        *,
        name: str | None = None,
        comment: str | None = None,
        is_default: bool | None = None,
    ) -> VirtualNetwork: ...

    @abstractmethod
    def delete_virtual_network(self, vnet_id: str, *, force: bool = False) -> VirtualNetwork:
        """Refuse the default vnet, and a vnet with routes unless ``force``."""

    # -- routes (teamnet/routes) ------------------------------------------------
    @abstractmethod
    def create_route(
        self,
        network: Network | str,
        tunnel_id: str,
        *,
        virtual_network_id: str | None = None,
        comment: str = "",
    ) -> Route:
        """Raise Conflict (with ``existing``) when the CIDR is already in that vnet."""

    @abstractmethod
    def list_routes(self, flt: RouteFilter = RouteFilter()) -> Iterator[Route]: ...

    @abstractmethod
    def update_route(
        self,
        route_id: str,
        *,
        network: Network | str | None = None,
        tunnel_id: str | None = None,
        virtual_network_id: str | None = None,
        comment: str | None = None,
    ) -> Route: ...

    @abstractmethod
    def delete_route(self, route_id: str) -> Route: ...

    def get_route(self, route_id: str) -> Route:
        """One live route by id (with its names); NotFound otherwise. Backends may do better."""
        from warpcli.core.errors import NotFound

        for r in self.list_routes(RouteFilter(route_id=route_id)):
            if r.id == route_id:
                return r
        raise NotFound(f"no route with id {route_id}")

    @abstractmethod
    def get_route_by_ip(
        self, version: int, address: int, *, virtual_network_id: str | None = None
    ) -> Route | None:
        """Longest-prefix match within one vnet; ``None`` when nothing covers the IP."""

    # -- connectors and hubs (enrollment; a warpcli extension) ---------------------
    @abstractmethod
    def verify_tunnel_token(self, token: str) -> Tunnel:
        """The tunnel a token belongs to; InvalidInput for a malformed or wrong token."""

    @abstractmethod
    def register_connector(
        self, tunnel_id: str, public_key: str, *, virtual_network_id: str | None = None,
        tunnel_token: bool = False, version: str | None = None,
    ) -> Connector:
        """Enroll a host's public key; allocate its device address. Idempotent per key.
        ``version``: the host's warpcli version, recorded with it.

        ``tunnel_token``: the caller holds only the tunnel's token, so the tunnel may join
        only a virtual network where it has a route (with no route at all, the default
        one); AuthError otherwise. A hub's public key is refused (Conflict)."""

    @abstractmethod
    def list_connectors(
        self, *, tunnel_id: str | None = None, virtual_network_id: str | None = None
    ) -> list[Connector]: ...

    @abstractmethod
    def delete_connector(self, connector_id: str) -> Connector: ...

    @abstractmethod
    def register_hub(self, public_key: str, endpoint: str, *, virtual_network_id: str | None = None,
                     priority: int | None = None) -> Hub:
        """Create or update one hub of a vnet; a vnet may have several.

        The hub with this public key, else the one at this endpoint (a hub host that
        made a new key), is updated in place; otherwise a hub is added. ``priority``
        None keeps the hub's priority (DEFAULT_HUB_PRIORITY for a new one)."""

    @abstractmethod
    def get_hub(self, virtual_network_id: str | None = None) -> Hub:
        """The vnet's preferred hub (highest priority, then lowest address): what a client
        that knows one hub gets. NotFound when the vnet has no hub yet."""

    def list_hubs(self, virtual_network_id: str | None = None) -> list[Hub]:
        """Every hub of the vnet, preferred first (empty when it has none)."""
        from warpcli.core.errors import NotFound

        try:
            return [self.get_hub(virtual_network_id)]
        except NotFound:
            return []

    @abstractmethod
    def delete_hub(self, virtual_network_id: str | None = None, *, hub_id: str | None = None) -> Hub:
        """Remove the hub ``hub_id`` of the vnet; without it, the vnet's only hub (Conflict
        when it has several: say which)."""

    # -- what runs: the hub's reports and HA (core.liveness) -------------------------------
    # Concrete so that a backend without them still loads; they never move state_version.
    def report_connectors(self, virtual_network_id: str | None,
                          reports: Iterable[ConnectorReport]) -> list[FailoverRequest]:
        """Record what the hub of a vnet knows of its connectors (latest handshake, HA role);
        answer the failover requests pending for that vnet, for the hub to carry out."""
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller takes no reports from a hub")

    def request_failover(self, tunnel_id: str, connector_id: str) -> FailoverRequest:
        """Ask for a replica of a tunnel to become its active one (Cloudflare's ``failover``)."""
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller cannot fail a tunnel over")

    def get_tunnel_ha(self, tunnel_id: str) -> TunnelHa:
        """A tunnel's HA settings (Cloudflare's ``configurations``)."""
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller keeps no HA settings")

    def set_tunnel_ha(self, tunnel_id: str, ha_mode: str, config: dict | None = None) -> TunnelHa:
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller keeps no HA settings")

    def list_replicas(self, tunnel_id: str) -> list[Connector]:
        """A tunnel's replicas with their roles; on a controller that enrolls hosts, its connectors."""
        return self.list_connectors(tunnel_id=tunnel_id)

    def create_ha_tunnel(self, name: str) -> Tunnel:
        """Create a tunnel meant for replicas (Cloudflare: ``ha: true``; its ``ha_mode`` is ``none``)."""
        t = self.create_tunnel(name)
        self.set_tunnel_ha(t.id, "none")
        return t

    # -- network policies (a warpcli extension; see core/policies.py) ----------------
    def get_policy(self, virtual_network_id: str) -> PolicySpec:
        """The vnet's policy; a vnet that never had one: default allow, no rules, revision 0."""
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller does not store network policies")

    def get_policy_document(self, virtual_network_id: str) -> dict:
        """The policy as its JSON document (``default``, ``rules`` as dicts, ``revision``):
        what ``policy test`` reads, without building a rule object per rule."""
        return self.get_policy(virtual_network_id).to_dict()

    def put_policy(self, virtual_network_id: str, policy: PolicySpec) -> PolicySpec:
        """Replace the vnet's policy if its stored revision is still ``policy.revision``
        (Conflict "changed meanwhile" otherwise); the stored policy, its revision moved on."""
        from warpcli.core.errors import NotSupported

        raise NotSupported(f"the {self.kind} controller does not store network policies")

    def list_routes_json(self, flt: RouteFilter = RouteFilter()) -> Iterator[str]:
        """Each route as JSON text, the shape of :meth:`Route.to_dict`.

        Backends that can encode natively override this; ``routes --json`` uses it.
        """
        from warpcli.core.jsontext import compact_encoder

        encode = compact_encoder()
        for r in self.list_routes(flt):
            yield encode(r.to_dict())

    def route_page_json(
        self, flt: RouteFilter, offset: int, limit: int, *, drop_nulls: bool = False
    ) -> tuple[list[str], int]:
        """Routes ``offset`` to ``offset + limit`` of :meth:`list_routes` as JSON text, and
        how many routes match in all (what one page of a paginated API answers).

        The shape is :meth:`Route.to_dict`'s; ``drop_nulls`` leaves out members whose
        value is null, as the Cloudflare API does. This default reads the whole stream;
        backends that can count and seek override it, so that a page deep in a listing
        costs what the first one does.
        """
        from warpcli.core.jsontext import compact_encoder

        encode = compact_encoder()
        page, total = [], 0
        for r in self.list_routes(flt):
            if offset <= total < offset + limit:
                d = r.to_dict()
                page.append(encode({k: v for k, v in d.items() if v is not None} if drop_nulls else d))
            total += 1
        return page, total

    def route_entries(self, virtual_network_id: str | None = None) -> Iterator[tuple]:
        """Live routes as ``(id, network, version, lo, prefixlen, tunnel_id, vnet_id)``.

        The compact form the overlap sweep reads; backends may stream it faster than
        building :class:`Route` objects.
        """
        for r in self.list_routes(RouteFilter(virtual_network_id=virtual_network_id)):
            n = r.net
            yield r.id, r.network, n.version, n.value, n.prefixlen, r.tunnel_id, r.virtual_network_id

    def route_rows(self) -> Iterator[tuple]:
        """Every live route as ``(id, network, version, lo, prefixlen, tunnel_id, vnet_id, comment)``.

        What ``export`` and ``apply`` read: the whole table, no names resolved. Backends
        may stream it faster than building :class:`Route` objects.
        """
        for r in self.list_routes():
            n = r.net
            yield r.id, r.network, n.version, n.value, n.prefixlen, r.tunnel_id, r.virtual_network_id, r.comment

    def route_networks(self, virtual_network_id: str, *, except_tunnel: str | None = None) -> list[str]:
        """The CIDR text of every live route of a vnet, less those of ``except_tunnel``: what a
        connector routes to the hub (``up`` and each reconcile of ``up --follow`` read it).
        Backends may read it in one query."""
        return [e[1] for e in self.route_entries(virtual_network_id) if e[5] != except_tunnel]

    def transaction(self) -> AbstractContextManager[bool]:
        """A block whose writes commit together or not at all; yields whether it can promise that.

        ``apply`` runs in one. The default promises nothing (yields False): a remote API
        has no transactions, so ``apply`` undoes what it did instead.
        """
        return nullcontext(False)

    def import_routes(self, specs: Iterable[RouteSpec], *, rejected: list[dict] | None = None) -> int:
        """Create many routes all-or-nothing; raise BulkImportError listing every conflict.

        ``rejected``: the rows the caller refused while producing ``specs`` (it may
        grow as they are consumed; ``bulk.ImportPlan``). Given, even empty, it makes
        the import fail as "bad rows" when it holds any row or two rows name the same
        (vnet, network), listing those with the clashes; without it, repeats are
        conflicts. The default goes one by one; backends with transactions override it.
        """
        from warpcli.core.bulk import refuse_bad_rows

        specs = list(specs)  # every row is checked before the first route is created
        refuse_bad_rows(self, specs, rejected)
        n = 0
        for spec in specs:
            self.create_route(
                spec.network,
                spec.tunnel_id,
                virtual_network_id=spec.virtual_network_id,
                comment=spec.comment,
            )
            n += 1
        return n

    def state_version(self, virtual_network_id: str | None = None) -> str:
        """A value that changes whenever the vnet's routes, connectors or hub change.

        ``up --follow`` polls it and reconciles only when it moves. The default is a
        fingerprint of exactly what a reconcile reads; backends with a change counter
        may answer more cheaply.
        """
        import hashlib

        from warpcli.core.errors import NotFound, NotSupported

        if virtual_network_id is None:  # the default vnet (a RouteFilter's None would mean "every vnet")
            default = self.list_virtual_networks(is_default=True)
            virtual_network_id = default[0].id if default else ""
        h = hashlib.sha256()
        flt = RouteFilter(virtual_network_id=virtual_network_id)
        for r in sorted(self.list_routes(flt), key=lambda r: r.id):
            h.update(f"r {r.id} {r.network} {r.tunnel_id}\n".encode())
        for c in sorted(self.list_connectors(virtual_network_id=virtual_network_id), key=lambda c: c.id):
            h.update(f"c {c.id} {c.public_key} {c.address}\n".encode())
        try:
            hubs = self.list_hubs(virtual_network_id)
        except (NotFound, NotSupported):
            hubs = []
        for hub in hubs:
            h.update(f"h {hub.public_key} {hub.endpoint} {hub.address} {hub.priority}\n".encode())
        if not hubs:
            h.update(b"h -\n")
        try:
            policy = self.get_policy(virtual_network_id)
            h.update(f"p {policy.revision} {policy.document()}\n".encode())
        except (NotFound, NotSupported):
            h.update(b"p -\n")
        return h.hexdigest()

    def token_home(self) -> str:
        """Where this controller keeps tunnel tokens, as a phrase for messages ("in the OS keyring")."""
        return f"by the {self.kind} controller"

    def warpcli_server(self) -> dict | None:
        """The health answer of the warpcli server this controller talks to (``controller serve``),
        or None: the embedded controller and Cloudflare itself are not one."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook: most controllers hold nothing to release
        """Release connections; the controller is not used afterwards."""

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
