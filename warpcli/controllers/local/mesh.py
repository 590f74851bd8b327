"""Who is in the mesh: enrolled connectors (with their device addresses) and the hubs of each vnet."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from warpcli.core.cidr import format_address, parse_address, parse_network
from warpcli.core.errors import (
    AuthError,
    Conflict,
    InvalidInput,
    NotFound,
)
from warpcli.core.model import (
    DEFAULT_HUB_PRIORITY,
    DEVICE_RANGE,
    HUB_ADDRESS,
    Connector,
    Hub,
    Tunnel,
    VirtualNetwork,
    check_hub_priority,
    new_id,
    utcnow,
)
from warpcli.core.records import replace

if TYPE_CHECKING:
    pass


from warpcli.controllers.local.interface import StorePart


class MeshStore(StorePart):
    """Mixin: tunnel-token checks, connectors and hubs."""

    def verify_tunnel_token(self, token: str) -> Tunnel:
        from warpcli.core.tokens import parse_tunnel_token, token_digest

        claims = parse_tunnel_token(token)
        row = self._read(
            "SELECT token_sha256 FROM tunnels WHERE id = ? AND deleted_at IS NULL", (claims["t"],)
        )
        if not row or row[0][0] != token_digest(token):
            raise InvalidInput(
                "the tunnel token is not valid for this controller",
                hint="the tunnel may have been deleted; get a fresh one with `warpcli tunnel token`",
            )
        return self.get_tunnel(claims["t"])

    _CONNECTOR_COLS = "c.id, c.tunnel_id, c.virtual_network_id, c.public_key, c.address, c.created_at, " \
                      "COALESCE(r.last_seen, c.last_seen), c.deleted_at, t.name, r.version, r.role, r.priority, " \
                      "r.role_changed_at"

    @staticmethod
    def _connector(row: tuple) -> Connector:
        return Connector(
            id=row[0], tunnel_id=row[1], virtual_network_id=row[2], public_key=row[3],
            address=format_address(4, row[4]), created_at=row[5], last_seen=row[6], deleted_at=row[7],
            tunnel_name=row[8], version=row[9], role=row[10], priority=row[11], role_changed_at=row[12],
        )

    def _connectors(self, conn: sqlite3.Connection, where: str, params: Iterable) -> list[Connector]:
        rows = conn.execute(
            f"SELECT {self._CONNECTOR_COLS} FROM connectors c LEFT JOIN tunnels t ON t.id = c.tunnel_id "
            "LEFT JOIN connector_reports r ON r.connector_id = c.id "
            f"WHERE c.deleted_at IS NULL {where} ORDER BY c.address",
            tuple(params),
        ).fetchall()
        return [self._connector(r) for r in rows]

    @staticmethod
    def _free_address(conn: sqlite3.Connection) -> int:
        """The lowest free device address (the first two of the range are the network and the
        first hub; a vnet's further hubs take theirs from the same pool as connectors)."""
        device = parse_network(DEVICE_RANGE)
        candidate = parse_address(HUB_ADDRESS)[1] + 1
        for (used,) in conn.execute(
            "SELECT address FROM connectors WHERE deleted_at IS NULL AND address >= ? "
            "UNION SELECT address FROM hubs WHERE deleted_at IS NULL AND address >= ? ORDER BY address",
            (candidate, candidate),
        ):
            if used > candidate:
                break
            candidate = used + 1
        if candidate >= device.hi:
            raise Conflict(f"the device range {DEVICE_RANGE} is full")
        return candidate

    def register_connector(
        self, tunnel_id: str, public_key: str, *, virtual_network_id: str | None = None,
        tunnel_token: bool = False, version: str | None = None,
    ) -> Connector:
        found = self._register_connector(tunnel_id, public_key, virtual_network_id=virtual_network_id,
                                         tunnel_token=tunnel_token)
        if version is not None and version != found.version:
            self.record_connector_version(found.id, version)
            found = replace(found, version=version)
        return found

    def _register_connector(
        self, tunnel_id: str, public_key: str, *, virtual_network_id: str | None = None,
        tunnel_token: bool = False,
    ) -> Connector:
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            vnet = self._live_vnet(conn, virtual_network_id)
            if tunnel_token:
                self._check_may_join(conn, tunnel, vnet)
            hub = conn.execute("SELECT virtual_network_id FROM hubs WHERE public_key = ? AND deleted_at IS NULL",
                               (public_key,)).fetchone()
            if hub is not None:
                raise Conflict("this key is a hub's public key; a connector needs its own key pair")
            existing = self._connectors(conn, "AND c.public_key = ?", (public_key,))
            if existing:
                found = existing[0]
                if found.tunnel_id != tunnel.id or found.virtual_network_id != vnet.id:
                    raise Conflict(
                        f"this key is already enrolled as connector {found.id} of tunnel {found.tunnel_name!r}",
                        hint="enroll with a new key (--force), or delete that connector first",
                        existing=found,
                    )
                return found
            cid, now = new_id(), utcnow()
            conn.execute(
                "INSERT INTO connectors(id, tunnel_id, virtual_network_id, public_key, address, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (cid, tunnel.id, vnet.id, public_key, self._free_address(conn), now),
            )
            return self._connectors(conn, "AND c.id = ?", (cid,))[0]

    @staticmethod
    def _check_may_join(conn: sqlite3.Connection, tunnel: Tunnel, vnet: VirtualNetwork) -> None:
        """The rule for a tunnel token (README, "Security"): a tunnel joins a virtual network
        where it has a route; a tunnel with no route at all, the default one only."""
        vnets = {row[0] for row in conn.execute(
            "SELECT DISTINCT virtual_network_id FROM routes WHERE tunnel_id = ? AND deleted_at IS NULL",
            (tunnel.id,))}
        if vnet.id in vnets or (not vnets and vnet.is_default_network):
            return
        where = "the default virtual network" if not vnets else "a virtual network where it has a route"
        raise AuthError(
            f"a tunnel token may enroll tunnel {tunnel.name!r} only in {where}, not in {vnet.name!r}",
            hint="add a route of the tunnel in that virtual network first, or enroll with an API token",
        )

    def list_connectors(
        self, *, tunnel_id: str | None = None, virtual_network_id: str | None = None
    ) -> list[Connector]:
        where, params = "", []
        if tunnel_id is not None:
            where += " AND c.tunnel_id = ?"
            params.append(tunnel_id)
        if virtual_network_id is not None:
            where += " AND c.virtual_network_id = ?"
            params.append(virtual_network_id)
        with self._errors():
            return self._connectors(self.conn, where, params)

    def delete_connector(self, connector_id: str) -> Connector:
        now = utcnow()
        with self._write() as conn:
            found = self._connectors(conn, "AND c.id = ?", (connector_id,))
            if not found:
                raise NotFound(f"no connector with id {connector_id}")
            conn.execute("UPDATE connectors SET deleted_at = ? WHERE id = ?", (now, connector_id))
        return replace(found[0], deleted_at=now)

    _HUB_COLS = "id, virtual_network_id, public_key, endpoint, created_at, updated_at, priority, address"
    #: preferred first: the order connectors choose in (Hub.sort_key)
    _HUB_ORDER = "ORDER BY priority DESC, address"

    @staticmethod
    def _hub(row: tuple) -> Hub:
        return Hub(
            id=row[0], virtual_network_id=row[1], public_key=row[2], endpoint=row[3],
            address=format_address(4, row[7]), created_at=row[4], updated_at=row[5], priority=row[6],
        )

    def _live_hubs(self, conn: sqlite3.Connection, vnet_id: str) -> list[Hub]:
        rows = conn.execute(
            f"SELECT {self._HUB_COLS} FROM hubs WHERE virtual_network_id = ? AND deleted_at IS NULL {self._HUB_ORDER}",
            (vnet_id,),
        ).fetchall()
        return [self._hub(r) for r in rows]

    def register_hub(self, public_key: str, endpoint: str, *, virtual_network_id: str | None = None,
                     priority: int | None = None) -> Hub:
        if priority is not None:
            check_hub_priority(priority)
        now = utcnow()
        with self._write() as conn:
            vnet = self._live_vnet(conn, virtual_network_id)
            if conn.execute("SELECT 1 FROM connectors WHERE public_key = ? AND deleted_at IS NULL",
                            (public_key,)).fetchone():
                raise Conflict("this key is a connector's public key; the hub needs its own key pair")
            hubs = self._live_hubs(conn, vnet.id)
            same = [h for h in hubs if h.public_key == public_key] or [h for h in hubs if h.endpoint == endpoint]
            if not same:
                hid = new_id()
                taken = {h.address for h in hubs}
                address = parse_address(HUB_ADDRESS)[1] if HUB_ADDRESS not in taken else self._free_address(conn)
                conn.execute(
                    "INSERT INTO hubs(id, virtual_network_id, public_key, endpoint, created_at, updated_at, priority, "
                    "address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (hid, vnet.id, public_key, endpoint, now, now,
                     DEFAULT_HUB_PRIORITY if priority is None else priority, address),
                )
            else:
                old = same[0]
                hid = old.id
                want = (public_key, endpoint, old.priority if priority is None else priority)
                if (old.public_key, old.endpoint, old.priority) != want:
                    if any(h.endpoint == endpoint and h.id != hid for h in hubs):
                        raise Conflict(f"another hub of virtual network {vnet.name!r} is at {endpoint}",
                                       hint="give each hub its own endpoint")
                    conn.execute(
                        "UPDATE hubs SET public_key = ?, endpoint = ?, priority = ?, updated_at = ? WHERE id = ?",
                        (*want, now, hid),
                    )
            return self._hub(conn.execute(f"SELECT {self._HUB_COLS} FROM hubs WHERE id = ?", (hid,)).fetchone())

    def list_hubs(self, virtual_network_id: str | None = None) -> list[Hub]:
        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
            return self._live_hubs(self.conn, vnet.id)

    def get_hub(self, virtual_network_id: str | None = None) -> Hub:
        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
            hubs = self._live_hubs(self.conn, vnet.id)
        if not hubs:
            raise NotFound(
                f"virtual network {vnet.name!r} has no hub yet", hint="run `warpcli hub up --endpoint HOST:PORT`"
            )
        return hubs[0]

    def delete_hub(self, virtual_network_id: str | None = None, *, hub_id: str | None = None) -> Hub:
        now = utcnow()
        with self._write() as conn:
            vnet = self._live_vnet(conn, virtual_network_id)
            hubs = self._live_hubs(conn, vnet.id)
            if hub_id is not None:
                found = [h for h in hubs if h.id == hub_id]
                if not found:
                    raise NotFound(f"virtual network {vnet.name!r} has no hub with id {hub_id}")
            elif len(hubs) > 1:
                raise Conflict(f"virtual network {vnet.name!r} has {len(hubs)} hubs",
                               hint="say which hub to remove (its id)")
            else:
                found = hubs
            if not found:
                raise NotFound(f"virtual network {vnet.name!r} has no hub yet")
            conn.execute("UPDATE hubs SET deleted_at = ? WHERE id = ?", (now, found[0].id))
        return found[0]
