"""The embedded controller: every object in one SQLite file.

Writes run in ``BEGIN IMMEDIATE`` transactions, so concurrent processes are
serialised by SQLite's lock (WAL mode lets readers go on meanwhile) and a
check-then-insert can never race. Every sqlite3 error is turned into a one-line
:class:`StateError` naming the file.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from warpcli.controllers.local.api_tokens import ApiTokenStore
from warpcli.controllers.local.interface import StateStore
from warpcli.controllers.local.readcache import Quiet, cache_for
from warpcli.controllers.local.reports import ReportStore
from warpcli.controllers.local.schema import MIGRATIONS, SCHEMA_VERSION
from warpcli.core import conflicts, faults, interrupts
from warpcli.core.cidr import BITS, Network, as_network, format_address, mask, parse_address, parse_network
from warpcli.core.controller import Controller, RouteSpec
from warpcli.core.errors import (
    AuthError,
    BulkImportError,
    Conflict,
    InvalidInput,
    NotFound,
    StateError,
    WarpcliError,
)
from warpcli.core.model import (
    DEFAULT_HUB_PRIORITY,
    DEVICE_RANGE,
    HUB_ADDRESS,
    TUN_TYPE,
    Connector,
    Hub,
    Route,
    RouteFilter,
    Tunnel,
    VirtualNetwork,
    check_hub_priority,
    new_id,
    utcnow,
)
from warpcli.core.names import MAX_VNET_COMMENT, validate_comment, validate_name
from warpcli.core.records import field_names, replace
from warpcli.core.secrets import SecretStore

if TYPE_CHECKING:
    from warpcli.core.policies import PolicySpec

DB_NAME = "state.db"
#: SQLite's page cache while an import writes (negative: KiB), against the default 2 MB;
#: a few times fewer cache misses on a million rows, well inside the import's memory budget
IMPORT_CACHE_KB = -100_000
_LEN = {4: 4, 6: 16}


def _blob(version: int, value: int) -> bytes:
    return value.to_bytes(_LEN[version], "big")


def scans_key(scans: list[tuple[str, list]]) -> tuple:
    """A hashable key for a listing's scans (their SQL and parameters)."""
    return tuple((sql, tuple(params)) for sql, params in scans)


def token_key(tunnel_id: str) -> str:
    return f"tunnel-token:{tunnel_id}"



#: where each field of Route comes from in the route query (alias r, its tunnel t, its vnet v)
_ROUTE_SQL = {"id": "r.id", "network": "r.network", "tunnel_id": "r.tunnel_id",
              "virtual_network_id": "r.virtual_network_id", "comment": "r.comment", "created_at": "r.created_at",
              "tunnel_name": "t.name", "virtual_network_name": "v.name", "tun_type": f"'{TUN_TYPE}'",
              "deleted_at": "r.deleted_at"}


def _route_json_object(without: str | None = None) -> str:
    """SQLite's json_object() of a route: Route's field list decides the keys and their order."""
    return "json_object(" + ", ".join(f"'{f}', {_ROUTE_SQL[f]}" for f in field_names(Route) if f != without) + ")"

class _TxnHooks:
    """What :meth:`LocalController.transaction` does to the secret store after it ends."""

    def __init__(self) -> None:
        self.on_commit: list[Callable[[], object]] = []
        self.on_rollback: list[Callable[[], object]] = []

    @staticmethod
    def run(actions: list[Callable[[], object]]) -> None:
        for action in actions:
            try:
                action()
            except WarpcliError:
                pass  # a stale secret is harmless and unusable


