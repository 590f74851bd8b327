"""warpcli auth login|logout|status: the API token of the cloudflare controller.

The token is read from a hidden prompt or from stdin, never from argv.
"""

import sys

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json

app = typer.Typer(
    add_completion=False,
    help="Store, check and forget the API token of the cloudflare controller.",
    no_args_is_help=True,
)


def _read_token() -> str:
    from warpcli.controllers.cloudflare.credentials import check_token_text

    if sys.stdin.isatty():
        import getpass

        return check_token_text(getpass.getpass("API token (input hidden): "))
    return check_token_text(sys.stdin.readline())


def _store(rt):
    from warpcli.secret_stores import open_secret_store

    return open_secret_store(rt.settings.secret_backend, rt.settings.config_dir)


def _policy(rt):
    from warpcli.controllers.cloudflare import RetryPolicy

    return RetryPolicy(read_timeout=rt.settings.api_timeout)


@app.command("login")
def login(ctx: typer.Context, json: Json = False) -> None:
    """Read an API token (hidden prompt, or stdin), verify it with the API, and store it."""
    from warpcli.controllers.cloudflare.auth import verify_token
    from warpcli.controllers.cloudflare.credentials import secret_key

    rt = runtime(ctx, json=json)
    url = rt.settings.api_url
    token = _read_token()
    status = verify_token(url, token, policy=_policy(rt))
    store = _store(rt)
    store.set(secret_key(url), token)
    render.message(f"token {status.id} is {status.status}; stored in {store.description} for {url}")
    data = {"api_url": url, "token_id": status.id, "status": status.status, "stored_in": store.description}
    render.emit_json(data) if json else None


@app.command("logout")
def logout(ctx: typer.Context, json: Json = False) -> None:
    """Forget the stored API token of the API URL in effect."""
    import os

    from warpcli.controllers.cloudflare.credentials import ENV_TOKEN, secret_key

    rt = runtime(ctx, json=json)
    url = rt.settings.api_url
    store = _store(rt)
    had = store.get(secret_key(url)) is not None
    store.delete(secret_key(url))
    render.message(f"removed the token for {url} from {store.description}" if had else f"no token stored for {url}")
    if os.environ.get(ENV_TOKEN):
        render.message(f"note: {ENV_TOKEN} is still set in the environment and is used before the stored token")
    if json:
        render.emit_json({"api_url": url, "removed": had})


@app.command("status")
def status(ctx: typer.Context, json: Json = False) -> None:
    """Say which token would be used and whether the API accepts it (exit 7 if not)."""
    from warpcli.controllers.cloudflare.auth import verify_token
    from warpcli.controllers.cloudflare.credentials import find_token
    from warpcli.core.errors import AuthError

    rt = runtime(ctx, json=json)
    s = rt.settings
    token = find_token(s.api_url, _store(rt))
    data = {
        "api_url": s.api_url,
        "account_id": s.account_id,
        "controller": s.controller,
        "token_source": token.source if token else None,
        "token_id": None,
        "token_status": None,
    }
    problem = None
    if token is None:
        problem = AuthError(f"no API token for {s.api_url}", hint="set CLOUDFLARE_API_TOKEN or run `warpcli auth login`")
    else:
        try:
            st = verify_token(s.api_url, token.value, policy=_policy(rt))
            data.update(token_id=st.id, token_status=st.status)
        except AuthError as exc:
            data["token_status"] = "refused"
            problem = exc
    if json:
        render.emit_json(data)
    else:
        render.fields([(k, v) for k, v in data.items()])
    if problem is not None:
        raise problem
