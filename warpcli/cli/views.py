"""One column specification per model: the human table of each object, written once.

A view is a tuple of ``(HEADER, field)`` pairs; ``field`` is the attribute to show, or a
function of the object for a derived cell. :func:`warpcli.cli.render.show` prints a view
as a table, or the objects as JSON. (Plain tuples, no classes: the listing commands start fast.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

View = tuple[tuple[str, str | Callable[[Any], Any]], ...]

ROUTE: View = (("NETWORK", "network"), ("TUNNEL", "tunnel_name"), ("VNET", "virtual_network_name"),
               ("COMMENT", "comment"), ("ID", "id"))
#: a tunnel's own routes (``tunnel show``): the tunnel is known
TUNNEL_ROUTE: View = (("NETWORK", "network"), ("VNET", "virtual_network_name"), ("COMMENT", "comment"))
TUNNEL: View = (("NAME", "name"), ("ID", "id"), ("STATUS", "status"), ("CREATED", "created_at"))
DELETED_TUNNEL: View = (*TUNNEL, ("DELETED", "deleted_at"))
VNET: View = (("NAME", "name"), ("ID", "id"), ("DEFAULT", lambda v: "yes" if v.is_default_network else ""),
              ("COMMENT", "comment"), ("CREATED", "created_at"))
CONNECTOR: View = (("ID", "id"), ("TUNNEL", lambda c: c.tunnel_name or c.tunnel_id), ("VNET ID", "virtual_network_id"),
                   ("ADDRESS", "address"), ("PUBLIC KEY", "public_key"), ("CREATED", "created_at"),
                   ("LAST SEEN", lambda c: c.last_seen or "never"), ("VERSION", lambda c: c.version or "-"),
                  ("ROLE", lambda c: "-" if c.role is None else c.role if c.priority is None else f"{c.role} ({c.priority})"))
REPLICA: View = (("ADDRESS", "address"), ("ROLE", lambda c: c.role or "-"),
                 ("PRIORITY", lambda c: "-" if c.priority is None else str(c.priority)),
                 ("ROLE SINCE", lambda c: c.role_changed_at or "-"), ("LAST SEEN", lambda c: c.last_seen or "never"),
                 ("VERSION", lambda c: c.version or "-"), ("ID", "id"))
LOCAL_ROUTE: View = (("NETWORK", "network"), ("VIA", "via"), ("DEV", "dev"))
#: `route get --vnet all`: one Lookup per vnet with a route to the address
LOOKUP: View = (("VNET", lambda a: a.virtual_network.name), ("NETWORK", lambda a: a.route.network),
                ("TUNNEL", lambda a: a.route.tunnel_name), ("ROUTE ID", lambda a: a.route.id))
API_TOKEN: View = (("NAME", "name"), ("ID", "id"), ("CREATED", "created_at"),
                   ("LAST USED", lambda t: t.last_used_at or "never"))
REVOKED_API_TOKEN: View = (*API_TOKEN, ("REVOKED", lambda t: t.revoked_at or ""))
def _ago(seconds: float | None) -> str:
    from warpcli.cli.render import human_age

    return "never" if seconds is None else f"{human_age(seconds)} ago"


def _bytes(n: int) -> str:
    from warpcli.cli.render import human_bytes

    return human_bytes(n)


#: `hub status`: one peer of a hub (a dict of :func:`warpcli.host.hub.hub_status`)
HUB_PEER: View = (
    ("KIND", lambda p: p["kind"]), ("ADDRESS", lambda p: p["address"] or "?"),
    ("ROLE", lambda p: "-" if p["role"] is None else p["role"] if p["priority"] is None
     else f"{p['role']} ({p['priority']})"),
    ("CARRIES", lambda p: "yes" if p["carries_tunnel"] else ""),
    ("VIA HUB", lambda p: p["routes_via"] or "-"),
    ("HANDSHAKE", lambda p: _ago(p["last_handshake_seconds_ago"])),
    ("LAST PROBE", lambda p: _ago(p["last_probe_seconds_ago"])),
    ("RX", lambda p: _bytes(p["rx_bytes"])), ("TX", lambda p: _bytes(p["tx_bytes"])),
    ("ENDPOINT", lambda p: p["endpoint"] or "-"), ("PUBLIC KEY", lambda p: p["public_key"]),
)
#: `hub list`: the hubs this host runs
HUB_RUN: View = (("INTERFACE", "interface"), ("VNET ID", "virtual_network_id"),
                 ("STATE", lambda h: "up" if h.up else "down"), ("LISTEN", lambda h: str(h.listen_port or "-")),
                 ("PEERS", lambda h: str(h.peers)), ("HANDSHAKES", lambda h: str(h.handshakes)))


def headers(view: View) -> list[str]:
    return [h for h, _ in view]


def rows(view: View, objs: Iterable[Any]) -> Iterator[list[Any]]:
    """The cells of each object, lazily (a streamed listing reads its objects a page at a time)."""
    getters = [f if callable(f) else _attr(f) for _, f in view]
    return ([g(o) for g in getters] for o in objs)


def _attr(name: str) -> Callable[[Any], Any]:
    from operator import attrgetter

    return attrgetter(name)
