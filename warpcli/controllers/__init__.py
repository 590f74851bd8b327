"""Control-plane backends behind :class:`warpcli.core.controller.Controller`."""

from __future__ import annotations

from warpcli.core.controller import Controller
from warpcli.core.settings import Settings


def open_controller(settings: Settings) -> Controller:
    """The controller the settings name. Backends are imported only when chosen."""
    if settings.controller == "local":
        from warpcli.controllers.local import LocalController
        from warpcli.secrets import open_secret_store

        return LocalController(
            settings.state_dir,
            secrets=lambda: open_secret_store(settings.secret_backend, settings.state_dir),
            lock_timeout=settings.lock_timeout,
        )
    if settings.controller == "cloudflare":
        return _open_cloudflare(settings)
    raise ValueError(f"unknown controller {settings.controller!r}")  # load_settings validated it


def _open_cloudflare(settings: Settings) -> Controller:
    from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy, valid_account_id
    from warpcli.controllers.cloudflare.credentials import require_token
    from warpcli.core.errors import ConfigError
    from warpcli.secrets import open_secret_store

    if not settings.account_id:
        raise ConfigError(
            "the cloudflare controller needs an account id",
            hint="pass --account-id, set CLOUDFLARE_ACCOUNT_ID, or `warpcli config set account_id ID`",
        )
    account = valid_account_id(settings.account_id)
    token = require_token(settings.api_url, open_secret_store(settings.secret_backend, settings.config_dir))
    policy = RetryPolicy(read_timeout=settings.api_timeout)
    return CloudflareController(ApiClient(settings.api_url, token.value, policy=policy), account)
