"""warpcli up | down | status: this host as a connector."""

from typing import Annotated

import typer

from warpcli.cli import following, progress, render
from warpcli.cli.context import Runtime, runtime
from warpcli.cli.exit_codes import ExitCode
from warpcli.cli.options import Json
from warpcli.core import enrollment
from warpcli.core.errors import InvalidInput, NotFound

app = typer.Typer(add_completion=False)


def _config(rt: Runtime) -> enrollment.ConnectorConfig:
    cfg = enrollment.load_connector_config(rt.settings.config_dir)
    if cfg is None:
        raise NotFound("this host is not enrolled", hint="run `warpcli enroll` first")
    return cfg


@app.command("up")
def up(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")] = False,
    follow: following.Follow = False,
    interval: following.Interval = 5.0,
    metrics_listen: following.MetricsListen = None,
    lan_gateway: Annotated[str | None, typer.Option(
        "--lan-gateway", metavar="CIDR",
        help="High availability: the LAN's gateway address (with prefix) that the active replica holds.")] = None,
    lan_interface: Annotated[str | None, typer.Option(
        "--lan-interface", metavar="IF",
        help="The LAN interface: with --lan-gateway, where the gateway address lives (high availability); "
             "required when this host already runs a connector of another virtual network.")] = None,
    preempt: Annotated[bool | None, typer.Option(
        "--preempt/--no-preempt", show_default=False,
        help="Whether a recovered higher-priority replica takes the role back (default: preempt).")] = None,
    health_check: Annotated[str | None, typer.Option(
        "--health-check", metavar="HOST:PORT",
        help="High availability: a LAN service to TCP-connect to; 3 failures in a row make this replica unhealthy.")
    ] = None,
    json: Json = False,
) -> None:
    """Install the tunnel interface and routes; reconcile with the controller.

    Prints the plan (interface, WireGuard peer, addresses, routes, rules, sysctls),
    then applies it; on any failure it rolls back what it applied. A second run
    prints "no changes". With --follow it keeps running and reconciles again
    whenever the controller's routes or hub change (JSON: one object per line).

    With --lan-gateway and --lan-interface this host is one replica of its tunnel:
    keepalived (VRRPv3) gives the gateway address to the active replica and the hub
    routes the tunnel's CIDRs to it (see `warpcli ha`). Later runs keep these settings.

    A connector of another virtual network on the same host: enroll it in a config
    directory of its own (--config-dir) with another --interface; its `up` needs
    --lan-interface (its own LAN, a different subnet) and routes that LAN in a table of its own.
    """
    from warpcli.host import connector
    from warpcli.host.ha import replica

    rt = runtime(ctx, json=json)
    if follow and dry_run:
        raise InvalidInput("--follow and --dry-run do not go together")
    if metrics_listen is not None and not follow:
        raise InvalidInput("--metrics-listen needs --follow (a single run has nothing to serve)")
    cfg = _config(rt)
    ha = replica.resolve_settings(cfg, rt.settings.run_dir, lan_gateway=lan_gateway, lan_interface=lan_interface,
                                  preempt=preempt, health_check=health_check, config_dir=rt.settings.config_dir)
    key = enrollment.private_key(cfg, rt.host_secrets)

    last: list = [None]  # the previous reconcile's baseline: a follow loop applies what changed since

    def reconcile(on_progress=None):
        since, last[0] = last[0], None
        result = connector.up(rt.connector_controller(cfg), cfg, key, run_dir=rt.settings.run_dir, dry_run=dry_run,
                              ha=ha, config_dir=rt.settings.config_dir, since=since, on_progress=on_progress,
                              lan_interface=lan_interface if ha is None else None)
        last[0] = result.baseline
        return result

    def show(result) -> None:
        for w in result.warnings:
            render.message(f"warning: {w}")
        render.plan_result(result.lines, {"changed": result.changed, "applied": result.applied,
                                          "plan": result.lines, "skipped": [s.message() for s in result.skipped]},
                           json=json, dry_run=dry_run, compact=follow)

    metrics = None
    if metrics_listen is not None:
        from warpcli.host.wireguard import peers

        def routes(result) -> tuple[int | None, int | None]:
            return connector.route_counts(result, rt.connector_controller(cfg), cfg, run_dir=rt.settings.run_dir)

        from warpcli.host.ha import replica
        from warpcli.host.runstate import scoped_run_dir

        metrics = following.Metrics(metrics_listen, "connector",
                                    lambda: peers.peer_samples([cfg.interface], run_dir=rt.settings.run_dir), routes,
                                    ha=lambda: replica.report(scoped_run_dir(rt.settings.run_dir, None), cfg.interface))
    if follow:
        following.run(reconcile, lambda: rt.connector_controller(cfg).state_version(cfg.virtual_network_id),
                      interval=interval, show=show, metrics=metrics)
    else:
        with progress.stepped("planning" if dry_run else "bringing the connector up", "kernel changes",
                              json=json) as report:
            result = reconcile(report)
        show(result)


