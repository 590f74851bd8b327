"""warpcli hub up | down: the self-hosted edge of a virtual network."""

from typing import Annotated

import typer

from warpcli.cli import following, progress, render, views
from warpcli.cli.context import runtime
from warpcli.cli.options import Json, Vnet
from warpcli.core import service
from warpcli.core.cidr import parse_endpoint
from warpcli.core.errors import InvalidInput
from warpcli.core.model import DEFAULT_MTU
from warpcli.host.constants import HUB_INTERFACE

app = typer.Typer(
    add_completion=False,
    help="Run the hub: the self-hosted edge that routes between the connectors of a vnet.",
    no_args_is_help=True,
)

Interface = Annotated[str, typer.Option("--interface", help="The hub's WireGuard interface (one per vnet).")]


@app.command("up")
def up(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Option("--endpoint", help="HOST:PORT the connectors dial; the hub listens on PORT.")],
    vnet: Vnet = None,
    interface: Interface = HUB_INTERFACE,
    mtu: Annotated[int, typer.Option("--mtu", min=576, max=65535,
                                     help="The hub interface's MTU: the same as the connectors' (enroll --mtu, "
                                          f"default {DEFAULT_MTU}).")] = DEFAULT_MTU,
    priority: Annotated[int | None, typer.Option(
        "--priority", min=1, max=254,
        help="This hub's priority among the vnet's hubs (1..254, higher wins; default 100, or the one it has).",
    )] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    follow: following.Follow = False,
    interval: following.Interval = 5.0,
    metrics_listen: following.MetricsListen = None,
    json: Json = False,
) -> None:
    """Bring up (or reconcile) the hub: one peer per enrolled connector of the vnet.

    A vnet may have several hubs (one per host); connectors route through the
    highest --priority hub they reach and fail over to the next.

    With --follow it keeps running and reconciles again whenever a connector enrolls
    or leaves, or the vnet's routes change (JSON: one object per line); at every poll it
    reports each connector's latest handshake and HA role to the controller.
    """
    from warpcli.host import hub
    from warpcli.host.connector import require_root

    rt = runtime(ctx, json=json)
    parse_endpoint(endpoint)
    if follow and dry_run:
        raise InvalidInput("--follow and --dry-run do not go together")
    if metrics_listen is not None and not follow:
        raise InvalidInput("--metrics-listen needs --follow (a single run has nothing to serve)")
    if not dry_run:
        require_root()
    v = service.resolve_vnet(rt.controller, vnet)
    private, public = hub.hub_keypair(rt.host_secrets, v.id, store=not dry_run)

    def reconcile(on_progress=None):
        return hub.hub_up(rt.controller, v, endpoint=endpoint, private_key=private, public_key=public,
                          ifname=interface, run_dir=rt.settings.run_dir, mtu=mtu, dry_run=dry_run,
                          priority=priority, on_progress=on_progress)

    def show(result) -> None:
        for w in result.warnings:
            render.message(f"warning: {w}")
        render.plan_result(result.lines, {"changed": result.changed, "peers": result.peers, "plan": result.lines},
                           json=json, dry_run=dry_run, compact=follow)

    metrics = None
    if metrics_listen is not None:
        from warpcli.host.wireguard import peers

        def routes(_result) -> tuple[int | None, int | None]:
            slot = hub.planned_slot(rt.settings.run_dir, interface, v.id)
            return None, peers.table_route_count(slot.table)

        metrics = following.Metrics(metrics_listen, "hub",
                                    lambda: peers.peer_samples([interface], run_dir=rt.settings.run_dir), routes)
        from warpcli.host import policy_nft

        metrics.registry.add_policy(lambda: policy_nft.stats(interface), v.name)
    if follow:
        from warpcli.host.ha.hub_report import HubReporter, reporting

        reporter = HubReporter(rt.controller, v.id, interface, rt.settings.run_dir)

        def reconcile_and_refresh():
            result = reconcile()
            reporter.refresh()
            return result

        following.run(reconcile_and_refresh, reporting(lambda: rt.controller.state_version(v.id), reporter,
                                                       render.follow_message),
                      interval=interval, show=show, metrics=metrics)
    else:
        with progress.stepped("planning" if dry_run else "bringing the hub up", "kernel changes",
                              json=json) as report:
            result = reconcile(report)
        show(result)


@app.command("down")
def down(
    ctx: typer.Context,
    interface: Annotated[str | None, typer.Option(
        "--interface", help="The hub to remove (default: the one hub this host runs).")] = None,
    remove_all: Annotated[bool, typer.Option("--all", help="Remove every hub this host runs.")] = False,
    json: Json = False,
) -> None:
    """Remove the hub interface, its routes and rules.

    Without --interface it removes the hub this host runs; when it runs several, it
    lists them and asks for --interface NAME or --all.
    """
    from warpcli.host import hub

    rt = runtime(ctx, json=json)
    lines = hub.hubs_down(interface, remove_all=remove_all, run_dir=rt.settings.run_dir)
    if json:
        render.emit_json({"removed": [x for x in lines if x != "nothing to remove"]})
    else:
        for line in lines:
            render.plain(line)


@app.command("status")
def status(
    ctx: typer.Context,
    interface: Annotated[str | None, typer.Option(
        "--interface", help="Only this hub (default: every hub this host runs).")] = None,
    json: Json = False,
) -> None:
    """Every peer of the hubs this host runs, as the hub sees it: connectors and the other hubs,
    handshake age, bytes, a replica's role and the hub each connector routes through."""
    from warpcli.host import hub

    rt = runtime(ctx, json=json)
    hubs = hub.hub_status(run_dir=rt.settings.run_dir, interface=interface)
    if json:
        render.emit_json(hubs)
        return
    if not hubs:
        render.message("no hubs run on this host" if interface is None else f"this host runs no hub {interface!r}")
        return
    for i, h in enumerate(hubs):
        title = (f"{'' if i == 0 else chr(10)}hub {h['interface']} ({'up' if h['up'] else 'down'}"
                 f"{', listening on ' + str(h['listen_port']) if h['listen_port'] else ''}"
                 f"{', address ' + h['address'] if h['address'] else ''}"
                 f"{', draining' if h['draining'] else ''}) in vnet {h['virtual_network_id']}")
        if not h["peers"]:
            render.plain(title)
            render.message("no peers yet")
            continue
        render.table(views.headers(views.HUB_PEER), views.rows(views.HUB_PEER, h["peers"]), title=title)


@app.command("list")
def list_hubs(ctx: typer.Context, json: Json = False) -> None:
    """The hubs this host runs: interface, virtual network, WireGuard state and peers."""
    from warpcli.host import hub

    rt = runtime(ctx, json=json)
    hubs = hub.hub_list(run_dir=rt.settings.run_dir)
    render.show(hubs, views.HUB_RUN, json=json, empty="no hubs run on this host")
