"""Where warpcli keeps things, and config.toml.

Precedence: command-line flag > ``WARPCLI_*`` environment variable > config.toml >
built-in default. config.toml lives in the config directory (``/etc/warpcli`` for
root, ``$XDG_CONFIG_HOME/warpcli`` otherwise; ``WARPCLI_CONFIG_DIR`` overrides).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from warpcli.core.errors import ConfigError
from warpcli.core.records import field_names, record

CONFIG_FILE = "config.toml"
CONNECTOR_FILE = "connector.toml"


def _is_root() -> bool:
    return os.geteuid() == 0


def default_state_dir(env: Mapping[str, str]) -> Path:
    if _is_root():
        return Path("/var/lib/warpcli")
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "warpcli"


def default_config_dir(env: Mapping[str, str]) -> Path:
    if _is_root():
        return Path("/etc/warpcli")
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "warpcli"


@record
class Settings:
    config_dir: Path
    state_dir: Path
    controller: str = "local"
    secret_backend: str = "auto"
    lock_timeout: float = 10.0
    run_dir: Path = Path("/run/warpcli")  #: wireguard-go PIDs and what `down` restores (tmpfs)
    account_id: str | None = None  #: the Cloudflare account (cloudflare controller)
    api_url: str = "https://api.cloudflare.com/client/v4"  #: the API v4 base URL (cloudflare controller)
    api_timeout: float = 30.0  #: seconds to wait for one API answer
    #: the embedded controller's PostgreSQL database (None: the SQLite file in state_dir)
    database_url: str | None = None


def default_run_dir(env: Mapping[str, str]) -> Path:
    if _is_root():
        return Path("/run/warpcli")
    base = env.get("XDG_RUNTIME_DIR") or f"/tmp/warpcli-{os.getuid()}"
    return Path(base) / "warpcli"


#: config.toml keys, their environment variables and types
KEYS: dict[str, tuple[str, type]] = {
    "state_dir": ("WARPCLI_STATE_DIR", str),
    "controller": ("WARPCLI_CONTROLLER", str),
    "secret_backend": ("WARPCLI_SECRET_BACKEND", str),
    "lock_timeout": ("WARPCLI_LOCK_TIMEOUT", float),
    "run_dir": ("WARPCLI_RUN_DIR", str),
    "account_id": ("CLOUDFLARE_ACCOUNT_ID", str),
    "api_url": ("WARPCLI_API_URL", str),
    "api_timeout": ("WARPCLI_API_TIMEOUT", float),
    "database_url": ("WARPCLI_DATABASE_URL", str),
}
CONTROLLERS = ("local", "cloudflare")
#: where `controller serve` listens unless --listen says otherwise (loopback: tokens never cross a network in clear)
DEFAULT_LISTEN = "127.0.0.1:8787"
SECRET_BACKENDS = ("auto", "keyring", "file")
#: keys whose value must be one of a fixed set
CHOICES: dict[str, tuple[str, ...]] = {"controller": CONTROLLERS, "secret_backend": SECRET_BACKENDS}


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; an invalid one raises ConfigError naming the file and line.

    ``tomllib`` is imported only when there is a file to parse (start-up time).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: invalid TOML at line {line}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML {_toml_position(str(exc), text)}") from None


def _toml_position(message: str, text: str) -> str:
    """tomllib says "(at line L, column C)", or "(at end of document)" with no line: always give one."""
    import re

    m = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.S)
    if m:
        return f"at line {m[2]}, column {m[3]}: {m[1]}"
    reason = message.removesuffix(" (at end of document)")
    lines = text.rstrip("\n").count("\n") + 1
    return f"at line {lines} (end of file): {reason}"


def _coerce(key: str, value: Any, origin: str) -> Any:
    _, kind = KEYS[key]
    try:
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            out: Any = float(value)
            if not math.isfinite(out) or out < 0:
                raise ValueError
            if key == "api_timeout" and out == 0:  # every request would time out at once
                raise ConfigError(f"{origin}: api_timeout = {value!r} is not a valid number of seconds (more than 0)")
            return out
        if not isinstance(value, str) or not value:
            raise ValueError
    except (TypeError, ValueError):
        what = "number of seconds (0 or more)" if kind is float else "non-empty string"
        shown = "***" if key == "database_url" else repr(value)  # it may hold a password
        raise ConfigError(f"{origin}: {key} = {shown} is not a valid {what}") from None
    if key == "database_url":
        from warpcli.core.dburl import is_postgres, mask

        if not is_postgres(value):
            raise ConfigError(f"{origin}: database_url = {mask(value)!r} is not a postgresql:// URL",
                              hint="e.g. postgresql://warpcli@db.example.net/warpcli (the password in ~/.pgpass)")
    if key == "api_url" and not value.startswith(("https://", "http://")):
        raise ConfigError(f"{origin}: api_url = {value!r} is not an http(s) URL")
    if key == "api_url" and not value.isprintable():
        raise ConfigError(f"{origin}: api_url = {value!r} contains control characters")
    choices = CHOICES.get(key)
    if choices is not None and value not in choices:
        raise ConfigError(f"{origin}: {key} = {value!r} is not known", hint=f"use one of: {', '.join(choices)}")
    return value


def resolve_config_dir(config_dir: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The config directory: the flag, else ``WARPCLI_CONFIG_DIR``, else the default."""
    env = os.environ if env is None else env
    return Path(config_dir or env.get("WARPCLI_CONFIG_DIR") or default_config_dir(env))


