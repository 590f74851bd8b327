"""warpcli tunnel ...: a connector's identity and enrollment token."""

from typing import Annotated

import typer

from warpcli.cli import render, views
from warpcli.cli.context import reading, runtime
from warpcli.cli.options import Force, IfExists, IfNotExists, Json
from warpcli.core import service
from warpcli.core.model import RouteFilter

app = typer.Typer(
    add_completion=False,
    help="Create and manage tunnels (a connector's identity and token).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="TUNNEL", help="Tunnel name or id.", show_default=False)]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name, unique in the account.", show_default=False)],
    if_not_exists: IfNotExists = False,
    ha: Annotated[bool, typer.Option("--ha", help="Meant for replicas (Cloudflare's `ha: true`; HA mode `none`).")]
    = False,
    json: Json = False,
) -> None:
    """Create a tunnel; print its id. The token goes to the keyring (or the 0600 fallback file)."""
    rt = runtime(ctx, json=json)
    ctrl = rt.controller
    result = service.create_tunnel(ctrl, name, if_not_exists=if_not_exists, ha=ha)
    tunnel = result.obj
    if result.created:
        render.message(f"created tunnel {tunnel.name!r}; its token is kept {ctrl.token_home()} (`warpcli tunnel token`)")
    else:
        render.message(f"tunnel {tunnel.name!r} already exists")
    render.emit_json(tunnel) if json else render.plain(tunnel.id)


@app.command("list")
def list_(
    ctx: typer.Context,
    deleted: Annotated[bool, typer.Option("--deleted", help="List deleted tunnels instead.")] = False,
    json: Json = False,
) -> None:
    """List tunnels."""
    tunnels = reading(ctx, json=json).list_tunnels(is_deleted=deleted)
    render.show(tunnels, views.DELETED_TUNNEL if deleted else views.TUNNEL, json=json,
                empty="no deleted tunnels" if deleted else "no tunnels")


@app.command("show")
def show(ctx: typer.Context, tunnel: Name, json: Json = False) -> None:
    """Show one tunnel, its replicas (role, priority, last role change, last seen) and its routes."""
    ctrl = reading(ctx, json=json)
    t = service.resolve_tunnel(ctrl, tunnel)
    replicas = service.tunnel_replicas(ctrl, t)
    if json:
        render.emit_json({**t.to_dict(), "replicas": [c.to_dict() for c in replicas]})
        return
    routes = list(ctrl.list_routes(RouteFilter(tunnel_id=t.id)))
    render.fields([
        ("name", t.name), ("id", t.id), ("type", t.tun_type), ("status", t.status),
        ("created", t.created_at), ("replicas", len(replicas)), ("routes", len(routes)),
    ])
    if replicas:
        render.show(replicas, views.REPLICA, json=False)
    if routes:
        render.show(routes, views.TUNNEL_ROUTE, json=False)


@app.command("update")
def update(
    ctx: typer.Context,
    tunnel: Name,
    name: Annotated[str | None, typer.Option("--name", help="Rename it (unique in the account).")] = None,
    json: Json = False,
) -> None:
    """Rename a tunnel. Its id, token, routes and connectors stay as they are."""
    ctrl = runtime(ctx, json=json).controller
    t = ctrl.update_tunnel(service.resolve_tunnel(ctrl, tunnel).id, name=name)
    render.message(f"updated tunnel {t.name!r}")
    render.show(t, views.TUNNEL, json=json)


@app.command("token")
def token(ctx: typer.Context, tunnel: Name, json: Json = False) -> None:
    """Print a tunnel's enrollment token (a secret: the only command that shows it)."""
    ctrl = runtime(ctx, json=json).controller
    t = service.resolve_tunnel(ctrl, tunnel)
    secret = ctrl.get_tunnel_token(t.id)
    render.emit_json({"id": t.id, "name": t.name, "token": secret}) if json else render.plain(secret)


@app.command("delete")
def delete(ctx: typer.Context, tunnel: Name, force: Force = False, if_exists: IfExists = False,
           json: Json = False) -> None:
    """Delete a tunnel. Refused while routes use it, unless --force."""
    gone = service.delete_tunnel(runtime(ctx, json=json).controller, tunnel, force=force, if_exists=if_exists)
    render.deleted(gone.obj, done=f"deleted tunnel {gone.obj.name!r}" if gone.obj else "", routes=gone.routes,
                   missing=f"no tunnel {tunnel!r}; nothing to delete", json=json)
