"""Bind a plan to a real network namespace: read the observed state, execute actions.

    observed = observe(netns, tables=[TABLE], interfaces=["wg0"], sysctl_keys=[...])
    p = plan.diff(desired, observed)
    with KernelExecutor(netns) as ex:
        plan.apply(p, ex)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from warpcli.host import sysctl
from warpcli.host.constants import ROUTE_PROTO
from warpcli.host.model import Address, HostState, LinkState, Route, Rule, Sysctl
from warpcli.host.netlink import Netlink
from warpcli.host.plan import Action


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
    """Executes :class:`~warpcli.host.plan.Action` values in one namespace."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.nl = Netlink(netns)

    def close(self) -> None:
        self.nl.close()

    def __enter__(self) -> KernelExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def execute(self, action: Action) -> None:
        obj, op = action.obj, action.op
        if isinstance(obj, Route):
            self.nl.add_route(obj) if op == "add" else self.nl.delete_route(obj)
        elif isinstance(obj, Rule):
            self.nl.add_rule(obj) if op == "add" else self.nl.delete_rule(obj)
        elif isinstance(obj, Address):
            self.nl.add_address(obj) if op == "add" else self.nl.delete_address(obj)
        elif isinstance(obj, LinkState) and op == "set":
            self.nl.set_link(obj.ifname, mtu=obj.mtu, up=obj.up)
        elif isinstance(obj, Sysctl) and op == "set":
            sysctl.write(obj.key, obj.value, self.netns)
        else:
            raise ValueError(f"cannot {op} {obj!r}")
