"""``GET /metrics`` of `controller serve`, and the hooks that feed it (:mod:`warpcli.metrics.server`).

The endpoint is on the API's own port, behind the same front end (its deadlines and per-client
caps) and the same authentication: an API token, as for any other endpoint (a tunnel token is
refused, and no token at all is a 401). Its label values are route templates, methods and
statuses; no path, query, token or object name ever becomes a label.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from warpcli.core.model import RouteFilter
from warpcli.server.pool import ControllerPool

if TYPE_CHECKING:
    from flask import Flask, Response

    from warpcli.metrics.server import ServerMetrics

PATH = "/metrics"
_STARTED = "warpcli.metrics.started"


def server_metrics(pool: ControllerPool) -> ServerMetrics:
    """The registry, counting objects through the serving thread's controller."""
    from warpcli.metrics.server import ServerMetrics

    def count() -> dict[str, int]:
        ctl = pool.get()
        _, routes = ctl.route_page_json(RouteFilter(), 0, 0)  # a cached count(*), not a scan
        return {"tunnels": len(ctl.list_tunnels()), "virtual_networks": len(ctl.list_virtual_networks()),
                "routes": routes, "connectors": len(ctl.list_connectors())}

    return ServerMetrics(count)


def install(app: Flask, metrics: ServerMetrics) -> None:
    """Time every request from before authentication, record it when answered, and serve /metrics.

    Call before any other ``before_request`` hook, so a request refused there is counted too.
    """
    from flask import request

    def started() -> None:
        request.environ[_STARTED] = time.perf_counter()

    def answered(response: Response) -> Response:
        began = request.environ.get(_STARTED)
        rule = request.url_rule.rule if request.url_rule is not None else None
        metrics.request(rule, request.method, response.status_code,
                        0.0 if began is None else time.perf_counter() - began)
        return response

    def scrape() -> Response:
        from flask import Response

        body, content_type = metrics.exposition()
        return Response(body, status=200, content_type=content_type)

    app.before_request(started)
    app.after_request(answered)
    app.add_url_rule(PATH, "metrics", view_func=scrape, methods=["GET"], provide_automatic_options=False)
