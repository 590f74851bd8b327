"""Database URLs of the embedded controller: which store, and how to show one safely.

``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB?...`` (or ``postgres://``) names a
PostgreSQL store; ``sqlite:///PATH`` a SQLite one (a ``state.db`` file or its
directory). A password is never shown: :func:`mask` replaces it before any URL
reaches a message, a log line or ``config show``.
"""

from __future__ import annotations

import re
from pathlib import Path

from warpcli.core.errors import InvalidInput

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"
_USERINFO = re.compile(r"^(?P<scheme>[a-z]+://)(?P<user>[^:@/]*):(?P<password>[^@/]*)@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&]*")


def mask(url: str | None) -> str | None:
    """The URL with its password (in the user info or a ``password=`` parameter) as ``***``."""
    if url is None:
        return None
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url, count=1)
    return _QUERY_PASSWORD.sub(r"\1***", out)


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def sqlite_path(url: str) -> Path:
    """The state database file a ``sqlite:///PATH`` URL names (a directory means its state.db)."""
    if not url.startswith(SQLITE_SCHEME):
        raise InvalidInput(f"{mask(url)!r} is not a sqlite:///PATH URL")
    path = Path(url[len(SQLITE_SCHEME):]).expanduser()
    if not str(path) or str(path) == ".":
        raise InvalidInput(f"{url!r} names no file", hint="e.g. sqlite:///var/lib/warpcli/state.db")
    return path


def check(url: str, origin: str) -> str:
    """``url`` if it names a store warpcli can use, else InvalidInput (the password masked)."""
    if is_postgres(url) or url.startswith(SQLITE_SCHEME):
        return url
    raise InvalidInput(
        f"{origin}: {mask(url)!r} is not a database URL",
        hint="use postgresql://USER@HOST/DB (the password in ~/.pgpass or PGPASSWORD) or sqlite:///PATH",
    )
