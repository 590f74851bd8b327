"""warpcli ha promote | drain: planned switchover between the replicas of a tunnel."""

from typing import Annotated

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json

app = typer.Typer(
    add_completion=False,
    help="High availability: hand the active role between the replicas of a tunnel.",
    no_args_is_help=True,
)

Timeout = Annotated[float, typer.Option("--timeout", min=0.5, max=120, help="How long to wait for the handover.")]


def _ifname(rt) -> str:
    from warpcli.cli.connector_cmds import _config

    return _config(rt).interface


def _show(result: dict, json: bool, text: str) -> None:
    render.emit_json(result) if json else render.plain(text)


@app.command("promote")
def promote(ctx: typer.Context, timeout: Timeout = 8.0, json: Json = False) -> None:
    """Make this replica the active one (no TCP connection is lost); it keeps the role until drained."""
    from warpcli.host.ha import replica

    rt = runtime(ctx, json=json)
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
