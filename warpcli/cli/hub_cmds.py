"""warpcli hub up | down: the self-hosted edge of a virtual network."""

from typing import Annotated

import typer

from warpcli.cli import following, render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json, Vnet
from warpcli.core import service
from warpcli.core.errors import InvalidInput

app = typer.Typer(
    add_completion=False,
    help="Run the hub: the self-hosted edge that routes between the connectors of a vnet.",
    no_args_is_help=True,
)

DEFAULT_INTERFACE = "warpcli-hub"
Interface = Annotated[str, typer.Option("--interface", help="The hub's WireGuard interface (one per vnet).")]


@app.command("up")
def up(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Option("--endpoint", help="HOST:PORT the connectors dial; the hub listens on PORT.")],
    vnet: Vnet = None,
    interface: Interface = DEFAULT_INTERFACE,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    follow: following.Follow = False,
    interval: following.Interval = 5.0,
    json: Json = False,
) -> None:
    """Bring up (or reconcile) the hub: one peer per enrolled connector of the vnet.

    With --follow it keeps running and reconciles again whenever a connector enrolls
    or leaves, or the vnet's routes change (JSON: one object per line).
    """
    from warpcli.host import hub
    from warpcli.host.connector import require_root

    rt = runtime(ctx, json=json)
    hub.parse_endpoint(endpoint)
    if follow and dry_run:
        raise InvalidInput("--follow and --dry-run do not go together")
    if not dry_run:
        require_root()
    v = service.resolve_vnet(rt.controller, vnet)
    private, public = hub.hub_keypair(rt.host_secrets, v.id, store=not dry_run)

    def reconcile():
        return hub.hub_up(rt.controller, v, endpoint=endpoint, private_key=private, public_key=public,
                          ifname=interface, run_dir=rt.settings.run_dir, dry_run=dry_run)

    def show(result) -> None:
        render.plan_result(result.lines, {"changed": result.changed, "peers": result.peers, "plan": result.lines},
                           json=json, dry_run=dry_run, compact=follow)

    if follow:
        following.run(reconcile, lambda: rt.controller.state_version(v.id), interval=interval, show=show)
    else:
        show(reconcile())


@app.command("down")
def down(ctx: typer.Context, interface: Interface = DEFAULT_INTERFACE, json: Json = False) -> None:
    """Remove the hub interface, its routes and rules."""
    from warpcli.host import hub

    rt = runtime(ctx, json=json)
    lines = hub.hub_down(interface, run_dir=rt.settings.run_dir)
    if json:
        render.emit_json({"removed": [x for x in lines if x != "nothing to remove"]})
    else:
        for line in lines:
            render.plain(line)
