"""Metrics of `controller serve`: what its API answered, how fast, and what its store holds.

The server reports each request (:meth:`ServerMetrics.request`), each store error and each state
version it answers; the object counts are read at scrape time through a callable the server
provides, at most once per :data:`COUNT_INTERVAL` seconds, so scraping often costs nothing more.

Label values come from fixed sets only (a route's URL template, never its path; a known method
or ``other``; a status code), so no client can grow the number of series by sending odd requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: object counts are taken again after this many seconds (a scrape in between answers the last ones)
COUNT_INTERVAL = 10.0
#: the route label of a request that matched no route (a 404, a probe): one series for all of them
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: request latency buckets, seconds: sub-millisecond reads to a large import page
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
KINDS = ("tunnels", "virtual_networks", "routes", "connectors")


class ServerMetrics:
    """The registry of one `controller serve` process (served by the app at ``/metrics``)."""

    def __init__(self, count_objects: Callable[[], dict[str, int]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("warpcli_server_requests", "Requests answered, by route template, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("warpcli_server_request_duration_seconds",
                                 "Time from the request reaching the app to its answer.", ["route", "method"],
                                 buckets=BUCKETS, registry=self.registry)
        self.store_errors = Counter("warpcli_server_store_errors",
                                    "Requests that failed because the state store could not be used.",
                                    registry=self.registry)
        self.version_changes = Counter(
            "warpcli_server_state_version_changes",
            "State versions answered that differ from the one answered before for the same vnet.",
            registry=self.registry)
        self.registry.register(_ObjectCollector(count_objects))
        self._versions: dict[str, str] = {}
        self._lock = threading.Lock()

    def request(self, route: str | None, method: str, status: int, seconds: float) -> None:
        route = route or UNMATCHED
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def store_error(self) -> None:
        self.store_errors.inc()

    def version_answered(self, virtual_network_id: str, version: str) -> None:
        """A follower was told ``version``: a change from the last one told for this vnet is counted."""
        with self._lock:
            before = self._versions.get(virtual_network_id)
            self._versions[virtual_network_id] = version
        if before is not None and before != version:
            self.version_changes.inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _ObjectCollector:
    """``warpcli_server_objects{kind}``, counted at most once per :data:`COUNT_INTERVAL`."""

    def __init__(self, count: Callable[[], dict[str, int]], interval: float = COUNT_INTERVAL) -> None:
        self._count = count
        self._interval = interval
        self._lock = threading.Lock()
        self._taken = -interval
        self._counts: dict[str, int] | None = None

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        with self._lock:  # concurrent scrapes: one counts, the others wait and answer its counts
            now = time.monotonic()
            if self._counts is None or now - self._taken >= self._interval:
                try:
                    self._counts = self._count()
                except Exception:  # the store is unusable: the scrape still answers, without counts
                    self._counts = None
                self._taken = now
            counts = self._counts
        ok = GaugeMetricFamily("warpcli_server_objects_count_ok", "1 when the store could be counted, else 0.")
        ok.add_metric([], 0 if counts is None else 1)
        yield ok
        if counts is None:
            return
        family = GaugeMetricFamily("warpcli_server_objects", "Live objects in the store, by kind.", labels=["kind"])
        for kind in KINDS:
            family.add_metric([kind], counts.get(kind, 0))
        yield family
