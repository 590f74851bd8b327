"""warpcli: provision and operate network connectors (see README.md and docs/library.md).

The names in ``__all__`` are the library's public API. They load on first use, so
``import warpcli`` (and the CLI's start-up) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "connect": "warpcli.library",
    "service": "warpcli.core.service",  # a module: the functions the commands call
    "Controller": "warpcli.core.controller",
    "Tunnel": "warpcli.core.model",
    "VirtualNetwork": "warpcli.core.model",
    "Route": "warpcli.core.model",
    "RouteFilter": "warpcli.core.model",
    "Connector": "warpcli.core.model",
    "Hub": "warpcli.core.model",
    "Network": "warpcli.core.cidr",
    "parse_network": "warpcli.core.cidr",
    "SecretStore": "warpcli.core.secrets",
    "MemorySecretStore": "warpcli.secret_stores.memory",
    "WarpcliError": "warpcli.core.errors",
    "InvalidInput": "warpcli.core.errors",
    "NotFound": "warpcli.core.errors",
    "Conflict": "warpcli.core.errors",
    "StateError": "warpcli.core.errors",
    "AuthError": "warpcli.core.errors",
    "Unavailable": "warpcli.core.errors",
}

__all__ = [
    "AuthError",
    "Conflict",
    "Connector",
    "Controller",
    "Hub",
    "InvalidInput",
    "MemorySecretStore",
    "Network",
    "NotFound",
    "Route",
    "RouteFilter",
    "SecretStore",
    "StateError",
    "Tunnel",
    "Unavailable",
    "VirtualNetwork",
    "WarpcliError",
    "__version__",
    "connect",
    "parse_network",
    "service",
]

if TYPE_CHECKING:
    from warpcli.core import service
    from warpcli.core.cidr import Network, parse_network
    from warpcli.core.controller import Controller
    from warpcli.core.errors import AuthError, Conflict, InvalidInput, NotFound, StateError, Unavailable, WarpcliError
    from warpcli.core.model import Connector, Hub, Route, RouteFilter, Tunnel, VirtualNetwork
    from warpcli.core.secrets import SecretStore
    from warpcli.library import connect
    from warpcli.secret_stores.memory import MemorySecretStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'warpcli' has no attribute {name!r}")
    loaded = import_module(module)
    value = loaded if module.endswith(f".{name}") else getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
