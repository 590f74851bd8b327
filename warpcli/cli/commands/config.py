"""warpcli config show|set|unset: config.toml."""

from typing import Annotated

import typer

from warpcli.cli import render
from warpcli.cli.context import runtime
from warpcli.cli.options import Json
from warpcli.core.dburl import mask
from warpcli.core.settings import CONFIG_FILE, KEYS, write_config_value

app = typer.Typer(
    add_completion=False,
    help="Show and change settings (config.toml; WARPCLI_* variables override it).",
    no_args_is_help=True,
)

Key = Annotated[str, typer.Argument(metavar="KEY", help=f"One of: {', '.join(KEYS)}.", show_default=False)]


@app.command("show")
def show(ctx: typer.Context, json: Json = False) -> None:
    """Show the settings in effect and where they come from."""
    s = runtime(ctx, json=json).settings
    data = {
        "config_file": str(s.config_dir / CONFIG_FILE),
        "state_dir": str(s.state_dir),
        "controller": s.controller,
        "secret_backend": s.secret_backend,
        "lock_timeout": s.lock_timeout,
        "run_dir": str(s.run_dir),
        "account_id": s.account_id,
        "api_url": s.api_url,
        "api_timeout": s.api_timeout,
        "database_url": mask(s.database_url),  # never the password
    }
    render.emit_json(data) if json else render.fields(list(data.items()))


# a VALUE that starts with "-" (`config set lock_timeout -1`) is a value, not an unknown option:
# it reaches the key's own check, which says what is wrong with it
@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: Key,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.", show_default=False)],
    json: Json = False,
) -> None:
    """Set a key in config.toml (written atomically)."""
    rt = runtime(ctx, json=json)
    data = write_config_value(rt.config_dir, key, value)
    render.message(f"set {key} in {rt.config_dir / CONFIG_FILE}")
    if json:
        render.emit_json(data)


@app.command("unset")
def unset(ctx: typer.Context, key: Key, json: Json = False) -> None:
    """Remove a key from config.toml."""
    rt = runtime(ctx, json=json)
    data = write_config_value(rt.config_dir, key, None)
    render.message(f"removed {key} from {rt.config_dir / CONFIG_FILE}")
    if json:
        render.emit_json(data)
