"""The warpcli extension of the served API: enrollment, connectors and hubs.

**A warpcli extension, not part of Cloudflare's API.** Cloudflare enrolls hosts with its
own WARP client and its edge is the hub, so its API has nothing for registering a
WireGuard key or announcing a self-hosted hub. A served warpcli controller needs both;
these endpoints add them in the same dialect (envelope, error codes, bearer tokens).

Every path carries a ``warpcli`` segment (``/client/v4/warpcli/...`` or
``/client/v4/accounts/{account_id}/warpcli/...``): Cloudflare has no such segment, so no
present or future Cloudflare path can collide with one of these. (Cloudflare's newer
API already has ``GET .../warp_connector/{tunnel_id}/connectors/{connector_id}``, which
is why the connectors are not nested under ``warp_connector``.)

Who may call what (:mod:`warpcli.server.auth`):

- ``GET /warpcli/health`` needs no token: clients use it to tell a warpcli server
  from Cloudflare (Cloudflare answers it with a 4xx).
- The ``tunnels/{tunnel_id}/...`` endpoints are ``tunnel_scoped``: a tunnel token may
  call them for its own tunnel only (403, code 9109, for any other); an API token for
  any tunnel. This is everything a connector host needs, so it holds no API token.
- ``connectors`` (account-wide) and ``virtual_networks/{id}/hub...`` need an API token.

The reference, with bodies and results, is docs/controller-api.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from warpcli import __version__
from warpcli.core.controller import Controller
from warpcli.core.errors import AuthError, NotFound
from warpcli.core.model import Connector, Hub, Route, RouteFilter, Tunnel, VirtualNetwork
from warpcli.server import shapes
from warpcli.server.auth import current_principal, public, tunnel_scoped
from warpcli.server.errors import TUNNEL_TOKEN_NOT_ALLOWED, ApiError
from warpcli.server.params import Query, body_str, json_object
from warpcli.server.pool import ControllerPool

if TYPE_CHECKING:
    from flask import Response

#: what ``GET /warpcli/health`` lists: the extension's parts this server serves
EXTENSIONS = ("connectors", "hubs", "reports", "policies")

NOT_A_MEMBER = (403, 9109, "Unauthorized to access requested resource: the tunnel has no connector "
                           "in this virtual network")


def _ok(result: Any) -> Response:
    from flask import Response

    text = json.dumps(shapes.success(result), ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=200, mimetype="application/json")


def _body() -> dict[str, Any]:
    from flask import request

    return json_object(request.get_data(cache=True))


def _query() -> Query:
    from flask import request

    return Query(request.args)


def _without_nulls(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# -- shapes (the client's parsers are in warpcli.controllers.cloudflare.shapes) -------------
def connector(c: Connector) -> dict[str, Any]:
    return _without_nulls(c.to_dict())


def hub(h: Hub | None) -> dict[str, Any] | None:
    return None if h is None else _without_nulls(h.to_dict())


def peer_route(r: Route) -> dict[str, Any]:
    """A route as a connector needs it: which CIDR, served by which tunnel (no names, no comment)."""
    return {"id": r.id, "network": r.network, "tunnel_id": r.tunnel_id,
            "virtual_network_id": r.virtual_network_id, "created_at": r.created_at}


def joinable_vnet(v: VirtualNetwork) -> dict[str, Any]:
    """A virtual network as a tunnel token sees it (no comment)."""
    return {"id": v.id, "name": v.name, "is_default_network": v.is_default_network, "created_at": v.created_at}


def _public_key(body: dict[str, Any]) -> str:
    from warpcli.core.keys import validate_key  # base64 only: no kernel, no crypto import

    return validate_key(body_str(body, "public_key", required=True))


def _priority(body: dict[str, Any]) -> int | None:
    """``priority`` of a PUT hub body: absent or null keeps the hub's (a new one gets 100)."""
    from warpcli.core.errors import InvalidInput
    from warpcli.core.model import check_hub_priority

    value = body.get("priority")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("priority must be an integer")
    return check_hub_priority(value)


def _hub_of(ctl: Controller, vnet_id: str) -> Hub | None:
    try:
        return ctl.get_hub(vnet_id)
    except NotFound:
        return None


def _hubs(ctl: Controller, vnet_id: str) -> list[dict[str, Any]]:
    """Every hub of the vnet, preferred first (``hub`` beside it is the first, for older clients)."""
    return [h for h in map(hub, ctl.list_hubs(vnet_id)) if h is not None]