@app.command("down")
def down(ctx: typer.Context, json: Json = False) -> None:
    """Remove exactly what `up` installed and restore the sysctls it changed."""
    from warpcli.host import connector

    rt = runtime(ctx, json=json)
    result = connector.down(_config(rt), run_dir=rt.settings.run_dir)
    if json:
        render.emit_json({"changed": result.changed, "removed": result.lines if result.changed else []})
    else:
        for line in result.lines:
            render.plain(line)


@app.command("status")
def status(ctx: typer.Context, json: Json = False) -> None:
    """Interface, peer, last handshake, bytes, routes (installed vs desired), forwarding.

    Exits 8 when degraded, so monitoring can call it.
    """
    from warpcli.host import connector

    rt = runtime(ctx, json=json)
    cfg = _config(rt)
    report = connector.status(rt.connector_controller(cfg, read_only=True), cfg, run_dir=rt.settings.run_dir)
    if json:
        render.emit_json(report)
    else:
        peer = report["peer"] or {}
        render.fields([
            ("interface", f"{report['interface']} ({'up' if report['up'] else 'down'})"),
            ("address", report["address"]),
            ("tunnel", report["tunnel_name"]),
            ("hub", peer.get("endpoint")),
            ("handshake", "never" if peer.get("last_handshake_seconds_ago") is None
             else f"{render.human_age(peer['last_handshake_seconds_ago'])} ago"),
            ("bytes", f"rx {render.human_bytes(peer.get('rx_bytes', 0))}, tx {render.human_bytes(peer.get('tx_bytes', 0))}"),
            ("routes", f"{len(report['routes']['installed'])} installed, {len(report['routes']['missing'])} missing, "
                       f"{len(report['routes']['extra'])} extra"),
            ("forwarding", ", ".join(f"{k}={'on' if v else 'off'}" for k, v in report["forwarding"].items())),
            *_hub_fields(report.get("hubs") or []),
            *_ha_fields(report.get("ha")),
            ("health", "healthy" if report["healthy"] else "degraded: " + "; ".join(report["problems"])),
        ])
    if not report["healthy"]:
        raise typer.Exit(ExitCode.DEGRADED)


def _hub_fields(hubs: list[dict]) -> list[tuple[str, str]]:
    """`status` lines for several hubs: each one's role, handshake age and probe round trip."""
    if len(hubs) < 2:
        return []
    out = []
    for h in hubs:
        age = h["last_handshake_seconds_ago"]
        rtt = h["probe_rtt_ms"]
        out.append((f"hub {h['address']}", f"{h['endpoint']} {h['role']}, priority {h['priority']}, handshake "
                    + ("never" if age is None else f"{render.human_age(age)} ago")
                    + (f", probe {rtt:.1f} ms" if rtt is not None else ", no probe answer")))
    return out


def _ha_fields(ha: dict | None) -> list[tuple[str, str]]:
    """`status` lines of a replica: its role, the other replicas as the hub hears them, who the hub routes to."""
    if ha is None:
        return []
    role = ha["role"] + (" (drained)" if ha["drained"] else "")
    others = ", ".join(f"{r['address']} {r['role']} (priority {r['priority']})" for r in ha["replicas"]) or "none heard"
    return [
        ("role", f"{role}, priority {ha['priority']}"
                 + (f" (effective {ha['effective_priority']})" if ha["effective_priority"] != ha["priority"] else "")
                 + f", since {ha['role_changed_at'] or '?'}"),
        ("gateway", f"{ha['lan_gateway']} on {ha['lan_interface']} ({'preempt' if ha['preempt'] else 'no preempt'})"),
        ("replicas", others),
        ("hub routes to", ha["hub_owner"] or "unknown"),
    ]
