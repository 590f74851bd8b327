"""Enrolling this host as a tunnel's connector, and the host's connector.toml.

The host's secrets belong to the host: the WireGuard private key is kept in the
host's secret store (keyring, or ``secrets.json`` 0600 beside connector.toml),
keyed by connector id, and never reaches the controller, which only learns the
public key.

Enrolled against a served warpcli controller with a tunnel token, the host keeps that
token in the same store (``tunnel-token:{tunnel_id}``) and the server's URL and account
in connector.toml: ``up`` and ``status`` authenticate with it, so a connector host never
needs an API token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from warpcli.core import service
from warpcli.core.cidr import parse_address, parse_network
from warpcli.core.controller import Controller
from warpcli.core.errors import ConfigError, Conflict, InvalidInput, NotFound, WarpcliError
from warpcli.core.model import DEFAULT_MTU, DEVICE_RANGE, Connector, Tunnel
from warpcli.core.names import validate_interface
from warpcli.core.secrets import SecretStore
from warpcli.core.settings import CONNECTOR_FILE, atomic_write_toml, read_toml

DEFAULT_INTERFACE = "warpcli0"


def key_name(connector_id: str) -> str:
    return f"connector-key:{connector_id}"


def tunnel_token_key(tunnel_id: str) -> str:
    return f"tunnel-token:{tunnel_id}"


@dataclass(frozen=True)
class ConnectorConfig:
    """What connector.toml holds: everything `up` needs besides the private key."""

    connector_id: str
    tunnel_id: str
    tunnel_name: str
    virtual_network_id: str
    address: str
    interface: str = DEFAULT_INTERFACE
    mtu: int = DEFAULT_MTU
    state_dir: str | None = None  # the embedded controller used at enrollment, if any
    api_url: str | None = None  # the served controller enrolled with (its API v4 base URL), if any
    account_id: str | None = None  # that server's account
    priority: int | None = None  # this replica's VRRP priority (high availability), 1..254

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def load_connector_config(config_dir: Path) -> ConnectorConfig | None:
    """The host's connector config, None when not enrolled; ConfigError when unusable."""
    path = config_dir / CONNECTOR_FILE
    data = read_toml(path)
    if not data:
        return None
    try:
        cfg = ConnectorConfig(**data)
        if not all(isinstance(getattr(cfg, f), str) for f in
                   ("connector_id", "tunnel_id", "tunnel_name", "virtual_network_id", "address", "interface")):
            raise TypeError
        served = cfg.api_url is not None
        if served and not (isinstance(cfg.api_url, str) and cfg.api_url.startswith(("http://", "https://"))
                           and isinstance(cfg.account_id, str)):
            raise TypeError
        if not isinstance(cfg.mtu, int) or isinstance(cfg.mtu, bool) or not 576 <= cfg.mtu <= 65535:
            raise TypeError
        if cfg.priority is not None and (not isinstance(cfg.priority, int) or isinstance(cfg.priority, bool)
                                         or not 1 <= cfg.priority <= 254):
            raise TypeError
        validate_interface(cfg.interface)
        version, value = parse_address(cfg.address)
        if not parse_network(DEVICE_RANGE).contains_address(version, value):
            raise TypeError
    except (TypeError, InvalidInput):
        raise ConfigError(
            f"{path} is not a valid connector config", hint="re-enroll with `warpcli enroll --force`"
        ) from None
    return cfg


@dataclass(frozen=True)
class Enrolled:
    config: ConnectorConfig
    connector: Connector | None
    changed: bool


