"""Tunnel tokens in Cloudflare's format: base64 of ``{"a": account, "t": tunnel, "s": secret}``."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

from warpcli.core.errors import InvalidInput


def new_tunnel_token(account_tag: str, tunnel_id: str) -> str:
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    payload = json.dumps({"a": account_tag, "t": tunnel_id, "s": secret}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def parse_tunnel_token(token: str) -> dict[str, str]:
    """Decode a token into ``{"a", "t", "s"}``; the message never echoes the token."""
    try:
        obj = json.loads(base64.b64decode(token.strip(), validate=True))
        if not all(isinstance(obj.get(k), str) for k in ("a", "t", "s")):
            raise ValueError
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput("the tunnel token is malformed", hint="copy it again with `warpcli tunnel token`") from None
    return obj


def token_digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()
