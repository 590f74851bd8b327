"""Bind a plan to a real network namespace: read the observed state, execute actions.

    observed = observe(netns, tables=[TABLE], interfaces=["wg0"], sysctl_keys=[...])
    p = plan.diff(desired, observed)
    with KernelExecutor(netns) as ex:
        plan.apply(p, ex)

Routes go to the kernel in batches (:mod:`warpcli.host.routing.rtnl_batch`, one socket per executor):
the same requests, ownership tags and errors as route by route, with the same tolerance — a
route to delete that is already gone (``ESRCH``, or its device gone) is "nothing to do", an
existing route on add (``EEXIST``) is a failure the plan rolls back.
"""

from __future__ import annotations

import errno as E
import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from warpcli.host.constants import ROUTE_PROTO
from warpcli.host.errors import NetlinkFailure
from warpcli.host.model import Address, HostState, KernelRoute, KernelRule, LinkState, Sysctl
from warpcli.host.routing import sysctl
from warpcli.host.routing.netlink import Netlink
from warpcli.host.routing.plan import Action, KernelOutcome

if TYPE_CHECKING:
    from warpcli.host.routing.rtnl_batch import RtnlBatch


def _link_local(a: Address) -> bool:
    return a.family == 6 and ipaddress.ip_interface(a.address).ip.is_link_local


def observe(
    netns: str | None,
    *,
    tables: Iterable[int] | None = None,
    interfaces: Iterable[str] = (),
    sysctl_keys: Iterable[str] = (),
    proto: int = ROUTE_PROTO,
    nl: Netlink | None = None,
) -> HostState:
    """What warpcli owns in ``netns``: routes and rules tagged ``proto`` (routes only in
    ``tables`` when given), the addresses (except IPv6 link-local ones, which the kernel
    manages) and settings of ``interfaces`` (those that exist), and the current values
    of ``sysctl_keys``."""
    own = nl is None
    nl = nl or Netlink(netns)
    try:
        wanted_tables = None if tables is None else set(tables)
        routes = [r for r in nl.routes(proto=proto) if wanted_tables is None or r.table in wanted_tables]
        links = {link.ifname: link for link in nl.links()}
        ifaces = [i for i in interfaces if i in links]
        addresses = [a for a in nl.addresses() if a.ifname in ifaces and not _link_local(a)]
        link_states = [LinkState(i, mtu=links[i].mtu, up=links[i].up) for i in ifaces]
        rules = nl.rules(proto=proto)
    finally:
        if own:
            nl.close()
    keys = list(sysctl_keys)
    values = sysctl.read_many(keys, netns) if keys else {}
    return HostState(addresses=addresses, links=link_states, routes=routes, rules=rules,
                     sysctls=[Sysctl(k, v) for k, v in values.items()])


class KernelExecutor:
    """Executes :class:`~warpcli.host.routing.plan.Action` values in one namespace."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.nl = Netlink(netns)
        self._batch: RtnlBatch | None = None

    def close(self) -> None:
        self.nl.close()
        if self._batch is not None:
            self._batch.close()
            self._batch = None

    def execute_routes(self, actions: list[Action]) -> list[KernelOutcome]:
        """Route additions or deletions (one op for all) in batched netlink messages; one
        :class:`KernelOutcome` per action, in order."""
        from warpcli.host.routing.rtnl_batch import RtnlBatch

        if self._batch is None:
            self._batch = RtnlBatch(self.netns)
        routes: list[KernelRoute] = []
        for a in actions:
            if a.op != actions[0].op or not isinstance(a.obj, KernelRoute):
                raise ValueError("execute_routes takes route actions of one op")
            routes.append(a.obj)
        if actions[0].op == "add":
            results = self._batch.add_routes(routes)
        else:
            results = self._batch.delete_routes(routes)
        out = []
        for a, r in zip(actions, results, strict=True):
            if r.ok:
                out.append(KernelOutcome(a))
            elif a.op == "delete" and r.errno in (E.ESRCH, E.ENODEV):  # already gone: nothing to do
                out.append(KernelOutcome(a, changed=False))
            else:
                out.append(KernelOutcome(a, NetlinkFailure(r.error or "failed", errno=r.errno)))
        return out

    def __enter__(self) -> KernelExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def execute(self, action: Action) -> None:
        obj, op = action.obj, action.op
        if isinstance(obj, KernelRoute) and op in ("add", "delete"):
            (outcome,) = self.execute_routes([action])
            if outcome.error is not None:
                raise outcome.error
        elif isinstance(obj, KernelRule):
            self.nl.add_rule(obj) if op == "add" else self.nl.delete_rule(obj)
        elif isinstance(obj, Address):
            self.nl.add_address(obj) if op == "add" else self.nl.delete_address(obj)
        elif isinstance(obj, LinkState) and op == "set":
            self.nl.set_link(obj.ifname, mtu=obj.mtu, up=obj.up)
        elif isinstance(obj, Sysctl) and op == "set":
            sysctl.write(obj.key, obj.value, self.netns)
        else:
            raise ValueError(f"cannot {op} {obj!r}")
