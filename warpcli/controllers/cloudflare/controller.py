"""The control plane on Cloudflare's API v4 (or any server of the same dialect).

Endpoints: ``warp_connector`` (tunnels), ``teamnet/routes`` and
``teamnet/virtual_networks``; the deprecated ``teamnet/routes/network/{cidr}`` ones are
never used. The same model objects come back as from the embedded controller, so the
CLI cannot tell the two apart. Rules the embedded controller enforces in its
transaction (a tunnel with routes is not deleted without ``force``; one route per CIDR
and vnet) are checked here before the call, and the server's own answer still counts.

Creates are reconciled: when a POST times out or fails with a 5xx, the object may
exist all the same, so the controller looks it up by its natural key (tunnel name, vnet
name, CIDR in a vnet) before it sends the POST again. A pipeline never gets two
tunnels of the same name.

Connectors and hubs exist only on a served warpcli controller (``warpcli controller
serve``), through its documented extension (docs/controller-api.md). The controller
asks the server once whether it is one (``GET /warpcli/health``, no token); against
Cloudflare those methods keep saying that Cloudflare's edge is the hub.

Network policies go to the served controller's extension too; against Cloudflare they
become Zero Trust Gateway network rules (``.../gateway/rules``, mapped by ``gateway.py``).

Built with a tunnel's token instead of an API token (``tunnel_id=``), the controller can
do what a connector host needs and nothing else: verify its token, list the virtual
networks it may join, enroll, and read its vnet's hub and routes (``up``, ``status``).
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from warpcli.controllers.cloudflare import shapes
from warpcli.controllers.cloudflare.transport import ApiClient, ApiTimeout, ServerError, path_segment
from warpcli.core import conflicts
from warpcli.core.cidr import Network, as_network
from warpcli.core.controller import Controller, RouteSpec
from warpcli.core.errors import (
    AuthError,
    BulkImportError,
    Conflict,
    InvalidInput,
    NotFound,
    NotSupported,
    Unavailable,
    WarpcliError,
)
from warpcli.core.model import TUN_TYPE, Connector, Hub, Route, RouteFilter, Tunnel, VirtualNetwork
from warpcli.core.names import MAX_VNET_COMMENT, validate_comment, validate_name

if TYPE_CHECKING:
    from warpcli.core.policies import PolicySpec

T = TypeVar("T")

#: Cloudflare's own API: never asked whether it is a warpcli server
CLOUDFLARE_HOST = "api.cloudflare.com"
#: how many times a create is sent at most (the first try and one after reconciling)
CREATE_ATTEMPTS = 2

_HUB_HINT = (
    "with the cloudflare controller Cloudflare's edge is the hub; "
    "enroll hosts with `warpcli enroll`, which runs Cloudflare's warp-cli"
)


def valid_account_id(account_id: str) -> str:
    """Cloudflare account ids are 32 hex digits; anything else never reaches a URL."""
    a = account_id.strip().lower()
    if len(a) != 32 or any(c not in "0123456789abcdef" for c in a):
        raise InvalidInput(f"{account_id!r} is not a Cloudflare account id (32 hex digits)")
    return a


class CloudflareController(Controller):
    kind = "cloudflare"
    secrets = None  # tokens stay on Cloudflare: `tunnel token` fetches them

    def __init__(self, client: ApiClient, account_id: str, *, tunnel_id: str | None = None) -> None:
        """``tunnel_id``: the client authenticates with this tunnel's token (see the module doc)."""
        self.client = client
        self.account_id = valid_account_id(account_id)
        self.tunnel_id = tunnel_id
        self._base = f"/accounts/{self.account_id}"
        self._tunnel_names: dict[str, str] = {}
        self._vnet_names: dict[str, str] = {}
        self._health: dict[str, Any] | None = None  #: the warpcli server's health answer
        self._asked = False
        self._fingerprinting = False  #: inside state_version (Cloudflare): a policy it may not read is none

    def warpcli_server(self) -> dict[str, Any] | None:
        """The server's health answer when it is a warpcli controller, else None (Cloudflare).

        Asked once per controller, without a token. Cloudflare's own API is never asked;
        any other 4xx answer means "not a warpcli server"; an unreachable server is an error.
        """
        if not self._asked and urlsplit(self.client.base_url).hostname != CLOUDFLARE_HOST:
            try:
                result = self.client.call("GET", "/warpcli/health", authenticated=False).get("result")
            except (NotFound, AuthError, InvalidInput, Conflict):
                result = None
            if isinstance(result, dict) and isinstance(result.get("warpcli"), str):
                self._health = result
        self._asked = True
        return self._health

    def _extension(self, what: str) -> str:
        """The extension's base path; NotSupported (with the hint) when the server is Cloudflare."""
        if self.warpcli_server() is None:
            raise NotSupported(f"the cloudflare controller {what}", hint=_HUB_HINT)
        return "/warpcli"

    def _own(self) -> str:
        """``/warpcli/tunnels/{id}`` of the tunnel whose token this controller holds."""
        assert self.tunnel_id is not None
        return f"/warpcli/tunnels/{path_segment(self.tunnel_id)}"

    def close(self) -> None:
        self.client.close()

    # -- helpers --------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self.client.call(method, self._base + path, **kw).get("result")

    def _create(self, path: str, body: dict[str, Any], find: Callable[[], T | None]) -> Any:
        """POST, reconciling an unclear outcome (timeout, 5xx) by looking for the object first."""
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return self._call("POST", path, body=body)
            except Unavailable as exc:
                if isinstance(exc, (ApiTimeout, ServerError)):
                    found = find()
                    if found is not None:
                        return found
                    if attempt < CREATE_ATTEMPTS:
                        continue
                raise
        raise AssertionError("unreachable")

    def _remember(self, t: Tunnel) -> Tunnel:
        self._tunnel_names[t.id] = t.name
        return t

    def _names(self) -> tuple[dict[str, str], dict[str, str]]:
        """Tunnel and vnet names by id, for routes whose responses lack them."""
        if not self._vnet_names:
            for v in self.list_virtual_networks(is_deleted=None):
                self._vnet_names[v.id] = v.name
        return self._tunnel_names, self._vnet_names

    def _route(self, obj: Any) -> Route:
        """A route with its names; a name neither the answer nor the caches have is looked up once."""
        r = shapes.route(obj, tunnel_names=self._tunnel_names, vnet_names=self._vnet_names)
        if r.tunnel_name is not None and r.virtual_network_name is not None:
            return r
        if r.tunnel_name is None:
            try:
                self.get_tunnel(r.tunnel_id)
            except NotFound:
                pass
        if r.virtual_network_name is None:
            self._vnet_names.clear()
            self._names()
        return shapes.route(obj, tunnel_names=self._tunnel_names, vnet_names=self._vnet_names)

    # -- tunnels ----------------------------------------------------------------------
    def create_tunnel(self, name: str) -> Tunnel:
        name = validate_name("tunnel", name)
        live = self.list_tunnels()  # one listing for both checks: the same name, and one that looks the same
        existing = [t for t in live if t.name == name]
        if existing:
            raise conflicts.tunnel_name_taken(existing[0])
        conflicts.name_looks_taken("tunnel", name, (t.name for t in live))

        def find() -> dict | None:
            found = self.list_tunnels(name=name)
            return found[0].to_dict() if found else None

        try:
            obj = self._create("/warp_connector", {"name": name}, find)
        except Conflict:
            found = self.list_tunnels(name=name)
            if found:  # created by someone else in between
                raise conflicts.tunnel_name_taken(found[0]) from None
            raise
        return self._remember(shapes.tunnel(obj))

    def list_tunnels(self, *, name: str | None = None, is_deleted: bool | None = False) -> list[Tunnel]:
        if self.tunnel_id is not None:  # a tunnel token sees its own tunnel, nothing else
            own = [] if is_deleted else [self._own_tunnel()]
            return [t for t in own if name is None or t.name == name]
        out = [
            self._remember(shapes.tunnel(o))
            for o in self.client.pages(f"{self._base}/warp_connector", {"name": name, "is_deleted": is_deleted})
        ]
        if name is not None:  # the server's name filter is authoritative, but be exact
            out = [t for t in out if t.name == name]
        return sorted(out, key=lambda t: (t.name, t.created_at))

    def get_tunnel(self, tunnel_id: str) -> Tunnel:
        if self.tunnel_id is not None and tunnel_id == self.tunnel_id:
            return self._own_tunnel()
        t = shapes.tunnel(self._call("GET", f"/warp_connector/{path_segment(tunnel_id)}"))
        if t.deleted_at:
            raise NotFound(f"no tunnel with id {tunnel_id}")
        return self._remember(t)

    def update_tunnel(self, tunnel_id: str, *, name: str | None = None) -> Tunnel:
        """``PATCH .../warp_connector/{id}`` with the new name; the name is checked free first."""
        tunnel = self.get_tunnel(tunnel_id)
        if name is None:
            return tunnel
        name = validate_name("tunnel", name)
        if name == tunnel.name:
            return tunnel
        others = [t for t in self.list_tunnels() if t.id != tunnel.id]  # the same name, or one that looks it
        clash = [t for t in others if t.name == name]
        if clash:
            raise conflicts.tunnel_name_taken(clash[0])
        conflicts.name_looks_taken("tunnel", name, (t.name for t in others))
        try:
            obj = self._call("PATCH", f"/warp_connector/{path_segment(tunnel.id)}", body={"name": name})
        except Conflict:
            clash = [t for t in self.list_tunnels(name=name) if t.id != tunnel.id]
            if clash:  # renamed or created by someone else in between
                raise conflicts.tunnel_name_taken(clash[0]) from None
            raise
        self._tunnel_names.pop(tunnel.id, None)
        return self._remember(shapes.tunnel(obj))

    def delete_tunnel(self, tunnel_id: str, *, force: bool = False) -> Tunnel:
        tunnel = self.get_tunnel(tunnel_id)
        routes = list(self.list_routes(RouteFilter(tunnel_id=tunnel.id)))
        if routes and not force:
            raise conflicts.tunnel_has_routes(tunnel.name, len(routes))
        for r in routes:
            self.delete_route(r.id)
        obj = self._call("DELETE", f"/warp_connector/{path_segment(tunnel.id)}", body={})
        return shapes.tunnel(obj) if isinstance(obj, dict) and obj.get("id") else tunnel

    def get_tunnel_token(self, tunnel_id: str) -> str:
        token = self._call("GET", f"/warp_connector/{path_segment(tunnel_id)}/token")
        if not isinstance(token, str) or not token:
            raise Unavailable("the API returned no tunnel token")
        return token

    # -- virtual networks -------------------------------------------------------------
    def create_virtual_network(self, name: str, *, comment: str = "", is_default: bool = False) -> VirtualNetwork:
        name = validate_name("virtual network", name)
        validate_comment(comment, MAX_VNET_COMMENT)
        live = self.list_virtual_networks()  # one listing for the same name and one that looks the same
        existing = [v for v in live if v.name == name]
        if existing:
            raise conflicts.vnet_name_taken(existing[0])
        conflicts.name_looks_taken("virtual network", name, (v.name for v in live))

        def find() -> dict | None:
            found = self.list_virtual_networks(name=name)
            return found[0].to_dict() if found else None

        # `is_default` is the schema's name; cloudflared sends `is_default_network`: send both
        body = {"name": name, "comment": comment, "is_default": is_default, "is_default_network": is_default}
        v = shapes.virtual_network(self._create("/teamnet/virtual_networks", body, find))
        self._vnet_names[v.id] = v.name
        return v

    def list_virtual_networks(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        is_default: bool | None = None,
        is_deleted: bool | None = False,
    ) -> list[VirtualNetwork]:
        if self.tunnel_id is not None:  # a tunnel token: the live vnets it may join (no filters)
            result = [] if is_deleted else self._call("GET", f"{self._own()}/virtual_networks") or []
        else:
            params = {"id": id, "name": name, "is_default": is_default, "is_deleted": is_deleted}
            result = self._call("GET", "/teamnet/virtual_networks", params=params) or []
        out = [shapes.virtual_network(o) for o in result]
        for v in out:
            self._vnet_names[v.id] = v.name
        # be exact whatever the server's filters do
        out = [
            v for v in out
            if (id is None or v.id == id)
            and (name is None or v.name == name)
            and (is_default is None or v.is_default_network == is_default)
            and (is_deleted is None or bool(v.deleted_at) == is_deleted)
        ]
        return sorted(out, key=lambda v: (not v.is_default_network, v.name))

    def _live_vnet(self, vnet_id: str) -> VirtualNetwork:
        """``GET .../virtual_networks/{id}`` (a tunnel token may not: it looks in the vnets it may join)."""
        if self.tunnel_id is not None:
            found = self.list_virtual_networks(id=vnet_id)
            if not found:
                raise NotFound(f"no virtual network with id {vnet_id}")
            return found[0]
        v = shapes.virtual_network(self._call("GET", f"/teamnet/virtual_networks/{path_segment(vnet_id)}"))
        if v.deleted_at:
            raise NotFound(f"no virtual network with id {vnet_id}")
        self._vnet_names[v.id] = v.name
        return v

    def update_virtual_network(
        self,
        vnet_id: str,
        *,
        name: str | None = None,
        comment: str | None = None,
        is_default: bool | None = None,
    ) -> VirtualNetwork:
        vnet = self._live_vnet(vnet_id)
        if name is not None:
            name = validate_name("virtual network", name)
            others = [v for v in self.list_virtual_networks() if v.id != vnet.id]
            clash = [v for v in others if v.name == name]
            if clash:
                raise conflicts.vnet_name_taken(clash[0])
            conflicts.name_looks_taken("virtual network", name, (v.name for v in others))
        if comment is not None:
            validate_comment(comment, MAX_VNET_COMMENT)
        if is_default is False and vnet.is_default_network:
            raise conflicts.default_vnet_required(vnet.name)
        body = {"name": name, "comment": comment, "is_default_network": is_default}
        self._call("PATCH", f"/teamnet/virtual_networks/{path_segment(vnet.id)}",
                   body={k: v for k, v in body.items() if v is not None})
        self._vnet_names.clear()
        return self._live_vnet(vnet.id)

    def delete_virtual_network(self, vnet_id: str, *, force: bool = False) -> VirtualNetwork:
        vnet = self._live_vnet(vnet_id)
        if vnet.is_default_network:
            raise conflicts.default_vnet_undeletable(vnet.name)
        n = sum(1 for _ in self.list_routes(RouteFilter(virtual_network_id=vnet.id)))
        if n and not force:
            raise conflicts.vnet_in_use(vnet.name, [f"{n} route(s)"])
        obj = self._call(
            "DELETE", f"/teamnet/virtual_networks/{path_segment(vnet.id)}",
            params={"force": True} if force else None, body={},
        )
        out = shapes.virtual_network(obj) if isinstance(obj, dict) and obj.get("id") else vnet
        return out if out.deleted_at else _deleted(out)

    # -- routes -----------------------------------------------------------------------
    def _vnet_id(self, virtual_network_id: str | None) -> VirtualNetwork:
        if virtual_network_id is None:
            found = self.list_virtual_networks(is_default=True)
            if not found:
                raise NotFound("there is no default virtual network")
            return found[0]
        return self._live_vnet(virtual_network_id)

    def _exact_route(self, vnet_id: str, net: Network) -> Route | None:
        text = str(net)
        for r in self.list_routes(RouteFilter(virtual_network_id=vnet_id, network_subset=net,
                                              network_superset=net)):
            if r.network == text:
                return r
        return None

    def create_route(
        self,
        network: Network | str,
        tunnel_id: str,
        *,
        virtual_network_id: str | None = None,
        comment: str = "",
    ) -> Route:
        network = as_network(network)
        validate_comment(comment)
        tunnel = self.get_tunnel(tunnel_id)
        vnet = self._vnet_id(virtual_network_id)
        existing = self._exact_route(vnet.id, network)
        if existing is not None:
            raise conflicts.route_taken(existing, vnet.name)

        def find() -> dict | None:
            r = self._exact_route(vnet.id, network)
            return r.to_dict() if r is not None and r.tunnel_id == tunnel.id else None

        body = {"network": str(network), "tunnel_id": tunnel.id, "virtual_network_id": vnet.id, "comment": comment}
        try:
            obj = self._create("/teamnet/routes", body, find)
        except (Conflict, InvalidInput):
            found = self._exact_route(vnet.id, network)
            if found is not None:  # Cloudflare answers some duplicates with a 400
                raise conflicts.route_taken(found, vnet.name) from None
            raise
        return self._route(obj)

    def list_routes(self, flt: RouteFilter = RouteFilter()) -> Iterator[Route]:
        if self.tunnel_id is not None:
            yield from self._peer_routes(flt)
            return
        for o in self._route_objects(flt):
            yield self._route(o)

    def _route_objects(self, flt: RouteFilter) -> Iterator[Any]:
        """The API's route objects for a filter, page by page."""
        params = {
            "tunnel_id": flt.tunnel_id,
            "virtual_network_id": flt.virtual_network_id,
            "network_subset": str(flt.network_subset) if flt.network_subset is not None else None,
            "network_superset": str(flt.network_superset) if flt.network_superset is not None else None,
            "comment": flt.comment,
            "is_deleted": flt.is_deleted,  # omitted (None) means both live and deleted, as in the API
            "route_id": flt.route_id,
        }
        self._names()
        yield from self.client.pages(f"{self._base}/teamnet/routes", params)

    def list_routes_json(self, flt: RouteFilter = RouteFilter()) -> Iterator[str]:
        """``Route.to_dict()`` of each route as JSON text, built from the API's objects
        without a :class:`Route` in between where the object is complete (the usual
        case); anything else goes the way :meth:`list_routes` goes."""
        from warpcli.core.jsontext import compact_encoder

        if self.tunnel_id is not None:
            yield from super().list_routes_json(flt)
            return
        encode = compact_encoder()
        for o in self._route_objects(flt):
            get = o.get if type(o) is dict else None
            if get is None or not (type(get("id")) is str and type(get("network")) is str
                                   and type(get("tunnel_id")) is str
                                   and get("tunnel_name") and get("virtual_network_name")):
                yield encode(self._route(o).to_dict())
                continue
            vid, comment, created, tun_type = get("virtual_network_id"), get("comment"), get("created_at"), get("tun_type")
            yield encode({  # Route.to_dict(): its fields, in their order (a test holds the two together)
                "id": o["id"], "network": o["network"], "tunnel_id": o["tunnel_id"],
                "virtual_network_id": "" if vid is None else vid,
                "comment": "" if comment is None else comment, "created_at": "" if created is None else created,
                "tunnel_name": o["tunnel_name"], "virtual_network_name": o["virtual_network_name"],
                "tun_type": TUN_TYPE if tun_type is None else tun_type,
                "deleted_at": get("deleted_at") or None,
            })

    def route_entries(self, virtual_network_id: str | None = None) -> Iterator[tuple]:
        """The overlap sweep's rows, read off the API's objects (no :class:`Route` in between)."""
        if self.tunnel_id is not None:
            yield from super().route_entries(virtual_network_id)
            return
        from warpcli.core.cidr import parse_network

        for o in self._route_objects(RouteFilter(virtual_network_id=virtual_network_id)):
            get = o.get if type(o) is dict else None
            if get is None or not (type(get("id")) is str and type(get("network")) is str
                                   and type(get("tunnel_id")) is str):
                r = self._route(o)  # raises on a malformed object, as list_routes does
                rid, network, tid, vid = r.id, r.network, r.tunnel_id, r.virtual_network_id
            else:
                rid, network, tid = o["id"], o["network"], o["tunnel_id"]
                vid = get("virtual_network_id") or ""
            n = parse_network(network)
            yield rid, network, n.version, n.value, n.prefixlen, tid, vid

    def update_route(
        self,
        route_id: str,
        *,
        network: Network | str | None = None,
        tunnel_id: str | None = None,
        virtual_network_id: str | None = None,
        comment: str | None = None,
    ) -> Route:
        network = None if network is None else as_network(network)
        if comment is not None:
            validate_comment(comment)
        current = self.get_route(route_id)
        if tunnel_id is not None:
            self.get_tunnel(tunnel_id)
        vnet = self._vnet_id(virtual_network_id or current.virtual_network_id)
        net = network or current.net
        clash = self._exact_route(vnet.id, net)
        if clash is not None and clash.id != route_id:
            raise conflicts.route_taken(clash, vnet.name)
        body = {
            "network": str(network) if network is not None else None,
            "tunnel_id": tunnel_id,
            "virtual_network_id": virtual_network_id,
            "comment": comment,
        }
        self._call("PATCH", f"/teamnet/routes/{path_segment(route_id)}",
                   body={k: v for k, v in body.items() if v is not None})
        return self.get_route(route_id)

    def get_route(self, route_id: str) -> Route:
        """``GET .../teamnet/routes/{id}`` (a tunnel token looks in its vnet's routes instead)."""
        if self.tunnel_id is not None:
            return super().get_route(route_id)
        r = self._route(self._call("GET", f"/teamnet/routes/{path_segment(route_id)}"))
        if r.deleted_at:
            raise NotFound(f"no route with id {route_id}")
        return r

    def delete_route(self, route_id: str) -> Route:
        current = self.get_route(route_id)
        obj = self._call("DELETE", f"/teamnet/routes/{path_segment(route_id)}")
        deleted = self._route(obj) if isinstance(obj, dict) and obj.get("id") else current
        if deleted.tunnel_name is None or deleted.virtual_network_name is None:
            deleted = _with_names(deleted, current)
        return deleted if deleted.deleted_at else _deleted(deleted)

    def get_route_by_ip(
        self, version: int, address: int, *, virtual_network_id: str | None = None
    ) -> Route | None:
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        ip = socket.inet_ntop(family, address.to_bytes(4 if version == 4 else 16, "big"))
        vnet = self._vnet_id(virtual_network_id)
        if self.tunnel_id is not None:  # a tunnel token: the longest prefix among the peers' routes
            probe = Network(version, address, 32 if version == 4 else 128)
            found = list(self._peer_routes(RouteFilter(virtual_network_id=vnet.id, network_superset=probe)))
            return max(found, key=lambda r: r.net.prefixlen, default=None)
        try:
            obj = self._call("GET", f"/teamnet/routes/ip/{path_segment(ip)}",
                             params={"virtual_network_id": vnet.id})
        except NotFound:
            return None
        if not isinstance(obj, dict) or not obj.get("id"):
            return None
        return self._route(obj)

    # -- bulk -------------------------------------------------------------------------
    def import_routes(self, specs: Iterable[RouteSpec], *, rejected: list[dict] | None = None) -> int:
        """Check every row against the account's routes first; undo what was made if a call fails.

        The API has no transactions or bulk endpoint: this is all-or-nothing as far as a
        client can make it. The rows are already resolved (``bulk.ImportPlan``), so each
        is one POST; Cloudflare's rate limit (429) paces a large import.
        """
        from warpcli.core.bulk import refuse_bad_rows

        specs = list(specs)
        refuse_bad_rows(self, specs, rejected)
        have = {(r.virtual_network_id, r.network): r for r in self.list_routes()}
        problems = []
        for s in specs:
            r = have.get((s.virtual_network_id, str(s.network)))
            if r is not None:
                problems.append({
                    "row": s.row, "network": str(s.network),
                    "reason": f"already routed in {r.virtual_network_name!r} through {r.tunnel_name!r} (route {r.id})",
                })
        if problems:
            raise BulkImportError(
                f"import refused: {len(problems)} conflicting row(s); nothing was imported", problems, conflict=True
            )
        made: list[str] = []
        try:
            for s in specs:
                body = {"network": str(s.network), "tunnel_id": s.tunnel_id,
                        "virtual_network_id": s.virtual_network_id, "comment": s.comment}
                obj = self._create("/teamnet/routes", body, partial(self._found_spec, s))
                made.append(obj["id"] if isinstance(obj, dict) else "")
        except WarpcliError as exc:
            undone = 0
            for rid in reversed(made):
                try:
                    self._call("DELETE", f"/teamnet/routes/{path_segment(rid)}")
                    undone += 1
                except WarpcliError:
                    pass
            left = len(made) - undone
            exc.message += (
                f" (import stopped; the {undone} route(s) it had created were deleted again"
                + (f"; {left} could not be deleted" if left else "") + ")"
            )
            raise
        return len(made)

    def _found_spec(self, s: RouteSpec) -> dict | None:
        r = self._exact_route(s.virtual_network_id, s.network)
        return r.to_dict() if r is not None and r.tunnel_id == s.tunnel_id else None

    def _served_version(self, virtual_network_id: str | None) -> str:
        """The version endpoint of a warpcli server: one request."""
        if self.tunnel_id is not None:
            result = self._call("GET", f"{self._own()}/version", params={"virtual_network_id": virtual_network_id})
        else:
            vnet = self._vnet_id(virtual_network_id)
            result = self._call("GET", f"/warpcli/virtual_networks/{path_segment(vnet.id)}/version")
        if not isinstance(result, dict) or not isinstance(result.get("version"), str):
            raise Unavailable("the API returned a malformed state version")
        return result["version"]

    # -- a tunnel token's view: the peers of its own tunnel ------------------------------
    def _peers(self, virtual_network_id: str | None) -> dict[str, Any]:
        """``GET .../tunnels/{own}/peers``: the hub of the vnet (or None) and its routes."""
        self._extension("cannot read peers with a tunnel token")
        result = self._call("GET", f"{self._own()}/peers", params={"virtual_network_id": virtual_network_id})
        if not isinstance(result, dict) or not isinstance(result.get("routes"), list):
            raise Unavailable("the API returned malformed peers (no routes list)")
        return result

    def _own_tunnel(self) -> Tunnel:
        self._extension("cannot read a tunnel with a tunnel token")
        return self._remember(shapes.tunnel(self._call("GET", self._own())))

    def _peer_routes(self, flt: RouteFilter) -> Iterator[Route]:
        """Routes as a tunnel token may read them: of one vnet, or (no vnet given) of every vnet
        its tunnel has a connector in; the filters apply here."""
        if flt.comment is not None:
            raise NotSupported("a tunnel token cannot filter routes by comment", hint="use an API token")
        if flt.is_deleted:
            return
        if self.tunnel_id not in self._tunnel_names:
            self._own_tunnel()  # the names the peers' routes lack: its own tunnel's and the vnets'
        if flt.virtual_network_id is None:
            vnets = [v.id for v in self.list_virtual_networks()]
            member = {c.virtual_network_id for c in self.list_connectors()}
            from warpcli.core.records import replace

            for vid in vnets:
                if vid in member:
                    yield from self._peer_routes(replace(flt, virtual_network_id=vid))
            return
        self._names()
        for o in self._peers(flt.virtual_network_id)["routes"]:
            r = shapes.route(o, tunnel_names=self._tunnel_names, vnet_names=self._vnet_names)
            if ((flt.tunnel_id is None or r.tunnel_id == flt.tunnel_id)
                    and (flt.route_id is None or r.id == flt.route_id)
                    and (flt.network_subset is None or flt.network_subset.contains(r.net))
                    and (flt.network_superset is None or r.net.contains(flt.network_superset))):
                yield r

    # -- connectors and hubs: a served warpcli controller; on Cloudflare its edge and warp-cli --
    def verify_tunnel_token(self, token: str) -> Tunnel:
        from warpcli.core.tokens import parse_tunnel_token

        claims = parse_tunnel_token(token)
        if claims["a"].lower() != self.account_id:
            raise InvalidInput("the tunnel token belongs to another account")
        if self.tunnel_id is not None:  # the server checked it: it is this controller's bearer
            if claims["t"] != self.tunnel_id:
                raise InvalidInput("the tunnel token is not the one this controller authenticates with")
            self._extension("cannot check a tunnel token with itself")
            return self._remember(shapes.tunnel(self._call("GET", self._own())))
        try:
            tunnel = self.get_tunnel(claims["t"])
            real = self.get_tunnel_token(tunnel.id)
        except NotFound:
            raise InvalidInput("the tunnel token is not valid for this account",
                               hint="the tunnel may have been deleted") from None
        if not hmac.compare_digest(real.strip().encode(), token.strip().encode()):
            raise InvalidInput("the tunnel token is not valid for this account",
                               hint="get a fresh one with `warpcli tunnel token`")
        return tunnel

    def register_connector(
        self, tunnel_id: str, public_key: str, *, virtual_network_id: str | None = None,
        tunnel_token: bool = False, version: str | None = None,
    ) -> Connector:
        # ``tunnel_token``: the server decides by the bearer it is sent, not by this flag
        ext = self._extension("does not register WireGuard keys")
        body = {"public_key": public_key, "virtual_network_id": virtual_network_id, "version": version}
        # idempotent per key on the server, so a POST that timed out is simply sent again
        obj = self._create(f"{ext}/tunnels/{path_segment(tunnel_id)}/connectors",
                           {k: v for k, v in body.items() if v is not None}, lambda: None)
        if not isinstance(obj, dict):
            raise Unavailable("the API returned a malformed enrollment (no connector)")
        return shapes.connector(obj.get("connector"))

    def list_connectors(
        self, *, tunnel_id: str | None = None, virtual_network_id: str | None = None
    ) -> list[Connector]:
        if self.warpcli_server() is None:
            return []  # Cloudflare: no WireGuard connectors of warpcli's
        params = {"virtual_network_id": virtual_network_id}
        if self.tunnel_id is not None:
            if tunnel_id not in (None, self.tunnel_id):
                return []  # another tunnel's: a tunnel token sees only its own
            result = self._call("GET", f"{self._own()}/connectors", params=params)
        else:
            result = self._call("GET", "/warpcli/connectors", params={**params, "tunnel_id": tunnel_id})
        return [shapes.connector(o) for o in result or []]

    def delete_connector(self, connector_id: str) -> Connector:
        if self.warpcli_server() is None:
            raise NotFound(f"no connector with id {connector_id}", hint=_HUB_HINT)
        if self.tunnel_id is not None:
            tunnel = self.tunnel_id
        else:
            found = [c for c in self.list_connectors() if c.id == connector_id]
            if not found:
                raise NotFound(f"no connector with id {connector_id}")
            tunnel = found[0].tunnel_id
        obj = self._call("DELETE", f"/warpcli/tunnels/{path_segment(tunnel)}/connectors/{path_segment(connector_id)}")
        return shapes.connector(obj)

    def _hub_path(self, virtual_network_id: str | None) -> str:
        ext = self._extension("has no self-hosted hub")
        return f"{ext}/virtual_networks/{path_segment(self._vnet_id(virtual_network_id).id)}/hub"

    def register_hub(self, public_key: str, endpoint: str, *, virtual_network_id: str | None = None,
                     priority: int | None = None) -> Hub:
        body: dict[str, Any] = {"public_key": public_key, "endpoint": endpoint}
        if priority is not None:
            body["priority"] = priority
        return shapes.hub(self._call("PUT", self._hub_path(virtual_network_id), body=body))

    def get_hub(self, virtual_network_id: str | None = None) -> Hub:
        if self.tunnel_id is not None:
            peers = self._peers(virtual_network_id)
            if peers.get("hub") is None:
                raise NotFound("the virtual network has no hub yet",
                               hint="run `warpcli hub up --endpoint HOST:PORT` on the hub")
            return shapes.hub(peers["hub"])
        return shapes.hub(self._call("GET", self._hub_path(virtual_network_id)))

    def list_hubs(self, virtual_network_id: str | None = None) -> list[Hub]:
        """Every hub, preferred first; a server from before several hubs answers its one."""
        if self.tunnel_id is not None:
            peers = self._peers(virtual_network_id)
            found = peers.get("hubs")
            if found is None:
                found = [] if peers.get("hub") is None else [peers["hub"]]
        else:
            found = self._call("GET", self._hub_path(virtual_network_id) + "s")
        if not isinstance(found, list):
            raise Unavailable("the API returned a malformed hub list")
        return sorted((shapes.hub(o) for o in found), key=lambda h: h.sort_key)

    def delete_hub(self, virtual_network_id: str | None = None, *, hub_id: str | None = None) -> Hub:
        path = self._hub_path(virtual_network_id)
        if hub_id is not None:
            path += f"s/{path_segment(hub_id)}"
        return shapes.hub(self._call("DELETE", path))

    # -- what runs and HA: the extension's hub report; Cloudflare's HA endpoints --------------
    def report_connectors(self, virtual_network_id: str | None, reports: Iterable[Any]) -> list[Any]:
        """``POST .../warpcli/virtual_networks/{id}/hub/report`` (a warpcli server only)."""
        from warpcli.core.liveness import FailoverRequest

        body = {"connectors": [shapes.report(r) for r in reports]}
        result = self._call("POST", self._hub_path(virtual_network_id) + "/report", body=body)
        if not isinstance(result, dict) or not isinstance(result.get("failover"), list):
            raise Unavailable("the API returned a malformed report answer (no failover list)")
        return [FailoverRequest(o["tunnel_id"], o["client_id"], o["address"], o["requested_at"])
                for o in result["failover"] if isinstance(o, dict)]

    def _tunnel_path(self, tunnel_id: str) -> str:
        return f"/warp_connector/{path_segment(tunnel_id)}"

    def request_failover(self, tunnel_id: str, connector_id: str) -> Any:
        """``PUT .../warp_connector/{id}/failover`` with ``{"client_id"}`` (Cloudflare's answer is empty)."""
        from warpcli.core.liveness import FailoverRequest
        from warpcli.core.model import utcnow

        self._call("PUT", self._tunnel_path(tunnel_id) + "/failover", body={"client_id": connector_id})
        return FailoverRequest(tunnel_id, connector_id, "", utcnow())

    def get_tunnel_ha(self, tunnel_id: str) -> Any:
        return shapes.tunnel_ha(self._call("GET", self._tunnel_path(tunnel_id) + "/configurations"))

    def set_tunnel_ha(self, tunnel_id: str, ha_mode: str, config: dict | None = None) -> Any:
        body: dict[str, Any] = {"ha_mode": ha_mode}
        if config:
            body["config"] = config
        return shapes.tunnel_ha(self._call("PUT", self._tunnel_path(tunnel_id) + "/configurations", body=body))

    def create_ha_tunnel(self, name: str) -> Tunnel:
        """``POST .../warp_connector`` with ``ha: true``."""
        return self._remember(shapes.tunnel(self._call("POST", "/warp_connector", body={"name": name, "ha": True})))

    def list_replicas(self, tunnel_id: str) -> list[Connector]:
        """A warpcli server: its connectors (with roles). Cloudflare: ``GET .../warp_connector/{id}/connections``,
        each client as a Connector with its ``ha_status`` as the role (``passive``: standby, ``offline``:
        fault); Cloudflare tells no device address or key, so those are empty."""
        if self.warpcli_server() is not None:
            return super().list_replicas(tunnel_id)
        result = self._call("GET", self._tunnel_path(tunnel_id) + "/connections")
        return [shapes.replica(o, tunnel_id) for o in result or [] if isinstance(o, dict)]

    # -- network policies: a served warpcli controller's extension; Cloudflare Gateway rules ------
    def _policy_path(self, virtual_network_id: str) -> str:
        return f"/warpcli/virtual_networks/{path_segment(self._vnet_id(virtual_network_id).id)}/policy"

    def get_policy(self, virtual_network_id: str) -> PolicySpec:
        from warpcli.core.policies import PolicySpec

        if self.warpcli_server() is None:
            return self._gateway_policy(virtual_network_id)
        result = self._call("GET", self._policy_path(virtual_network_id))
        if not isinstance(result, dict):
            raise Unavailable("the API returned a malformed policy")
        return PolicySpec.from_dict(result)

    def put_policy(self, virtual_network_id: str, policy: PolicySpec) -> PolicySpec:
        from warpcli.core.policies import PolicySpec

        if self.warpcli_server() is None:
            return self._put_gateway_policy(virtual_network_id, policy)
        result = self._call("PUT", self._policy_path(virtual_network_id), body=policy.to_dict())
        if not isinstance(result, dict):
            raise Unavailable("the API returned a malformed policy")
        return PolicySpec.from_dict(result)

    def state_version(self, virtual_network_id: str | None = None) -> str:
        """One request to a warpcli server (its version endpoint); a fingerprint elsewhere
        (on Cloudflare it covers the vnet's Gateway rules, when the token may read them)."""
        if self.warpcli_server() is None:
            self._fingerprinting = True
            try:
                return super().state_version(virtual_network_id)
            finally:
                self._fingerprinting = False
        return self._served_version(virtual_network_id)

    def _gateway_rules(self) -> list[dict]:
        """``GET .../gateway/rules``: every Gateway rule of the account (one page: the list is
        not paginated). A token without Gateway permissions, while fingerprinting, means no policy."""
        try:
            result = self._call("GET", "/gateway/rules")
        except AuthError:
            if self._fingerprinting:
                raise NotSupported("the token may not read Gateway rules") from None
            raise
        if not isinstance(result, list):
            raise Unavailable("the API returned a malformed list of Gateway rules")
        return [r for r in result if isinstance(r, dict)]

    def _gateway_policy(self, virtual_network_id: str) -> PolicySpec:
        """The vnet's policy rebuilt from the Gateway rules warpcli manages for it (gateway.py)."""
        from warpcli.controllers.cloudflare import gateway

        vnet = self._vnet_id(virtual_network_id)
        mine, _ = gateway.managed(self._gateway_rules(), vnet.id)
        return gateway.policy_from(mine, gateway.revision(mine))

    def _put_gateway_policy(self, virtual_network_id: str, policy: PolicySpec) -> PolicySpec:
        """Replace the vnet's Gateway rules by the policy's, with the fewest calls: creates, then
        updates, then deletes; a failure midway undoes what this call did (see :meth:`_sync`).

        ``revision`` is checked against a digest of the rules as read; Cloudflare has no
        conditional writes, so a writer in the instant between that read and these calls is not seen.
        """
        from warpcli.controllers.cloudflare import gateway
        from warpcli.core import policies

        vnet = self._vnet_id(virtual_network_id)
        gateway.refuse_unmappable(policy)
        mine, others = gateway.managed(self._gateway_rules(), vnet.id)
        if gateway.revision(mine) != policy.revision:
            raise Conflict(f"the policy of virtual network {vnet.name!r} changed meanwhile",
                           hint="run the command again")
        tunnels: list[set[str]] = []
        routes: list[Callable[[str], list[Network]]] = []

        def tunnel_exists(name: str) -> bool:  # one listing, and only when a rule names a tunnel
            if not tunnels:
                tunnels.append({t.name for t in self.list_tunnels()})
            return name in tunnels[0]

        def tunnel_networks(name: str) -> list[Network]:
            if not routes:
                routes.append(policies.resolver(self, vnet.id))
            return routes[0](name)

        policy = policies.check(policy, tunnel_exists)
        want = gateway.desired(vnet.id, vnet.name, policy, tunnel_networks)
        todo = gateway.plan(mine, others, want)
        if todo:
            self._sync(todo, f"the policy of virtual network {vnet.name!r}")
            mine, _ = gateway.managed(self._gateway_rules(), vnet.id)
        return gateway.policy_from(mine, gateway.revision(mine))

    def _sync(self, todo: Any, what: str) -> None:
        """Send a :class:`gateway.GatewayChanges`: creates, updates, deletes. When a call fails, what
        this sync did is undone, last first (a created rule deleted, an updated one put back, a
        deleted one made again), and the error says what could not be undone."""
        from warpcli.controllers.cloudflare import gateway

        rules = "/gateway/rules"
        undo: list[tuple[str, str, dict | None]] = []  # (method, path, body) that reverses one call
        try:
            for body in todo.creates:
                obj = self._create(rules, body, partial(self._found_gateway_rule, body))
                if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                    raise Unavailable("the API returned a malformed Gateway rule (no id)")
                undo.append(("DELETE", f"{rules}/{path_segment(obj['id'])}", None))
            for rule_id, body, old in todo.updates:
                self._call("PUT", f"{rules}/{path_segment(rule_id)}", body=body)
                undo.append(("PUT", f"{rules}/{path_segment(rule_id)}", gateway.writable(old)))
            for old in todo.deletes:
                self._call("DELETE", f"{rules}/{path_segment(str(old['id']))}")
                undo.append(("POST", rules, gateway.writable(old)))
        except WarpcliError as exc:
            undone, failed = 0, 0
            for method, path, body in reversed(undo):
                try:
                    self._call(method, path, body=body)
                    undone += 1
                except WarpcliError:
                    failed += 1
            exc.message += (
                f" ({what} was not changed: the {undone} Gateway rule change(s) made before were undone"
                + (f"; {failed} could not be undone, run the command again or see the Gateway rules "
                   "named warpcli:* in the dashboard" if failed else "") + ")"
            )
            raise

    def _found_gateway_rule(self, body: dict) -> dict | None:
        """The rule a create that timed out may have made: same name, record and precedence."""
        for r in self._gateway_rules():
            if all(r.get(k) == body[k] for k in ("name", "description", "precedence")):
                return r
        return None

def _deleted(obj: Any) -> Any:
    from warpcli.core.model import utcnow
    from warpcli.core.records import replace

    return replace(obj, deleted_at=utcnow())


def _with_names(route: Route, named: Route) -> Route:
    from warpcli.core.records import replace

    return replace(
        route,
        tunnel_name=route.tunnel_name or named.tunnel_name,
        virtual_network_name=route.virtual_network_name or named.virtual_network_name,
    )
