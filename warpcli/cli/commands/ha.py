"""warpcli ha promote | drain: planned switchover between the replicas of a tunnel."""

from typing import Annotated

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json
from warpcli.core import service
from warpcli.core.errors import InvalidInput

app = typer.Typer(
    add_completion=False,
    help="High availability: hand the active role between the replicas of a tunnel.",
    no_args_is_help=True,
)

Timeout = Annotated[float, typer.Option("--timeout", min=0.5, max=120, help="How long to wait for the handover.")]


def _ifname(rt) -> str:
    from warpcli.cli.commands.lifecycle import _config

    return _config(rt).interface


def _show(result: dict, json: bool, text: str) -> None:
    render.emit_json(result) if json else render.plain(text)


@app.command("promote")
def promote(
    ctx: typer.Context,
    timeout: Timeout = 8.0,
    tunnel: Annotated[str | None, typer.Option("--tunnel", help="With --replica: the tunnel (name or id).")] = None,
    replica_ref: Annotated[str | None, typer.Option(
        "--replica", metavar="ID|ADDRESS",
        help="Promote this replica of --tunnel through the controller (Cloudflare's failover endpoint; on a "
             "served controller the hub's `--follow` passes it on), from any host.")] = None,
    json: Json = False,
) -> None:
    """Make this replica the active one (no TCP connection is lost); it keeps the role until drained.

    With --tunnel and --replica, ask the controller instead, from any host with an API token,
    and wait until the replica is reported active."""
    from warpcli.host.ha import replica

    rt = runtime(ctx, json=json)
    if (tunnel is None) != (replica_ref is None):
        raise InvalidInput("--tunnel and --replica go together")
    if tunnel is not None and replica_ref is not None:
        c = service.failover(rt.controller, tunnel, replica_ref, timeout=timeout)
        _show({"role": c.role, "hub_owner": c.address or c.id, "drained": False}, json,
              f"active: replica {c.address or c.id} of tunnel {c.tunnel_name or tunnel!r}")
        return
    result = replica.promote(rt.settings.run_dir, _ifname(rt), timeout=timeout)
    _show(result, json, "active: this replica holds the gateway address and the hub routes to it")


@app.command("drain")
def drain(ctx: typer.Context, timeout: Timeout = 8.0, json: Json = False) -> None:
    """Hand the active role to another replica (no TCP connection is lost); stay standby at the lowest
    priority until `warpcli ha promote` or a new `warpcli up` with other settings."""
    from warpcli.host.ha import replica

    rt = runtime(ctx, json=json)
    result = replica.drain(rt.settings.run_dir, _ifname(rt), timeout=timeout)
    _show(result, json, f"standby: the hub routes to {result['hub_owner']}")