class LocalController(ReportStore, ApiTokenStore, StateStore, Controller):
    kind = "local"
    engine = "sqlite"
    atomic_import = True

    def __init__(
        self,
        state_dir: Path,
        *,
        secrets: Callable[[], SecretStore],
        lock_timeout: float = 10.0,
        path: Path | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.path = Path(path) if path is not None else self.state_dir / DB_NAME
        self._secrets_factory = secrets
        self._secrets: SecretStore | None = None
        self._lock_timeout = lock_timeout
        self._conn: sqlite3.Connection | None = None
        self._txn: _TxnHooks | None = None  #: set inside transaction()
        self._quiet: Quiet | None = None
        self._cache = cache_for(str(self.path.resolve()))

    # -- plumbing -----------------------------------------------------------------
    @property
    def location(self) -> str:
        return str(self.path)

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the schema (opening the file does it): (version before, after)."""
        if not self.path.exists():
            before = 0
        else:
            with self._errors():
                probe = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
                try:
                    before = self._refuse_newer(probe)
                finally:
                    probe.close()
        self.conn  # noqa: B018 - opening migrates
        return before, SCHEMA_VERSION

    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            self._secrets = self._secrets_factory()
        return self._secrets

    def token_home(self) -> str:
        return f"in {self.secrets.description}"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"the change conflicts with existing state ({exc})") from None
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if "locked" in msg or "busy" in msg:
                raise StateError(
                    f"the state database {self.path} is locked by another process",
                    hint="retry, or wait longer with WARPCLI_LOCK_TIMEOUT=SECONDS",
                ) from None
            if "unable to open" in msg or "readonly" in msg or "read-only" in msg:
                raise StateError(
                    f"cannot open the state database {self.path} ({msg})",
                    hint="check its permissions, or use --state-dir",
                ) from None
            if "full" in msg:
                raise StateError(
                    f"state database {self.path}: database or disk is full; nothing was changed",
                    hint="free some space (on the state directory's disk, or the temporary directory's)",
                ) from None
            raise StateError(f"state database {self.path}: {msg}") from None
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{self.path} is not a usable warpcli state database ({exc})",
                hint="move it aside or point --state-dir elsewhere",
            ) from None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
            self._quiet = Quiet(self._conn)
        return self._conn

    def _open(self) -> sqlite3.Connection:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateError(
                f"cannot create the state directory {self.state_dir} ({exc.strerror})",
                hint="use --state-dir or WARPCLI_STATE_DIR",
            ) from None
        self._check_file()
        with self._errors():
            if not self._exists():
                self._create()
            conn = sqlite3.connect(
                str(self.path), timeout=self._lock_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA foreign_keys = ON")
                # before anything that writes (switching to WAL rewrites the header):
                # a file this version cannot use is left exactly as it is
                self._refuse_newer(conn)
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _exists(self) -> bool:
        try:
            os.stat(self.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._unreadable(exc) from None
        return True

    def _unreadable(self, exc: OSError) -> StateError:
        return StateError(
            f"cannot read the state database {self.path} ({exc.strerror})",
            hint="check the permissions of the state directory, or use --state-dir",
        )

    def _check_file(self) -> None:
        """Refuse, in one line, what SQLite would misread: a directory, an unreadable
        directory, or a 0-byte file (which SQLite would quietly fill with a new account,
        while the secret store still holds the tokens of the old one)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._unreadable(exc) from None
        if stat.S_ISDIR(st.st_mode):
            raise StateError(f"{self.path} is a directory, not a state database")
        if st.st_size == 0 and not self._has_wal():
            raise StateError(
                f"the state database {self.path} is empty (0 bytes): its data is gone, but not created by "
                "this warpcli",
                hint="restore it from a backup; or, to start over with a new account, move state.db and "
                "secrets.json aside",
            )

    def _has_wal(self) -> bool:
        """A 0-byte main file with a non-empty WAL beside it is a database whose pages are all
        still in the log (SQLite reads it fine)."""
        try:
            return os.stat(f"{self.path}-wal").st_size > 0
        except OSError:
            return False

    def _create(self) -> None:
        """Make a new state database atomically and 0600, whatever the directory or umask:
        built under a temporary name, then linked in place (a process that loses the race
        to another one uses the other's). So a 0-byte ``state.db`` is never ours."""
        tmp = self.state_dir / f".{DB_NAME}.{os.getpid()}.tmp"
        for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            os.fchmod(fd, 0o600)  # the umask may have taken bits away, never added them; be explicit
            os.close(fd)
            conn = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                self._migrate(conn)
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        except OSError as exc:
            raise StateError(
                f"cannot create the state database {self.path} ({exc.strerror})",
                hint="check the permissions of the state directory, or use --state-dir",
            ) from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                try:
                    leftover.unlink(missing_ok=True)
                except OSError:
                    pass

    def _refuse_newer(self, conn: sqlite3.Connection) -> int:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.path} was written by a newer warpcli (schema {version}, this one knows {SCHEMA_VERSION})",
                hint="upgrade warpcli",
            )
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = self._refuse_newer(conn)
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if step == 0:
                    self._seed(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _seed(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta(key, value) VALUES ('account_id', ?)", (new_id().replace("-", ""),))
        conn.execute(
            "INSERT INTO virtual_networks(id, name, comment, is_default, created_at) VALUES (?, 'default', ?, 1, ?)",
            (new_id(), "created with the state", utcnow()),
        )

    @contextmanager
    def _write(self, versioned: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``versioned=False`` (reports): a write no state version counts;
        SQLite's version is a fingerprint of the tables that matter, so it changes nothing here."""
        conn = self.conn
        if self._txn is not None:  # inside transaction(): its BEGIN and COMMIT hold for this write too
            with self._errors():
                yield conn
            return
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            committed = False
            try:
                yield conn
                faults.point("commit-before")
                interrupts.commit_point()  # a Ctrl-C from here on is reported, not raised
                faults.point("commit")
                conn.execute("COMMIT")
                committed = True
                faults.point("commit-after")
            except BaseException:
                if not committed:
                    interrupts.cancel_commit_point()
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the error being raised is the one to report
                raise

    @contextmanager
    def transaction(self) -> Iterator[bool]:
        """One ``BEGIN IMMEDIATE`` around every read and write inside (``apply``): all or
        nothing, and a concurrent writer sees the state before or after, never between.

        Secrets follow: a token stored inside is removed again on rollback, a token
        deleted inside is deleted only once the transaction commits.
        """
        if self._txn is not None:
            yield True
            return
        hooks = _TxnHooks()
        try:
            with self._write():
                self._txn = hooks
                try:
                    yield True
                finally:
                    self._txn = None
        except BaseException:
            hooks.run(hooks.on_rollback)
            raise
        hooks.run(hooks.on_commit)

    def _read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._errors():
            return self.conn.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def account_id(self) -> str:
        return self._read("SELECT value FROM meta WHERE key = 'account_id'")[0][0]

    # -- network policies ---------------------------------------------------------
    def get_policy(self, virtual_network_id: str) -> PolicySpec:
        from warpcli.core.policies import PolicySpec

        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
            row = self.conn.execute("SELECT document, revision FROM policies WHERE virtual_network_id = ?",
                                    (vnet.id,)).fetchone()
        return PolicySpec() if row is None else PolicySpec.from_document(row[0], int(row[1]))

    def get_policy_document(self, virtual_network_id: str) -> dict:
        import json

        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
            row = self.conn.execute("SELECT document, revision FROM policies WHERE virtual_network_id = ?",
                                    (vnet.id,)).fetchone()
        if row is None:
            return {"default": "allow", "rules": [], "revision": 0}
        return {**json.loads(row[0]), "revision": int(row[1])}

    def put_policy(self, virtual_network_id: str, policy: PolicySpec) -> PolicySpec:
        document = policy.document()
        with self._write() as conn:
            vnet = self._live_vnet(conn, virtual_network_id)
            row = conn.execute(
                "INSERT INTO policies(virtual_network_id, document, revision, updated_at) VALUES (?, ?, 1, ?) "
                "ON CONFLICT(virtual_network_id) DO UPDATE SET document = excluded.document, "
                "revision = policies.revision + 1, updated_at = excluded.updated_at "
                "WHERE policies.revision = ? RETURNING revision",
                (vnet.id, document, utcnow(), policy.revision),
            ).fetchone()
            if row is None:
                raise Conflict(f"the policy of virtual network {vnet.name!r} changed meanwhile",
                               hint="run the command again")
        from warpcli.core.policies import PolicySpec

        return PolicySpec(policy.default, policy.rules, int(row[0]))

    # -- tunnels ------------------------------------------------------------------
    _TUNNEL_COLS = "id, name, status, created_at, deleted_at"

    def _tunnel(self, row: tuple, account: str) -> Tunnel:
        return Tunnel(
            id=row[0], name=row[1], status=row[2], created_at=row[3], deleted_at=row[4], account_tag=account
        )

    def _live_tunnel(self, conn: sqlite3.Connection, tunnel_id: str) -> Tunnel:
        row = conn.execute(
            f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE id = ? AND deleted_at IS NULL", (tunnel_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no tunnel with id {tunnel_id}")
        return self._tunnel(row, self.account_id)

    def create_tunnel(self, name: str) -> Tunnel:
        name = validate_name("tunnel", name)
        store = self.secrets  # fail before writing anything if no secret store is usable
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE name = ? AND deleted_at IS NULL", (name,)
            ).fetchone()
            if row is not None:
                existing = self._tunnel(row, self.account_id)
                raise conflicts.tunnel_name_taken(existing)
            live = conn.execute("SELECT name FROM tunnels WHERE deleted_at IS NULL")
            conflicts.name_looks_taken("tunnel", name, (n for (n,) in live))
            from warpcli.core.tokens import new_tunnel_token, token_digest

            tunnel = Tunnel(id=new_id(), name=name, account_tag=self.account_id, created_at=utcnow())
            token = new_tunnel_token(tunnel.account_tag, tunnel.id)
            conn.execute(
                "INSERT INTO tunnels(id, name, status, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (tunnel.id, name, tunnel.status, token_digest(token), tunnel.created_at),
            )
            store.set(token_key(tunnel.id), token)
            if self._txn is not None:
                self._txn.on_rollback.append(lambda: store.delete(token_key(tunnel.id)))
        return tunnel

    def list_tunnels(self, *, name: str | None = None, is_deleted: bool | None = False) -> list[Tunnel]:
        where, params = [], []
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if is_deleted is not None:
            where.append("deleted_at IS NOT NULL" if is_deleted else "deleted_at IS NULL")
        sql = f"SELECT {self._TUNNEL_COLS} FROM tunnels"
        if where:
            sql += " WHERE " + " AND ".join(where)
        account = self.account_id
        return self._with_status([self._tunnel(r, account) for r in self._read(sql + " ORDER BY name, created_at",
                                                                               params)])

    def get_tunnel(self, tunnel_id: str) -> Tunnel:
        with self._errors():
            return self._with_status([self._live_tunnel(self.conn, tunnel_id)])[0]

    def update_tunnel(self, tunnel_id: str, *, name: str | None = None) -> Tunnel:
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            if name is None:
                return tunnel
            name = validate_name("tunnel", name)
            if name == tunnel.name:
                return tunnel
            row = conn.execute(
                f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE name = ? AND deleted_at IS NULL AND id != ?",
                (name, tunnel_id),
            ).fetchone()
            if row is not None:
                raise conflicts.tunnel_name_taken(self._tunnel(row, tunnel.account_tag))
            others = conn.execute("SELECT name FROM tunnels WHERE deleted_at IS NULL AND id != ?", (tunnel_id,))
            conflicts.name_looks_taken("tunnel", name, (n for (n,) in others))
            conn.execute("UPDATE tunnels SET name = ? WHERE id = ?", (name, tunnel_id))
        return replace(tunnel, name=name)

    def delete_tunnel(self, tunnel_id: str, *, force: bool = False) -> Tunnel:
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            (n,) = conn.execute(
                "SELECT count(*) FROM routes WHERE tunnel_id = ? AND deleted_at IS NULL", (tunnel_id,)
            ).fetchone()
            if n and not force:
                raise conflicts.tunnel_has_routes(tunnel.name, n)
            now = utcnow()
            conn.execute(
                "UPDATE routes SET deleted_at = ? WHERE tunnel_id = ? AND deleted_at IS NULL", (now, tunnel_id)
            )
            conn.execute("UPDATE tunnels SET deleted_at = ? WHERE id = ?", (now, tunnel_id))
            conn.execute(
                "UPDATE connectors SET deleted_at = ? WHERE tunnel_id = ? AND deleted_at IS NULL", (now, tunnel_id)
            )
            if self._txn is not None:  # the token goes once the deletion is committed
                self._txn.on_commit.append(lambda: self.secrets.delete(token_key(tunnel_id)))
        if self._txn is None:
            try:
                self.secrets.delete(token_key(tunnel_id))
            except WarpcliError:
                pass  # the tunnel is gone; a stale secret is harmless and unusable
        return replace(tunnel, deleted_at=now)

    def get_tunnel_token(self, tunnel_id: str) -> str:
        tunnel = self.get_tunnel(tunnel_id)
        token = self.secrets.get(token_key(tunnel_id))
        if token is None:
            raise NotFound(
                f"the token of tunnel {tunnel.name!r} is not in {self.secrets.description}",
                hint="it was created with another secret backend or on another machine",
            )
        return token

    # -- virtual networks ---------------------------------------------------------
    _VNET_COLS = "id, name, comment, is_default, created_at, deleted_at"

    @staticmethod
    def _vnet(row: tuple) -> VirtualNetwork:
        return VirtualNetwork(
            id=row[0], name=row[1], comment=row[2], is_default_network=bool(row[3]),
            created_at=row[4], deleted_at=row[5],
        )

    def _live_vnet(self, conn: sqlite3.Connection, vnet_id: str | None) -> VirtualNetwork:
        if vnet_id is None:
            row = conn.execute(
                f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE is_default = 1 AND deleted_at IS NULL"
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE id = ? AND deleted_at IS NULL", (vnet_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no virtual network with id {vnet_id}")
        return self._vnet(row)

    def _check_vnet_name(self, conn: sqlite3.Connection, name: str, *, but: str | None = None) -> None:
        row = conn.execute(
            f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE name = ? AND deleted_at IS NULL", (name,)
        ).fetchone()
        if row is not None and row[0] != but:
            existing = self._vnet(row)
            raise conflicts.vnet_name_taken(existing)
        live = conn.execute("SELECT id, name FROM virtual_networks WHERE deleted_at IS NULL")
        conflicts.name_looks_taken("virtual network", name, (n for (vid, n) in live if vid != but))

    def create_virtual_network(self, name: str, *, comment: str = "", is_default: bool = False) -> VirtualNetwork:
        name = validate_name("virtual network", name)
        validate_comment(comment, MAX_VNET_COMMENT)
        with self._write() as conn:
            self._check_vnet_name(conn, name)
            if is_default:
                conn.execute("UPDATE virtual_networks SET is_default = 0 WHERE is_default = 1")
            vnet = VirtualNetwork(
                id=new_id(), name=name, comment=comment, is_default_network=is_default, created_at=utcnow()
            )
            conn.execute(
                "INSERT INTO virtual_networks(id, name, comment, is_default, created_at) VALUES (?, ?, ?, ?, ?)",
                (vnet.id, name, comment, int(is_default), vnet.created_at),
            )
        return vnet

    def list_virtual_networks(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        is_default: bool | None = None,
        is_deleted: bool | None = False,
    ) -> list[VirtualNetwork]:
        where: list[str] = []
        params: list[object] = []
        for col, value in (("id", id), ("name", name)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        if is_default is not None:
            where.append("is_default = ?")
            params.append(int(is_default))
        if is_deleted is not None:
            where.append("deleted_at IS NOT NULL" if is_deleted else "deleted_at IS NULL")
        sql = f"SELECT {self._VNET_COLS} FROM virtual_networks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [self._vnet(r) for r in self._read(sql + " ORDER BY is_default DESC, name", params)]

    def update_virtual_network(
        self,
        vnet_id: str,
        *,
        name: str | None = None,
        comment: str | None = None,
        is_default: bool | None = None,
    ) -> VirtualNetwork:
        with self._write() as conn:
            vnet = self._live_vnet(conn, vnet_id)
            if name is not None and name != vnet.name:
                name = validate_name("virtual network", name)
                self._check_vnet_name(conn, name, but=vnet_id)
                conn.execute("UPDATE virtual_networks SET name = ? WHERE id = ?", (name, vnet_id))
            if comment is not None:
                validate_comment(comment, MAX_VNET_COMMENT)
                conn.execute("UPDATE virtual_networks SET comment = ? WHERE id = ?", (comment, vnet_id))
            if is_default is True and not vnet.is_default_network:
                conn.execute("UPDATE virtual_networks SET is_default = 0 WHERE is_default = 1")
                conn.execute("UPDATE virtual_networks SET is_default = 1 WHERE id = ?", (vnet_id,))
            elif is_default is False and vnet.is_default_network:
                raise conflicts.default_vnet_required(vnet.name)
            return self._live_vnet(conn, vnet_id)

    def delete_virtual_network(self, vnet_id: str, *, force: bool = False) -> VirtualNetwork:
        with self._write() as conn:
            vnet = self._live_vnet(conn, vnet_id)
            if vnet.is_default_network:
                raise conflicts.default_vnet_undeletable(vnet.name)
            in_use = []
            for table, what in (("routes", "route(s)"), ("connectors", "enrolled connector(s)"), ("hubs", "hub")):
                (n,) = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE virtual_network_id = ? AND deleted_at IS NULL", (vnet_id,)
                ).fetchone()
                if n:
                    in_use.append(f"{n} {what}")
            if in_use and not force:
                raise conflicts.vnet_in_use(vnet.name, in_use)
            now = utcnow()
            for table in ("routes", "connectors", "hubs"):
                conn.execute(
                    f"UPDATE {table} SET deleted_at = ? WHERE virtual_network_id = ? AND deleted_at IS NULL",
                    (now, vnet_id),
                )
            conn.execute("UPDATE virtual_networks SET deleted_at = ? WHERE id = ?", (now, vnet_id))
        return replace(vnet, deleted_at=now)

    # -- routes -------------------------------------------------------------------
    _ROUTE_COLS = "r.id, r.network, r.tunnel_id, r.virtual_network_id, r.comment, r.created_at, r.deleted_at"
    #: the order of :meth:`list_routes` within one vnet (SQLite's index settles ties by rowid)
    _ROUTE_ORDER = "r.version, r.lo, r.prefixlen"

    def _name_maps(self) -> tuple[dict[str, str], dict[str, str]]:
        tunnels = dict(self._read("SELECT id, name FROM tunnels"))
        vnets = dict(self._read("SELECT id, name FROM virtual_networks"))
        return tunnels, vnets

    @staticmethod
    def _route(row: tuple, tunnels: dict[str, str], vnets: dict[str, str]) -> Route:
        return Route(
            id=row[0], network=row[1], tunnel_id=row[2], virtual_network_id=row[3], comment=row[4],
            created_at=row[5], deleted_at=row[6], tunnel_name=tunnels.get(row[2]),
            virtual_network_name=vnets.get(row[3]),
        )

    @staticmethod
    def _superset_probe(net: Network) -> tuple[str, list]:
        """SQL matching the prefixes that contain ``net``.

        A containing prefix starts at ``net`` masked to its own length, so its ``lo``
        is one of at most 33 (129) values: an ``IN`` list of index seeks on
        ``(vnet, version, lo)``, then ``hi >= net.hi`` keeps the ones that reach far enough.
        """
        los = sorted({net.value & mask(net.version, p) for p in range(net.prefixlen + 1)})
        marks = ", ".join("?" for _ in los)
        params: list = [net.version, *(_blob(net.version, lo) for lo in los), _blob(net.version, net.hi)]
        return f"r.version = ? AND r.lo IN ({marks}) AND r.hi >= ?", params

    def _route_query(self, flt: RouteFilter, columns: str | None = None, joins: str = "") -> tuple[str, list]:
        where: list[str] = []
        params: list = []
        if flt.is_deleted is not None:
            where.append("r.deleted_at IS NOT NULL" if flt.is_deleted else "r.deleted_at IS NULL")
        if flt.route_id is not None:
            where.append("r.id = ?")
            params.append(flt.route_id)
        if flt.virtual_network_id is not None:
            where.append("r.virtual_network_id = ?")
            params.append(flt.virtual_network_id)
        elif flt.network_subset or flt.network_superset:
            # lets SQLite use the (vnet, version, lo) index for each vnet in turn
            where.append("r.virtual_network_id IN (SELECT id FROM virtual_networks)")
        if flt.tunnel_id is not None:
            where.append("r.tunnel_id = ?")
            params.append(flt.tunnel_id)
        if flt.comment is not None:
            where.append("r.comment = ?")
            params.append(flt.comment)
        if flt.network_subset is not None:
            n = flt.network_subset
            where.append("r.version = ? AND r.lo >= ? AND r.lo <= ? AND r.hi <= ?")
            params += [n.version, _blob(n.version, n.lo), _blob(n.version, n.hi), _blob(n.version, n.hi)]
        if flt.network_superset is not None:
            sql, p = self._superset_probe(flt.network_superset)
            where.append(sql)
            params += p
        sql = f"SELECT {columns or self._ROUTE_COLS} FROM routes r {joins}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def _scans(self, flt: RouteFilter) -> list[RouteFilter]:
        """One filter per vnet, in listing order (the default first, then by name)."""
        if flt.virtual_network_id is not None or flt.route_id is not None:
            return [flt]
        order = self._read("SELECT id FROM virtual_networks ORDER BY is_default DESC, name, created_at")
        return [replace(flt, virtual_network_id=vid) for (vid,) in order]

    def _stream(self, sql: str, params: list) -> Iterator[tuple]:
        with self._errors():
            cursor = self.conn.execute(sql, params)
            while True:
                rows = cursor.fetchmany(2000)
                if not rows:
                    break
                yield from rows

    def list_routes(self, flt: RouteFilter = RouteFilter()) -> Iterator[Route]:
        """Routes in a stable order: by virtual network (the default first, then by
        name), then by address and prefix length. One index range scan per vnet, so
        the rows stream without a sort however large the table."""
        tunnels, vnets = self._name_maps()
        for scan in self._scans(flt):
            sql, params = self._route_query(scan)
            for row in self._stream(f"{sql} ORDER BY {self._ROUTE_ORDER}", params):
                yield self._route(row, tunnels, vnets)

    #: Route.to_dict() built by SQLite itself: the same keys in the same order
    _ROUTE_JSON = _route_json_object()

    def list_routes_json(self, flt: RouteFilter = RouteFilter()) -> Iterator[str]:
        """The JSON text of each route, encoded by SQLite's json_object (the fast path
        for ``routes --json``: no Python object per row)."""
        joins = "LEFT JOIN tunnels t ON t.id = r.tunnel_id LEFT JOIN virtual_networks v ON v.id = r.virtual_network_id"
        for scan in self._scans(flt):
            sql, params = self._route_query(scan, self._ROUTE_JSON, joins)
            with self._errors():
                for (text,) in self.conn.execute(sql + " ORDER BY r.version, r.lo, r.prefixlen", params):
                    yield text

    #: ``_ROUTE_JSON`` without its null members (the Cloudflare API's style). A live route
    #: with both names, the usual row, leaves out deleted_at; any other goes through
    #: json_patch onto an empty object, which drops null members (RFC 7396) and keeps the
    #: order of the others (slower, hence not for every row).
    _ROUTE_JSON_NO_NULLS = (
        "CASE WHEN r.deleted_at IS NULL AND t.name IS NOT NULL AND v.name IS NOT NULL THEN "
        + _route_json_object(without="deleted_at")
        + f" ELSE json_patch('{{}}', {_ROUTE_JSON}) END"
    )
    _ROUTE_JOINS = (
        "LEFT JOIN tunnels t ON t.id = r.tunnel_id LEFT JOIN virtual_networks v ON v.id = r.virtual_network_id"
    )
    #: the listing order within one vnet; rowid settles ties between deleted routes
    _ROUTE_KEY = "r.version, r.lo, r.prefixlen, r.rowid"

    def route_page_json(
        self, flt: RouteFilter, offset: int, limit: int, *, drop_nulls: bool = False
    ) -> tuple[list[str], int]:
        """One page of :meth:`list_routes_json` and the count of all matches.

        The count is one ``count(*)`` per vnet, and the page starts with an index seek
        after the last row of the page before (keyset pagination) when that page was
        just served; neither is recomputed while the database is unchanged
        (:mod:`readcache`, shared by the server's threads). So walking a listing
        costs one page's rows per page, not a scan of everything before it.
        """
        filters = self._scans(flt)
        scans = [self._route_query(f) for f in filters]
        listing = scans_key(scans)
        with self._errors():
            conn, quiet, cache = self.conn, self._quiet, self._cache
            assert quiet is not None
            def count(sql: str, params: list) -> int:
                return cache.get(quiet, ("count", sql, tuple(params)),
                                 lambda: int(conn.execute(sql, params).fetchone()[0]))

            counts = [count(*self._route_query(f, "count(*)")) for f in filters]
            total = sum(counts)
            page: list[str] = []
            if limit <= 0 or offset >= total:
                return page, total
            stamp = cache.stamp()
            start = cache.peek(quiet, ("after", listing, offset)) or self._page_start(conn, filters, counts, offset)
            if start is None:
                return page, total
            index, after = start
            columns = (self._ROUTE_JSON_NO_NULLS if drop_nulls else self._ROUTE_JSON) + ", r.rowid"
            last = None
            for i in range(index, len(filters)):
                sql, params = self._route_query(filters[i], columns, self._ROUTE_JOINS)
                if after is not None and i == index:
                    sql += (" AND " if " WHERE " in sql else " WHERE ") + f"({self._ROUTE_KEY}) > (?, ?, ?, ?)"
                    params = [*params, *after]
                sql += f" ORDER BY {self._ROUTE_KEY} LIMIT ?"
                rows = conn.execute(sql, [*params, limit - len(page)]).fetchall()
                page += [text for text, _ in rows]
                if rows:
                    last = (i, rows[-1][1])
                if len(page) >= limit:
                    break
            if last is not None:  # where the next page starts, should it be asked for next
                key = conn.execute(
                    f"SELECT {self._ROUTE_KEY} FROM routes r WHERE r.rowid = ?", (last[1],)
                ).fetchone()
                cache.put(stamp, ("after", listing, offset + len(page)), (last[0], tuple(key)))
        return page, total

    def _page_start(
        self, conn: sqlite3.Connection, filters: list[RouteFilter], counts: list[int], offset: int
    ) -> tuple[int, tuple | None] | None:
        """Where row ``offset`` is, found by counting: (scan index, key of the row before it there, or None)."""
        skip = offset
        for index, n in enumerate(counts):
            if skip < n:
                if skip == 0:
                    return index, None
                sql, params = self._route_query(filters[index], self._ROUTE_KEY)
                row = conn.execute(f"{sql} ORDER BY {self._ROUTE_KEY} LIMIT 1 OFFSET ?", [*params, skip - 1]).fetchone()
                return (index, tuple(row)) if row is not None else None
            skip -= n
        return None

    def route_entries(self, virtual_network_id: str | None = None) -> Iterator[tuple]:
        """Raw ``(id, network, version, lo, prefixlen, tunnel_id, vnet_id)`` rows for the overlap sweep,
        in address order (IPv4 first).

        For the whole table the ``route_sweep`` index holds every column asked for, in
        that order, so the rows stream from the index alone (for one vnet SQLite picks
        between it and ``route_cidr``). The tunnel and vnet ids come back as one string
        object each, not one per row: a caller that keeps them (the overlap report does)
        holds a million fewer strings.
        """
        sql = (
            "SELECT id, network, version, lo, prefixlen, tunnel_id, virtual_network_id FROM routes "
            + ("INDEXED BY route_sweep WHERE deleted_at IS NULL" if virtual_network_id is None else
               "WHERE deleted_at IS NULL AND virtual_network_id = ?")
            + " ORDER BY version, lo, prefixlen"
        )
        params: tuple = () if virtual_network_id is None else (virtual_network_id,)
        ids: dict[str, str] = {}
        same = ids.setdefault
        decode = int.from_bytes
        with self._errors():
            for rid, network, version, lo, plen, tid, vid in self.conn.execute(sql, params):
                yield rid, network, version, decode(lo, "big"), plen, same(tid, tid), same(vid, vid)

    def route_networks(self, virtual_network_id: str, *, except_tunnel: str | None = None) -> list[str]:
        """One query, one string: SQLite joins the CIDRs (which hold no space) and Python splits
        them, instead of a row object per route (2-3x faster at 100k routes)."""
        with self._errors():
            (text,) = self.conn.execute(
                "SELECT group_concat(network, ' ') FROM routes WHERE deleted_at IS NULL AND virtual_network_id = ?"
                " AND tunnel_id IS NOT ?", (virtual_network_id, except_tunnel)).fetchone()
        return text.split(" ") if text else []

    def route_rows(self) -> Iterator[tuple]:
        """Live routes as plain rows for ``export`` and ``apply`` (no Route objects, no name joins)."""
        decode = int.from_bytes
        with self._errors():
            for rid, network, version, lo, plen, tid, vid, comment in self.conn.execute(
                "SELECT id, network, version, lo, prefixlen, tunnel_id, virtual_network_id, comment FROM routes "
                "WHERE deleted_at IS NULL"
            ):
                yield rid, network, version, decode(lo, "big"), plen, tid, vid, comment

    def _existing_route(self, conn: sqlite3.Connection, vnet_id: str, net: Network) -> tuple | None:
        return conn.execute(
            f"SELECT {self._ROUTE_COLS} FROM routes r WHERE r.virtual_network_id = ? AND r.version = ? "
            "AND r.prefixlen = ? AND r.lo = ? AND r.deleted_at IS NULL",
            (vnet_id, net.version, net.prefixlen, _blob(net.version, net.value)),
        ).fetchone()

    def _conflict(self, row: tuple, vnet: VirtualNetwork) -> Conflict:
        tunnels, vnets = self._name_maps()
        existing = self._route(row, tunnels, vnets)
        return conflicts.route_taken(existing, vnet.name)

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
        with self._write() as conn:
            tunnel = self._live_tunnel(conn, tunnel_id)
            vnet = self._live_vnet(conn, virtual_network_id)
            row = self._existing_route(conn, vnet.id, network)
            if row is not None:
                raise self._conflict(row, vnet)
            route = Route(
                id=new_id(), network=str(network), tunnel_id=tunnel.id, virtual_network_id=vnet.id,
                comment=comment, created_at=utcnow(), tunnel_name=tunnel.name, virtual_network_name=vnet.name,
            )
            conn.execute(
                "INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, "
                "comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    route.id, route.network, network.version, _blob(network.version, network.lo),
                    _blob(network.version, network.hi), network.prefixlen, tunnel.id, vnet.id, comment,
                    route.created_at,
                ),
            )
        return route

    def _live_route(self, conn: sqlite3.Connection, route_id: str) -> tuple:
        row = conn.execute(
            f"SELECT {self._ROUTE_COLS} FROM routes r WHERE r.id = ? AND r.deleted_at IS NULL", (route_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"no route with id {route_id}")
        return row

    def get_route(self, route_id: str) -> Route:
        with self._errors():
            row = self._live_route(self.conn, route_id)
        return self._route(row, *self._name_maps())

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
        with self._write() as conn:
            row = self._live_route(conn, route_id)
            tunnel = self._live_tunnel(conn, tunnel_id or row[2])
            vnet = self._live_vnet(conn, virtual_network_id or row[3])
            net = network or Route(*row[:6]).net
            clash = self._existing_route(conn, vnet.id, net)
            if clash is not None and clash[0] != route_id:
                raise self._conflict(clash, vnet)
            conn.execute(
                "UPDATE routes SET network = ?, version = ?, lo = ?, hi = ?, prefixlen = ?, tunnel_id = ?, "
                "virtual_network_id = ?, comment = ? WHERE id = ?",
                (
                    str(net), net.version, _blob(net.version, net.lo), _blob(net.version, net.hi), net.prefixlen,
                    tunnel.id, vnet.id, row[4] if comment is None else comment, route_id,
                ),
            )
        return self.get_route(route_id)

    def delete_route(self, route_id: str) -> Route:
        now = utcnow()
        with self._write() as conn:
            row = self._live_route(conn, route_id)
            conn.execute("UPDATE routes SET deleted_at = ? WHERE id = ?", (now, route_id))
        return replace(self._route(row, *self._name_maps()), deleted_at=now)

    def get_route_by_ip(
        self, version: int, address: int, *, virtual_network_id: str | None = None
    ) -> Route | None:
        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
        host = Network(version, address, BITS[version])
        probe, params = self._superset_probe(host)
        # The longest containing prefix starts highest (ties: the longer one), so walking
        # the candidate starts downwards stops at the first that reaches the address:
        # a few index seeks instead of one per prefix length.
        sql = (
            f"SELECT {self._ROUTE_COLS} FROM routes r WHERE r.virtual_network_id = ? "
            f"AND r.deleted_at IS NULL AND {probe} ORDER BY r.lo DESC, r.prefixlen DESC LIMIT 1"
        )
        rows = self._read(sql, [vnet.id, *params])
        if not rows:
            return None
        return self._route(rows[0], *self._name_maps())

    # -- bulk ---------------------------------------------------------------------
    #: a version 4 UUID in its text form, from 16 random bytes in hex (``h``), as new_id() makes
    _SQL_UUID = (
        "substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-' || "
        "substr('89ab', 1 + (unicode(substr(h, 17, 1)) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12)"
    )

    def import_routes(self, specs: Iterable[RouteSpec], *, rejected: list[dict] | None = None) -> int:
        """All rows in one transaction; every duplicate (in the input or the store) is reported.

        The rows stream into a temporary table (no lock on the state is held meanwhile,
        and memory holds one batch); the checks are SQL over an index of that table,
        which also hands the rows to the routes table in its index order.
        """
        now = utcnow()
        blob = _blob
        staged = (
            (s.row, str(net), net.version, blob(net.version, net.value), blob(net.version, net.hi),
             net.prefixlen, s.tunnel_id, s.virtual_network_id, s.comment)
            for s in specs for net in (s.network,)
        )
        with self._errors():
            conn = self.conn
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS import_rows(row INTEGER, network TEXT, version INTEGER, "
                "lo BLOB, hi BLOB, prefixlen INTEGER, tunnel_id TEXT, virtual_network_id TEXT, comment TEXT)"
            )
            conn.execute("DROP INDEX IF EXISTS temp.import_key")
            conn.execute("DELETE FROM import_rows")
            conn.execute("BEGIN")  # the temporary database only: the state file is not locked
            try:
                conn.executemany("INSERT INTO import_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", staged)
                conn.execute("CREATE INDEX temp.import_key ON import_rows(virtual_network_id, version, lo, "
                             "prefixlen, row)")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("DELETE FROM import_rows")
                raise
        with self._errors():
            (cache,) = conn.execute("PRAGMA cache_size").fetchone()
            conn.execute(f"PRAGMA cache_size = {IMPORT_CACHE_KB}")  # the index inserts miss less
        failed = True
        try:
            imported = self._import_staged(now, rejected)
            failed = False
            return imported
        finally:
            try:
                with self._errors():
                    conn.execute(f"PRAGMA cache_size = {int(cache)}")
                    conn.execute("DROP INDEX IF EXISTS temp.import_key")
                    conn.execute("DELETE FROM import_rows")
            except WarpcliError:
                # after a full disk SQLite may have rolled back and dropped the temp table: the
                # import's own failure is what the user must see, not the cleanup's
                if not failed:
                    raise

    #: the first row of each (vnet, network) in the input: the others are its duplicates
    _FIRSTS = (
        "SELECT virtual_network_id, version, lo, prefixlen, min(row) AS first, count(*) AS n FROM import_rows "
        "GROUP BY virtual_network_id, version, lo, prefixlen"
    )

    def _import_staged(self, now: str, rejected: list[dict] | None) -> int:
        with self._write() as conn:
            duplicates = [
                {"row": row_no, "network": network, "reason": f"duplicate of row {first}"}
                for row_no, network, first in conn.execute(
                    "SELECT i.row, i.network, f.first FROM (" + self._FIRSTS + " HAVING n > 1) f "
                    "JOIN import_rows i ON i.virtual_network_id = f.virtual_network_id AND i.version = f.version "
                    "AND i.lo = f.lo AND i.prefixlen = f.prefixlen AND i.row > f.first"
                )
            ]
            skip = {p["row"] for p in duplicates}
            clashes = [
                {"row": row_no, "network": network,
                 "reason": f"already routed in {vname!r} through {tname!r} (route {rid})"}
                for row_no, network, rid, tname, vname in conn.execute(
                    "SELECT i.row, i.network, r.id, t.name, v.name FROM import_rows i "
                    "JOIN routes r ON r.virtual_network_id = i.virtual_network_id AND r.version = i.version "
                    "AND r.lo = i.lo AND r.prefixlen = i.prefixlen AND r.deleted_at IS NULL "
                    "JOIN tunnels t ON t.id = r.tunnel_id JOIN virtual_networks v ON v.id = r.virtual_network_id"
                )
                if row_no not in skip
            ]
            if rejected or (rejected is not None and duplicates):
                problems = sorted([*rejected, *duplicates, *clashes], key=lambda p: p["row"])
                raise BulkImportError(f"import refused: {len(problems)} bad row(s); nothing was imported", problems)
            problems = duplicates + clashes
            # deleted by another process since the rows were resolved (the few ids first, then their rows)
            gone = conn.execute(
                "SELECT 1 FROM (SELECT DISTINCT tunnel_id FROM import_rows) i "
                "LEFT JOIN tunnels t ON t.id = i.tunnel_id AND t.deleted_at IS NULL WHERE t.id IS NULL "
                "UNION ALL SELECT 1 FROM (SELECT DISTINCT virtual_network_id FROM import_rows) i "
                "LEFT JOIN virtual_networks v ON v.id = i.virtual_network_id AND v.deleted_at IS NULL "
                "WHERE v.id IS NULL LIMIT 1"
            ).fetchone()
            problems += [
                {"row": row_no, "network": network, "reason": "its tunnel or virtual network no longer exists"}
                for row_no, network in (conn.execute(
                    "SELECT i.row, i.network FROM import_rows i "
                    "LEFT JOIN tunnels t ON t.id = i.tunnel_id AND t.deleted_at IS NULL "
                    "LEFT JOIN virtual_networks v ON v.id = i.virtual_network_id AND v.deleted_at IS NULL "
                    "WHERE t.id IS NULL OR v.id IS NULL"
                ) if gone else ())
                if row_no not in skip
            ]
            if problems:
                problems.sort(key=lambda p: p["row"])
                raise BulkImportError(
                    f"import refused: {len(problems)} conflicting row(s); nothing was imported",
                    problems,
                    conflict=True,
                )
            cursor = conn.execute(
                "INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, "
                f"comment, created_at) SELECT {self._SQL_UUID}, network, version, lo, hi, prefixlen, tunnel_id, "
                "virtual_network_id, comment, ? FROM (SELECT *, lower(hex(randomblob(16))) AS h FROM import_rows "
                "INDEXED BY import_key ORDER BY virtual_network_id, version, lo, prefixlen)",
                (now,),
            )
            return cursor.rowcount

    # -- connectors and hubs ------------------------------------------------------
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
