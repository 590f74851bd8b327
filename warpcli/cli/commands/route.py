"""warpcli route add|delete|get: one route of the gateway table."""

from typing import Annotated

import typer

from warpcli.cli import completion, render, views
from warpcli.cli.context import reading, runtime
from warpcli.cli.exit_codes import ExitCode
from warpcli.cli.options import Comment, IfExists, IfNotExists, Json, Tunnel, Vnet
from warpcli.core import service
from warpcli.core.errors import InvalidInput

TableOpt = Annotated[
    str, typer.Option("--table", help="gateway (the controller's table) or local (this host's kernel).",
                      autocompletion=completion.choices("gateway", "local"))
]

app = typer.Typer(
    add_completion=False,
    help="Add, delete and look up routes (which tunnel serves which CIDR).",
    no_args_is_help=True,
)


@app.command("add")
def add(
    ctx: typer.Context,
    network: Annotated[str, typer.Argument(metavar="NETWORK", help="The CIDR, e.g. 10.0.0.0/24 or 2001:db8::/48.", show_default=False)],
    tunnel: Tunnel = None,
    vnet: Vnet = None,
    comment: Comment = "",
    if_not_exists: IfNotExists = False,
    table: TableOpt = "gateway",
    via: Annotated[
        str | None, typer.Option("--via", help="--table local: the connector's LAN address to route through.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="--table local: print the plan, change nothing.")] = False,
    json: Json = False,
) -> None:
    """Route a CIDR through a tunnel (gateway table); print the route id.

    Without --tunnel: the tunnel this host is enrolled in, else the only tunnel.
    With --table local: a static route in this host's kernel toward the connector
    (--via its LAN address), for hosts that do not use it as their default gateway.
    """
    rt = runtime(ctx, json=json)
    if table == "local":
        _add_local(rt, network, via, dry_run, json)
        return
    if table != "gateway":
        raise InvalidInput(f"--table {table!r}: route add takes gateway or local")
    if via is not None or dry_run:
        raise InvalidInput("--via and --dry-run go with --table local")
    added = service.add_route(
        rt.controller, network, tunnel=tunnel, vnet=vnet, comment=comment, if_not_exists=if_not_exists,
        enrolled_tunnel_id=rt.enrolled_tunnel_id(),
    )
    r = added.route
    verb = "added" if added.created else "already present:"
    render.message(f"{verb} {r.network} -> tunnel {r.tunnel_name!r} in virtual network {r.virtual_network_name!r}")
    for other in added.related:
        relation = "inside" if other.net.contains(r.net) else "contains"
        render.message(f"note: {r.network} {relation} {other.network} (tunnel {other.tunnel_name!r})")
    render.emit_json(r) if json else render.plain(r.id)


def _add_local(rt, network: str, via: str | None, dry_run: bool, json: bool) -> None:
    from warpcli.core import enrollment
    from warpcli.host.connector import require_root
    from warpcli.host.routing import local_routes

    dev = None
    if via is None:
        cfg = enrollment.load_connector_config(rt.settings.config_dir)
        if cfg is None:
            raise InvalidInput("say which router to use: --via CONNECTOR_LAN_IP")
        dev = cfg.interface  # this host is the connector: straight into its tunnel
    if not dry_run:
        require_root()
    route, lines = local_routes.add(network, via=via, dev=dev, dry_run=dry_run)
    render.plan_result(lines or ["no changes"], {**route.to_dict(), "changed": bool(lines), "plan": lines},
                       json=json, dry_run=dry_run)


@app.command("delete")
def delete(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(metavar="ROUTE", help="A route id, or a CIDR (with --vnet).", show_default=False)],
    vnet: Vnet = None,
    table: TableOpt = "gateway",
    if_exists: IfExists = False,
    json: Json = False,
) -> None:
    """Delete a route by id, or by CIDR within a virtual network (or --table local: from this host)."""
    rt = runtime(ctx, json=json)
    if table == "local":
        from warpcli.host.connector import require_root
        from warpcli.host.routing import local_routes

        require_root()
        gone, lines = local_routes.delete(route)
        for line in lines:
            render.message(line)
        if json:
            render.emit_json(gone.to_dict())
        return
    if table != "gateway":
        raise InvalidInput(f"--table {table!r}: route delete takes gateway or local")
    removed = service.delete_route(rt.controller, route, vnet, if_exists=if_exists).obj
    done = (f"deleted {removed.network} (tunnel {removed.tunnel_name!r}, virtual network "
            f"{removed.virtual_network_name!r})") if removed else ""
    render.deleted(removed, done=done, missing=f"no route {route!r}; nothing to delete", json=json)


@app.command("update")
def update(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(metavar="ROUTE", help="A route id, or a CIDR (with --vnet).", show_default=False)],
    vnet: Vnet = None,
    network: Annotated[str | None, typer.Option("--network", help="The new CIDR.")] = None,
    tunnel: Tunnel = None,
    comment: Annotated[str | None, typer.Option("--comment", help="The new remark ('' clears it).")] = None,
    json: Json = False,
) -> None:
    """Change a route in place: its CIDR, the tunnel that serves it, or its comment (the id stays)."""
    r = service.update_route(runtime(ctx, json=json).controller, route, vnet=vnet, network=network, tunnel=tunnel,
                             comment=comment)
    render.message(f"updated {r.network} (tunnel {r.tunnel_name!r}, virtual network {r.virtual_network_name!r})")
    if json:
        render.emit_json(r)
    else:
        render.plain(r.id)


@app.command("get")
def get(
    ctx: typer.Context,
    ip: Annotated[str, typer.Argument(metavar="IP", help="An IPv4 or IPv6 address.", show_default=False)],
    vnet: Annotated[
        str | None, typer.Option("--vnet", help="Virtual network name or id, or 'all' to ask each one.",
                              autocompletion=completion.vnet_names_or_all)
    ] = None,
    json: Json = False,
) -> None:
    """Which tunnel has a route to IP? Longest-prefix match, as the edge does.

    Exits 3 when no route covers the address.
    """
    answers = service.lookup(reading(ctx, json=json), ip, vnet)
    found = [a for a in answers if a.route is not None]
    if json:
        render.emit_json(answers if vnet == service.ALL else answers[0])
    elif vnet == service.ALL:
        if found:
            render.show(found, views.LOOKUP, json=False)
    elif found and (r := found[0].route) is not None:
        render.plain_row([r.tunnel_name, r.network, r.virtual_network_name, r.id])
    if not found:
        where = "any virtual network" if vnet == service.ALL else f"virtual network {answers[0].virtual_network.name!r}"
        render.error(f"no route to {ip} in {where}")
        raise typer.Exit(ExitCode.NOT_FOUND)
