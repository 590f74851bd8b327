"""warpcli install | uninstall: the connector as a systemd service that survives reboots."""

from pathlib import Path
from typing import Annotated

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json

app = typer.Typer(add_completion=False)

Root = Annotated[
    Path,
    typer.Option("--root", help="Work under this directory instead of / (an image, a test); "
                                "systemctl is only called for /."),
]


def _note(root: Path, live: bool, systemd: bool, *, done: str, then: str) -> None:
    if not live:
        render.message(f"{root} is not the live system: {done}; systemctl is not called")
    elif not systemd:
        render.message(f"systemd is not running: {done}; {then}")


def _warpcli(unit: str, config_dir: Path) -> str:
    """How to name this connector on a command line: `warpcli`, or with its --config-dir."""
    import shlex

    from warpcli.host.install import UNIT_NAME

    return "warpcli" if unit == UNIT_NAME else f"warpcli --config-dir {shlex.quote(str(config_dir))}"


@app.command("install")
def install(
    ctx: typer.Context,
    root: Root = Path("/"),
    no_start: Annotated[bool, typer.Option("--no-start", help="Enable the service, but do not start it now.")] = False,
    json: Json = False,
) -> None:
    """Install the connector as a systemd service (and forwarding at boot), then start it.

    Writes warpcli.service, a sysctl.d file and an rt_protos.d name under ROOT/etc, and
    records them in a manifest so `uninstall` removes exactly those. Where systemd is not
    running it writes the files only. A second run with the same content prints "no changes".
    The connector of another --config-dir gets a unit of its own (warpcli-NAME.service).
    """
    from warpcli.host import install as inst

    rt = runtime(ctx, json=json)
    done = inst.install_connector(root, rt.settings, start=not no_start)
    result, live, systemd = done.result, done.live, done.systemd
    for path in result.replaced_edited:
        render.message(f"warning: {path} had been edited since it was installed; replaced it "
                       f"(put local changes in a drop-in: `systemctl edit {result.unit}`)")
    render.plan_result(result.lines + ([] if result.changed else ["no changes"]), result.to_dict(), json=json)
    _note(result.root, live, systemd, done="wrote the files only" if result.written else "files unchanged",
          then=f"start it with `{_warpcli(result.unit, rt.config_dir)} up`")


@app.command("uninstall")
def uninstall(
    ctx: typer.Context,
    root: Root = Path("/"),
    force: Annotated[
        bool, typer.Option("--force", help="Also remove files edited since `install` wrote them.")
    ] = False,
    json: Json = False,
) -> None:
    """Stop and disable the service, and remove every file `install` wrote.

    Directories `install` created go too when empty; a file edited since is kept (exit 4,
    nothing removed) unless --force. With --config-dir: that connector's unit; a file that
    another connector's install also wrote stays until the last uninstall.
    """
    from warpcli.host import install as inst

    rt = runtime(ctx, json=json)
    done = inst.uninstall_connector(root, rt.config_dir, force=force)
    result, live, systemd = done.result, done.live, done.systemd
    render.plan_result(result.lines + ([] if result.changed else ["nothing to remove"]), result.to_dict(),
                       json=json)
    for path in result.kept:
        render.message(f"kept {path} (it was there before install, or is not empty)")
    for path in result.shared:
        render.message(f"kept {path} (another connector's install uses it)")
    if result.changed:
        _note(result.root, live, systemd, done="removed the files only",
              then=f"stop the connector with `{_warpcli(result.unit, rt.config_dir)} down`")
