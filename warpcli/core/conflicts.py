"""The conflicts every controller reports, worded once so both backends say the same thing.

The embedded controller finds them in its transaction, the Cloudflare client in its
pre-checks; scripts and the shared test suite see identical lines either way.
"""

from __future__ import annotations

from collections.abc import Iterable

from warpcli.core.errors import Conflict
from warpcli.core.model import Route, Tunnel, VirtualNetwork
from warpcli.core.names import confusable_with


def name_looks_taken(kind: str, name: str, existing: Iterable[str]) -> None:
    """Refuse ``name`` when a live object of ``kind`` has a name that looks the same
    (see :func:`warpcli.core.names.confusable_with`): two such names are one name to a reader."""
    clash = confusable_with(name, existing)
    if clash is not None:
        raise Conflict(f"{kind} name {name!r} looks the same as the existing {kind} {clash!r}",
                       hint="choose a name that reads differently")


def tunnel_name_taken(existing: Tunnel) -> Conflict:
    return Conflict(f"a tunnel named {existing.name!r} already exists (id {existing.id})", existing=existing)


def vnet_name_taken(existing: VirtualNetwork) -> Conflict:
    return Conflict(f"a virtual network named {existing.name!r} already exists (id {existing.id})",
                    existing=existing)


def route_taken(existing: Route, vnet_name: str) -> Conflict:
    return Conflict(
        f"{existing.network} is already routed in virtual network {vnet_name!r} "
        f"through tunnel {existing.tunnel_name!r} (route {existing.id})",
        existing=existing,
    )


def tunnel_has_routes(name: str, count: int) -> Conflict:
    return Conflict(
        f"tunnel {name!r} still has {count} route(s)",
        hint="delete them first, or pass --force to delete them with the tunnel",
    )


def vnet_in_use(name: str, what: list[str]) -> Conflict:
    return Conflict(
        f"virtual network {name!r} still has {', '.join(what)}",
        hint="remove them first, or pass --force to delete them with it",
    )


def default_vnet_undeletable(name: str) -> Conflict:
    return Conflict(
        f"virtual network {name!r} is the default and cannot be deleted",
        hint="make another virtual network the default first (vnet update NAME --default)",
    )


def default_vnet_required(name: str) -> Conflict:
    return Conflict(
        f"virtual network {name!r} is the default and there must be one",
        hint="make another virtual network the default instead",
    )
