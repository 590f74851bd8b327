"""The embedded controller on PostgreSQL: several ``controller serve`` replicas, one database.

The rules are the SQLite store's SQL (:class:`LocalController`), run through psycopg 3 and
a process-wide :class:`psycopg_pool.ConnectionPool` per URL. What makes them hold across
processes, in the database and not in one process:

- Isolation level READ COMMITTED, set on every connection. Each write is one transaction;
  a request is never half-applied.
- Uniqueness (a CIDR per vnet, a tunnel or vnet name, a device address, a public key, one
  hub per vnet, one default vnet) is the same partial unique indexes as in SQLite, so soft-
  deleted names are reusable. Two racing creates both pass the check; the database lets one
  commit and fails the other with a unique violation, which is retried once the winner has
  committed: the retry sees the winner and answers the usual Conflict (409) naming it.
- A write that hangs something on a tunnel or vnet reads that parent ``FOR KEY SHARE``; a
  delete takes the parent (or the row) ``FOR UPDATE`` before anything else. So a route can
  never be created on a tunnel whose deletion commits concurrently, and two deletes of one
  object give one 200 and one 404, as in SQLite.
- Enrolment (the lowest free device address), hub registration and token revocation take a
  transaction-level advisory lock: they are rare, and the next free address must not be
  handed out twice.
- Every write transaction inserts a row into ``state_changes`` in the same transaction, and
  ``state_version`` is ``state_counter`` plus the count of those rows: the same answer on
  every replica, moving on every commit, without a hot row that writers queue on.
- Deadlocks and serialisation failures are retried a few times. A pooled connection found
  dead before anything was sent on it (the database restarted) is replaced and the
  statement retried; a connection lost mid-transaction is a StateError (HTTP 503) and the
  transaction is rolled back by the server, never half-applied.

The URL's password never appears in a message (:func:`warpcli.core.dburl.mask`).
"""

from __future__ import annotations

import atexit
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warpcli.controllers.local.schema import POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION
from warpcli.controllers.local.store import LocalController
from warpcli.core.controller import Controller, RouteSpec
from warpcli.core.dburl import mask
from warpcli.core.errors import Conflict, NotFound, StateError
from warpcli.core.model import RouteFilter, Tunnel, VirtualNetwork, new_id, utcnow

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from warpcli.core.secrets import SecretStore

#: tries of one write when it loses a race (unique violation) or a deadlock
ATTEMPTS = 5
POOL_MAX = 10
#: an import of at least this many rows refreshes the planner's statistics of ``routes``
ANALYZE_AFTER = 10_000
#: ``state_version`` folds the change rows into the counter once there are this many
FOLD_AT = 1000
#: advisory lock keys (per database): enrolment, hubs, API tokens, schema migration
_LOCK_CONNECTORS, _LOCK_HUBS, _LOCK_TOKENS, _LOCK_SCHEMA = 0x77617270_01, 0x77617270_02, 0x77617270_03, 0x77617270_04

_SQL: dict[str, str] = {}


def _pg(sql: str) -> str:
    """The shared (SQLite-flavoured) SQL in PostgreSQL's words."""
    out = _SQL.get(sql)
    if out is None:
        out = (sql.replace("%", "%%").replace("?", "%s").replace(" BLOB", " BYTEA")
               .replace("INDEXED BY route_sweep ", ""))
        _SQL[sql] = out
    return out


class _LostRace(Conflict):
    """A unique constraint refused the write: someone else committed first; retry to see whom."""


class _Transient(StateError):
    """A deadlock or serialisation failure: nothing was applied; retry."""


class _Rows:
    """A fetched result with the cursor methods the shared SQL uses."""

    __slots__ = ("_pos", "_rows")

    def __init__(self, rows: list[tuple]) -> None:
        self._rows = rows
        self._pos = 0

    def fetchone(self) -> tuple | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, n: int) -> list[tuple]:
        out = self._rows[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def fetchall(self) -> list[tuple]:
        return self.fetchmany(len(self._rows))

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())


class _AutoConn:
    """``self.conn`` outside a transaction: each statement borrows a pooled connection."""

    in_transaction = False

    def __init__(self, store: PostgresController) -> None:
        self._store = store

    def execute(self, sql: str, params: Iterable = ()) -> _Rows:
        import psycopg

        params = tuple(params)
        for attempt in (1, 2):
            with self._store.pool.connection() as raw:
                try:
                    cur = raw.execute(_pg(sql), params)
                    return _Rows(cur.fetchall() if cur.description else [])
                except psycopg.OperationalError:
                    if attempt == 2 or not raw.broken:
                        raise
            # a pooled connection the database dropped (a restart): one read more, on a new one
        raise AssertionError("unreachable")


