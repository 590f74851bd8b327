"""warpcli routes [import|export]: list, filter and move the gateway table; find overlaps."""

import sys
from typing import Annotated

import typer

from warpcli.cli import progress, render, views
from warpcli.cli.context import reading, runtime
from warpcli.cli.exit_codes import Interrupted
from warpcli.cli.options import Json, Tunnel, VnetFilter
from warpcli.core.errors import InvalidInput
from warpcli.core.interrupts import CommitGuard

app = typer.Typer(
    add_completion=False,
    help="List and filter routes, find overlaps, import and export route tables.",
)


@app.callback(invoke_without_command=True)
def routes(
    ctx: typer.Context,
    vnet: VnetFilter = None,
    tunnel: Tunnel = None,
    contains: Annotated[
        str | None, typer.Option("--contains", help="Only routes that contain this IP or CIDR.")
    ] = None,
    within: Annotated[str | None, typer.Option("--within", help="Only routes inside this CIDR.")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Only routes with exactly this remark.")] = None,
    overlaps: Annotated[
        bool,
        typer.Option("--overlaps", help="Report nested routes per vnet and CIDRs present in several vnets."),
    ] = False,
    table: Annotated[
        str, typer.Option("--table", help="gateway (the controller's), local (this host's kernel), or all.")
    ] = "gateway",
    json: Json = False,
) -> None:
    """List routes (all virtual networks unless --vnet), or report overlaps."""
    if ctx.invoked_subcommand is not None:
        return
    if table not in ("gateway", "local", "all"):
        raise InvalidInput(f"--table {table!r} is not one of gateway, local, all")
    runtime(ctx, json=json)
    if table != "gateway":
        if overlaps or vnet or tunnel or contains or within or comment:
            raise InvalidInput("--table local|all lists routes; filters and --overlaps go with --table gateway")
        _local_and_all(ctx, table, json)
        return
    ctrl = reading(ctx, json=json)
    if overlaps:
        if contains or within or tunnel or comment:
            raise InvalidInput("--overlaps takes only --vnet as a filter")
        _overlaps(ctrl, vnet, json)
        return
    if vnet or tunnel or contains or within or comment is not None:
        from warpcli.core import service

        flt = service.route_filter(ctrl, vnet=vnet, tunnel=tunnel, contains=contains, within=within, comment=comment)
    else:  # the common case skips the service layer's imports
        from warpcli.core.model import RouteFilter

        flt = RouteFilter()
    if json:
        render.emit_json_texts(ctrl.list_routes_json(flt))
    else:
        render.show(ctrl.list_routes(flt), views.ROUTE, json=False, stream=True, empty="no routes")


def _local_and_all(ctx: typer.Context, table: str, json: bool) -> None:
    from warpcli.host.routing import local_routes

    local = local_routes.list_local()
    gateway = list(reading(ctx, json=json).list_routes()) if table == "all" else []
    if json:
        local_json = [r.to_dict() for r in local]
        render.emit_json(local_json if table == "local" else {"gateway": gateway, "local": local_json})
        return
    if table == "all":
        render.show(gateway, views.ROUTE, json=False, title="Gateway table (the controller)",
                    empty="no routes in the gateway table")
    render.show(local, views.LOCAL_ROUTE, json=False, title="Local table (this host's kernel)" if table == "all" else None,
                empty="no routes in this host's local table")


def _host_networks() -> list[str]:
    """This host's connected networks ([] where the kernel can't be read: the report stands without them)."""
    try:
        from warpcli.host.routing.local_routes import host_networks

        return host_networks()
    except Exception as exc:
        render.message(f"warning: could not read this host's networks ({type(exc).__name__}); "
                       "connected-network overlaps not checked")
        return []


def _overlaps(ctrl, vnet: str | None, json: bool) -> None:
    from warpcli.core import service

    with progress.working("finding overlapping routes", json=json):
        view = service.overlap_view(ctrl, vnet, _host_networks)
    with view.collector_paused():
        _print_overlaps(view, json)


def _print_overlaps(view, json: bool) -> None:
    if json:
        render.emit_json_sections(view.sections())
        return
    if view.is_empty():
        render.message("no overlapping routes")
        return
    if view.report.nested:
        rows = []
        for g in view.nested():
            rows.append([g["virtual_network_name"], g["outer"]["network"], g["outer"]["tunnel_name"], ""])
            for r in g["inner"]:
                rows.append(["", "  " + r["network"], r["tunnel_name"], f"inside {r['parent_network']}"])
        render.table(["VNET", "NETWORK", "TUNNEL", "NESTED"], rows, title="Nested routes (the longest prefix wins)")
    if view.report.shared:
        render.table(
            ["NETWORK", "IN VIRTUAL NETWORKS"],
            ([s["network"], ", ".join(f"{r['virtual_network_name']} ({r['tunnel_name']})" for r in s["routes"])]
             for s in view.shared()),
            title="CIDRs in more than one virtual network",
        )
    if view.connected:
        render.table(
            ["NETWORK", "TUNNEL", "VNET", "OVERLAPS THIS HOST'S"],
            ([c["network"], c["tunnel_name"], c["virtual_network_name"], c["connected"]] for c in view.connected),
            title="Routes over this host's own networks",
        )


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="CSV or JSON-lines file; '-' reads stdin.", show_default=False)],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the file name or content).")
    ] = None,
    create_missing: Annotated[
        bool, typer.Option("--create-missing", help="Create the tunnels and virtual networks the rows name.")
    ] = False,
    if_not_exists: Annotated[
        bool, typer.Option("--if-not-exists", help="Skip rows already there unchanged (a differing row still conflicts).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and say what would be done; change nothing.")
    ] = False,
    json: Json = False,
) -> None:
    """Import routes (columns network, tunnel, vnet, comment) all or nothing."""
    from warpcli.core import bulk

    rt = runtime(ctx, json=json)
    if fmt is not None and fmt not in bulk.FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not one of {', '.join(bulk.FORMATS)}")
    options = {"create_missing": create_missing, "if_not_exists": if_not_exists, "dry_run": dry_run}
    with CommitGuard() as guard:
        try:
            result = _import(rt, file, fmt, options)
        except KeyboardInterrupt:  # raised only before the store's commit point
            raise Interrupted(bulk.interrupted_message(rt.controller)) from None
        _report_import(result)
        if json:
            render.emit_json(result.to_dict())
    if guard.interrupted:
        raise Interrupted(f"interrupted after the commit; {result.imported} route(s) were imported")