def enroll(
    ctrl: Controller,
    *,
    config_dir: Path,
    secrets: SecretStore,
    keygen: Callable[[], tuple[str, str]],
    tunnel: str | None = None,
    token: str | None = None,
    vnet: str | None = None,
    interface: str | None = None,
    mtu: int | None = None,
    state_dir: str | None = None,
    api_url: str | None = None,
    account_id: str | None = None,
    keep_token: bool = False,
    force: bool = False,
    priority: int | None = None,
) -> Enrolled:
    """Make a key pair, register the public key, keep the private key, write connector.toml.

    ``keygen`` returns ``(private_key, public_key)`` (base64). Re-running for the same
    tunnel changes nothing; another tunnel needs ``force``. On failure nothing is left.
    ``api_url``/``account_id``: the served controller ``up`` will ask (connector.toml);
    ``keep_token``: keep ``token`` in ``secrets`` for it.
    """
    if interface is not None:
        validate_interface(interface)
    if priority is not None and not 1 <= priority <= 254:
        raise InvalidInput(f"--priority {priority} is out of range", hint="1..254 (VRRP; higher wins)")
    t: Tunnel
    if token is not None:
        t = ctrl.verify_tunnel_token(token)
    elif tunnel is not None:
        t = service.resolve_tunnel(ctrl, tunnel)
    else:
        raise InvalidInput("say which tunnel to enroll in", hint="--tunnel NAME, --token-file F, or the token on stdin")
    v = service.resolve_vnet(ctrl, vnet)
    current = load_connector_config(config_dir)
    if current is not None:
        if current.tunnel_id == t.id and not force and secrets.get(key_name(current.connector_id)):
            changes = [
                f"{name} {old} -> {new}"
                for name, old, new in (("virtual network", current.virtual_network_id, v.id),
                                       ("interface", current.interface, interface or current.interface),
                                       ("mtu", current.mtu, mtu or current.mtu),
                                       ("controller", current.api_url or "embedded", api_url or "embedded"))
                if old != new
            ]
            if changes:
                raise Conflict(
                    f"this host is enrolled in tunnel {current.tunnel_name!r} with other settings ({'; '.join(changes)})",
                    hint="pass --force to enroll again with them",
                )
            if keep_token and token is not None and secrets.get(tunnel_token_key(t.id)) != token:
                secrets.set(tunnel_token_key(t.id), token)  # a fresh token of the same tunnel
            if priority is not None and priority != current.priority:  # a local setting: no new key needed
                from dataclasses import replace

                current = replace(current, priority=priority)
                atomic_write_toml(config_dir / CONNECTOR_FILE, current.to_dict())
                return Enrolled(current, None, True)
            return Enrolled(current, None, False)
        if current.tunnel_id != t.id and not force:
            raise Conflict(
                f"this host is already enrolled in tunnel {current.tunnel_name!r}",
                hint="pass --force to enroll it in another tunnel",
            )
    private, public = keygen()
    from warpcli import __version__

    connector = ctrl.register_connector(t.id, public, virtual_network_id=v.id, tunnel_token=token is not None,
                                        version=__version__)
    cfg = ConnectorConfig(
        connector_id=connector.id, tunnel_id=t.id, tunnel_name=t.name, virtual_network_id=v.id,
        address=connector.address, interface=interface or (current.interface if current else DEFAULT_INTERFACE),
        mtu=mtu or (current.mtu if current else DEFAULT_MTU), state_dir=state_dir, api_url=api_url,
        account_id=account_id if api_url else None,
        priority=priority if priority is not None else (current.priority if current else None),
    )
    kept = secrets.get(tunnel_token_key(t.id)) if keep_token else None
    try:
        secrets.set(key_name(connector.id), private)
        if keep_token and token is not None:
            secrets.set(tunnel_token_key(t.id), token)
        atomic_write_toml(config_dir / CONNECTOR_FILE, cfg.to_dict())
    except BaseException:
        if keep_token:
            _put_back(secrets, tunnel_token_key(t.id), kept)
        _undo(ctrl, secrets, connector)
        raise
    if current is not None:
        _retire(ctrl, secrets, current.connector_id)
        if current.tunnel_id != t.id:
            _put_back(secrets, tunnel_token_key(current.tunnel_id), None)
    return Enrolled(cfg, connector, True)


def _put_back(secrets: SecretStore, key: str, value: str | None) -> None:
    """Best effort: set ``key`` to ``value`` again (None: remove it)."""
    try:
        secrets.set(key, value) if value is not None else secrets.delete(key)
    except WarpcliError:
        pass


def _undo(ctrl: Controller, secrets: SecretStore, connector: Connector) -> None:
    for step in (lambda: secrets.delete(key_name(connector.id)), lambda: ctrl.delete_connector(connector.id)):
        try:
            step()
        except WarpcliError:
            pass


