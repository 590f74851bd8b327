"""The ``warpcli`` command: the root group, global options, and the error boundary."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from warpcli import __version__
from warpcli.cli import config_cmd, render, route, routes, tunnel, vnet
from warpcli.cli.context import Runtime
from warpcli.cli.exit_codes import ExitCode, exit_code_for
from warpcli.cli.options import Json
from warpcli.core.errors import BulkImportError, WarpcliError


class WarpcliGroup(TyperGroup):
    """Turns every :class:`WarpcliError` into one line on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WarpcliError as exc:
            rt = ctx.obj if isinstance(ctx.obj, Runtime) else None
            _report(exc, json=bool(rt and rt.json))
            raise typer.Exit(exit_code_for(exc)) from None
        except BrokenPipeError:
            # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(ExitCode.ERROR) from None


def _report(exc: WarpcliError, *, json: bool) -> None:
    render.error(str(exc))
    if isinstance(exc, BulkImportError):
        for p in exc.problems:
            where = f": {p['network']}" if p.get("network") else ""
            render.message(f"  row {p['row']}{where}: {p['reason']}")
        if json:
            render.emit_json({"error": exc.message, "problems": exc.problems})


app = typer.Typer(
    cls=WarpcliGroup,
    name="warpcli",
    help="Provision and operate network connectors: tunnels, virtual networks and the route tables.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(tunnel.app, name="tunnel")
app.add_typer(vnet.app, name="vnet")
app.add_typer(route.app, name="route")
app.add_typer(routes.app, name="routes")
app.add_typer(config_cmd.app, name="config")


def _version(value: bool) -> None:
    if value:
        render.plain(f"warpcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    state_dir: Annotated[
        Optional[Path],
        typer.Option("--state-dir", help="Where the embedded controller keeps its state [env: WARPCLI_STATE_DIR]."),
    ] = None,
    config_dir: Annotated[
        Optional[Path],
        typer.Option("--config-dir", help="Where config.toml lives [env: WARPCLI_CONFIG_DIR]."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Provision and operate network connectors: tunnels, virtual networks and the route tables."""
    ctx.obj = Runtime(state_dir, config_dir)
    ctx.call_on_close(ctx.obj.close)


@app.command("version")
def version_cmd(json: Json = False) -> None:
    """Print the version."""
    render.emit_json({"version": __version__}) if json else render.plain(f"warpcli {__version__}")


def main() -> None:
    app(prog_name="warpcli")