def _vnet(ctl: Controller, vnet_id: str | None) -> VirtualNetwork:
    """A live vnet by id; ``None`` is the default one."""
    found = ctl.list_virtual_networks(id=vnet_id) if vnet_id else ctl.list_virtual_networks(is_default=True)
    if not found:
        raise NotFound(f"no virtual network with id {vnet_id}" if vnet_id else "there is no default virtual network")
    return found[0]


_ACCT = "/accounts/<account_id>/warpcli"
_TUNNEL = f"{_ACCT}/tunnels/<tunnel_id>"
_HUB = f"{_ACCT}/virtual_networks/<virtual_network_id>/hub"
#: (path under /client/v4, methods, handler): docs/controller-api.md lists the same
ROUTES: list[tuple[str, list[str], str]] = [
    ("/warpcli/health", ["GET"], "health"),
    (_TUNNEL, ["GET"], "own_tunnel"),
    (f"{_TUNNEL}/virtual_networks", ["GET"], "joinable_vnets"),
    (f"{_TUNNEL}/connectors", ["POST"], "enroll_connector"),
    (f"{_TUNNEL}/connectors", ["GET"], "tunnel_connectors"),
    (f"{_TUNNEL}/connectors/<connector_id>", ["DELETE"], "remove_connector"),
    (f"{_TUNNEL}/peers", ["GET"], "tunnel_peers"),
    (f"{_TUNNEL}/version", ["GET"], "tunnel_version"),
    (f"{_ACCT}/virtual_networks/<virtual_network_id>/version", ["GET"], "vnet_version"),
    (f"{_ACCT}/connectors", ["GET"], "account_connectors"),
    (_HUB, ["PUT"], "put_hub"),
    (_HUB, ["GET"], "get_hub"),
    (_HUB, ["DELETE"], "delete_hub"),
    (f"{_HUB}/peers", ["GET"], "hub_peers"),
    (f"{_HUB}s", ["GET"], "list_hubs"),
    (f"{_HUB}s/<hub_id>", ["DELETE"], "delete_hub_by_id"),
    (f"{_HUB}/report", ["POST"], "hub_report"),
    (f"{_ACCT}/virtual_networks/<virtual_network_id>/policy", ["GET"], "get_policy"),
    (f"{_ACCT}/virtual_networks/<virtual_network_id>/policy", ["PUT"], "put_policy"),
]


