"""warpcli enroll: make this host a tunnel's connector."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from warpcli.cli import completion, render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json
from warpcli.core import enrollment
from warpcli.core.errors import InvalidInput
from warpcli.core.model import DEFAULT_MTU

app = typer.Typer(add_completion=False)


def _read_token(token_file: Path | None) -> str | None:
    """The token from a file, or from stdin when it is piped; never from argv."""
    try:
        if token_file is not None:
            text = token_file.read_text(encoding="utf-8")
        elif not sys.stdin.isatty():
            text = sys.stdin.read()
        else:
            return None
    except OSError as exc:
        raise InvalidInput(f"cannot read {token_file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput("the tunnel token is malformed (not text)",
                           hint="copy it again with `warpcli tunnel token`") from None
    token = text.strip()
    if not token:
        raise InvalidInput("the token is empty", hint="pipe the output of `warpcli tunnel token NAME`")
    return token


@app.command("enroll")
def enroll(
    ctx: typer.Context,
    tunnel: Annotated[str | None, typer.Option("--tunnel", help="Tunnel name or id (needs the controller).",
                                                         autocompletion=completion.tunnel_names)] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="Read the tunnel token from this file ('-' or a pipe: stdin).")
    ] = None,
    vnet: Annotated[str | None, typer.Option("--vnet", help="Virtual network to join (default: the default one).",
                                                       autocompletion=completion.vnet_names)] = None,
    interface: Annotated[
        str | None, typer.Option("--interface", help=f"WireGuard interface name (default {enrollment.DEFAULT_INTERFACE}).")
    ] = None,
    mtu: Annotated[int | None, typer.Option("--mtu", min=576, max=65535, help=f"Tunnel MTU (default {DEFAULT_MTU}).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-enroll, also into another tunnel, with a new key.")] = False,
    priority: Annotated[
        int | None,
        typer.Option("--priority", help="This replica's priority for high availability (1..254, higher wins; "
                                        "default 100).", show_default=False),
    ] = None,
    json: Json = False,
) -> None:
    """Enroll this host as a tunnel's connector: a key pair, a device address, connector.toml.

    The private key stays on this host (keyring, or secrets.json 0600 beside
    connector.toml). Re-running for the same tunnel changes nothing.
    """
    rt = runtime(ctx, json=json)
    token = None
    if tunnel is None:
        token = _read_token(None if token_file is None or str(token_file) == "-" else token_file)
        if token is None and token_file is not None:  # '-' on a terminal
            raise InvalidInput("no token on stdin", hint="pipe it: warpcli tunnel token NAME | warpcli enroll")
    done = enrollment.enroll_host(
        lambda: rt.controller, kind=rt.settings.controller,
        open_with_token=rt.controller_with_token, warp_enroll=rt.warp_enroll,
        config_dir=rt.settings.config_dir, secrets=rt.host_secrets, api_url=rt.settings.api_url,
        tunnel=tunnel, token=token, vnet=vnet, interface=interface, mtu=mtu, force=force, priority=priority,
    )
    if done.warp is not None:
        render.message(
            f"enrolled with warp-cli in tunnel {done.warp['tunnel_name']!r}; IP forwarding is on "
            "(until reboot: `warpcli install` makes it permanent)"
        )
        render.emit_json(done.warp) if json else render.plain(done.warp["tunnel_id"])
        return
    assert done.enrolled is not None
    result = done.enrolled
    cfg = result.config
    if result.changed:
        render.message(
            f"enrolled in tunnel {cfg.tunnel_name!r} as {cfg.address} (connector {cfg.connector_id}); "
            f"private key in {rt.host_secrets.description}"
        )
    else:
        render.message(f"already enrolled in tunnel {cfg.tunnel_name!r} as {cfg.address}; nothing changed")
    if json:
        shown = {k: v for k, v in cfg.to_dict().items() if k not in ("api_url", "account_id")}  # in connector.toml
        render.emit_json({**shown, "changed": result.changed})
    else:
        render.plain(cfg.connector_id)

