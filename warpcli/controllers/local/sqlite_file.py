"""The SQLite engine under the embedded controller: one file, its schema, its transactions.

Writes run in ``BEGIN IMMEDIATE`` transactions, so concurrent processes are
serialised by SQLite's lock (WAL mode lets readers go on meanwhile) and a
check-then-insert can never race. Every sqlite3 error is turned into a one-line
:class:`StateError` naming the file. The controller's rules live in the mixins that
:class:`~warpcli.controllers.local.store.LocalController` is made of.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from warpcli.controllers.local.interface import StateStore
from warpcli.controllers.local.readcache import Quiet, cache_for
from warpcli.controllers.local.schema import MIGRATIONS, SCHEMA_VERSION
from warpcli.core import faults, interrupts
from warpcli.core.errors import (
    Conflict,
    StateError,
    WarpcliError,
)
from warpcli.core.model import (
    new_id,
    utcnow,
)
from warpcli.core.secrets import SecretStore

if TYPE_CHECKING:
    pass


DB_NAME = "state.db"


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


class SqliteFile(StateStore):
    """Opening, creating, migrating and locking the state file (the engine; no rules)."""

    engine = "sqlite"

    def __init__(
        self,
        state_dir: Path,
        *,
        secrets: Callable[[], SecretStore],
        lock_timeout: float = 10.0,
        path: Path | None = None,
        create: bool = True,
    ) -> None:
        """``create=False`` (read-only commands): a state that does not exist yet is read as the
        empty state it would start as, in memory; nothing is created until the first write."""
        self.state_dir = Path(state_dir)
        self._create_missing = create
        #: True while reads are answered by an empty in-memory state (the file does not exist)
        self.ephemeral = False
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
        if not self._create_missing and not self._exists():
            return self._open_empty()
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

    def _open_empty(self) -> sqlite3.Connection:
        """The state a new file would start with, in memory (a read on a host with no state yet)."""
        with self._errors():
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        self.ephemeral = True
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
        if self.ephemeral:  # the first write: from now on the real file (created now)
            self.close()
            self._create_missing, self.ephemeral = True, False
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