class Extension:
    """The extension's handlers; ``routes()`` is registered by :func:`warpcli.server.create_app`."""

    def __init__(self, pool: ControllerPool, account_id: str,
                 on_version: Callable[[str, str], None] | None = None) -> None:
        self.pool = pool
        self.account_id = account_id
        self.on_version = on_version  #: told each state version answered (the metrics count changes)

    def _version(self, vnet_id: str, version: str) -> Response:
        if self.on_version is not None:
            self.on_version(vnet_id, version)
        return _ok({"virtual_network_id": vnet_id, "version": version})

    def routes(self) -> list[tuple[str, list[str], Callable[..., Any]]]:
        return [(rule, methods, getattr(self, handler)) for rule, methods, handler in ROUTES]

    @property
    def ctl(self) -> Controller:
        return self.pool.get()

    def _tunnel(self, tunnel_id: str) -> Tunnel:
        """The tunnel of the path, once the caller may act on it (a tunnel token: its own only)."""
        principal = current_principal()
        if principal.kind != "api" and principal.tunnel_id != tunnel_id:
            raise ApiError(*TUNNEL_TOKEN_NOT_ALLOWED)  # before any lookup: no oracle for other tunnels' ids
        return self.ctl.get_tunnel(tunnel_id)

    def _member_vnet(self, tunnel_id: str) -> tuple[Tunnel, VirtualNetwork]:
        """The tunnel and the vnet of ``?virtual_network_id=`` (default: the default one);
        a tunnel token reads only a vnet its tunnel has a connector in."""
        tunnel = self._tunnel(tunnel_id)
        ctl = self.ctl
        vnet = _vnet(ctl, _query().text("virtual_network_id"))
        if current_principal().kind != "api" and not ctl.list_connectors(tunnel_id=tunnel.id,
                                                                        virtual_network_id=vnet.id):
            raise ApiError(*NOT_A_MEMBER)
        return tunnel, vnet

    # -- no token ------------------------------------------------------------------------
    @public
    def health(self) -> Response:
        _vnet(self.ctl, None)  # the state is readable (a StateError answers 503)
        return _ok({"status": "ok", "warpcli": __version__, "extensions": list(EXTENSIONS)})

    # -- a tunnel token (its own tunnel) or an API token -----------------------------------
    @tunnel_scoped
    def own_tunnel(self, account_id: str, tunnel_id: str) -> Response:
        return _ok(shapes.tunnel(self._tunnel(tunnel_id), self.account_id))

    @tunnel_scoped
    def joinable_vnets(self, account_id: str, tunnel_id: str) -> Response:
        self._tunnel(tunnel_id)
        return _ok([joinable_vnet(v) for v in self.ctl.list_virtual_networks()])

    @tunnel_scoped
    def enroll_connector(self, account_id: str, tunnel_id: str) -> Response:
        tunnel = self._tunnel(tunnel_id)
        body = _body()
        key = _public_key(body)
        ctl = self.ctl
        try:
            c = ctl.register_connector(tunnel.id, key, virtual_network_id=body_str(body, "virtual_network_id"),
                                       tunnel_token=current_principal().kind != "api",
                                       version=body_str(body, "version"))
        except AuthError as exc:  # the rule of which vnets a tunnel token may join (README, "Security")
            raise ApiError(403, 9109, f"Unauthorized to access requested resource: {exc}") from None
        return _ok({"connector": connector(c), "hub": hub(_hub_of(ctl, c.virtual_network_id)),
                    "hubs": _hubs(ctl, c.virtual_network_id)})

    @tunnel_scoped
    def tunnel_connectors(self, account_id: str, tunnel_id: str) -> Response:
        tunnel = self._tunnel(tunnel_id)
        found = self.ctl.list_connectors(tunnel_id=tunnel.id, virtual_network_id=_query().text("virtual_network_id"))
        return _ok([connector(c) for c in found])

    @tunnel_scoped
    def remove_connector(self, account_id: str, tunnel_id: str, connector_id: str) -> Response:
        tunnel = self._tunnel(tunnel_id)
        ctl = self.ctl
        if not any(c.id == connector_id for c in ctl.list_connectors(tunnel_id=tunnel.id)):
            raise NotFound(f"tunnel {tunnel.name!r} has no connector with id {connector_id}")
        return _ok(connector(ctl.delete_connector(connector_id)))

    @tunnel_scoped
    def tunnel_peers(self, account_id: str, tunnel_id: str) -> Response:
        """What a connector's ``up`` needs: the hub of its vnet and the vnet's routes."""
        tunnel, vnet = self._member_vnet(tunnel_id)
        ctl = self.ctl
        routes = ctl.list_routes(RouteFilter(virtual_network_id=vnet.id))
        return _ok({"tunnel_id": tunnel.id, "virtual_network_id": vnet.id, "hub": hub(_hub_of(ctl, vnet.id)),
                    "hubs": _hubs(ctl, vnet.id), "routes": [peer_route(r) for r in routes]})

    @tunnel_scoped
    def tunnel_version(self, account_id: str, tunnel_id: str) -> Response:
        """The state version of the vnet's routes, connectors and hub: `up --follow` polls this."""
        _, vnet = self._member_vnet(tunnel_id)
        return self._version(vnet.id, self.ctl.state_version(vnet.id))

    # -- API tokens only ---------------------------------------------------------------------
    def vnet_version(self, account_id: str, virtual_network_id: str) -> Response:
        """The same for the hub (`hub up --follow`)."""
        ctl = self.ctl
        vnet = _vnet(ctl, virtual_network_id)
        return self._version(vnet.id, ctl.state_version(vnet.id))

    def account_connectors(self, account_id: str) -> Response:
        q = _query()
        found = self.ctl.list_connectors(tunnel_id=q.text("tunnel_id"), virtual_network_id=q.text("virtual_network_id"))
        return _ok([connector(c) for c in found])

    def put_hub(self, account_id: str, virtual_network_id: str) -> Response:
        from warpcli.core.cidr import parse_endpoint

        body = _body()
        key = _public_key(body)
        endpoint = body_str(body, "endpoint", required=True)
        parse_endpoint(endpoint)
        priority = _priority(body)
        return _ok(hub(self.ctl.register_hub(key, endpoint, virtual_network_id=virtual_network_id,
                                             priority=priority)))

    def get_hub(self, account_id: str, virtual_network_id: str) -> Response:
        """The preferred hub (highest priority): what a client that knows one hub reads."""
        return _ok(hub(self.ctl.get_hub(virtual_network_id)))

    def delete_hub(self, account_id: str, virtual_network_id: str) -> Response:
        """The vnet's only hub; 409 when it has several (DELETE .../hubs/{id} names one)."""
        return _ok(hub(self.ctl.delete_hub(virtual_network_id)))

    def list_hubs(self, account_id: str, virtual_network_id: str) -> Response:
        vnet = _vnet(self.ctl, virtual_network_id)
        return _ok(_hubs(self.ctl, vnet.id))

    def delete_hub_by_id(self, account_id: str, virtual_network_id: str, hub_id: str) -> Response:
        return _ok(hub(self.ctl.delete_hub(virtual_network_id, hub_id=hub_id)))

    def hub_peers(self, account_id: str, virtual_network_id: str) -> Response:
        """What the hub needs: every connector of the vnet (key, address, tunnel) and the routes."""
        ctl = self.ctl
        vnet = _vnet(ctl, virtual_network_id)
        return _ok({
            "virtual_network_id": vnet.id,
            "hub": hub(_hub_of(ctl, vnet.id)),
            "hubs": _hubs(ctl, vnet.id),
            "connectors": [connector(c) for c in ctl.list_connectors(virtual_network_id=vnet.id)],
            "routes": [peer_route(r) for r in ctl.list_routes(RouteFilter(virtual_network_id=vnet.id))],
        })

    def get_policy(self, account_id: str, virtual_network_id: str) -> Response:
        """The vnet's network policy (default action, ordered rules, revision)."""
        ctl = self.ctl
        return _ok(ctl.get_policy(_vnet(ctl, virtual_network_id).id).to_dict())

    def put_policy(self, account_id: str, virtual_network_id: str) -> Response:
        """Replace the policy if ``revision`` is still the stored one (409 otherwise), after
        checking every rule as `policy add` does (400 with the first mistake)."""
        from warpcli.core.policies import PolicySpec, check

        ctl = self.ctl
        vnet = _vnet(ctl, virtual_network_id)
        spec = check(PolicySpec.from_dict(_body()), lambda name: bool(ctl.list_tunnels(name=name)))
        return _ok(ctl.put_policy(vnet.id, spec).to_dict())

    def hub_report(self, account_id: str, virtual_network_id: str) -> Response:
        """What the hub knows of its connectors (`hub up --follow`): stored without moving the state
        version; the answer lists the failover requests pending for the vnet."""
        ctl = self.ctl
        vnet = _vnet(ctl, virtual_network_id)
        pending = ctl.report_connectors(vnet.id, _reports(_body()))
        return _ok({"virtual_network_id": vnet.id, "failover": [
            {"tunnel_id": f.tunnel_id, "client_id": f.connector_id, "address": f.address,
             "requested_at": f.requested_at} for f in pending]})


