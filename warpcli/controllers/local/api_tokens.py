"""API tokens of a served controller (``warpcli controller serve``), kept in the state database.

A server-side concern of the embedded controller, not part of the abstract ``Controller``
interface: :class:`ApiTokenStore` is mixed into :class:`LocalController` and works on its
database (table ``api_tokens``, schema v3). Only the sha256 of a token is stored; the token
itself is returned once, by :meth:`ApiTokenStore.create_api_token`, and never again.

``last_used_at`` is coarse on purpose: it is written at most once per
:data:`LAST_USED_GRANULARITY` per token, so that serving read requests does not turn every
one of them into a write transaction (which would serialise readers behind SQLite's single
writer and change the state file on every request).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from warpcli.controllers.local.interface import StorePart
from warpcli.core.errors import Conflict, NotFound, StateError
from warpcli.core.model import is_uuid, new_id, utcnow
from warpcli.core.names import validate_name
from warpcli.core.records import Record, record

if TYPE_CHECKING:
    import sqlite3

#: ``secrets.token_urlsafe(30)`` is 40 characters, the length of Cloudflare's API tokens
TOKEN_BYTES = 30
LAST_USED_GRANULARITY = timedelta(hours=1)
_COLS = "id, name, created_at, last_used_at, revoked_at"


@record
class ApiToken(Record):
    """A stored API token: what it is called and when it was used; never the token."""

    id: str
    name: str
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None



def new_api_token() -> str:
    import secrets  # here, not at the top: every CLI run imports this module

    return secrets.token_urlsafe(TOKEN_BYTES)


def api_token_digest(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # utcnow()'s format: sorts as text


class ApiTokenStore(StorePart):
    """Mixin for :class:`LocalController` (uses its ``_write``, ``_read`` and ``_errors``)."""

    def _live_api_tokens(self, conn: sqlite3.Connection) -> list[ApiToken]:
        rows = conn.execute(f"SELECT {_COLS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY name").fetchall()
        return [ApiToken(*row) for row in rows]

    def create_api_token(self, name: str) -> tuple[ApiToken, str]:
        """A new token named ``name`` (unique among live tokens): ``(record, token)``.

        The token is returned here and nowhere else; the database keeps its sha256.
        """
        name = validate_name("API token", name)
        token = new_api_token()
        record = ApiToken(id=new_id(), name=name, created_at=utcnow())
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {_COLS} FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if row is not None:
                raise Conflict(
                    f"an API token named {name!r} already exists (id {row[0]})",
                    hint="choose another name, or revoke that one first",
                    existing=ApiToken(*row),
                )
            conn.execute(
                "INSERT INTO api_tokens(id, name, token_sha256, created_at) VALUES (?, ?, ?, ?)",
                (record.id, name, api_token_digest(token), record.created_at),
            )
        return record, token

    def list_api_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        """Live tokens by name; with ``include_revoked`` the revoked ones after them."""
        sql = f"SELECT {_COLS} FROM api_tokens"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        sql += " ORDER BY revoked_at IS NOT NULL, name, created_at"
        return [ApiToken(*row) for row in self._read(sql)]

    def revoke_api_token(self, id_or_name: str) -> ApiToken:
        """Revoke a live token given by id or name; it is refused from the next request on."""
        now = utcnow()
        with self._write() as conn:
            live = self._live_api_tokens(conn)
            by_id = [t for t in live if t.id == id_or_name] if is_uuid(id_or_name) else []
            found = by_id or [t for t in live if t.name == id_or_name]
            if not found:
                names = ", ".join(t.name for t in live) or "none"
                raise NotFound(f"no API token named or with id {id_or_name!r} (live tokens: {names})")
            token = found[0]
            conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (now, token.id))
        return ApiToken(token.id, token.name, token.created_at, token.last_used_at, now)

    def authenticate_api_token(self, token: str) -> ApiToken | None:
        """The live token whose sha256 matches ``token``, else None.

        Every live digest is compared in constant time (no early exit), so the time taken
        does not depend on which token matched or how much of a digest did.
        """
        import hmac

        if not token:
            return None
        digest = api_token_digest(token).encode()
        rows = self._read(
            f"SELECT {_COLS}, token_sha256 FROM api_tokens WHERE revoked_at IS NULL"
        )
        match = None
        for row in rows:
            if hmac.compare_digest(row[-1].encode(), digest):
                match = ApiToken(*row[:-1])
        return None if match is None else self._note_use(match)

    def _note_use(self, token: ApiToken) -> ApiToken:
        now = datetime.now(UTC)
        if token.last_used_at is not None and token.last_used_at > _stamp(now - LAST_USED_GRANULARITY):
            return token
        try:
            with self._write() as conn:
                conn.execute(
                    "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL",
                    (_stamp(now), token.id),
                )
        except StateError:
            return token  # bookkeeping only: a busy database must not refuse a valid token
        return ApiToken(token.id, token.name, token.created_at, _stamp(now), token.revoked_at)
