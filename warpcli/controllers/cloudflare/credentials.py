"""Where the API token comes from: ``CLOUDFLARE_API_TOKEN``, else the secret store.

Never from the command line (argv is visible to every user of the machine). Tokens
are stored per API base URL, so a Cloudflare token and a self-hosted controller's
token can live side by side.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from warpcli.core.errors import AuthError
from warpcli.core.secrets import SecretStore

ENV_TOKEN = "CLOUDFLARE_API_TOKEN"


def secret_key(api_url: str) -> str:
    return f"api-token:{api_url.rstrip('/')}"


@dataclass(frozen=True)
class FoundToken:
    value: str
    source: str  #: "env" or "keyring"/the store's description: for `auth status`, never the value

    def __repr__(self) -> str:
        return f"FoundToken(source={self.source!r})"


def find_token(api_url: str, store: SecretStore | None, env: Mapping[str, str] | None = None) -> FoundToken | None:
    env = os.environ if env is None else env
    value = (env.get(ENV_TOKEN) or "").strip()
    if value:
        return FoundToken(value, f"the environment ({ENV_TOKEN})")
    if store is not None:
        stored = store.get(secret_key(api_url))
        if stored:
            return FoundToken(stored, store.description)
    return None


def require_token(api_url: str, store: SecretStore | None, env: Mapping[str, str] | None = None) -> FoundToken:
    token = find_token(api_url, store, env)
    if token is None:
        raise AuthError(
            f"no API token for {api_url}",
            hint=f"set {ENV_TOKEN}, or run `warpcli auth login` (it reads the token from a prompt or stdin)",
        )
    return token


def check_token_text(value: str) -> str:
    """A token as typed or piped: one line of visible ASCII, no spaces."""
    token = value.strip()
    if not token:
        raise AuthError("no token given on stdin or at the prompt")
    if any(c.isspace() or not (33 <= ord(c) < 127) for c in token):
        raise AuthError("that is not an API token (it must be one line of printable ASCII without spaces)")
    return token
