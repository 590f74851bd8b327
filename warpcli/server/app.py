"""A warpcli controller served over HTTP in the Cloudflare API v4 dialect.

The paths, bodies and envelopes are those of Cloudflare's ``warp_connector``,
``teamnet/routes`` and ``teamnet/virtual_networks`` endpoints (under ``/client/v4``),
so the Cloudflare controller of warpcli, pointed at this server's base URL, talks to
it as it talks to Cloudflare. Documented choices where the API leaves room:

- Lists paginate with ``page`` (default 1, at most 1,000,000) and ``per_page`` (default 20,
  at most 1000), each in ASCII digits only; virtual networks are not paginated, as in the API.
- Every answer carries ``Cache-Control: no-store`` (some carry tokens). A path with ``//``
  is not rewritten or redirected: it matches no route (404 in the envelope).
- ``is_deleted`` absent means "deleted and live alike", as the API documents; clients
  that want only live objects send ``is_deleted=false``. ``GET .../warp_connector/{id}``
  answers a deleted tunnel too, with its ``deleted_at`` (Cloudflare's clients check it);
  its token, update and delete answer 404.
- ``DELETE .../warp_connector/{id}?force=true`` deletes the tunnel's routes with it
  (without it, a tunnel with routes is refused with 409). ``DELETE
  .../virtual_networks/{id}?force=true`` does the same for a virtual network, as
  cloudflared does; without it a vnet still in use is refused with 409.
- ``POST .../virtual_networks`` takes ``is_default`` (the schema's name) and
  ``is_default_network`` (what cloudflared sends).
- ``PATCH .../warp_connector/{id}`` renames a tunnel (``name``; the same conflict rules
  as create); ``tunnel_secret`` is refused (400, code 1009). ``ha: true`` on create makes
  the tunnel's ``ha_mode`` ``none`` (Cloudflare's default for HA tunnels).
- HA (Cloudflare's ``connections``, ``failover``, ``configurations``): the replicas are the
  tunnel's enrolled connectors, their ``ha_status`` comes from the hubs' reports
  (``hub up --follow``); a failover request is carried out by the hub of the replica's vnet.
- ``GET .../tunnels`` lists every tunnel type there is here (``warp_connector`` only),
  with the filters and paging of ``.../warp_connector`` plus ``tun_types``.
- List-valued query parameters (``tun_types``) are taken repeated (``tun_types=a&tun_types=b``,
  what Cloudflare's SDKs send) and comma-separated (``tun_types=a,b``); any other
  parameter given twice is refused.
- ``GET .../warp_connector/{id}/connectors/{connector_id}`` answers an enrolled
  connector (warpcli's WireGuard enrollment) in Cloudflare's shape, plus its ``address``,
  ``created_at`` and ``last_seen``.
- Refused with a message that says why (400, code 1009): every ``cfd_tunnel`` operation
  (cloudflared's own tunnels are out of scope) and the deprecated
  ``teamnet/routes/network/{cidr}`` ones (:data:`warpcli.server.openapi.REFUSED`).
- Answers a retry cannot change (400, 401, 403, 404, 405, 409, 413, 422) carry
  ``x-should-retry: false``, so Cloudflare's SDKs do not retry them; 429 and 503 carry
  ``Retry-After`` (:func:`retry_headers`).
- Every tunnel here is a ``warp_connector``; ``cfd_tunnel`` in a route list's
  ``tun_types`` selects them too (:data:`TUN_TYPE_ALIASES`), because cloudflared sends
  ``tun_types=cfd_tunnel`` on every route listing it makes (``route ip show`` and the
  lookup before ``route ip delete``) and would see no route of this server otherwise.

Every path needs ``Authorization: Bearer <token>``; ``authenticate(token)`` names the
caller (:mod:`warpcli.server.auth`): API tokens may call everything, tunnel tokens only
the endpoints marked ``tunnel_scoped``.
Statuses and error codes: :mod:`warpcli.server.errors`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from warpcli.core.cidr import parse_address, parse_network
from warpcli.core.controller import Controller
from warpcli.core.errors import InvalidInput, NotFound, NotSupported, StateError, WarpcliError
from warpcli.core.model import RouteFilter
from warpcli.server import shapes
from warpcli.server.auth import PRINCIPAL_ENVIRON_KEY, Principal, from_predicate, is_public, is_tunnel_scoped
from warpcli.server.errors import (
    INVALID_TOKEN,
    MISSING_TOKEN,
    TUNNEL_TOKEN_NOT_ALLOWED,
    WRONG_ACCOUNT,
    ApiError,
    failure_for,
)
from warpcli.server.logfmt import log_fields
from warpcli.server.params import Query, body_bool, body_str, existed_at, json_object
from warpcli.server.pool import ControllerPool
from warpcli.server.retry import retry_headers

if TYPE_CHECKING:
    from flask import Flask, Response

PREFIX = "/client/v4"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000
MAX_BODY = 1 << 20
#: ``tunnel_status`` and ``tunnel_tunnel_type`` (with the newer API's ``warp`` and ``magic``)
TUNNEL_STATUSES = ("inactive", "degraded", "healthy", "down")
TUN_TYPES = ("cfd_tunnel", "warp_connector", "ip_sec", "gre", "cni", "warp", "magic")
#: ``tun_types`` filter values that also select this server's own tunnel type (see above)
TUN_TYPE_ALIASES = {"cfd_tunnel": "warp_connector"}
#: maxLength of ``tunnel_virtual_network_name`` and ``tunnel_virtual_network_comment``
MAX_VNET_TEXT = 256
POOL_KEY = "warpcli.controllers"

log = logging.getLogger("warpcli.server")


def create_app(
    open_controller: Callable[[], Controller],
    *,
    account_id: str,
    authenticate: Callable[[str], Principal | None] | None = None,
    authorize: Callable[[str], bool] | None = None,
    warpcli_extension: bool = True,
    metrics: bool = False,
) -> Flask:
    """The WSGI app. ``open_controller`` is called once per server thread.

    ``authenticate(token)`` names the caller (:mod:`warpcli.server.auth`); ``authorize``
    is the short form for "every accepted token is an API token". ``warpcli_extension``
    serves the enrollment endpoints too (:mod:`warpcli.server.extension`); without it the
    app answers only what Cloudflare's API has (the test stand-in plays Cloudflare so).
    ``close_controllers(app)`` closes them once the server has stopped. ``metrics`` serves
    ``GET /metrics`` (an API token, as everywhere; :mod:`warpcli.server.metrics_view`).
    """
    if authenticate is None:
        if authorize is None:
            raise TypeError("create_app needs authenticate= (or authorize=)")
        authenticate = from_predicate(authorize)
    from flask import Flask

    app = Flask("warpcli.server")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.url_map.merge_slashes = False  # "//" would answer an HTML redirect, not the envelope
    app.after_request(_no_store)
    pool = ControllerPool(open_controller)
    app.extensions[POOL_KEY] = pool
    registry = None
    if metrics:
        from warpcli.server.metrics_view import install, server_metrics

        registry = server_metrics(pool)
        install(app, registry)  # first: it times the authentication too
    api = _Api(pool, account_id, authenticate, on_store_error=registry.store_error if registry else None)
    app.before_request(api.authenticate)
    app.after_request(retry_headers)
    app.register_error_handler(Exception, api.error)
    routes = api.routes()
    if warpcli_extension:  # enrollment, connectors and hubs: warpcli.server.extension
        from warpcli.server.extension import Extension

        routes += Extension(pool, account_id, on_version=registry.version_answered if registry else None).routes()
    for rule, methods, view in routes:
        app.add_url_rule(PREFIX + rule, view_func=view, methods=methods, provide_automatic_options=False)
    return app


def close_controllers(app: Flask) -> None:
    """Close the controllers the app opened (after the server has stopped)."""
    app.extensions[POOL_KEY].close_all()


def token_id(token: str) -> str:
    """A stable, non-secret identifier of a token (what ``tokens/verify`` answers as ``id``)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _json_response(status: int, body: dict[str, Any]) -> Response:
    from flask import Response

    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, mimetype="application/json")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _ok(result: Any, result_info: dict[str, int] | None = None) -> Response:
    return _json_response(200, shapes.success(result, result_info))


