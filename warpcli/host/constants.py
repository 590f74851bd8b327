"""Numbers that mark what warpcli puts in the kernel as its own.

``ROUTE_PROTO`` is the rtnetlink protocol number on every route and rule warpcli
installs. 245 is unassigned: not in the kernel's ``RTPROT_*`` list
(include/uapi/linux/rtnetlink.h: 0-4, 8-18, 42, 99, 186-192), not in
``/etc/iproute2/rt_protos``, and outside the range FRR uses (186-198). ``ip route``
shows it as ``proto 245`` (or ``proto warpcli`` once ``rt_protos.d`` names it).

Rules: ``PRIORITY_SUPPRESS_MAIN`` (``lookup main suppress_prefixlength 0``) comes
before ``PRIORITY_TABLE`` (``lookup TABLE``), so every route of the main table
except the default route wins over warpcli's routes, as netbird does; both are
below the main table's rule (32766).
"""

from __future__ import annotations

ROUTE_PROTO = 245
ROUTE_PROTO_NAME = "warpcli"

HUB_INTERFACE = "warpcli-hub"  #: `hub up`'s interface unless --interface names another

TABLE = 24500  #: the connector's table; a hub uses TABLE + 1 + n for its n-th vnet
PRIORITY_SUPPRESS_MAIN = 24500
PRIORITY_TABLE = 24510

MAIN_TABLE = 254
DEFAULT_LISTEN_PORT = 51820

WIREGUARD_SOCKET_DIR = "/var/run/wireguard"
NETNS_DIR = "/var/run/netns"
