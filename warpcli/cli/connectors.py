"""warpcli connector list | delete: the hosts enrolled into tunnels (the controller's inventory)."""

from typing import Annotated

import typer

from warpcli.cli import completion, render
from warpcli.cli.context import runtime
from warpcli.cli.options import IfExists, Json
from warpcli.core import service

app = typer.Typer(
    add_completion=False,
    help="List and retire enrolled connectors (the hosts that joined a tunnel).",
    no_args_is_help=True,
)

COLUMNS = ["ID", "TUNNEL", "VNET ID", "ADDRESS", "PUBLIC KEY", "CREATED", "LAST SEEN", "VERSION", "ROLE"]


def _role(c) -> str:
    return "-" if c.role is None else c.role if c.priority is None else f"{c.role} ({c.priority})"


def _rows(connectors):
    return ([c.id, c.tunnel_name or c.tunnel_id, c.virtual_network_id, c.address, c.public_key, c.created_at,
             c.last_seen or "never", c.version or "-", _role(c)] for c in connectors)


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
    connectors = service.list_connectors(runtime(ctx, json=json).controller, tunnel=tunnel, vnet=vnet)
    if json:
        render.emit_json(connectors)
    elif not connectors:
        render.message("no connectors")
    else:
        render.table(COLUMNS, _rows(connectors))


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
