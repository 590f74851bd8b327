"""Shell completion: the shell scripts, and values for the options that name things.

`--tunnel` and `--vnet` complete with the names the current controller has (the one the
command line, the environment and config.toml select, as the command itself would);
`--table` and `--controller` with their fixed choices. A completer never fails: a
controller that cannot be read completes nothing rather than printing an error into
the user's shell.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

SHELLS = ("bash", "zsh", "fish")
PROG_NAME = "warpcli"
COMPLETE_VAR = "_WARPCLI_COMPLETE"


def register_shells_if_completing() -> None:
    """When the shell asks for completions (``_WARPCLI_COMPLETE`` set), register Typer's shell
    classes; a normal run skips the import (the root app has ``add_completion=False``)."""
    import os

    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()


def _names(ctx: typer.Context, incomplete: str, listing: Callable) -> list[str]:
    try:
        from warpcli.controllers import open_controller
        from warpcli.core.settings import load_settings

        root = ctx.find_root().params
        overrides = {k: root.get(k) for k in ("controller", "account_id", "api_url")}
        settings = load_settings(config_dir=root.get("config_dir"), state_dir=root.get("state_dir"),
                                 overrides=overrides)
        if settings.controller == "local" and not (settings.state_dir / "state.db").exists():
            return []  # completing must not create a store
        with open_controller(settings) as ctrl:
            return sorted(n for n in listing(ctrl) if n.startswith(incomplete))
    except Exception:  # a completer prints nothing rather than an error into the shell
        return []


def tunnel_names(ctx: typer.Context, incomplete: str) -> list[str]:
    return _names(ctx, incomplete, lambda ctrl: [t.name for t in ctrl.list_tunnels()])


def vnet_names(ctx: typer.Context, incomplete: str) -> list[str]:
    return _names(ctx, incomplete, lambda ctrl: [v.name for v in ctrl.list_virtual_networks()])


def vnet_names_or_all(ctx: typer.Context, incomplete: str) -> list[str]:
    return [*vnet_names(ctx, incomplete), *(["all"] if "all".startswith(incomplete) else [])]


def choices(*values: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


def _shell(value: str) -> str:
    if value not in SHELLS:
        raise typer.BadParameter(f"{value!r} is not a shell warpcli completes; use one of: {', '.join(SHELLS)}")
    return value


def show_completion(ctx: typer.Context, value: str | None) -> None:
    """``--show-completion SHELL``: print that shell's script (the one in completions/)."""
    if value is None or ctx.resilient_parsing:
        return
    from typer._completion_shared import get_completion_script

    typer.echo(get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=_shell(value)))
    raise typer.Exit()


def install_completion(ctx: typer.Context, value: str | None) -> None:
    """``--install-completion SHELL``: install that shell's script where the shell loads it."""
    if value is None or ctx.resilient_parsing:
        return
    from typer._completion_shared import install

    shell, path = install(shell=_shell(value), prog_name=PROG_NAME, complete_var=COMPLETE_VAR)
    typer.echo(f"{shell} completion installed in {path}", err=True)
    typer.echo("it takes effect in a new shell", err=True)
    raise typer.Exit()