class _TxConn:
    """The connection of one write transaction."""

    in_transaction = True

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.wrote = False  #: whether a statement changed data (else nothing to count as a change)

    def execute(self, sql: str, params: Iterable = ()) -> Any:
        if not self.wrote and sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.wrote = True
        return self._raw.execute(_pg(sql), tuple(params))

    def execute_raw(self, sql: str, params: tuple) -> Any:
        """SQL already in PostgreSQL's words (``%s``)."""
        return self._raw.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[tuple]) -> None:
        self.wrote = True
        with self._raw.cursor() as cur:
            cur.executemany(_pg(sql), rows)


# -- one pool per URL and process ------------------------------------------------------
_POOLS: dict[str, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()
_CHECKED: set[str] = set()


def _pool_for(url: str, timeout: float) -> ConnectionPool:
    pool = _POOLS.get(url)
    if pool is not None:
        return pool
    with _POOLS_LOCK:
        pool = _POOLS.get(url)
        if pool is None:
            import logging

            import psycopg
            from psycopg_pool import ConnectionPool

            # psycopg's own warnings (pool reconnections, an aborted pipeline after a lost race) are
            # not printed by Python's last-resort handler: a CLI run shows one error line, and a
            # replica's log stays logfmt (what matters is in its answers: 503, /warpcli/health)
            quiet = logging.getLogger("psycopg")
            if not any(isinstance(h, logging.NullHandler) for h in quiet.handlers):
                quiet.addHandler(logging.NullHandler())

            def configure(conn: psycopg.Connection) -> None:
                conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED

            pool = ConnectionPool(
                url, min_size=1, max_size=POOL_MAX, timeout=timeout, open=True, name="warpcli",
                kwargs={"autocommit": True, "application_name": "warpcli", "connect_timeout": max(1, int(timeout))},
                configure=configure,
            )
            if not _POOLS:
                atexit.register(close_pools)
            _POOLS[url] = pool
        return pool


def close_pool(url: str) -> None:
    """Close the pool of ``url`` if this process has one."""
    with _POOLS_LOCK:
        pool = _POOLS.pop(url, None)
        _CHECKED.discard(url)
    if pool is not None:
        pool.close()


def close_pools() -> None:
    """Close every pool of this process (at exit, or when a test stops its cluster)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
        _CHECKED.clear()
    for pool in pools:
        pool.close()


def _retrying(method: Callable) -> Callable:
    @functools.wraps(method)
    def run(self: PostgresController, *args: Any, **kwargs: Any) -> Any:
        if self._txconn is not None:  # inside transaction(): a lost race fails the whole block
            return method(self, *args, **kwargs)
        try:
            for attempt in range(ATTEMPTS):
                try:
                    return method(self, *args, **kwargs)
                except (_LostRace, _Transient):
                    if attempt == ATTEMPTS - 1:
                        raise
            raise AssertionError("unreachable")
        finally:
            self._first = []

    return run


class PostgresController(LocalController):
    engine = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        state_dir: Path,
        secrets: Callable[[], SecretStore],
        lock_timeout: float = 10.0,
    ) -> None:
        super().__init__(state_dir, secrets=secrets, lock_timeout=lock_timeout)
        self.url = url
        self._account: str | None = None
        self._txconn: _TxConn | None = None  #: the connection of the open transaction(), if any
        self._first: list[tuple[str, tuple]] = []

    # -- plumbing -----------------------------------------------------------------
    @property
    def location(self) -> str:
        return mask(self.url) or ""

    @property
    def pool(self) -> ConnectionPool:
        if self.url not in _CHECKED:  # once per process: before any pool exists
            self._check_schema()
            _CHECKED.add(self.url)
        return _pool_for(self.url, max(self._lock_timeout, 1.0))

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg
        from psycopg import errors as pge
        from psycopg_pool import PoolTimeout

        where = self.location
        try:
            yield
        except pge.UniqueViolation as exc:
            raise _LostRace(f"the change conflicts with existing state ({_first_line(exc)})") from None
        except psycopg.IntegrityError as exc:
            raise Conflict(f"the change conflicts with existing state ({_first_line(exc)})") from None
        except (pge.SerializationFailure, pge.DeadlockDetected) as exc:
            raise _Transient(f"the database {where} aborted a transaction ({_first_line(exc)})",
                             hint="retry") from None
        except PoolTimeout:
            raise StateError(f"the database {where} is unavailable (no connection within "
                             f"{self._lock_timeout:g} s)", hint="retry; the server reconnects by itself") from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StateError(f"the database {where} is unavailable ({_first_line(exc)})",
                             hint="retry; the server reconnects by itself") from None
        except psycopg.Error as exc:
            raise StateError(f"database {where}: {_first_line(exc)}") from None

    @property
    def conn(self) -> Any:
        if self._txconn is not None:  # inside transaction(): reads see its own writes
            return self._txconn
        self.pool  # noqa: B018 - the schema check
        return _AutoConn(self)

    def _open(self) -> Any:  # pragma: no cover - SQLite's; never called here
        raise NotImplementedError

    @contextmanager
    def _write(self, versioned: bool = True) -> Iterator[Any]:
        """One write transaction; it adds a ``state_changes`` row when it changed data, unless
        ``versioned=False`` (reports: frequent, and nothing a follower reconciles)."""
        import psycopg

        first, self._first = self._first, []
        if self._txn is not None and self._txconn is not None:  # inside transaction(): its BEGIN/COMMIT
            with self._errors():
                for statement in first:
                    self._txconn.execute_raw(*statement)
                yield self._txconn
            return
        committing = False
        with self._errors(), self.pool.connection() as raw:
            try:
                # pipelined: BEGIN travels with the first statement, and the statements whose
                # results nobody reads travel with the change row and COMMIT
                with raw.pipeline():
                    raw.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                    for statement in first:
                        raw.execute(*statement)
                    self._txconn = tx = _TxConn(raw)
                    try:
                        yield tx
                    finally:
                        self._txconn = None
                    if tx.wrote and versioned:  # a write that changed nothing (an apply with no changes) moves nothing
                        raw.execute("INSERT INTO state_changes DEFAULT VALUES")
                    raw.execute("COMMIT")
                    committing = True  # sent when the pipeline ends: from here on, the outcome is in doubt
            except BaseException as exc:
                if not raw.broken:
                    raw.execute("ROLLBACK")
                elif isinstance(exc, psycopg.OperationalError) and not committing:
                    # the connection died before COMMIT went out (a restarted database): nothing
                    # was applied, so the whole write is retried on a fresh connection
                    raise _Transient(f"the database {self.location} dropped the connection",
                                     hint="retry") from None
                raise

    def _read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._errors():
            return self.conn.execute(sql, params).fetchall()

    def _stream(self, sql: str, params: list) -> Iterator[tuple]:
        """Rows as they arrive, in chunks (libpq's chunked rows mode): a million rows never sit in
        memory at once, and a short answer costs one round trip, no server-side cursor."""
        if self._txconn is not None:  # inside transaction() (pipelined: no streaming there)
            with self._errors():
                yield from self._txconn.execute(sql, params).fetchall()
            return
        with self._errors(), self.pool.connection() as raw, raw.cursor() as cur:
            yield from cur.stream(_pg(sql), tuple(params), size=2000)

    def close(self) -> None:
        """The pool is the process's (shared by every controller on this URL): nothing to release."""

    # -- schema -------------------------------------------------------------------
    def _version(self, raw: Any) -> int:
        exists = raw.execute("SELECT to_regclass('warpcli_schema') IS NOT NULL").fetchone()[0]
        if not exists:
            return 0
        return raw.execute("SELECT version FROM warpcli_schema").fetchone()[0]

    def _connect(self) -> Any:
        """One connection outside the pool: its error says why the database cannot be used."""
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self._lock_timeout)),
                               application_name="warpcli")

    def _check_schema(self) -> None:
        """Create the schema in an empty database; refuse a newer one, or an older one (migrate)."""
        with self._errors(), self._connect() as raw:
            version = self._version(raw)
        if version == 0:
            self.migrate()
        elif version > POSTGRES_SCHEMA_VERSION:
            raise StateError(
                f"{self.location} was written by a newer warpcli (schema {version}, this one knows "
                f"{POSTGRES_SCHEMA_VERSION})", hint="upgrade warpcli")
        elif version < POSTGRES_SCHEMA_VERSION:
            raise StateError(f"the schema of {self.location} is older (version {version})",
                             hint="run `warpcli controller migrate` once, then restart the servers")

    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the schema in one transaction, under an advisory lock: idempotent,
        and safe when several replicas run it at once."""
        with self._errors(), self._connect() as raw, raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_SCHEMA,))
            before = self._version(raw)
            if before > POSTGRES_SCHEMA_VERSION:
                raise StateError(f"{self.location} was written by a newer warpcli (schema {before})",
                                 hint="upgrade warpcli")
            if before == 0:
                raw.execute("CREATE TABLE warpcli_schema (version INTEGER NOT NULL)")
                raw.execute("INSERT INTO warpcli_schema(version) VALUES (0)")
            for step in range(before, POSTGRES_SCHEMA_VERSION):
                raw.execute(POSTGRES_MIGRATIONS[step])
                if step == 0:
                    raw.execute("INSERT INTO meta(key, value) VALUES ('account_id', %s)",
                                (new_id().replace("-", ""),))
                    raw.execute("INSERT INTO virtual_networks(id, name, comment, is_default, created_at) "
                                "VALUES (%s, 'default', %s, 1, %s)", (new_id(), "created with the state", utcnow()))
            raw.execute("UPDATE warpcli_schema SET version = %s", (POSTGRES_SCHEMA_VERSION,))
        _CHECKED.add(self.url)
        return before, POSTGRES_SCHEMA_VERSION

    @property
    def account_id(self) -> str:
        if self._account is None:
            self._account = self._read("SELECT value FROM meta WHERE key = 'account_id'")[0][0]
        return self._account

    #: the counter and the change rows not yet folded into it (see :meth:`state_version`)
    VERSION_SQL = "SELECT (SELECT version FROM state_counter WHERE id = 1), (SELECT count(*) FROM state_changes)"

    def state_version(self, virtual_network_id: str | None = None) -> str:
        """The change counter: every write transaction on any replica moves it."""
        base, pending = self._read(self.VERSION_SQL)[0]
        if pending >= FOLD_AT:
            self._fold()
        return f"pg-{base + pending}"

    def _write_statement(self, sql: str, params: tuple) -> list[tuple]:
        """One write statement in PostgreSQL's words, its own transaction (autocommit): one round
        trip. A pooled connection found dead (the database restarted) is replaced, the pool's
        other idle ones checked, and the statement sent again, so the caller makes it
        idempotent (see :mod:`pgwrites`)."""
        import psycopg

        with self._errors():
            for attempt in (1, 2):
                with self.pool.connection() as raw:
                    try:
                        return raw.execute(sql, params).fetchall()
                    except psycopg.OperationalError:
                        if attempt == 2 or not raw.broken:
                            raise
                self.pool.check()
        raise AssertionError("unreachable")

    def _read_together(self, statements: list[tuple[str, list]]) -> list[list[tuple]]:
        """Several reads in one round trip (pipelined) and one snapshot (a read-only
        REPEATABLE READ transaction)."""
        if self._txconn is not None:  # inside transaction(): its snapshot already
            return [self._read(sql, params) for sql, params in statements]
        with self._errors(), self.pool.connection() as raw:
            try:
                with raw.pipeline():
                    raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    cursors = [raw.cursor() for _ in statements]
                    for cur, (sql, params) in zip(cursors, statements, strict=True):
                        cur.execute(_pg(sql), tuple(params))
                    raw.execute("COMMIT")
                return [cur.fetchall() for cur in cursors]
            except BaseException:
                if not raw.broken:
                    raw.execute("ROLLBACK")
                raise

    def _fold(self) -> None:
        """Move the counted changes into the counter, in one transaction: the sum stays the same for
        every reader (rows inserted meanwhile are not deleted, so they are counted later)."""
        try:
            with self._errors(), self.pool.connection() as raw, raw.transaction():
                raw.execute("WITH gone AS (DELETE FROM state_changes RETURNING 1) "
                            "UPDATE state_counter SET version = version + (SELECT count(*) FROM gone) WHERE id = 1")
        except StateError:
            pass  # housekeeping: the next poll folds

    # -- row locks on the parents of a write --------------------------------------
    def _live_tunnel(self, conn: Any, tunnel_id: str) -> Tunnel:
        if not conn.in_transaction:
            return super()._live_tunnel(conn, tunnel_id)
        row = conn.execute(
            f"SELECT {self._TUNNEL_COLS} FROM tunnels WHERE id = ? AND deleted_at IS NULL FOR KEY SHARE",
            (tunnel_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no tunnel with id {tunnel_id}")
        return self._tunnel(row, self.account_id)

    def _live_vnet(self, conn: Any, vnet_id: str | None) -> VirtualNetwork:
        if not conn.in_transaction:
            return super()._live_vnet(conn, vnet_id)
        if vnet_id is None:
            row = conn.execute(
                f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE is_default = 1 AND deleted_at IS NULL "
                "FOR KEY SHARE"
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT {self._VNET_COLS} FROM virtual_networks WHERE id = ? AND deleted_at IS NULL FOR KEY SHARE",
                (vnet_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no virtual network with id {vnet_id}")
        return self._vnet(row)

    def _locking(self, sql: str, *params: Any) -> None:
        """Run ``sql`` first in the next write transaction (a lock taken before any read)."""
        self._first.append((sql, params))

    # -- writes: the shared SQL, retried when a race is lost ------------------------
    @_retrying
    def create_tunnel(self, name: str) -> Tunnel:
        return super().create_tunnel(name)

    @_retrying
    def update_tunnel(self, tunnel_id: str, *, name: str | None = None) -> Tunnel:
        self._locking("SELECT 1 FROM tunnels WHERE id = %s FOR UPDATE", tunnel_id)
        return super().update_tunnel(tunnel_id, name=name)

    @_retrying
    def delete_tunnel(self, tunnel_id: str, *, force: bool = False) -> Tunnel:
        self._locking("SELECT 1 FROM tunnels WHERE id = %s FOR UPDATE", tunnel_id)
        return super().delete_tunnel(tunnel_id, force=force)

    @_retrying
    def create_virtual_network(self, name: str, *, comment: str = "", is_default: bool = False) -> VirtualNetwork:
        return super().create_virtual_network(name, comment=comment, is_default=is_default)

    @_retrying
    def update_virtual_network(self, vnet_id: str, **kwargs: Any) -> VirtualNetwork:
        self._locking("SELECT 1 FROM virtual_networks WHERE id = %s FOR UPDATE", vnet_id)
        return super().update_virtual_network(vnet_id, **kwargs)

    @_retrying
    def delete_virtual_network(self, vnet_id: str, *, force: bool = False) -> VirtualNetwork:
        self._locking("SELECT 1 FROM virtual_networks WHERE id = %s FOR UPDATE", vnet_id)
        return super().delete_virtual_network(vnet_id, force=force)

    @_retrying
    def create_route(self, network: Any, tunnel_id: str, *, virtual_network_id: str | None = None,
                     comment: str = "") -> Any:
        if self._txconn is not None or self._txn is not None:  # inside transaction(): the shared SQL
            return super().create_route(network, tunnel_id, virtual_network_id=virtual_network_id, comment=comment)
        from warpcli.controllers.local import pgwrites
        from warpcli.core.cidr import as_network
        from warpcli.core.names import validate_comment

        network = as_network(network)
        validate_comment(comment)
        return pgwrites.create_route(self, network, tunnel_id, virtual_network_id, comment)

    @_retrying
    def update_route(self, route_id: str, **kwargs: Any) -> Any:
        self._locking("SELECT 1 FROM routes WHERE id = %s FOR UPDATE", route_id)
        return super().update_route(route_id, **kwargs)

    @_retrying
    def delete_route(self, route_id: str) -> Any:
        self._locking("SELECT 1 FROM routes WHERE id = %s FOR UPDATE", route_id)
        return super().delete_route(route_id)

    @_retrying
    def import_routes(self, specs: Iterable[RouteSpec], *, rejected: list[dict] | None = None) -> int:
        from warpcli.core.bulk import refuse_bad_rows

        specs = list(specs)
        refuse_bad_rows(self, specs, rejected)  # the caller's refused rows and repeats, with their clashes
        tunnels = sorted({s.tunnel_id for s in specs})
        vnets = sorted({s.virtual_network_id for s in specs if s.virtual_network_id})
        self._locking("SELECT 1 FROM tunnels WHERE id = ANY(%s) FOR KEY SHARE", tunnels)
        self._locking("SELECT 1 FROM virtual_networks WHERE id = ANY(%s) FOR KEY SHARE", vnets)
        n = self._import_checked(specs)
        if n >= ANALYZE_AFTER:  # fresh statistics now, not when autovacuum gets round to it
            self._read("ANALYZE routes")
        return n

    def _import_checked(self, specs: list[RouteSpec]) -> int:
        """All rows in one transaction, checked against the store in SQL that both engines speak
        (the SQLite engine's own import stages rows with SQLite-only SQL)."""
        from warpcli.controllers.local.route_sql import blob as _blob
        from warpcli.core.errors import BulkImportError

        problems: list[dict] = []
        seen: dict[tuple, int] = {}
        rows: list[tuple] = []
        now = utcnow()
        for s in specs:
            net = s.network
            key = (s.virtual_network_id, net.version, net.prefixlen, net.value)
            if key in seen:
                problems.append({"row": s.row, "network": str(net), "reason": f"duplicate of row {seen[key]}"})
                continue
            seen[key] = s.row
            rows.append((
                s.row, new_id(), str(net), net.version, _blob(net.version, net.lo), _blob(net.version, net.hi),
                net.prefixlen, s.tunnel_id, s.virtual_network_id, s.comment, now,
            ))
        with self._write() as conn:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS import_rows(row INTEGER, id TEXT, network TEXT, version INTEGER, "
                "lo BLOB, hi BLOB, prefixlen INTEGER, tunnel_id TEXT, virtual_network_id TEXT, comment TEXT, "
                "created_at TEXT)"
            )
            conn.execute("DELETE FROM import_rows")
            try:
                conn.executemany("INSERT INTO import_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                for row_no, network, rid, tname, vname in conn.execute(
                    "SELECT i.row, i.network, r.id, t.name, v.name FROM import_rows i "
                    "JOIN routes r ON r.virtual_network_id = i.virtual_network_id AND r.version = i.version "
                    "AND r.prefixlen = i.prefixlen AND r.lo = i.lo AND r.deleted_at IS NULL "
                    "JOIN tunnels t ON t.id = r.tunnel_id JOIN virtual_networks v ON v.id = r.virtual_network_id"
                ):
                    problems.append({"row": row_no, "network": network,
                                     "reason": f"already routed in {vname!r} through {tname!r} (route {rid})"})
                for row_no, network in conn.execute(
                    "SELECT i.row, i.network FROM import_rows i "
                    "LEFT JOIN tunnels t ON t.id = i.tunnel_id AND t.deleted_at IS NULL "
                    "LEFT JOIN virtual_networks v ON v.id = i.virtual_network_id AND v.deleted_at IS NULL "
                    "WHERE t.id IS NULL OR v.id IS NULL"
                ):  # deleted by another process since the rows were resolved
                    problems.append({"row": row_no, "network": network,
                                     "reason": "its tunnel or virtual network no longer exists"})
                if problems:
                    problems.sort(key=lambda p: p["row"])
                    raise BulkImportError(f"import refused: {len(problems)} conflicting row(s); nothing was imported",
                                          problems, conflict=True)
                conn.execute(
                    "INSERT INTO routes(id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, "
                    "comment, created_at) SELECT id, network, version, lo, hi, prefixlen, tunnel_id, "
                    "virtual_network_id, comment, created_at FROM import_rows ORDER BY virtual_network_id, "
                    "version, lo, prefixlen"
                )
            finally:
                conn.execute("DELETE FROM import_rows")
        return len(rows)

    @_retrying
    def _register_connector(self, tunnel_id: str, public_key: str, *, virtual_network_id: str | None = None,
                            tunnel_token: bool = False) -> Any:
        self._locking("SELECT pg_advisory_xact_lock(%s)", _LOCK_CONNECTORS)
        return super()._register_connector(tunnel_id, public_key, virtual_network_id=virtual_network_id,
                                           tunnel_token=tunnel_token)

    @_retrying
    def report_connectors(self, virtual_network_id: str | None, reports: Iterable[Any]) -> Any:
        return super().report_connectors(virtual_network_id, list(reports))

    @_retrying
    def record_connector_version(self, connector_id: str, version: str) -> None:
        super().record_connector_version(connector_id, version)

    @_retrying
    def request_failover(self, tunnel_id: str, connector_id: str) -> Any:
        return super().request_failover(tunnel_id, connector_id)

    @_retrying
    def set_tunnel_ha(self, tunnel_id: str, ha_mode: str, config: dict | None = None) -> Any:
        return super().set_tunnel_ha(tunnel_id, ha_mode, config)

    @_retrying
    def delete_connector(self, connector_id: str) -> Any:
        self._locking("SELECT 1 FROM connectors WHERE id = %s FOR UPDATE", connector_id)
        return super().delete_connector(connector_id)

    @_retrying
    def register_hub(self, public_key: str, endpoint: str, *, virtual_network_id: str | None = None,
                     priority: int | None = None) -> Any:
        # a vnet's second hub takes a device address from the connectors' pool: both locks,
        # in the order enrolment never inverts (it takes only the first)
        self._locking("SELECT pg_advisory_xact_lock(%s)", _LOCK_CONNECTORS)
        self._locking("SELECT pg_advisory_xact_lock(%s)", _LOCK_HUBS)
        return super().register_hub(public_key, endpoint, virtual_network_id=virtual_network_id, priority=priority)

    @_retrying
    def delete_hub(self, virtual_network_id: str | None = None, *, hub_id: str | None = None) -> Any:
        return super().delete_hub(virtual_network_id, hub_id=hub_id)

    @_retrying
    def create_api_token(self, name: str) -> Any:
        return super().create_api_token(name)

    @_retrying
    def revoke_api_token(self, id_or_name: str) -> Any:
        self._locking("SELECT pg_advisory_xact_lock(%s)", _LOCK_TOKENS)
        return super().revoke_api_token(id_or_name)

    # -- reads SQLite answers its own way --------------------------------------------
    def get_route_by_ip(
        self, version: int, address: int, *, virtual_network_id: str | None = None
    ) -> Any:
        """Longest prefix match as one index seek per candidate start (``lo``), longest first.

        PostgreSQL does not walk an ``IN`` list in index order for ``ORDER BY ... LIMIT 1`` (it
        scans the vnet backwards instead), so each candidate is its own LATERAL probe.
        """
        from warpcli.core.cidr import BITS, Network, mask

        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
        host = Network(version, address, BITS[version])
        width = 4 if version == 4 else 16
        los = sorted({address & mask(version, p) for p in range(BITS[version] + 1)}, reverse=True)
        cols = self._ROUTE_COLS
        rows = self._read(
            f"SELECT {cols} FROM unnest(?::bytea[]) WITH ORDINALITY AS p(lo, k) CROSS JOIN LATERAL ("
            f"SELECT {cols} FROM routes r WHERE r.virtual_network_id = ? AND r.version = ? AND r.lo = p.lo "
            "AND r.deleted_at IS NULL AND r.hi >= ? ORDER BY r.prefixlen DESC LIMIT 1) r ORDER BY p.k LIMIT 1",
            [[lo.to_bytes(width, "big") for lo in los], vnet.id, version, host.hi.to_bytes(width, "big")],
        )
        if not rows:
            return None
        return self._route(rows[0], *self._name_maps())

    #: the id settles ties between deleted routes of one CIDR (the order of :mod:`pgpages`)
    _ROUTE_ORDER = "r.version, r.lo, r.prefixlen, r.id"

    def list_routes_json(self, flt: RouteFilter = RouteFilter()) -> Iterator[str]:
        return Controller.list_routes_json(self, flt)

    def route_page_json(
        self, flt: RouteFilter, offset: int, limit: int, *, drop_nulls: bool = False
    ) -> tuple[list[str], int]:
        """Keyset pages (:mod:`pgpages`): a page deep in the listing costs what the first does."""
        from warpcli.controllers.local import pgpages

        if self._txconn is not None:  # inside transaction(): its own view, no shared memo
            return Controller.route_page_json(self, flt, offset, limit, drop_nulls=drop_nulls)
        return pgpages.route_page_json(self, flt, offset, limit, drop_nulls=drop_nulls)

    def route_entries(self, virtual_network_id: str | None = None) -> Iterator[tuple]:
        sql = ("SELECT id, network, version, lo, prefixlen, tunnel_id, virtual_network_id FROM routes "
               "WHERE deleted_at IS NULL" + ("" if virtual_network_id is None else " AND virtual_network_id = ?")
               + " ORDER BY version, lo, prefixlen")
        params = [] if virtual_network_id is None else [virtual_network_id]
        ids: dict[str, str] = {}
        same = ids.setdefault
        decode = int.from_bytes
        for rid, network, version, lo, plen, tid, vid in self._stream(sql, params):
            yield rid, network, version, decode(lo, "big"), plen, same(tid, tid), same(vid, vid)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