def _report_import(result) -> None:
    verb = "would import" if result.dry_run else "imported"
    made = "would create" if result.dry_run else "created"
    if result.created_tunnels:
        render.message(f"{made} tunnel(s): {', '.join(result.created_tunnels)}")
    if result.created_vnets:
        render.message(f"{made} virtual network(s): {', '.join(result.created_vnets)}")
    skipped = f"; {result.skipped} already there, skipped" if result.skipped else ""
    render.message(f"{verb} {result.imported} route(s){skipped}")


def _import(rt, file: str, fmt: str | None, options: dict[str, bool]):
    from warpcli.core import bulk

    stream = _open_input(file)
    try:
        try:
            first = bulk.strip_bom(stream.readline())
        except UnicodeDecodeError:
            raise InvalidInput(f"{file} is not UTF-8 text", hint="save it as UTF-8 CSV or JSON lines") from None
        fmt = fmt or bulk.guess_format(file, first)
        total = _size(stream)
        with progress.bar("reading routes", total=total, json=rt.json, unit="bytes" if total else "lines") as task:
            lines = progress.counted(_chain(first, stream), task, size=len if total else None,
                                     then="checking and writing routes")
            ctrl = rt.read_only if options["dry_run"] else rt.controller  # a dry run creates no state
            return bulk.import_table(ctrl, bulk.read_rows(lines, fmt),
                                     enrolled_tunnel_id=rt.enrolled_tunnel_id(), **options)
    finally:
        if stream is not sys.stdin:
            stream.close()


def _size(stream) -> int | None:
    """The size of a regular file (a bar with a total), else None (a pipe: a count)."""
    import os
    import stat

    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) and st.st_size > 0 else None


def _open_input(file: str):
    if file == "-":
        return sys.stdin
    try:
        return open(file, encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None


def _chain(first: str, stream):
    if first:
        yield first
    yield from stream


@app.command("export")
def export(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="Where to write; '-' (default) is stdout.")] = "-",
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    vnet: VnetFilter = None,
    tunnel: Tunnel = None,
    json: Annotated[bool, typer.Option("--json", help="Same as --format jsonl.")] = False,
) -> None:
    """Export routes in the format `routes import` reads."""
    from warpcli.core import bulk

    runtime(ctx, json=json)
    fmt = "jsonl" if json else fmt
    if fmt not in bulk.FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not one of {', '.join(bulk.FORMATS)}")
    from warpcli.core import service

    ctrl = reading(ctx, json=json)
    flt = service.route_filter(ctrl, vnet=vnet, tunnel=tunnel)
    to_terminal = file == "-" and sys.stdout.isatty()  # the data itself is on the screen: no bar over it
    with progress.bar("exporting routes", json=json or to_terminal, unit="routes") as task:
        rows = progress.counted(bulk.export_rows(ctrl, flt), task)
        n = _write_export(rows, file, fmt)
    render.message(f"exported {n} route(s)")


def _write_export(rows, file: str, fmt: str) -> int:
    from warpcli.core import bulk
    from warpcli.core.files import write_text_atomically

    return write_text_atomically(file, lambda out: bulk.write_rows(rows, out, fmt))
