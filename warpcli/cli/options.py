"""Options shared by many commands, so each reads the same everywhere."""

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (shapes in docs/json.md).")]
IfNotExists = Annotated[
    bool,
    typer.Option("--if-not-exists", help="If it already exists, succeed and print the existing one."),
]
Force = Annotated[bool, typer.Option("--force", help="Also delete the routes that depend on it.")]
Vnet = Annotated[
    str | None, typer.Option("--vnet", help="Virtual network name or id (default: the default vnet).")
]
VnetFilter = Annotated[
    str | None, typer.Option("--vnet", help="Only this virtual network (name or id; default: all of them).")
]
Tunnel = Annotated[str | None, typer.Option("--tunnel", help="Tunnel name or id.")]
Comment = Annotated[str, typer.Option("--comment", help="A free-text remark.")]
