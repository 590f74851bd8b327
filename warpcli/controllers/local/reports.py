"""What runs (the hub's reports), tunnels' HA settings and failover requests, in the state database.

A mixin for :class:`~warpcli.controllers.local.store.LocalController` (it uses the store's
``_write``, ``_read`` and ``_errors``), on the tables ``connector_reports`` and ``tunnel_ha``
(schema 5; PostgreSQL 2). Every write here is made with ``_write(versioned=False)``: reports
come every few seconds from each hub and change nothing a connector or hub reconciles, so they
must not move ``state_version`` (SQLite's is a fingerprint of routes, connectors and hub, which
these tables are not part of; PostgreSQL's counter skips unversioned writes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from warpcli.controllers.local.interface import StorePart
from warpcli.core.errors import InvalidInput, NotFound, NotSupported
from warpcli.core.liveness import (
    HA_MODES,
    ConnectorReport,
    FailoverRequest,
    TunnelHa,
    check_ha_config,
    check_report,
    seconds_since,
    tunnel_status,
)
from warpcli.core.model import Tunnel, utcnow
from warpcli.core.records import replace

#: seconds a failover request waits for its replica to become active before it is dropped
FAILOVER_TTL = 60.0

_REPORT_UPSERT = (
    "INSERT INTO connector_reports(connector_id, last_seen, version, role, priority, role_changed_at, reported_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(connector_id) DO UPDATE SET "
    "last_seen = COALESCE(excluded.last_seen, connector_reports.last_seen), "
    "version = COALESCE(excluded.version, connector_reports.version), "
    "role = COALESCE(excluded.role, connector_reports.role), "
    "priority = COALESCE(excluded.priority, connector_reports.priority), "
    "role_changed_at = COALESCE(excluded.role_changed_at, connector_reports.role_changed_at), "
    "reported_at = excluded.reported_at"
)
_HA_COLS = "tunnel_id, ha_mode, configuration_version, created_at, updated_at, config"


class ReportStore(StorePart):
    """Mixin: the hub's reports, HA settings and failover requests (none moves the state version)."""

    def report_connectors(self, virtual_network_id: str | None,
                          reports: Iterable[ConnectorReport]) -> list[FailoverRequest]:
        checked = [check_report(r) for r in reports]
        now = utcnow()
        with self._write(versioned=False) as conn:
            vnet = self._live_vnet(conn, virtual_network_id)
            known = {cid: tid for cid, tid in conn.execute(
                "SELECT id, tunnel_id FROM connectors WHERE virtual_network_id = ? AND deleted_at IS NULL",
                (vnet.id,))}
            for r in checked:
                if r.connector_id not in known:
                    continue  # retired meanwhile, or another vnet's: nothing to record
                conn.execute(_REPORT_UPSERT, (r.connector_id, r.last_seen, r.version, r.role, r.priority,
                                              r.role_changed_at, now))
                if r.role == "active":  # a promotion asked for is done once its replica is active
                    conn.execute("UPDATE tunnel_ha SET failover_connector_id = NULL, failover_requested_at = NULL "
                                 "WHERE tunnel_id = ? AND failover_connector_id = ?", (known[r.connector_id],
                                                                                       r.connector_id))
            rows = conn.execute(
                "SELECT h.tunnel_id, h.failover_connector_id, c.address, h.failover_requested_at FROM tunnel_ha h "
                "JOIN connectors c ON c.id = h.failover_connector_id "
                "WHERE c.virtual_network_id = ? AND c.deleted_at IS NULL ORDER BY h.tunnel_id", (vnet.id,)).fetchall()
        from warpcli.core.cidr import format_address

        pending = []
        for tid, cid, address, at in rows:
            age = seconds_since(at)
            if age is not None and age <= FAILOVER_TTL:
                pending.append(FailoverRequest(tid, cid, format_address(4, address), at))
        return pending

    def record_connector_version(self, connector_id: str, version: str) -> None:
        """The warpcli version a connector enrolled (or reported) with."""
        check_report(ConnectorReport(connector_id, version=version))
        with self._write(versioned=False) as conn:
            conn.execute(_REPORT_UPSERT, (connector_id, None, version, None, None, None, utcnow()))

    def request_failover(self, tunnel_id: str, connector_id: str) -> FailoverRequest:
        now = utcnow()
        with self._write(versioned=False) as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            row = conn.execute("SELECT address FROM connectors WHERE id = ? AND tunnel_id = ? AND deleted_at IS NULL",
                               (connector_id, tunnel.id)).fetchone()
            if row is None:
                raise NotFound(f"tunnel {tunnel.name!r} has no connector with id {connector_id}")
            self._ensure_ha_row(conn, tunnel, "disabled", now)
            conn.execute("UPDATE tunnel_ha SET failover_connector_id = ?, failover_requested_at = ? WHERE tunnel_id = ?",
                         (connector_id, now, tunnel.id))
        from warpcli.core.cidr import format_address

        return FailoverRequest(tunnel.id, connector_id, format_address(4, row[0]), now)

    @staticmethod
    def _ensure_ha_row(conn: Any, tunnel: Tunnel, mode: str, now: str) -> None:
        if conn.execute("SELECT 1 FROM tunnel_ha WHERE tunnel_id = ?", (tunnel.id,)).fetchone() is None:
            conn.execute("INSERT INTO tunnel_ha(tunnel_id, ha_mode, configuration_version, created_at) "
                         "VALUES (?, ?, 0, ?)", (tunnel.id, mode, tunnel.created_at or now))

    def get_tunnel_ha(self, tunnel_id: str) -> TunnelHa:
        tunnel = self.get_tunnel(tunnel_id)
        rows = self._read(f"SELECT {_HA_COLS} FROM tunnel_ha WHERE tunnel_id = ?", (tunnel.id,))
        if not rows:
            return TunnelHa(tunnel.id, "disabled", 0, tunnel.created_at)
        return TunnelHa(*rows[0])

    def set_tunnel_ha(self, tunnel_id: str, ha_mode: str, config: dict | None = None) -> TunnelHa:
        if ha_mode == "aws":
            raise NotSupported("ha_mode 'aws' (an AWS ENI moved between hosts) is not supported by this controller; "
                               "warpcli's replicas hold a LAN gateway address (ha_mode 'local')")
        if ha_mode not in HA_MODES:
            raise InvalidInput(f"ha_mode must be one of {', '.join(HA_MODES)}, not {ha_mode!r}")
        config = check_ha_config(ha_mode, config)
        text = json.dumps(config, sort_keys=True, separators=(",", ":")) if config else None
        now = utcnow()
        with self._write(versioned=False) as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            self._ensure_ha_row(conn, tunnel, ha_mode, now)
            conn.execute("UPDATE tunnel_ha SET ha_mode = ?, config = ?, configuration_version = "
                         "configuration_version + 1, updated_at = ? WHERE tunnel_id = ?",
                         (ha_mode, text, now, tunnel.id))
            return TunnelHa(*conn.execute(f"SELECT {_HA_COLS} FROM tunnel_ha WHERE tunnel_id = ?",
                                          (tunnel.id,)).fetchone())

    def _with_status(self, tunnels: list[Tunnel]) -> list[Tunnel]:
        """Live tunnels with the status their connectors' last handshakes give (core.liveness)."""
        live = [t for t in tunnels if t.deleted_at is None]
        if not live:
            return tunnels
        seen: dict[str, list[str | None]] = {}
        for tid, last in self._read(
                "SELECT c.tunnel_id, COALESCE(r.last_seen, c.last_seen) FROM connectors c "
                "LEFT JOIN connector_reports r ON r.connector_id = c.id WHERE c.deleted_at IS NULL"):
            seen.setdefault(tid, []).append(last)
        now = datetime.now(UTC)
        return [t if t.deleted_at is not None else replace(t, status=tunnel_status(seen.get(t.id, []), now))
                for t in tunnels]
