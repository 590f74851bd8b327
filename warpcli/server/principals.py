"""``authenticate(token)`` for a served embedded controller: API tokens, then tunnel tokens.

- a live API token (``warpcli controller token create``) is ``Principal("api", id, name=...)``;
- else a valid tunnel token of a live tunnel is ``Principal("tunnel", ..., tunnel_id=...)``,
  which :mod:`warpcli.server.app` lets through to ``tunnel_scoped`` endpoints only;
- else ``None`` (401).

Each server thread reads the tokens through its own controller (SQLite connections are not
shared between threads), opened on first use and closed by :meth:`TokenAuthenticator.close`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from warpcli.core.errors import InvalidInput, NotFound, StateError
from warpcli.server.auth import Principal
from warpcli.server.pool import ControllerPool

if TYPE_CHECKING:
    from warpcli.controllers.local import LocalController


class TokenAuthenticator:
    def __init__(self, open_controller: Callable[[], LocalController]) -> None:
        self._pool = ControllerPool(open_controller)

    def __call__(self, token: str) -> Principal | None:
        controller: LocalController = self._pool.get()  # type: ignore[assignment]
        try:
            record = controller.authenticate_api_token(token)
            if record is not None:
                return Principal("api", record.id, name=record.name)
            return self._tunnel_principal(controller, token)
        except StateError:
            self._pool.discard()  # reopen on the next request: the file may be back
            raise

    @staticmethod
    def _tunnel_principal(controller: LocalController, token: str) -> Principal | None:
        from warpcli.core.tokens import token_digest

        try:
            tunnel = controller.verify_tunnel_token(token)
        except (InvalidInput, NotFound):
            return None
        return Principal("tunnel", token_digest(token)[:32], tunnel_id=tunnel.id)

    def close(self) -> None:
        """Close the controllers it opened (after the server has stopped)."""
        self._pool.close_all()
