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

Several connectors on one host (one per virtual network, :mod:`warpcli.host.connector`): the
first keeps ``TABLE`` and the two rules above; each further one takes slot ``n`` (1 ..
``CONNECTOR_SLOTS - 1``): table ``CONNECTOR_TABLE_BASE + n`` and the five rule priorities
from ``CONNECTOR_PRIORITY_BASE + 10 * (n - 1)``, all before ``PRIORITY_SUPPRESS_MAIN`` so that
its LAN's traffic never reaches the first connector's table. The local table uses ``TABLE + 1``
and ``PRIORITY_*`` + 1; a hub uses ``TABLE + 100 + n`` and priorities from 24520.
"""

from __future__ import annotations

ROUTE_PROTO = 245
ROUTE_PROTO_NAME = "warpcli"

HUB_INTERFACE = "warpcli-hub"  #: `hub up`'s interface unless --interface names another

TABLE = 24500  #: the (first) connector's table; a hub uses TABLE + 100 + n for its n-th vnet
PRIORITY_SUPPRESS_MAIN = 24500
PRIORITY_TABLE = 24510
CONNECTOR_SLOTS = 20  #: connectors (virtual networks) on one host: slot 0 is TABLE's
CONNECTOR_TABLE_BASE = TABLE + 50  #: slot n's table (24551..24569)
CONNECTOR_PRIORITY_BASE = 24300  #: slot n's rules: 24300 + 10 * (n - 1) + 0..4 (up to 24484)

MAIN_TABLE = 254
DEFAULT_LISTEN_PORT = 51820

WIREGUARD_SOCKET_DIR = "/var/run/wireguard"
NETNS_DIR = "/var/run/netns"