def _ok_texts(texts: list[str], result_info: dict[str, int]) -> Response:
    """``_ok`` for a result list whose elements are JSON text already."""
    from flask import Response

    body = json.dumps(shapes.success([], result_info), ensure_ascii=False, separators=(",", ":"))
    head, sep, tail = body.partition('"result":[]')
    assert sep
    return Response(f'{head}"result":[{",".join(texts)}]{tail}', status=200, mimetype="application/json")


def _body() -> dict[str, Any]:
    from flask import request

    return json_object(request.get_data(cache=True))


def _query() -> Query:
    from flask import request

    return Query(request.args)


def _network(text: str | None):
    return None if text is None else parse_network(text)


class _Api:
    def __init__(
        self, pool: ControllerPool, account_id: str, authenticate: Callable[[str], Principal | None],
        *, on_store_error: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.account_id = account_id
        self.authenticate_token = authenticate
        self.on_store_error = on_store_error

    def routes(self) -> list[tuple[str, list[str], Callable[..., Any]]]:
        acct = "/accounts/<account_id>"
        return [
            ("/user/tokens/verify", ["GET"], self.verify_token),
            (f"{acct}/warp_connector", ["GET"], self.list_tunnels),
            (f"{acct}/warp_connector", ["POST"], self.create_tunnel),
            (f"{acct}/warp_connector/<tunnel_id>", ["GET"], self.get_tunnel),
            (f"{acct}/warp_connector/<tunnel_id>", ["PATCH"], self.update_tunnel),
            (f"{acct}/warp_connector/<tunnel_id>", ["DELETE"], self.delete_tunnel),
            (f"{acct}/warp_connector/<tunnel_id>/token", ["GET"], self.tunnel_token),
            (f"{acct}/warp_connector/<tunnel_id>/connectors/<connector_id>", ["GET"], self.get_connector),
            (f"{acct}/warp_connector/<tunnel_id>/connections", ["GET"], self.tunnel_connections),
            (f"{acct}/warp_connector/<tunnel_id>/failover", ["PUT"], self.failover),
            (f"{acct}/warp_connector/<tunnel_id>/configurations", ["GET"], self.get_configuration),
            (f"{acct}/warp_connector/<tunnel_id>/configurations", ["PUT"], self.put_configuration),
            (f"{acct}/tunnels", ["GET"], self.list_all_tunnels),
            (f"{acct}/teamnet/routes", ["GET"], self.list_routes),
            (f"{acct}/teamnet/routes", ["POST"], self.create_route),
            (f"{acct}/teamnet/routes/ip/<ip>", ["GET"], self.route_by_ip),
            (f"{acct}/teamnet/routes/<route_id>", ["GET"], self.get_route),
            (f"{acct}/teamnet/routes/<route_id>", ["PATCH"], self.update_route),
            (f"{acct}/teamnet/routes/<route_id>", ["DELETE"], self.delete_route),
            (f"{acct}/teamnet/virtual_networks", ["GET"], self.list_vnets),
            (f"{acct}/teamnet/virtual_networks", ["POST"], self.create_vnet),
            (f"{acct}/teamnet/virtual_networks/<vnet_id>", ["GET"], self.get_vnet),
            (f"{acct}/teamnet/virtual_networks/<vnet_id>", ["PATCH"], self.update_vnet),
            (f"{acct}/teamnet/virtual_networks/<vnet_id>", ["DELETE"], self.delete_vnet),
            *self.refused_routes(),
        ]

    @staticmethod
    def refused_routes() -> list[tuple[str, list[str], Callable[..., Any]]]:
        """Cloudflare's operations this server refuses on purpose, each with its reason."""
        from warpcli.server.openapi import REFUSED

        by_rule: dict[str, tuple[list[str], str]] = {}
        for method, template, reason in REFUSED:
            rule = template.replace("{", "<").replace("}", ">")
            methods, _ = by_rule.setdefault(rule, ([], reason))
            methods.append(method.upper())

        def refuse(reason: str) -> Callable[..., Any]:
            def view(**_: str) -> Response:
                raise NotSupported(reason)
            return view

        out = []
        for rule, (methods, reason) in by_rule.items():
            view = refuse(reason)
            view.__name__ = "refused_" + rule.strip("/").replace("/", "_").replace("<", "").replace(">", "")
            out.append((rule, methods, view))
        return out

    # -- plumbing -----------------------------------------------------------------
    def authenticate(self) -> None:
        from flask import current_app, g, request

        if is_public(current_app.view_functions.get(request.endpoint or "")):
            return  # the health check
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(*MISSING_TOKEN)
        principal = self.authenticate_token(token)
        if principal is None:
            raise ApiError(*INVALID_TOKEN)
        g.principal = principal
        g.token_id = principal.token_id
        request.environ[PRINCIPAL_ENVIRON_KEY] = principal  # for the access log
        account = (request.view_args or {}).get("account_id")
        if account is not None and account != self.account_id:
            raise ApiError(*WRONG_ACCOUNT)
        if principal.kind != "api":
            from flask import current_app

            view = current_app.view_functions.get(request.endpoint or "")
            if not is_tunnel_scoped(view):
                raise ApiError(*TUNNEL_TOKEN_NOT_ALLOWED)

    def error(self, exc: Exception) -> Response:
        from flask import request
        from werkzeug.exceptions import MethodNotAllowed

        failure = failure_for(exc)
        if isinstance(exc, StateError):
            self.pool.discard()  # reopen on the next request: the file may be back
            if self.on_store_error is not None:
                self.on_store_error()
        if failure.status >= 500 and not isinstance(exc, (WarpcliError, ApiError)):
            log.error("unexpected %s handling %s %s", type(exc).__name__, request.method, request.path,
                      exc_info=exc)
        elif failure.status >= 500:  # the client is told a generic message; the details are here
            log_fields(log, logging.WARNING, {"msg": "request failed", "method": request.method,
                                              "path": request.path, "status": failure.status,
                                              "code": failure.code, "error": str(exc)})
        response = _json_response(failure.status, shapes.failure(failure.code, failure.message))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        if failure.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @property
    def ctl(self) -> Controller:
        return self.pool.get()

    def _page(self, q: Query) -> tuple[int, int]:
        return q.count("page", default=1, maximum=MAX_PAGE), q.count("per_page", default=DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE)

    @staticmethod
    def _paginated(items: Iterable[Any], page: int, per_page: int, shape: Callable[[Any], Any]) -> Response:
        """One page of a stream; the stream is read to the end to count ``total_count``."""
        start, stop = (page - 1) * per_page, page * per_page
        result, total = [], 0
        for item in items:
            if start <= total < stop:
                result.append(shape(item))
            total += 1
        return _ok(result, shapes.result_info(page, per_page, len(result), total))

    # -- tokens -------------------------------------------------------------------
    def verify_token(self) -> Response:
        from flask import g

        # Cloudflare's token ids are 32 hex digits (the schema's maxLength): a UUID without its dashes
        return _ok({"id": g.token_id.replace("-", ""), "status": "active"})

    # -- tunnels ------------------------------------------------------------------
    def _tunnel(self, t) -> dict[str, Any]:
        return shapes.tunnel(t, self.account_id)

    def list_tunnels(self, account_id: str) -> Response:
        q = _query()
        page, per_page = self._page(q)
        return self._paginated(self._tunnels(q), page, per_page, self._tunnel)

    def list_all_tunnels(self, account_id: str) -> Response:
        """``GET .../tunnels``: every tunnel type there is here, which is ``warp_connector``."""
        q = _query()
        wanted = _tun_types(q)
        page, per_page = self._page(q)
        tunnels = self._tunnels(q)  # its filters are checked even when tun_types selects none
        if wanted is not None and "warp_connector" not in wanted:
            tunnels = iter(())
        return self._paginated(tunnels, page, per_page, self._tunnel)

    def _tunnels(self, q: Query) -> Iterable[Any]:
        """The tunnels the list filters of ``warp_connector`` and ``tunnels`` select."""
        name, uuid, status = q.text("name"), q.text("uuid"), q.text("status")
        include, exclude = q.text("include_prefix"), q.text("exclude_prefix")
        when = q.timestamp("existed_at")
        if status is not None and status not in TUNNEL_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(TUNNEL_STATUSES)}, not {status!r}")
        for unsupported in ("was_active_at", "was_inactive_at"):
            if q.text(unsupported) is not None:
                raise NotSupported(f"the {unsupported} filter is not supported by this controller")
        tunnels = self.ctl.list_tunnels(name=name, is_deleted=q.flag("is_deleted"))
        return (
            t for t in tunnels
            if (uuid is None or t.id == uuid)
            and (status is None or t.status == status)
            and (include is None or t.name.startswith(include))
            and (exclude is None or not t.name.startswith(exclude))
            and (when is None or existed_at(t.created_at, t.deleted_at, when))
        )

    def create_tunnel(self, account_id: str) -> Response:
        body = _body()
        name = body_str(body, "name", required=True)
        if body_bool(body, "ha"):
            return _ok(self._tunnel(self.ctl.create_ha_tunnel(name)))
        return _ok(self._tunnel(self.ctl.create_tunnel(name)))

    def get_tunnel(self, account_id: str, tunnel_id: str) -> Response:
        ctl = self.ctl
        try:
            tunnel = ctl.get_tunnel(tunnel_id)
        except NotFound:
            # as Cloudflare does, a deleted tunnel is still fetched by id, with deleted_at
            deleted = next((t for t in ctl.list_tunnels(is_deleted=True) if t.id == tunnel_id), None)
            if deleted is None:
                raise
            tunnel = deleted
        return _ok(self._tunnel(tunnel))

    def update_tunnel(self, account_id: str, tunnel_id: str) -> Response:
        body = _body()
        name = body_str(body, "name")
        if body.get("tunnel_secret") is not None:
            raise NotSupported("tunnel_secret cannot be set on a warp_connector tunnel")
        return _ok(self._tunnel(self.ctl.update_tunnel(tunnel_id, name=name)))

    def delete_tunnel(self, account_id: str, tunnel_id: str) -> Response:
        force = _query().flag("force")
        _body()  # optional, but when given it must be a JSON object
        return _ok(self._tunnel(self.ctl.delete_tunnel(tunnel_id, force=bool(force))))

    def tunnel_token(self, account_id: str, tunnel_id: str) -> Response:
        return _ok(self.ctl.get_tunnel_token(tunnel_id))

    def get_connector(self, account_id: str, tunnel_id: str, connector_id: str) -> Response:
        """An enrolled connector of this tunnel in Cloudflare's shape (``ConnectorGetResponse``)."""
        ctl = self.ctl
        tunnel = ctl.get_tunnel(tunnel_id)
        found = [c for c in ctl.list_connectors(tunnel_id=tunnel.id) if c.id == connector_id]
        if not found:
            raise NotFound(f"tunnel {tunnel.name!r} has no connector with id {connector_id}")
        return _ok(shapes.warp_connector_client(found[0]))

    # -- HA: the replicas of a tunnel, as the hubs report them ------------------------------
    def tunnel_connections(self, account_id: str, tunnel_id: str) -> Response:
        """Every live connector (replica) of the tunnel, with its ``ha_status`` from the hub's reports."""
        ctl = self.ctl
        tunnel = ctl.get_tunnel(tunnel_id)
        found = ctl.list_connectors(tunnel_id=tunnel.id)
        return _ok([shapes.warp_connector_client(c) for c in found], shapes.result_info(1, len(found) or 1,
                                                                                        len(found), len(found)))

    def failover(self, account_id: str, tunnel_id: str) -> Response:
        """Ask for ``client_id`` to become the active replica: the hub of its vnet picks the request
        up with its next report (`hub up --follow`) and hands it to the replicas over the tunnel."""
        client_id = body_str(_body(), "client_id", required=True)
        asked = self.ctl.request_failover(tunnel_id, client_id)
        return _ok({"tunnel_id": asked.tunnel_id, "client_id": asked.connector_id,
                    "requested_at": asked.requested_at})

    def get_configuration(self, account_id: str, tunnel_id: str) -> Response:
        return _ok(shapes.ha_configuration(self.ctl.get_tunnel_ha(tunnel_id)))

    def put_configuration(self, account_id: str, tunnel_id: str) -> Response:
        body = _body()
        mode = body_str(body, "ha_mode", required=True)
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            raise InvalidInput("config must be an object")
        return _ok(shapes.ha_configuration(self.ctl.set_tunnel_ha(tunnel_id, mode, config)))

    # -- routes -------------------------------------------------------------------
    def list_routes(self, account_id: str) -> Response:
        q = _query()
        flt = RouteFilter(
            tunnel_id=q.text("tunnel_id"),
            virtual_network_id=q.text("virtual_network_id"),
            network_subset=_network(q.text("network_subset")),
            network_superset=_network(q.text("network_superset")),
            comment=q.text("comment"),
            is_deleted=q.flag("is_deleted"),
            route_id=q.text("route_id"),
        )
        wanted = _tun_types(q)
        if wanted is not None:
            wanted |= {TUN_TYPE_ALIASES[t] for t in wanted if t in TUN_TYPE_ALIASES}
        when = q.timestamp("existed_at")
        page, per_page = self._page(q)
        if wanted is None and when is None:  # filters the store answers: it counts and seeks
            texts, total = self.ctl.route_page_json(flt, (page - 1) * per_page, per_page, drop_nulls=True)
            return _ok_texts(texts, shapes.result_info(page, per_page, len(texts), total))
        routes = self.ctl.list_routes(flt)
        matches = (
            r for r in routes
            if (wanted is None or r.tun_type in wanted)
            and (when is None or existed_at(r.created_at, r.deleted_at, when))
        )
        return self._paginated(matches, page, per_page, shapes.teamnet)

    def create_route(self, account_id: str) -> Response:
        body = _body()
        network = parse_network(body_str(body, "network", required=True))
        tunnel_id = body_str(body, "tunnel_id", required=True)
        route = self.ctl.create_route(
            network, tunnel_id,
            virtual_network_id=body_str(body, "virtual_network_id"),
            comment=body_str(body, "comment") or "",
        )
        return _ok(shapes.route(route))

    def update_route(self, account_id: str, route_id: str) -> Response:
        body = _body()
        route = self.ctl.update_route(
            route_id,
            network=_network(body_str(body, "network")),
            tunnel_id=body_str(body, "tunnel_id"),
            virtual_network_id=body_str(body, "virtual_network_id"),
            comment=body_str(body, "comment"),
        )
        return _ok(shapes.route(route))

    def get_route(self, account_id: str, route_id: str) -> Response:
        """One route with its names; a deleted one too, with ``deleted_at`` (as tunnels)."""
        ctl = self.ctl
        try:
            return _ok(shapes.teamnet(ctl.get_route(route_id)))
        except NotFound:
            deleted = next(iter(ctl.list_routes(RouteFilter(route_id=route_id, is_deleted=True))), None)
            if deleted is None or deleted.id != route_id:
                raise
        return _ok(shapes.teamnet(deleted))

    def delete_route(self, account_id: str, route_id: str) -> Response:
        return _ok(shapes.route(self.ctl.delete_route(route_id)))

    def route_by_ip(self, account_id: str, ip: str) -> Response:
        version, address = parse_address(ip)
        q = _query()
        vnet_id = q.text("virtual_network_id")
        # every route here has a virtual network, so "include routes without one" changes nothing
        q.flag("default_virtual_network_fallback")
        route = self.ctl.get_route_by_ip(version, address, virtual_network_id=vnet_id)
        if route is None:
            where = f"virtual network {vnet_id}" if vnet_id else "the default virtual network"
            raise NotFound(f"no route covers {ip} in {where}")
        return _ok(shapes.teamnet(route))

    # -- virtual networks -----------------------------------------------------------
    @staticmethod
    def _vnet_text(name: str | None, comment: str | None) -> None:
        for what, text in (("name", name), ("comment", comment)):
            if text is not None and len(text) > MAX_VNET_TEXT:
                raise InvalidInput(f"the virtual network {what} is longer than {MAX_VNET_TEXT} characters")

    def list_vnets(self, account_id: str) -> Response:
        q = _query()
        is_default = q.flag("is_default")
        alias = q.flag("is_default_network")  # the newer API's name for the same filter
        if is_default is not None and alias is not None and is_default != alias:
            raise InvalidInput("is_default and is_default_network disagree")
        vnets = self.ctl.list_virtual_networks(
            id=q.text("id"), name=q.text("name"),
            is_default=is_default if is_default is not None else alias,
            is_deleted=q.flag("is_deleted"),
        )
        return _ok([shapes.virtual_network(v) for v in vnets])

    def get_vnet(self, account_id: str, vnet_id: str) -> Response:
        """One virtual network; a deleted one too, with ``deleted_at``."""
        found = self.ctl.list_virtual_networks(id=vnet_id, is_deleted=None)
        if not found:
            raise NotFound(f"no virtual network with id {vnet_id}")
        return _ok(shapes.virtual_network(found[0]))

    def create_vnet(self, account_id: str) -> Response:
        body = _body()
        name = body_str(body, "name", required=True)
        comment = body_str(body, "comment")
        self._vnet_text(name, comment)
        is_default, alias = body_bool(body, "is_default"), body_bool(body, "is_default_network")
        if is_default is not None and alias is not None and is_default != alias:
            raise InvalidInput("is_default and is_default_network disagree")
        vnet = self.ctl.create_virtual_network(
            name, comment=comment or "", is_default=bool(is_default if is_default is not None else alias)
        )
        return _ok(shapes.virtual_network(vnet))

    def update_vnet(self, account_id: str, vnet_id: str) -> Response:
        body = _body()
        name, comment = body_str(body, "name"), body_str(body, "comment")
        self._vnet_text(name, comment)
        vnet = self.ctl.update_virtual_network(
            vnet_id, name=name, comment=comment, is_default=body_bool(body, "is_default_network")
        )
        return _ok(shapes.virtual_network(vnet))

    def delete_vnet(self, account_id: str, vnet_id: str) -> Response:
        force = _query().flag("force")
        _body()
        return _ok(shapes.virtual_network(self.ctl.delete_virtual_network(vnet_id, force=bool(force))))


def _tun_types(q: Query) -> set[str] | None:
    """The ``tun_types`` filter (repeated or comma-separated), checked against the known types."""
    types = q.many("tun_types")
    if types is None:
        return None
    unknown = sorted(set(types) - set(TUN_TYPES))
    if unknown:
        raise InvalidInput(f"unknown tunnel type(s) in tun_types: {', '.join(unknown)}")
    return set(types)
