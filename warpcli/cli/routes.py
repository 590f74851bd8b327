"""warpcli routes [import|export]: list, filter and move the gateway table; find overlaps."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json, Tunnel, VnetFilter
from warpcli.core import service
from warpcli.core.cidr import format_address
from warpcli.core.errors import InvalidInput

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
        Optional[str], typer.Option("--contains", help="Only routes that contain this IP or CIDR.")
    ] = None,
    within: Annotated[Optional[str], typer.Option("--within", help="Only routes inside this CIDR.")] = None,
    comment: Annotated[Optional[str], typer.Option("--comment", help="Only routes with exactly this remark.")] = None,
    overlaps: Annotated[
        bool,
        typer.Option("--overlaps", help="Report nested routes per vnet and CIDRs present in several vnets."),
    ] = False,
    json: Json = False,
) -> None:
    """List routes (all virtual networks unless --vnet), or report overlaps."""
    if ctx.invoked_subcommand is not None:
        return
    ctrl = runtime(ctx, json=json).controller
    if overlaps:
        if contains or within or tunnel or comment:
            raise InvalidInput("--overlaps takes only --vnet as a filter")
        _overlaps(ctrl, vnet, json)
        return
    flt = service.route_filter(ctrl, vnet=vnet, tunnel=tunnel, contains=contains, within=within, comment=comment)
    if json:
        render.emit_json_texts(ctrl.list_routes_json(flt))
    else:
        rows = ctrl.list_routes(flt)
        render.table(
            ["NETWORK", "TUNNEL", "VNET", "COMMENT", "ID"],
            ([r.network, r.tunnel_name, r.virtual_network_name, r.comment, r.id] for r in rows),
        )


def _overlaps(ctrl, vnet: str | None, json: bool) -> None:  # noqa: ANN001
    report = service.overlaps(ctrl, vnet)
    tunnels = {t.id: t.name for t in ctrl.list_tunnels()}
    vnets = {v.id: v.name for v in ctrl.list_virtual_networks()}

    def ref(r, **extra):  # noqa: ANN001, ANN003, ANN202
        return {"id": r.id, "network": r.network, "tunnel_id": r.tunnel_id,
                "tunnel_name": tunnels.get(r.tunnel_id), **extra}

    nested = [
        {
            "virtual_network_id": g.vnet,
            "virtual_network_name": vnets.get(g.vnet),
            "outer": ref(g.outer),
            "inner": [ref(r, parent_id=p.id, parent_network=p.network) for r, p in g.inner],
        }
        for g in report.nested
    ]
    shared = [
        {
            "network": f"{format_address(s.version, s.lo)}/{s.prefixlen}",
            "routes": [ref(r, virtual_network_id=r.virtual_network_id,
                           virtual_network_name=vnets.get(r.virtual_network_id)) for r in s.routes],
        }
        for s in report.shared
    ]
    if json:
        render.emit_json({"nested": nested, "shared": shared})
        return
    if not nested and not shared:
        render.message("no overlapping routes")
        return
    if nested:
        rows = []
        for g in nested:
            rows.append([g["virtual_network_name"], g["outer"]["network"], g["outer"]["tunnel_name"], ""])
            for r in g["inner"]:
                rows.append(["", "  " + r["network"], r["tunnel_name"], f"inside {r['parent_network']}"])
        render.table(["VNET", "NETWORK", "TUNNEL", "NESTED"], rows, title="Nested routes (the longest prefix wins)")
    if shared:
        render.table(
            ["NETWORK", "IN VIRTUAL NETWORKS"],
            ([s["network"], ", ".join(f"{r['virtual_network_name']} ({r['tunnel_name']})" for r in s["routes"])]
             for s in shared),
            title="CIDRs in more than one virtual network",
        )


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="CSV or JSON-lines file; '-' reads stdin.", show_default=False)],
    fmt: Annotated[
        Optional[str], typer.Option("--format", help="csv or jsonl (default: from the file name or content).")
    ] = None,
    json: Json = False,
) -> None:
    """Import routes (columns network, tunnel, vnet, comment) all or nothing."""
    from warpcli.core import bulk

    rt = runtime(ctx, json=json)
    if fmt is not None and fmt not in bulk.FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not one of {', '.join(bulk.FORMATS)}")
    stream = _open_input(file)
    try:
        first = stream.readline()
        fmt = fmt or bulk.guess_format(file, first)
        lines = _chain(first, stream)
        specs = bulk.plan_import(rt.controller, bulk.read_rows(lines, fmt), enrolled_tunnel_id=rt.enrolled_tunnel_id())
    finally:
        if stream is not sys.stdin:
            stream.close()
    n = rt.controller.import_routes(specs)
    render.message(f"imported {n} route(s)")
    if json:
        render.emit_json({"imported": n})


def _open_input(file: str):  # noqa: ANN202
    if file == "-":
        return sys.stdin
    try:
        return open(file, encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None


def _chain(first: str, stream):  # noqa: ANN001, ANN202
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

    rt = runtime(ctx, json=json)
    fmt = "jsonl" if json else fmt
    if fmt not in bulk.FORMATS:
        raise InvalidInput(f"--format {fmt!r} is not one of {', '.join(bulk.FORMATS)}")
    flt = service.route_filter(rt.controller, vnet=vnet, tunnel=tunnel)
    rows = bulk.export_rows(rt.controller, flt)
    if file == "-":
        n = bulk.write_rows(rows, sys.stdout, fmt)
    else:
        import os

        tmp = f"{file}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                n = bulk.write_rows(rows, out, fmt)
            os.replace(tmp, file)
        except OSError as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise InvalidInput(f"cannot write {file}: {exc.strerror}") from None
    render.message(f"exported {n} route(s)")
