"""The storage interface under the embedded controller, and how to open one.

The controller's rules are SQL written once (:class:`~warpcli.controllers.local.store.LocalController`)
against this small interface; two engines implement it:

- SQLite (:mod:`~warpcli.controllers.local.store`), the default: one file, writers
  serialised by ``BEGIN IMMEDIATE``;
- PostgreSQL (:mod:`~warpcli.controllers.local.postgres`), for several ``controller serve``
  replicas on one database: psycopg 3 with a connection pool, rules enforced by
  constraints and row locks (see that module for the isolation level).

The SQL uses ``?`` placeholders; the PostgreSQL engine translates them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warpcli.controllers.local.store import LocalController
    from warpcli.core.model import Tunnel, VirtualNetwork
    from warpcli.core.secrets import SecretStore


class StateStore(ABC):
    """What the shared SQL needs from an engine."""

    #: "sqlite" or "postgresql"
    engine: str = ""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the state is, fit to print (a path, or a URL without its password)."""

    @abstractmethod
    def _errors(self) -> AbstractContextManager[None]:
        """Turn the driver's errors into one-line StateError / Conflict."""

    @abstractmethod
    def _write(self, versioned: bool = True) -> AbstractContextManager[Any]:
        """One write transaction: a connection whose ``execute``/``executemany`` take ``?`` SQL.
        ``versioned=False``: a write that the state version does not count (reports)."""

    @abstractmethod
    def _read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        """Every row of one query."""

    @abstractmethod
    def _stream(self, sql: str, params: list) -> Iterator[tuple]:
        """The rows of one query, without holding them all in memory."""

    @abstractmethod
    def migrate(self) -> tuple[int, int]:
        """Create or upgrade the schema: (version before, version after). Idempotent."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


class StorePart(StateStore):
    """Base of the mixins :class:`LocalController` is made of (one job, one module each): what
    they use of the engine and of each other, declared for the type checker only."""

    if TYPE_CHECKING:
        @property
        def conn(self) -> Any: ...

        def _live_tunnel(self, conn: Any, tunnel_id: str) -> Tunnel: ...

        def _live_vnet(self, conn: Any, vnet_id: str | None) -> VirtualNetwork: ...

        def get_tunnel(self, tunnel_id: str) -> Tunnel: ...

        def record_connector_version(self, connector_id: str, version: str) -> None: ...


def open_store(
    url: str | None,
    state_dir: Path,
    *,
    secrets: Callable[[], SecretStore],
    lock_timeout: float = 10.0,
    create: bool = True,
) -> LocalController:
    """The store ``url`` names (``postgresql://``, ``sqlite:///``), or ``state_dir``'s SQLite file.
    ``create=False``: a SQLite file that does not exist is not created by reads (see SqliteFile)."""
    from warpcli.core.dburl import is_postgres, sqlite_path

    if url and is_postgres(url):
        from warpcli.controllers.local.postgres import PostgresController

        return PostgresController(url, state_dir=state_dir, secrets=secrets, lock_timeout=lock_timeout)
    from warpcli.controllers.local.store import DB_NAME, LocalController

    if url:
        path = sqlite_path(url)
        if path.is_dir() or path.suffix != ".db":
            return LocalController(path, secrets=secrets, lock_timeout=lock_timeout, create=create)
        if path.name == DB_NAME:
            return LocalController(path.parent, secrets=secrets, lock_timeout=lock_timeout, create=create)
        return LocalController(path.parent, secrets=secrets, lock_timeout=lock_timeout, path=path,
                               create=create)
    return LocalController(state_dir, secrets=secrets, lock_timeout=lock_timeout, create=create)