def _retire(ctrl: Controller, secrets: SecretStore, connector_id: str) -> None:
    """Forget the connector a forced re-enrollment replaced (best effort)."""
    try:
        ctrl.delete_connector(connector_id)
    except (NotFound, WarpcliError):
        pass
    try:
        secrets.delete(key_name(connector_id))
    except WarpcliError:
        pass


def private_key(config: ConnectorConfig, secrets: SecretStore) -> str:
    key = secrets.get(key_name(config.connector_id))
    if not key:
        raise NotFound(
            f"the private key of connector {config.connector_id} is not in {secrets.description}",
            hint="re-enroll with `warpcli enroll --force`",
        )
    return key


@dataclass(frozen=True)
class HostEnrollment:
    """What :func:`enroll_host` did: a WireGuard connector of a warpcli hub (``enrolled``), or a
    Cloudflare connector run by Cloudflare's warp-cli (``warp``, its report)."""

    enrolled: Enrolled | None = None
    warp: dict | None = None


def enroll_host(
    controller: Callable[[], Controller],
    *,
    kind: str,
    open_with_token: Callable[[str], Controller],
    warp_enroll: Callable[..., dict],
    config_dir: Path,
    secrets: SecretStore,
    api_url: str | None,
    tunnel: str | None = None,
    token: str | None = None,
    vnet: str | None = None,
    interface: str | None = None,
    mtu: int | None = None,
    force: bool = False,
    priority: int | None = None,
    keygen: Callable[[], tuple[str, str]] | None = None,
) -> HostEnrollment:
    """Enroll this host with the configured controller (``kind``, opened by ``controller()`` only
    when needed): the embedded one, a served warpcli controller (``controller serve``: a WireGuard
    connector of its hub), or Cloudflare itself (its edge is the hub: ``warp_enroll`` runs warp-cli).

    ``open_with_token(token)`` opens the Cloudflare-dialect server authenticated by the tunnel
    token: the host then needs no API token (nor an account id), and keeps the token beside its
    key for ``up``.
    """
    served = None
    if kind == "cloudflare":
        served = _served(controller, open_with_token, token)
        if served is None:  # Cloudflare itself
            _refuse_hub_settings(vnet=vnet, interface=interface, mtu=mtu, priority=priority, force=force)
            return HostEnrollment(warp=warp_enroll(controller(), tunnel=tunnel, token=token))
    try:
        result = enroll(
            served or controller(), config_dir=config_dir, secrets=secrets, keygen=keygen or _keygen,
            tunnel=tunnel, token=token, vnet=vnet, interface=interface, mtu=mtu, force=force,
            # a served controller: `up` asks it again, with the tunnel token kept beside the key
            api_url=api_url if served else None,
            account_id=getattr(served, "account_id", None) if served else None,
            keep_token=served is not None and token is not None, priority=priority,
        )
    finally:
        if served is not None and token is not None:  # its own client (the tunnel token's)
            served.close()
    return HostEnrollment(enrolled=result)


def _keygen() -> tuple[str, str]:
    from warpcli.core.keys import generate_keypair

    pair = generate_keypair()
    return pair.private_key, pair.public_key


def _served(controller: Callable[[], Controller], open_with_token: Callable[[str], Controller],
            token: str | None) -> Controller | None:
    """The controller to enroll with when the Cloudflare-dialect server is a served warpcli
    controller; None when it is Cloudflare. With a tunnel token the host authenticates with it;
    otherwise (``--tunnel NAME``) with the API token, as every other command does."""
    target = open_with_token(token) if token is not None else controller()
    if target.warpcli_server() is None:
        if token is not None:
            target.close()
        return None
    return target


def _refuse_hub_settings(**given: Any) -> None:
    """Settings of a warpcli hub's connector that warp-cli has no use for: refused, not ignored
    (an empty ``--interface ''`` included)."""
    from warpcli.core.errors import NotSupported

    flags = [f"--{name}" for name, value in given.items() if value not in (None, False)]
    if flags:
        raise NotSupported(
            f"{', '.join(flags)} do(es) not apply with the cloudflare controller",
            hint="warp-cli manages the interface and re-registers on every run; "
                 "a connector's virtual network is set on Cloudflare",
        )

