"""Who is calling: the principal behind a bearer token, and which endpoints it may use.

Two kinds of callers (issue 6):

- an **API token** (``kind="api"``): made with ``warpcli controller token create``, stored
  hashed; may call every endpoint of the account;
- a **tunnel token** (``kind="tunnel"``): the token of one tunnel (``warpcli tunnel token``);
  may only use endpoints marked :func:`tunnel_scoped`, and those handlers check that the
  request concerns its own tunnel (enroll it, read its own peers).

``create_app(..., authenticate=...)`` takes a function ``token -> Principal | None``
(``None``: 401). Every endpoint requires an API principal unless it is marked
:func:`tunnel_scoped`; a tunnel principal elsewhere gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

TUNNEL_SCOPED_ATTR = "_warpcli_tunnel_scoped"
#: where the app leaves the request's principal in the WSGI environ (the access log reads it)
PRINCIPAL_ENVIRON_KEY = "warpcli.principal"


@dataclass(frozen=True)
class Principal:
    kind: Literal["api", "tunnel"]
    #: a stable, non-secret id of the token (``GET /user/tokens/verify`` answers it)
    token_id: str
    #: for a tunnel token: the tunnel it belongs to
    tunnel_id: str | None = None
    #: for an API token: the name it was created with
    name: str | None = None


def tunnel_scoped(view: F) -> F:
    """Mark an endpoint that a tunnel token may call (the handler checks the tunnel)."""
    setattr(view, TUNNEL_SCOPED_ATTR, True)
    return view


def is_tunnel_scoped(view: Callable[..., Any] | None) -> bool:
    func = getattr(view, "__func__", view)
    return bool(getattr(func, TUNNEL_SCOPED_ATTR, False))


PUBLIC_ATTR = "_warpcli_public"


def public(view: F) -> F:
    """Mark an endpoint that needs no token at all (only the health check)."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def is_public(view: Callable[..., Any] | None) -> bool:
    func = getattr(view, "__func__", view)
    return bool(getattr(func, PUBLIC_ATTR, False))


def current_principal() -> Principal:
    """The caller of the request being handled (set before any handler runs)."""
    from flask import g

    return g.principal


def from_predicate(authorize: Callable[[str], bool]) -> Callable[[str], Principal | None]:
    """Adapt a yes/no check (every accepted token is an API token): for tests and embedding."""
    import hashlib

    def authenticate(token: str) -> Principal | None:
        if not authorize(token):
            return None
        return Principal("api", hashlib.sha256(token.encode()).hexdigest()[:32])

    return authenticate
