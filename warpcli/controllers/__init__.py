"""Control-plane backends behind :class:`warpcli.core.controller.Controller`."""

from __future__ import annotations

from warpcli.core.controller import Controller
from warpcli.core.settings import Settings


def open_controller(settings: Settings, *, tunnel_token: str | None = None, create: bool = True) -> Controller:
    """The controller the settings name. Backends are imported only when chosen.

    ``tunnel_token``: the cloudflare controller authenticates with this tunnel's token
    instead of an API token (a connector host of a served warpcli controller; it can
    then enroll and read its peers, nothing else). The account is the token's.
    ``create=False``: the embedded store is not created by reading it (read-only commands).
    """
    if settings.controller == "local":
        from warpcli.controllers.local.interface import open_store
        from warpcli.secret_stores import open_secret_store

        return open_store(
            settings.database_url,
            settings.state_dir,
            secrets=lambda: open_secret_store(settings.secret_backend, settings.state_dir),
            lock_timeout=settings.lock_timeout,
            create=create,
        )
    if settings.controller == "cloudflare":
        if tunnel_token is not None:
            return _open_with_tunnel_token(settings, tunnel_token)
        return _open_cloudflare(settings)
    raise ValueError(f"unknown controller {settings.controller!r}")  # load_settings validated it


def _open_cloudflare(settings: Settings) -> Controller:
    from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy, valid_account_id
    from warpcli.controllers.cloudflare.credentials import find_token, require_token
    from warpcli.core.errors import ConfigError
    from warpcli.secret_stores import open_secret_store

    if not settings.account_id:
        raise ConfigError(
            "the cloudflare controller needs an account id",
            hint="pass --account-id, set CLOUDFLARE_ACCOUNT_ID, or `warpcli config set account_id ID`",
        )
    account = valid_account_id(settings.account_id)
    # the environment's token first: opening the secret store loads keyring (~0.4 s)
    token = find_token(settings.api_url, None) or require_token(
        settings.api_url, open_secret_store(settings.secret_backend, settings.config_dir)
    )
    policy = RetryPolicy(read_timeout=settings.api_timeout)
    return CloudflareController(ApiClient(settings.api_url, token.value, policy=policy), account)


def _open_with_tunnel_token(settings: Settings, token: str) -> Controller:
    from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy, valid_account_id
    from warpcli.core.errors import InvalidInput
    from warpcli.core.tokens import parse_tunnel_token

    claims = parse_tunnel_token(token)
    try:
        account = valid_account_id(claims["a"])
    except InvalidInput:
        raise InvalidInput("the tunnel token is malformed (its account id is not 32 hex digits)") from None
    if settings.account_id and valid_account_id(settings.account_id) != account:
        raise InvalidInput("the tunnel token belongs to another account")
    client = ApiClient(settings.api_url, token.strip(), policy=RetryPolicy(read_timeout=settings.api_timeout),
                       tunnel_token=True)
    return CloudflareController(client, account, tunnel_id=claims["t"])


def open_connector_controller(settings: Settings, cfg, host_secrets) -> Controller:
    """The controller a connector's ``up`` and ``status`` talk to.

    Enrolled against a served controller (``api_url`` in connector.toml): that server,
    with the tunnel token kept at enrollment, else the API token stored for its URL.
    Otherwise the controller the settings name, as for every other command.
    """
    from warpcli.core.enrollment import tunnel_token_key
    from warpcli.core.records import replace

    if not cfg.api_url:
        return open_controller(settings)
    served = replace(settings, controller="cloudflare", api_url=cfg.api_url, account_id=cfg.account_id)
    return open_controller(served, tunnel_token=host_secrets.get(tunnel_token_key(cfg.tunnel_id)))
