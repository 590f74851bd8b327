"""``warpcli controller copy``: every row of one store into another, all or nothing.

Works through the storage interface only (``_stream`` on the source, one ``_write``
transaction on the target), so it copies between any two engines. Ids, timestamps,
deleted rows, token hashes, connectors, hubs and the account id move unchanged; tunnel
tokens themselves are not in the database (only their sha256), so existing ones keep
verifying.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from warpcli.controllers.local.schema import COPIED_TABLES
from warpcli.core.errors import Conflict

if TYPE_CHECKING:
    from warpcli.controllers.local.interface import StateStore
    from warpcli.core.settings import Settings

BATCH = 5000


def rows(store: StateStore, table: str, columns: str, key: str) -> Iterator[tuple]:
    """Every row of ``table`` (deleted ones too), in ``key`` order; network bounds as bytes."""
    for row in store._stream(f"SELECT {columns} FROM {table} ORDER BY {key}", []):
        yield tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def dump(store: StateStore) -> dict[str, list[tuple]]:
    """The whole state, table by table: equal dumps are equal states."""
    out = {"meta": [tuple(r) for r in store._read("SELECT key, value FROM meta WHERE key = 'account_id'")]}
    for table, columns, key in COPIED_TABLES:
        out[table] = list(rows(store, table, columns, key))
    return out


def is_empty(store: StateStore, conn: Any = None) -> bool:
    """Nothing but the default vnet a new store starts with (read through ``conn`` if given)."""
    for table, _, _ in COPIED_TABLES:
        sql = f"SELECT count(*) FROM {table}"
        (n,) = conn.execute(sql).fetchone() if conn is not None else store._read(sql)[0]
        if n > (1 if table == "virtual_networks" else 0):
            return False
    return True


def copy_store(source: StateStore, target: StateStore, *, replace: bool = False) -> dict[str, int]:
    """Replace ``target``'s state by ``source``'s in one transaction; the rows copied per table.

    Refuses (Conflict) a target that holds anything but a new store's default vnet,
    unless ``replace``.
    """
    if not replace and not is_empty(target):
        raise Conflict(
            f"the target {target.location} is not empty",
            hint="copy into a new database, or pass --replace to overwrite everything in it",
        )
    counts: dict[str, int] = {}
    account = source._read("SELECT value FROM meta WHERE key = 'account_id'")[0][0]
    with target._write() as conn:
        if not replace and not is_empty(target, conn):  # again, inside the transaction
            raise Conflict(f"the target {target.location} is not empty", hint="pass --replace to overwrite it")
        for table, _, _ in reversed(COPIED_TABLES):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'account_id'", (account,))
        for table, columns, key in COPIED_TABLES:
            marks = ", ".join("?" for _ in columns.split(","))
            sql = f"INSERT INTO {table}({columns}) VALUES ({marks})"
            it = rows(source, table, columns, key)
            n = 0
            while batch := list(islice(it, BATCH)):
                conn.executemany(sql, batch)
                n += len(batch)
            counts[table] = n
    if hasattr(target, "_account"):
        target._account = None  # the account id moved with the rows
    return counts


def copy_urls(settings: Settings, from_url: str, to_url: str | None, *, replace: bool = False) -> dict:
    """``controller copy``: open both stores (``to_url`` None: the one the settings name), copy, close.

    What was done, for the CLI to render: ``{"from", "to", "rows"}`` (URLs without passwords).
    """
    from pathlib import Path

    from warpcli.controllers.local.interface import open_store
    from warpcli.core.dburl import check, is_postgres, mask, sqlite_path
    from warpcli.core.errors import InvalidInput, NotFound
    from warpcli.secret_stores import open_secret_store

    check(from_url, "--from")
    if to_url is not None:
        check(to_url, "--to")
    target_url = to_url if to_url is not None else settings.database_url
    if not is_postgres(from_url):
        path = sqlite_path(from_url)
        db = path / "state.db" if path.is_dir() or path.suffix != ".db" else path
        if not db.is_file():
            raise NotFound(f"no SQLite state database at {db}")
    if _same(from_url, target_url, settings.state_dir):
        raise InvalidInput("--from and --to name the same store")

    def secrets():
        return open_secret_store(settings.secret_backend, settings.state_dir)

    source = open_store(from_url, Path(settings.state_dir), secrets=secrets, lock_timeout=settings.lock_timeout)
    try:
        target = open_store(target_url, Path(settings.state_dir), secrets=secrets, lock_timeout=settings.lock_timeout)
        try:
            counts = copy_store(source, target, replace=replace)
            return {"from": mask(from_url), "to": target.location, "rows": counts}
        finally:
            target.close()
    finally:
        source.close()


def _same(a: str, b: str | None, state_dir: object) -> bool:
    from pathlib import Path

    from warpcli.core.dburl import is_postgres, sqlite_path

    def where(url: str | None) -> str:
        if url is None:
            return str((Path(str(state_dir)) / "state.db").resolve())
        if is_postgres(url):
            return url
        p = sqlite_path(url)
        return str((p / "state.db" if p.is_dir() or p.suffix != ".db" else p).resolve())

    return where(a) == where(b)
