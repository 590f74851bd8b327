"""The ``warpcli`` command: the root group, global options, and the error boundary."""

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from warpcli import __version__
from warpcli.cli import completion, render
from warpcli.cli.context import Runtime
from warpcli.cli.exit_codes import ExitCode, exit_code_for
from warpcli.cli.options import Json
from warpcli.core.errors import BulkImportError, WarpcliError

#: command groups, imported only when used so that a run loads just its own command
SUBCOMMANDS = {
    "tunnel": "warpcli.cli.commands.tunnel",
    "vnet": "warpcli.cli.commands.vnet",
    "route": "warpcli.cli.commands.route",
    "routes": "warpcli.cli.commands.routes",
    "config": "warpcli.cli.commands.config",
    "auth": "warpcli.cli.commands.auth",
    "enroll": "warpcli.cli.commands.enroll",
    "up": "warpcli.cli.commands.lifecycle:up",
    "down": "warpcli.cli.commands.lifecycle:down",
    "status": "warpcli.cli.commands.lifecycle:status",
    "hub": "warpcli.cli.commands.hub",
    "policy": "warpcli.cli.commands.policy",
    "connector": "warpcli.cli.commands.connector",
    "ha": "warpcli.cli.commands.ha",
    "controller": "warpcli.cli.commands.controller",
    "install": "warpcli.cli.commands.install:install",
    "uninstall": "warpcli.cli.commands.install:uninstall",
    "export": "warpcli.cli.commands.apply:export",
    "apply": "warpcli.cli.commands.apply:apply",
}


class WarpcliGroup(TyperGroup):
    """The root group: loads command groups lazily and is the one error boundary.

    Every :class:`WarpcliError` becomes one line on stderr and its exit code; so
    does every usage error of the argument parser (instead of a multi-line box).
    """

    @property  # type: ignore[override]
    def commands(self) -> dict[str, Any]:
        """All commands (loads every group: for help, docs and completion walks)."""
        return {name: self.get_command(None, name) for name in self.list_commands(None)}

    @commands.setter
    def commands(self, value: dict[str, Any]) -> None:
        self._eager = value

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*self._eager, *SUBCOMMANDS})

    def get_command(self, ctx: Any, name: str) -> Any:
        if name in SUBCOMMANDS:
            module, _, command = SUBCOMMANDS[name].partition(":")
            app = importlib.import_module(module).app
            if command:  # one command of a module that holds several
                group = typer.main.get_group(app)
                return group.get_command(None, command)  # type: ignore[arg-type]
            command_group = typer.main.get_command(app)
            command_group.name = name
            return command_group
        return self._eager.get(name)

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,  # type: ignore[override]
             standalone_mode: bool = True, **extra: Any) -> Any:
        completion.register_shells_if_completing()
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from typer import Abort
        from typer._click.exceptions import ClickException

        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except KeyboardInterrupt:
            render.error("interrupted")
            sys.exit(ExitCode.INTERRUPTED)
        except ClickException as exc:
            text = exc.format_message().rstrip(".")
            if text:  # empty when a group called without a command has just printed its help
                ctx = getattr(exc, "ctx", None)
                hint = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
                render.error(f"{text}{hint}")
            sys.exit(exc.exit_code)
        except Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):  # Click turns Ctrl-C into Abort
                render.error("interrupted")
                sys.exit(ExitCode.INTERRUPTED)
            render.error("aborted")
            sys.exit(ExitCode.ERROR)
        except SystemExit:
            raise
        except Exception as exc:  # a bug: one line, not a traceback (unless asked for)
            if _debug(args):
                raise
            render.error(f"internal error ({type(exc).__name__}); run it again with WARPCLI_DEBUG=1 (or --debug) "
                         "to see the traceback, and please report it")
            sys.exit(ExitCode.INTERNAL)
        sys.exit(rv if isinstance(rv, int) else ExitCode.OK)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except WarpcliError as exc:
            rt = ctx.obj if isinstance(ctx.obj, Runtime) else None
            _report(exc, json=bool(rt and rt.json))
            raise typer.Exit(exit_code_for(exc)) from None
        except KeyboardInterrupt:
            # before Typer turns it into a silent exit 130: say so, in one line
            render.error("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # the reader went away (e.g. `| head`): stop quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(ExitCode.ERROR) from None


def _debug(args: Any) -> bool:
    """--debug among the arguments (before the command), or WARPCLI_DEBUG set to a true value."""
    argv = sys.argv[1:] if args is None else list(args)
    flag = "--debug" in argv[: next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))]
    return flag or os.environ.get("WARPCLI_DEBUG", "").lower() in ("1", "true", "yes")


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
    add_completion=False,  # our own --show/--install-completion below: they take the shell's name
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        render.plain(f"warpcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Where the embedded controller keeps its state \\[env: WARPCLI_STATE_DIR]."),
    ] = None,
    config_dir: Annotated[
        Path | None,
        typer.Option("--config-dir", help="Where config.toml lives \\[env: WARPCLI_CONFIG_DIR]."),
    ] = None,
    controller: Annotated[
        str | None,
        typer.Option(
            "--controller", metavar="local|cloudflare", autocompletion=completion.choices("local", "cloudflare"),
            help="The control plane: the embedded SQLite one, or Cloudflare API v4 \\[env: WARPCLI_CONTROLLER].",
        ),
    ] = None,
    account_id: Annotated[
        str | None,
        typer.Option("--account-id", help="Cloudflare account id (cloudflare controller) \\[env: CLOUDFLARE_ACCOUNT_ID]."),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            help="API v4 base URL; any server of the same dialect (default Cloudflare's) \\[env: WARPCLI_API_URL].",
        ),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database", metavar="URL",
            help="The embedded controller on PostgreSQL: postgresql://USER@HOST/DB, the password in ~/.pgpass "
                 "or PGPASSWORD, never here \\[env: WARPCLI_DATABASE_URL].",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars (they are shown only on a terminal anyway).")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an internal error \\[env: WARPCLI_DEBUG=1].")
    ] = False,
    show_completion: Annotated[
        str | None,
        typer.Option("--show-completion", metavar="SHELL", callback=completion.show_completion, is_eager=True,
                     autocompletion=completion.choices(*completion.SHELLS),
                     help="Print the completion script for SHELL (bash, zsh or fish) and exit."),
    ] = None,
    install_completion: Annotated[
        str | None,
        typer.Option("--install-completion", metavar="SHELL", callback=completion.install_completion,
                     is_eager=True, autocompletion=completion.choices(*completion.SHELLS),
                     help="Install the completion script for SHELL (bash, zsh or fish) and exit."),
    ] = None,
) -> None:
    """Provision and operate network connectors: tunnels, virtual networks and the route tables."""
    overrides = {"controller": controller, "account_id": account_id, "api_url": api_url, "database_url": database}
    from warpcli.cli import progress

    progress.set_quiet(quiet)  # every run: an in-process caller may run several
    ctx.obj = Runtime(state_dir, config_dir, overrides)
    ctx.call_on_close(ctx.obj.close)


@app.command("version")
def version_cmd(json: Json = False) -> None:
    """Print the version."""
    render.emit_json({"version": __version__}) if json else render.plain(f"warpcli {__version__}")


def main() -> None:
    app(prog_name="warpcli")
