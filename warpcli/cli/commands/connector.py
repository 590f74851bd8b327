"""warpcli connector list | delete: the hosts enrolled into tunnels (the controller's inventory)."""

from typing import Annotated

import typer

from warpcli.cli import completion, render, views
from warpcli.cli.context import reading, runtime
from warpcli.cli.options import IfExists, Json
from warpcli.core import service

app = typer.Typer(
    add_completion=False,
    help="List and retire enrolled connectors (the hosts that joined a tunnel).",
    no_args_is_help=True,
)


@app.command("list")
def list_(
    ctx: typer.Context,
    tunnel: Annotated[str | None, typer.Option("--tunnel", help="Only this tunnel's (name or id).",
                                                         autocompletion=completion.tunnel_names)] = None,
    vnet: Annotated[str | None, typer.Option("--vnet", help="Only this virtual network's (name or id).",
                                                       autocompletion=completion.vnet_names)] = None,
    json: Json = False,
) -> None:
    """Enrolled connectors: id, tunnel, virtual network, device address, public key, last seen,
    warpcli version and HA role (priority), as the hub last reported them."""
    connectors = service.list_connectors(reading(ctx, json=json), tunnel=tunnel, vnet=vnet)
    render.show(connectors, views.CONNECTOR, json=json, empty="no connectors")


@app.command("delete")
def delete(
    ctx: typer.Context,
    connector: Annotated[str, typer.Argument(metavar="CONNECTOR", help="The connector's id or device address.",
                                             show_default=False)],
    if_exists: IfExists = False,
    json: Json = False,
) -> None:
    """Retire one connector (its key and address), keeping its tunnel and routes.

    The host's tunnel stops working at the hub's next reconcile; `warpcli down` on the
    host removes its interface.
    """
    gone = service.delete_connector(runtime(ctx, json=json).controller, connector, if_exists=if_exists)
    c = gone.obj
    render.deleted(c, done=f"deleted connector {c.id} ({c.address})" if c else "",
                   missing=f"no connector {connector!r}; nothing to delete", json=json)
    if c is not None and not json:
        render.plain(c.id)
