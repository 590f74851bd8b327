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
from typing import TYPE_CHECKING

from warpcli.controllers.local.schema import COPIED_TABLES
from warpcli.core.errors import Conflict

if TYPE_CHECKING:
    from warpcli.controllers.local.interface import StateStore

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


def is_empty(store: StateStore, conn: object = None) -> bool:
    """Nothing but the default vnet a new store starts with (read through ``conn`` if given)."""
    for table, _, _ in COPIED_TABLES:
        sql = f"SELECT count(*) FROM {table}"
        (n,) = conn.execute(sql).fetchone() if conn is not None else store._read(sql)[0]  # type: ignore[attr-defined]
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
