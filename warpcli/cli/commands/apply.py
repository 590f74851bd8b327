"""warpcli export / warpcli apply: the whole control-plane state as a file, and the plan to reach one."""

import sys
from typing import Annotated

import typer

from warpcli.cli import progress, render
from warpcli.cli.context import runtime
from warpcli.cli.exit_codes import ExitCode, exit_code_for
from warpcli.cli.options import Json
from warpcli.core.errors import InvalidInput, WarpcliError

app = typer.Typer(add_completion=False)

EXPORT_FORMATS = ("toml", "csv", "jsonl")


@app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="Where to write; '-' (default) is stdout.")] = "-",
    fmt: Annotated[
        str, typer.Option("--format", help="toml (the network file apply reads), or csv / jsonl (routes only).")
    ] = "toml",
    json: Annotated[bool, typer.Option("--json", help="The network file's document as JSON.")] = False,
) -> None:
    """Write the whole state (virtual networks, tunnels, routes, policies; no secrets) as a network file."""
    rt = runtime(ctx, json=json)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if fmt in ("csv", "jsonl") and not json:
        from warpcli.core import bulk

        _write(file, lambda out: bulk.write_rows(bulk.export_rows(rt.read_only), out, fmt))
        return
    from warpcli.core.apply import export_document, foreign_routes, read_state

    state = read_state(rt.read_only, policies=True)
    doc = export_document(state)
    foreign = len(foreign_routes(state))
    if foreign:
        render.message(f"note: {foreign} route(s) through tunnels that are not warp_connector tunnels "
                       "(cloudflared's) are left out; apply never changes them")
    if json:
        import json as json_module

        _write(file, lambda out: out.write(json_module.dumps(doc, indent=2, ensure_ascii=False) + "\n"))
    else:
        from warpcli.core.netfile import dump_toml

        _write(file, lambda out: out.writelines(dump_toml(doc)))
    render.message(f"exported {len(doc['vnets'])} virtual network(s), {len(doc['tunnels'])} tunnel(s), "
                   f"{len(doc['routes'])} route(s)"
                   + (f", {len(doc['policies'])} policy(ies)" if doc.get("policies") else ""))


def _write(file: str, write) -> None:
    from warpcli.core.files import write_text_atomically

    write_text_atomically(file, write)


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[
        str, typer.Option("--file", "-f", metavar="FILE", help="The network file (TOML); '-' reads stdin.",
                          show_default=False)
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing; exit 10 when changes are pending.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete what the file does not name (routes, tunnels, vnets).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --prune: delete tunnels and vnets with connectors, and the default vnet.")
    ] = False,
    json: Json = False,
) -> None:
    """Make the controller match a network file: plan (+ ~ -), then apply."""
    from warpcli.core import apply as planner
    from warpcli.core.netfile import NetworkFileError, describe, parse

    rt = runtime(ctx, json=json)
    if force and not prune:
        raise InvalidInput("--force goes with --prune (it lets --prune delete more)")
    source, text = _read(file)
    try:
        with progress.working("planning" if dry_run else "applying the network file", json=json):
            ctrl = rt.read_only if dry_run else rt.controller  # a dry run creates no state
            outcome = planner.apply(ctrl, parse(text, source), prune=prune, force=force, dry_run=dry_run)
    except NetworkFileError as exc:
        render.error(exc.message)
        for bad in exc.problems:
            render.message(f"  {describe(bad)}")
        if json:
            render.emit_json({"error": exc.message, "problems": exc.problems})
        raise typer.Exit(ExitCode.USAGE) from None
    except WarpcliError as exc:
        report = getattr(exc, "apply_report", None)
        if report is None:
            raise
        render.error(str(exc))
        if json:
            render.emit_json({"error": str(exc), **report})
        raise typer.Exit(exit_code_for(exc)) from None
    p = outcome.plan
    if json:
        render.emit_json(outcome.to_dict())
    else:
        for line in p.lines():
            render.plain(line)
    if dry_run:
        render.message(f"dry run: {p.summary()}; nothing was changed")
        if p.pending:
            raise typer.Exit(ExitCode.CHANGES_PENDING)
    elif p.pending:
        n = p.counts()
        render.message(f"applied: {n['create']} created, {n['update']} updated, {n['delete']} deleted"
                       + (f", {n['keep']} kept" if n["keep"] else ""))
    else:
        render.message(p.summary())


def _read(file: str) -> tuple[str, str]:
    if file == "-":
        try:
            return "<stdin>", sys.stdin.read()
        except UnicodeDecodeError:
            raise InvalidInput("stdin is not UTF-8 text") from None
    try:
        with open(file, encoding="utf-8") as f:
            return file, f.read()
    except UnicodeDecodeError:
        raise InvalidInput(f"{file} is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
