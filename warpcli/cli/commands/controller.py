"""warpcli controller serve | migrate | copy | token create|list|revoke: the embedded controller on the network.

``serve`` is the only command that loads the HTTP server (flask, h11: the ``server``
extra), and only once it runs. The token commands work on the state database directly,
whatever controller the other commands are set to use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from warpcli.cli import render, views
from warpcli.cli.context import runtime
from warpcli.cli.options import Json
from warpcli.core.settings import DEFAULT_LISTEN

if TYPE_CHECKING:
    from warpcli.controllers.local import LocalController
    from warpcli.core.settings import Settings

API_URL_HINT = f"http://{DEFAULT_LISTEN}/client/v4"

app = typer.Typer(
    add_completion=False,
    help="Serve the embedded controller over HTTP (Cloudflare API v4 dialect) and manage its API tokens.",
    no_args_is_help=True,
)
token_app = typer.Typer(
    add_completion=False,
    help="Create, list and revoke the API tokens of a served controller.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")

StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="The state to serve or change (overrides the global --state-dir)."),
]


def _settings(ctx: typer.Context, state_dir: Path | None, json: bool) -> Settings:
    from warpcli.core.records import replace

    settings = runtime(ctx, json=json).settings
    if state_dir is not None:
        settings = replace(settings, state_dir=Path(state_dir).expanduser())
    return replace(settings, controller="local")


def _local(ctx: typer.Context, state_dir: Path | None, json: bool) -> LocalController:
    from warpcli.controllers import open_controller

    controller = open_controller(_settings(ctx, state_dir, json))
    ctx.call_on_close(controller.close)
    return controller  # type: ignore[return-value]


@app.command("serve")
def serve(
    ctx: typer.Context,
    listen: Annotated[
        str, typer.Option("--listen", metavar="ADDR:PORT", help="Address and port to listen on (port 0: any free one).")
    ] = DEFAULT_LISTEN,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate (chain): serve HTTPS. Needs --tls-key.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    threads: Annotated[
        int, typer.Option("--threads", min=1, max=256, help="Worker threads (requests served at once).")
    ] = 8,
    per_client: Annotated[
        int, typer.Option("--max-connections-per-client", min=1, max=100000,
                          help="Connections one client address (IPv6: one /64) may hold open; more are refused.")
    ] = 64,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Serve the embedded controller over HTTP until SIGTERM or SIGINT (logs on stderr)."""
    from warpcli.core.errors import WarpcliError

    settings = _settings(ctx, state_dir, json)
    try:
        import flask  # noqa: F401
        import h11  # noqa: F401
    except ImportError:
        raise WarpcliError("`controller serve` needs the server extra",
                           hint="pip install 'warpcli[server]' (in a checkout: pip install -e '.[server]')") from None
    from warpcli.server.run import serve as run

    def listening(info) -> None:
        if json:
            render.emit_json(info)
            import sys

            sys.stdout.flush()

    run(settings, listen=listen, tls_cert=tls_cert, tls_key=tls_key, threads=threads, per_client=per_client,
        on_listening=listening)


@app.command("migrate")
def migrate(ctx: typer.Context, state_dir: StateDir = None, json: Json = False) -> None:
    """Create or upgrade the state's schema (the --database PostgreSQL one, else the SQLite file). Idempotent."""
    store = _local(ctx, state_dir, json)
    before, after = store.migrate()
    what = "already at" if before == after else f"upgraded from version {before} to"
    render.message(f"the {store.engine} state {store.location} is {what} schema version {after}")
    if json:
        render.emit_json({"engine": store.engine, "location": store.location, "from_version": before,
                          "to_version": after, "changed": before != after})


@app.command("copy")
def copy(
    ctx: typer.Context,
    from_url: Annotated[
        str, typer.Option("--from", metavar="URL", help="The store to copy: sqlite:///PATH or postgresql://USER@HOST/DB.")
    ],
    to_url: Annotated[
        str | None,
        typer.Option("--to", metavar="URL", help="The store to fill (default: the --database one, else --state-dir's)."),
    ] = None,
    replace_: Annotated[
        bool, typer.Option("--replace", help="Overwrite a target that already holds state (default: refuse).")
    ] = False,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Copy every row of one store into another, all or nothing (ids, timestamps, token hashes kept)."""
    from warpcli.controllers.local.copy import copy_urls

    done = copy_urls(_settings(ctx, state_dir, json), from_url, to_url, replace=replace_)
    total = sum(done["rows"].values())
    render.message(f"copied {total} rows from {done['from']} to {done['to']}")
    if json:
        render.emit_json(done)


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="A name for the token, unique among live tokens.")],
    origincert: Annotated[
        Path | None,
        typer.Option("--origincert", metavar="FILE",
                     help="Also write a cloudflared origin certificate (0600) holding the account id and the token."),
    ] = None,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Create an API token and print it (the only time it is shown; only its sha256 is kept)."""
    controller = _local(ctx, state_dir, json)
    account = controller.account_id
    if origincert is None:
        record, token = controller.create_api_token(name)
    else:
        from warpcli.core.origincert import create_token_with_cert

        record, token = create_token_with_cert(origincert, account, lambda: controller.create_api_token(name))
        render.message(f"wrote the cloudflared origin certificate {origincert} (0600): cloudflared --origincert "
                       f"{origincert} --api-url http://HOST:PORT/client/v4 tunnel vnet list")
    render.message(f"created API token {record.name!r} (id {record.id}); it is shown only this once: keep it now")
    render.message(f"clients: --controller cloudflare --api-url http://HOST:PORT/client/v4 --account-id {account}, "
                   "the token in CLOUDFLARE_API_TOKEN or `warpcli auth login`")
    if json:
        render.emit_json({"id": record.id, "name": record.name, "created_at": record.created_at,
                          "account_id": account, "token": token, "api_url_hint": API_URL_HINT})
    else:
        render.plain(token)


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Also list revoked tokens.")] = False,
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """List the API tokens (names, ids, dates; never the tokens)."""
    tokens = _local(ctx, state_dir, json).list_api_tokens(include_revoked=all_)
    if json:
        render.emit_json(tokens)
        return
    render.show(tokens, views.REVOKED_API_TOKEN if all_ else views.API_TOKEN, json=False,
                empty="no API tokens" if all_ else "no API tokens (revoked ones: --all)")


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    name_or_id: Annotated[
        str, typer.Argument(metavar="NAME_OR_ID", help="The token's name or id.", show_default=False)
    ],
    state_dir: StateDir = None,
    json: Json = False,
) -> None:
    """Revoke an API token: the server refuses it from the next request on."""
    token = _local(ctx, state_dir, json).revoke_api_token(name_or_id)
    render.message(f"revoked API token {token.name!r} (id {token.id})")
    if json:
        render.emit_json(token)
