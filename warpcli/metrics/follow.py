"""Metrics of a `--follow` loop, served over HTTP for Prometheus to scrape.

The loop reports each reconcile (:meth:`FollowMetrics.reconciled`); the WireGuard peers are read
at scrape time through a callable the host layer provides, so handshake ages and byte counters are
those of the moment of the scrape, not of the last reconcile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PeerSample:
    """One WireGuard peer as the interface reports it."""

    interface: str
    public_key: str
    endpoint: str | None
    last_handshake: float | None  #: seconds since the epoch; None: never
    rx_bytes: int
    tx_bytes: int


class FollowMetrics:
    """The registry of one `--follow` process and its HTTP endpoint."""

    def __init__(self, role: str, peers: Callable[[], Iterable[PeerSample]],
                 ha: Callable[[], dict | None] | None = None) -> None:
        """``ha``: the replica's HA report (``host.ha.replica.report``) for its role and role changes."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.role = role
        self._peers = peers
        self.registry = CollectorRegistry()
        self.reconciles = Counter("warpcli_reconciles", "Reconciles run by the follow loop.", ["role"],
                                  registry=self.registry)
        self.errors = Counter("warpcli_reconcile_errors", "Reconciles that failed (tried again later).",
                              ["role"], registry=self.registry)
        self.duration = Histogram("warpcli_reconcile_duration_seconds", "Time one reconcile took.", ["role"],
                                  buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                                  registry=self.registry)
        self.routes_desired = Gauge("warpcli_routes_desired", "Routes the controller wants here (last reconcile).",
                                    ["role"], registry=self.registry)
        self.routes_installed = Gauge("warpcli_routes_installed", "warpcli's routes in the kernel (last reconcile).",
                                      ["role"], registry=self.registry)
        self.last_success = Gauge("warpcli_last_reconcile_success_timestamp_seconds",
                                  "When the last reconcile succeeded (Unix time).", ["role"], registry=self.registry)
        self.registry.register(_PeerCollector(peers))
        if ha is not None:
            self.registry.register(_HaCollector(ha))
        for counter in (self.reconciles, self.errors):  # a zero from the start, not a missing series
            counter.labels(role)
        self._server: Any = None

    def add_policy(self, read: Callable[[], Any], vnet: str) -> None:
        """On a hub: the per-rule counters of its network policy (:mod:`warpcli.metrics.policy`),
        ``read`` returning rule name -> counters at scrape time."""
        from warpcli.metrics.policy import PolicyCollector

        self.registry.register(PolicyCollector(read, vnet))

    def reconciled(self, seconds: float, *, ok: bool, desired: int | None = None,
                   installed: int | None = None) -> None:
        self.reconciles.labels(self.role).inc()
        self.duration.labels(self.role).observe(seconds)
        if not ok:
            self.errors.labels(self.role).inc()
            return
        self.last_success.labels(self.role).set(time.time())
        if desired is not None:
            self.routes_desired.labels(self.role).set(desired)
        if installed is not None:
            self.routes_installed.labels(self.role).set(installed)

    def serve(self, listen: str) -> tuple[str, int]:
        """Start the HTTP endpoint (a daemon thread); returns the address it listens on."""
        from prometheus_client import start_http_server

        from warpcli.core.cidr import parse_listen
        from warpcli.core.errors import InvalidInput

        host, port = parse_listen(listen, option="--metrics-listen", bare_port_host="127.0.0.1",
                                  example="127.0.0.1:9469, 9469 (loopback) or [::1]:9469")
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise InvalidInput(f"--metrics-listen {listen}: cannot listen ({exc.strerror})") from None
        self._server = server
        return str(server.server_address[0]), int(server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


#: the roles a replica can be in (``warpcli_ha_role`` has one series each, 1 for the current one)
HA_ROLES = ("active", "standby", "fault")


class _HaCollector:
    """A replica's role, effective priority and role changes, read from its HA agent at scrape time."""

    def __init__(self, report: Callable[[], dict | None]) -> None:
        self._report = report

    def describe(self) -> list:
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            r = self._report()
        except Exception:  # the HA directory is being torn down: no HA series in this scrape
            r = None
        if not r:
            return
        role = GaugeMetricFamily("warpcli_ha_role", "1 for the replica's current role (active, standby, fault).",
                                 labels=["role"])
        for name in HA_ROLES:
            role.add_metric([name], 1 if r.get("role") == name else 0)
        priority = GaugeMetricFamily("warpcli_ha_effective_priority",
                                     "The VRRP priority the replica runs with (drain: 1, promote: 254).")
        priority.add_metric([], float(r.get("effective_priority") or 0))
        changes = CounterMetricFamily("warpcli_ha_role_changes",
                                      "Role changes since the HA agent started, by the role taken "
                                      "(to=\"active\": a failover or switchover to this replica).", labels=["to"])
        counted = r.get("role_changes") or {}
        for name in HA_ROLES:
            changes.add_metric([name], float(counted.get(name, 0)))
        yield from (role, priority, changes)


class _PeerCollector:
    """Per-peer gauges and counters, read from the WireGuard interface at scrape time."""

    def __init__(self, peers: Callable[[], Iterable[PeerSample]]) -> None:
        self._peers = peers

    def describe(self) -> list:
        return []  # the families depend on the peers of the moment: collected, not declared

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["interface", "public_key"]
        age = GaugeMetricFamily("warpcli_peer_last_handshake_age_seconds",
                                "Seconds since the peer's latest handshake (absent: never).", labels=labels)
        rx = CounterMetricFamily("warpcli_peer_receive_bytes", "Bytes received from the peer.", labels=labels)
        tx = CounterMetricFamily("warpcli_peer_transmit_bytes", "Bytes sent to the peer.", labels=labels)
        up = GaugeMetricFamily("warpcli_peer_scrape_ok", "1 when the WireGuard interface could be read.")
        try:
            samples = list(self._peers())
        except Exception:  # an interface that is down or gone: the scrape still answers
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        now = time.time()
        for p in samples:
            key = [p.interface, p.public_key]
            if p.last_handshake:
                age.add_metric(key, max(0.0, now - p.last_handshake))
            rx.add_metric(key, p.rx_bytes)
            tx.add_metric(key, p.tx_bytes)
        yield from (age, rx, tx, up)
