"""Options shared by many commands, so each reads the same everywhere."""

from typing import Annotated

import typer

from warpcli.cli.completion import tunnel_names, vnet_names

Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (shapes in docs/json.md).")]
IfNotExists = Annotated[
    bool,
    typer.Option("--if-not-exists", help="If it already exists, succeed and print the existing one."),
]
IfExists = Annotated[
    bool,
    typer.Option("--if-exists", help="If there is nothing to delete, succeed (exit 0) and say so."),
]
Force = Annotated[bool, typer.Option("--force", help="Also delete the routes that depend on it.")]
Vnet = Annotated[
    str | None, typer.Option("--vnet", help="Virtual network name or id (default: the default vnet).",
                              autocompletion=vnet_names)
]
VnetFilter = Annotated[
    str | None, typer.Option("--vnet", help="Only this virtual network (name or id; default: all of them).",
                              autocompletion=vnet_names)
]
Tunnel = Annotated[str | None, typer.Option("--tunnel", help="Tunnel name or id.", autocompletion=tunnel_names)]
Comment = Annotated[str, typer.Option("--comment", help="A free-text remark.")]
