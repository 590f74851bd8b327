"""The overlap report in its documented JSON shapes (docs/json.md), one group at a time.

The report of a million routes already holds a million route references; building the
whole document from it as dicts first would hold several million more objects (and
take gigabytes) before the first byte is printed. :class:`OverlapView` hands the
shapes out lazily, so ``routes --overlaps --json`` encodes and prints group by group,
and the table for people draws its rows from the same shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from warpcli.core.cidr import format_address
from warpcli.core.overlaps import OverlapReport


class OverlapView:
    """Nested groups, shared CIDRs and connected-network hits as JSON-ready dicts.

    ``tunnels`` maps ids to names; ``vnets`` maps ids to names in the order to report
    them in (the default first, then by name): nested groups come by virtual network in
    that order, then by address (IPv4 first), and each shared CIDR lists its routes in
    that order. ``connected`` is already in its shape (see
    :func:`warpcli.core.service.connected_overlaps`). ``nested()`` and ``shared()`` may be
    iterated more than once.
    """

    def __init__(self, report: OverlapReport[Any], tunnels: dict[str, str], vnets: dict[str, str],
                 connected: list[dict[str, Any]]) -> None:
        self.report = report
        self.tunnels = tunnels
        self.vnets = vnets
        self.connected = connected
        rank = {vnet_id: i for i, vnet_id in enumerate(vnets)}
        self._rank = lambda vnet_id: rank.get(vnet_id, len(rank))
        # the report keeps each vnet's groups together, in address order: a stable sort by vnet does the rest
        self._groups = sorted(report.nested, key=lambda g: self._rank(g.vnet))

    def is_empty(self) -> bool:
        return not (self.report.nested or self.report.shared or self.connected)

    @contextmanager
    def collector_paused(self) -> Iterator[None]:
        """Around rendering the view: keep Python's cyclic garbage collector off the report.

        Its objects (a few million at a million routes) hold no reference cycles and go by
        reference counting, yet each collection would walk them all (1.4 s at a million
        routes). Frozen only while inside, and only when nothing else is, so a caller running
        the app in-process gets its collector back as it was.
        """
        import gc

        freeze = gc.isenabled() and not gc.get_freeze_count()
        if freeze:
            gc.freeze()
        try:
            yield
        finally:
            if freeze:
                gc.unfreeze()

    def nested(self) -> Iterator[dict[str, Any]]:
        """One dict per nested group: ``virtual_network_id``, ``virtual_network_name``, ``outer``, ``inner``."""
        tunnels = self.tunnels
        for group in self._groups:
            outer = group.outer
            inner = [
                {"id": r.id, "network": r.network, "tunnel_id": r.tunnel_id, "tunnel_name": tunnels.get(r.tunnel_id),
                 "parent_id": p.id, "parent_network": p.network}
                for r, p in group.inner
            ]
            yield {
                "virtual_network_id": group.vnet,
                "virtual_network_name": self.vnets.get(cast(str, group.vnet)),
                "outer": {"id": outer.id, "network": outer.network, "tunnel_id": outer.tunnel_id,
                          "tunnel_name": tunnels.get(outer.tunnel_id)},
                "inner": inner,
            }

    def shared(self) -> Iterator[dict[str, Any]]:
        """One dict per CIDR present in several virtual networks: ``network``, ``routes``."""
        tunnels, vnets = self.tunnels, self.vnets
        for s in self.report.shared:
            yield {
                "network": f"{format_address(s.version, s.lo)}/{s.prefixlen}",
                "routes": [
                    {"id": r.id, "network": r.network, "tunnel_id": r.tunnel_id,
                     "tunnel_name": tunnels.get(r.tunnel_id), "virtual_network_id": r.virtual_network_id,
                     "virtual_network_name": vnets.get(r.virtual_network_id)}
                    for r in sorted(s.routes, key=lambda r: self._rank(r.virtual_network_id))
                ],
            }

    def sections(self) -> dict[str, Iterator[dict[str, Any]] | list[dict[str, Any]]]:
        """The document's three arrays, in their documented order, each still to be iterated."""
        return {"nested": self.nested(), "shared": self.shared(), "connected": self.connected}
