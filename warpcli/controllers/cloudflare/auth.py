"""Checking an API token: ``GET /user/tokens/verify``."""

from __future__ import annotations

from dataclasses import dataclass

from warpcli.controllers.cloudflare.transport import ApiClient, RetryPolicy
from warpcli.core.errors import AuthError


@dataclass(frozen=True)
class TokenStatus:
    id: str
    status: str  #: active, disabled or expired
    expires_on: str | None = None


def verify_token(api_url: str, token: str, *, policy: RetryPolicy = RetryPolicy()) -> TokenStatus:
    """The token's id and status; AuthError when the API refuses it or it is not active."""
    client = ApiClient(api_url, token, policy=policy)
    try:
        result = client.call("GET", "/user/tokens/verify").get("result") or {}
    finally:
        client.close()
    if not isinstance(result, dict) or not isinstance(result.get("id"), str):
        raise AuthError(f"{api_url} did not say whom the token belongs to")
    status = TokenStatus(result["id"], str(result.get("status", "")), result.get("expires_on"))
    if status.status != "active":
        raise AuthError(f"the API token is {status.status or 'not active'}", hint="create a new one")
    return status