def _reports(body: dict[str, Any]) -> list[Any]:
    """The ``connectors`` list of a hub report, as ConnectorReports (400 for anything malformed)."""
    from warpcli.core.errors import InvalidInput
    from warpcli.core.liveness import ConnectorReport, check_report

    items = body.get("connectors")
    if not isinstance(items, list) or len(items) > 65536:
        raise InvalidInput("connectors must be a list (at most 65536 items)")
    out = []
    for o in items:
        if not isinstance(o, dict) or not isinstance(o.get("id"), str):
            raise InvalidInput("each report needs a connector's id")
        unknown = set(o) - {"id", "last_seen", "role", "priority", "role_changed_at", "version"}
        if unknown:
            raise InvalidInput(f"unknown field {sorted(unknown)[0]!r} in a report")
        for name in ("last_seen", "role", "role_changed_at", "version"):
            if o.get(name) is not None and not isinstance(o[name], str):
                raise InvalidInput(f"{name} must be a string")
        priority = o.get("priority")
        if priority is not None and (not isinstance(priority, int) or isinstance(priority, bool)):
            raise InvalidInput("priority must be an integer")
        out.append(check_report(ConnectorReport(o["id"], o.get("last_seen"), o.get("role"), priority,
                                                o.get("role_changed_at"), o.get("version"))))
    return out


def templates() -> list[tuple[str, str]]:
    """(METHOD, path template in OpenAPI's ``{name}`` style) of every extension endpoint."""
    import re

    return [(m, re.sub(r"<([a-z_]+)>", r"{\1}", rule)) for rule, methods, _ in ROUTES for m in methods]