def load_settings(
    *,
    config_dir: str | Path | None = None,
    state_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """``overrides`` are command-line flags by key (``None`` = not given); they win over everything."""
    env = os.environ if env is None else env
    cdir = resolve_config_dir(config_dir, env)
    path = cdir / CONFIG_FILE
    values: dict[str, Any] = {}
    for key, value in read_toml(path).items():
        if key not in KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}", hint=f"known keys: {', '.join(KEYS)}")
        values[key] = _coerce(key, value, str(path))
    for key, (var, _) in KEYS.items():
        if env.get(var):
            values[key] = _coerce(key, env[var], var)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    if state_dir:
        values["state_dir"] = str(state_dir)
    values["state_dir"] = Path(values.get("state_dir") or default_state_dir(env)).expanduser()
    values["run_dir"] = Path(values.get("run_dir") or default_run_dir(env)).expanduser()
    known = set(field_names(Settings))
    return Settings(config_dir=cdir, **{k: v for k, v in values.items() if k in known})


def write_config_value(config_dir: Path, key: str, value: str | None) -> dict[str, Any]:
    """Set (or with ``None`` remove) one key of config.toml, atomically. Returns the new file content.

    Removing works for a key this version does not know, so a stale file can be repaired.
    """
    path = config_dir / CONFIG_FILE
    data = read_toml(path)
    if key not in KEYS and not (value is None and key in data):
        raise ConfigError(f"unknown key {key!r}", hint=f"known keys: {', '.join(KEYS)}")
    if value is None:
        data.pop(key, None)
    else:
        data[key] = _coerce(key, value, "config set")
    atomic_write_toml(path, data)
    return data


def atomic_write_toml(path: Path, data: dict[str, Any], mode: int = 0o644) -> None:
    """Write TOML through a temp file and rename, so readers never see half a file."""
    import tomli_w

    from warpcli.core.files import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, tomli_w.dumps(data).encode(), mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


#: the settings that choose a controller; any of them given means "this one", not the default
CHOOSING_KEYS = ("controller", "database_url")


def controller_chosen(config_dir: Path, overrides: Mapping[str, Any] | None = None,
                      env: Mapping[str, str] | None = None) -> bool:
    """Whether this run names its controller (a flag, the environment or config.toml) instead of
    taking the default. On a connector enrolled with a served controller the default for reading
    is that server, as for ``up``; a controller named on purpose wins."""
    env = os.environ if env is None else env
    if any((overrides or {}).get(k) is not None for k in CHOOSING_KEYS):
        return True
    if any(env.get(KEYS[k][0]) for k in CHOOSING_KEYS):
        return True
    return any(k in read_toml(config_dir / CONFIG_FILE) for k in CHOOSING_KEYS)


def enrolled_tunnel_id(config_dir: Path) -> str | None:
    """The tunnel this host is enrolled in, from connector.toml, if it is enrolled."""
    value = read_toml(config_dir / CONNECTOR_FILE).get("tunnel_id")
    return value if isinstance(value, str) else None


def enrolled_api_url(config_dir: Path) -> str | None:
    """The served controller this host enrolled with, from connector.toml, if it did."""
    value = read_toml(config_dir / CONNECTOR_FILE).get("api_url")
    return value if isinstance(value, str) else None
