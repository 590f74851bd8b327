"""warpcli up | down | status: this host as a connector."""

from typing import Annotated

import typer

from warpcli.cli import following, render
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
    json: Json = False,
) -> None:
    """Install the tunnel interface and routes; reconcile with the controller.

    Prints the plan (interface, WireGuard peer, addresses, routes, rules, sysctls),
    then applies it; on any failure it rolls back what it applied. A second run
    prints "no changes". With --follow it keeps running and reconciles again
    whenever the controller's routes or hub change (JSON: one object per line).
    """
    from warpcli.host import connector

    rt = runtime(ctx, json=json)
    if follow and dry_run:
        raise InvalidInput("--follow and --dry-run do not go together")
    if metrics_listen is not None and not follow:
        raise InvalidInput("--metrics-listen needs --follow (a single run has nothing to serve)")
    cfg = _config(rt)
    key = enrollment.private_key(cfg, rt.host_secrets)

    def reconcile():
        return connector.up(rt.connector_controller(cfg), cfg, key, run_dir=rt.settings.run_dir, dry_run=dry_run)

    def show(result) -> None:
        for w in result.warnings:
            render.message(f"warning: {w}")
        render.plan_result(result.lines, {"changed": result.changed, "applied": result.applied,
                                          "plan": result.lines, "skipped": [s.message() for s in result.skipped]},
                           json=json, dry_run=dry_run, compact=follow)

    metrics = None
    if metrics_listen is not None:
        from warpcli.host import peers

        def routes(_result) -> tuple[int | None, int | None]:
            report = connector.status(rt.connector_controller(cfg), cfg, run_dir=rt.settings.run_dir)
            desired = report["routes"]["desired"]
            return (None if desired is None else len(desired)), len(report["routes"]["installed"])

        metrics = following.Metrics(metrics_listen, "connector",
                                    lambda: peers.peer_samples([cfg.interface], run_dir=rt.settings.run_dir), routes)
    if follow:
        following.run(reconcile, lambda: rt.connector_controller(cfg).state_version(cfg.virtual_network_id),
                      interval=interval, show=show, metrics=metrics)
    else:
        show(reconcile())


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
    report = connector.status(rt.connector_controller(cfg), cfg, run_dir=rt.settings.run_dir)
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
            ("health", "healthy" if report["healthy"] else "degraded: " + "; ".join(report["problems"])),
        ])
    if not report["healthy"]:
        raise typer.Exit(ExitCode.DEGRADED)
