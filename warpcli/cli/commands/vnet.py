"""warpcli vnet ...: isolated routing domains in which CIDRs may overlap."""

from typing import Annotated

import typer

from warpcli.cli import render, views
from warpcli.cli.context import reading, runtime
from warpcli.cli.options import Force, IfExists, IfNotExists, Json
from warpcli.core import service

app = typer.Typer(
    add_completion=False,
    help="Manage virtual networks (routing domains; CIDRs may repeat across them).",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(metavar="VNET", help="Virtual network name or id.", show_default=False)]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name, unique in the account.", show_default=False)],
    comment: Annotated[str, typer.Option("--comment", help="A free-text remark.")] = "",
    default: Annotated[bool, typer.Option("--default", help="Make it the default virtual network.")] = False,
    if_not_exists: IfNotExists = False,
    json: Json = False,
) -> None:
    """Add a virtual network; print its id."""
    ctrl = runtime(ctx, json=json).controller
    result = service.create_vnet(ctrl, name, comment=comment, is_default=default, if_not_exists=if_not_exists)
    v = result.obj
    render.message(f"added virtual network {v.name!r}" if result.created else f"virtual network {v.name!r} already exists")
    render.emit_json(v) if json else render.plain(v.id)


@app.command("list")
def list_(ctx: typer.Context, json: Json = False) -> None:
    """List virtual networks (the default first)."""
    vnets = reading(ctx, json=json).list_virtual_networks()
    render.show(vnets, views.VNET, json=json, empty="no virtual networks")


@app.command("update")
def update(
    ctx: typer.Context,
    vnet: Name,
    name: Annotated[str | None, typer.Option("--name", help="Rename it.")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Replace the remark.")] = None,
    default: Annotated[bool, typer.Option("--default", help="Make it the default virtual network.")] = False,
    json: Json = False,
) -> None:
    """Rename a virtual network, change its remark, or make it the default."""
    ctrl = runtime(ctx, json=json).controller
    current = service.resolve_vnet(ctrl, vnet)
    v = ctrl.update_virtual_network(current.id, name=name, comment=comment, is_default=True if default else None)
    render.message(f"updated virtual network {v.name!r}")
    render.show(v, views.VNET, json=json)


@app.command("delete")
def delete(ctx: typer.Context, vnet: Name, force: Force = False, if_exists: IfExists = False,
           json: Json = False) -> None:
    """Delete a virtual network. Refused for the default one, and while it has routes unless --force."""
    gone = service.delete_vnet(runtime(ctx, json=json).controller, vnet, force=force, if_exists=if_exists)
    render.deleted(gone.obj, done=f"deleted virtual network {gone.obj.name!r}" if gone.obj else "",
                   routes=gone.routes, missing=f"no virtual network {vnet!r}; nothing to delete", json=json)
