"""The WireGuard peers of this host's interfaces, as samples for the metrics endpoint."""

from __future__ import annotations

from pathlib import Path

from warpcli.host.wireguard import wg
from warpcli.metrics.follow import PeerSample


def peer_samples(ifnames: list[str], *, run_dir: Path, netns: str | None = None) -> list[PeerSample]:
    """Every peer of the named interfaces that exist (an interface that is down has none)."""
    from warpcli.host.runstate import scoped_run_dir

    run_dir = scoped_run_dir(run_dir, netns)
    out = []
    for ifname in ifnames:
        iface = wg.find_interface(ifname, netns=netns, run_dir=run_dir)
        if iface is None:
            continue
        for p in wg.show(iface).peers:
            out.append(PeerSample(ifname, p.public_key, p.endpoint, p.last_handshake, p.rx_bytes, p.tx_bytes))
    return out


def table_route_count(table: int, *, netns: str | None = None) -> int:
    """How many routes warpcli has in ``table``."""
    from warpcli.host.routing.netlink import Netlink

    with Netlink(netns) as nl:
        return len(nl.routes(table=table))
