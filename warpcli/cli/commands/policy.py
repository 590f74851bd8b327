"""warpcli policy ...: which flows between sites a vnet allows (enforced by the hub)."""

from typing import Annotated

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.exit_codes import ExitCode
from warpcli.cli.options import IfExists, Json, Vnet
from warpcli.core import policies, service

app = typer.Typer(
    add_completion=False,
    help="Network policies: ordered allow/deny rules between sites, enforced at the hub.",
    no_args_is_help=True,
)

RuleName = Annotated[str, typer.Argument(metavar="NAME", help="The rule's name (unique in the vnet).",
                                         show_default=False)]
Before = Annotated[str | None, typer.Option("--before", help="Place it just before rule OTHER.", metavar="OTHER")]
After = Annotated[str | None, typer.Option("--after", help="Place it just after rule OTHER.", metavar="OTHER")]


def _vnet_id(ctx: typer.Context, vnet: str | None, json: bool):
    rt = runtime(ctx, json=json)
    return rt, service.resolve_vnet(rt.controller, vnet)


def _reading(ctx: typer.Context, vnet: str | None, json: bool):
    """For the commands that only read: the controller (creating no state) and the vnet."""
    ctrl = runtime(ctx, json=json).read_only
    return ctrl, service.resolve_vnet(ctrl, vnet)


def _rows(spec: policies.PolicySpec, counters: dict[str, tuple[int, int]]):
    for i, r in enumerate(spec.rules, 1):
        c = counters.get(r.name)
        yield [str(i), r.name, r.action, ",".join(r.sources) or "any", ",".join(r.destinations) or "any",
               r.protocol, ",".join(policies._ports_text(r.ports)) or "any", "yes" if r.log else "",
               "-" if c is None else str(c[0]), "-" if c is None else render.human_bytes(c[1]), r.comment]


@app.command("default")
def default(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(metavar="allow|deny", help="What a flow no rule matches gets.",
                                          show_default=False)],
    vnet: Vnet = None,
    json: Json = False,
) -> None:
    """Set the default action of a vnet's policy (allow, as before policies, unless set)."""
    rt, v = _vnet_id(ctx, vnet, json)
    spec = policies.set_default(rt.controller, v.id, action)
    render.message(f"default action of virtual network {v.name!r}: {spec.default}")
    if json:
        render.emit_json(spec.to_dict())


@app.command("add")
def add(
    ctx: typer.Context,
    name: RuleName,
    action: Annotated[str, typer.Option("--action", help="allow or deny.", show_default=False)],
    source: Annotated[list[str] | None, typer.Option(
        "--from", help="Source CIDR or tunnel name (repeat or comma-separate; default: any).")] = None,
    destination: Annotated[list[str] | None, typer.Option(
        "--to", help="Destination CIDR or tunnel name (repeat or comma-separate; default: any).")] = None,
    proto: Annotated[str, typer.Option("--proto", help="tcp, udp, icmp or any.")] = "any",
    port: Annotated[str | None, typer.Option(
        "--port", help="Destination ports and ranges, e.g. 443,8443,10000-20000 (tcp/udp only).")] = None,
    log: Annotated[bool, typer.Option("--log", help="Log every new connection this rule decides.")] = False,
    comment: Annotated[str, typer.Option("--comment", help="A free-text remark.")] = "",
    before: Before = None,
    after: After = None,
    vnet: Vnet = None,
    json: Json = False,
) -> None:
    """Add a rule (at the end, or --before/--after another); the first matching rule decides."""
    rt, v = _vnet_id(ctx, vnet, json)
    ctrl = rt.controller
    rule = policies.make_rule(name, action=action, sources=source or [], destinations=destination or [],
                              protocol=proto, port=port, log=log, comment=comment,
                              tunnel_exists=lambda n: bool(ctrl.list_tunnels(name=n)))
    spec = policies.add_rule(ctrl, v.id, rule, before=before, after=after)
    render.message(f"added policy rule {name!r} (rule {spec.index(rule.name) + 1} of {len(spec.rules)})")
    if json:
        render.emit_json(rule.to_dict())


@app.command("list")
def list_(ctx: typer.Context, vnet: Vnet = None, json: Json = False) -> None:
    """The rules in order, with packet/byte counters from the hub when it runs on this host."""
    from warpcli.host import hub

    ctrl, v = _reading(ctx, vnet, json)
    spec = ctrl.get_policy(v.id)
    counters = hub.policy_counters(runtime(ctx).settings.run_dir, v.id)
    if json:
        doc = spec.to_dict()
        for r in doc["rules"]:
            c = counters.get(r["name"])
            r["packets"], r["bytes"] = (None, None) if c is None else c
        render.emit_json(doc)
        return
    if not spec.rules:
        render.message(f"no rules; default: {spec.default}")
        return
    render.table(["#", "NAME", "ACTION", "FROM", "TO", "PROTO", "PORTS", "LOG", "PACKETS", "BYTES", "COMMENT"],
                 _rows(spec, counters), title=f"default: {spec.default}")


@app.command("test")
def test(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="The source address.", metavar="IP")],
    destination: Annotated[str, typer.Option(
        "--to", help="IP:PORT/PROTO, IP/icmp or IP (any protocol).", metavar="IP:PORT/PROTO")],
    vnet: Vnet = None,
    json: Json = False,
) -> None:
    """Would this flow pass, and by which rule? From the stored policy alone (no traffic).

    Exit 0 when allowed, 11 when denied.
    """
    ctrl, v = _reading(ctx, vnet, json)
    result = policies.test_flow(ctrl, v.id, source, destination)
    render.emit_json(result.to_dict()) if json else render.plain(result.message())
    if not result.allowed:
        raise typer.Exit(ExitCode.POLICY_DENIED)


@app.command("lint")
def lint(ctx: typer.Context, vnet: Vnet = None, json: Json = False) -> None:
    """Rules that can never take effect: covered by one earlier rule (same action: redundant;
    the other action: contradicted). Exit 0 either way."""
    ctrl, v = _reading(ctx, vnet, json)
    findings = policies.lint_policy(ctrl, v.id)
    if json:
        render.emit_json(findings)
    elif not findings:
        render.message("no rule is covered by an earlier one")
    else:
        for f in findings:
            render.plain(f"{f['kind']}: {f['message']}")


@app.command("move")
def move(ctx: typer.Context, name: RuleName, before: Before = None, after: After = None, vnet: Vnet = None,
         json: Json = False) -> None:
    """Move a rule just before or just after another."""
    rt, v = _vnet_id(ctx, vnet, json)
    spec = policies.move_rule(rt.controller, v.id, name, before=before, after=after)
    render.message(f"moved policy rule {name!r} to position {spec.index(name) + 1}")
    if json:
        render.emit_json(spec.to_dict())


@app.command("delete")
def delete(ctx: typer.Context, name: RuleName, if_exists: IfExists = False, vnet: Vnet = None,
           json: Json = False) -> None:
    """Delete a rule."""
    rt, v = _vnet_id(ctx, vnet, json)
    gone = policies.delete_rule(rt.controller, v.id, name, if_exists=if_exists)
    render.deleted(None if gone is None else gone.to_dict(), done=f"deleted policy rule {name!r}",
                   missing=f"no policy rule {name!r}; nothing to delete", json=json)
