"""The one adapter over pyroute2: links, addresses, routes, rules of one network namespace.

Everything goes in and out as :mod:`warpcli.host.model` values. Kernel refusals
become :class:`~warpcli.host.errors.NetlinkFailure` with the object and the
kernel's reason in one line. Deleting "everything of warpcli's" always lists
first, then deletes each object by its full identity including the protocol
number (pyroute2's flush-while-dumping is never used: it skips entries).
"""

from __future__ import annotations

import errno as E
import os
import socket
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from warpcli.host.constants import MAIN_TABLE, ROUTE_PROTO
from warpcli.host.errors import HostError, NetlinkFailure, NotRoot
from warpcli.host.model import Address, KernelRoute, KernelRule, LinkInfo, RouteResult
from warpcli.host.routing import netns as ns

if TYPE_CHECKING:
    from warpcli.host.routing.rtnl import Rtnl

T = TypeVar("T")
AF = {4: socket.AF_INET, 6: socket.AF_INET6}
FAMILY = {socket.AF_INET: 4, socket.AF_INET6: 6}
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_NOWHERE = 255
IFF_UP = 1
NO_SUPPRESS = 0xFFFFFFFF


class Netlink:
    """rtnetlink for one namespace (``None``: this process's). Use as a context manager."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._ipr = None
        self._rt: Rtnl | None = None

    @property
    def rt(self) -> Rtnl:
        """Raw rtnetlink (:mod:`warpcli.host.routing.rtnl`) for links, addresses and rules: no pyroute2
        import on the paths of ``up`` and ``down``."""
        if self._rt is None:
            from warpcli.host.routing.rtnl import Rtnl

            ns.require(self.netns)
            self._rt = Rtnl(self.netns)
        return self._rt

    def _raw(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` over raw rtnetlink; a refusal names ``what`` (the kernel's reason follows)."""
        try:
            return fn()
        except NetlinkFailure as exc:
            if exc.errno == E.EPERM:
                raise NotRoot(f"could not {what}: operation not permitted", hint="run as root") from None
            raise NetlinkFailure(f"could not {what}: {exc.message}", errno=exc.errno) from None
        except PermissionError:
            raise NotRoot("managing network interfaces needs root (CAP_NET_ADMIN)") from None

    # --- plumbing -------------------------------------------------------------------
    @property
    def ipr(self):
        if self._ipr is None:
            from pyroute2 import IPRoute

            ns.require(self.netns)
            try:
                # flags=0: never let pyroute2 create a missing namespace
                self._ipr = IPRoute(netns=self.netns, flags=0) if self.netns else IPRoute()
            except PermissionError:
                raise NotRoot("managing network interfaces needs root (CAP_NET_ADMIN)") from None
            except FileNotFoundError:
                raise HostError(f"network namespace {self.netns!r} does not exist") from None
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None
        if self._rt is not None:
            self._rt.close()
            self._rt = None

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            return fn()
        except NetlinkError as exc:
            code = exc.code or 0
            if code == E.EPERM:
                raise NotRoot(f"could not {what}: operation not permitted", hint="run as root") from None
            reason = os.strerror(code) if code else str(exc)
            raise NetlinkFailure(f"could not {what}: {reason}", errno=code) from None

    def _dump(self, what: str, fn: Callable[[], Iterable]) -> list:
        from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

        for _ in range(5):
            try:
                return list(self._call(what, fn))
            except NetlinkDumpInterrupted:
                continue
        return list(self._call(what, fn))

    # --- links ----------------------------------------------------------------------
    def links(self) -> list[LinkInfo]:
        return self._raw("list links", lambda: self.rt.links())

    def _links_pyroute2(self) -> list[LinkInfo]:
        out = []
        for msg in self._dump("list links", lambda: self.ipr.link("dump")):
            out.append(
                LinkInfo(
                    index=msg["index"],
                    ifname=msg.get("IFLA_IFNAME"),
                    kind=msg.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")),
                    mtu=msg.get("IFLA_MTU"),
                    up=bool(msg["flags"] & IFF_UP),
                )
            )
        return out

    def link(self, ifname: str) -> LinkInfo | None:
        return next((link for link in self.links() if link.ifname == ifname), None)

    def index(self, ifname: str) -> int:
        found = self.link(ifname)
        if found is None:
            raise HostError(f"no interface {ifname}" + (f" in namespace {self.netns}" if self.netns else ""))
        return found.index

    def _names(self) -> dict[int, str]:
        return {link.index: link.ifname for link in self.links()}

    def wait_link(self, ifname: str, timeout: float, *, present: bool = True,
                  alive: Callable[[], bool] | None = None) -> bool:
        """Poll until the link exists (or is gone); False on timeout or when ``alive()`` turns False."""
        deadline = time.monotonic() + timeout
        while True:
            if (self.link(ifname) is not None) == present:
                return True
            if time.monotonic() > deadline or (alive is not None and not alive()):
                return False
            time.sleep(0.02)

    def set_link(self, ifname: str, *, mtu: int | None = None, up: bool | None = None) -> None:
        idx = self.index(ifname)
        if mtu is not None:
            self._raw(f"set mtu {mtu} on {ifname}", lambda: self.rt.set_link(idx, mtu=mtu))
        if up is not None:
            state = "up" if up else "down"
            self._raw(f"set {ifname} {state}", lambda: self.rt.set_link(idx, up=up))

    def add_link(self, ifname: str, kind: str) -> None:
        self._raw(f"create {kind} interface {ifname}", lambda: self.rt.add_link(ifname, kind))

    def delete_link(self, ifname: str) -> None:
        idx = self.index(ifname)
        self._raw(f"delete interface {ifname}", lambda: self.rt.delete_link(idx))

    # --- addresses ------------------------------------------------------------------
    def addresses(self, ifname: str | None = None) -> list[Address]:
        names = self._names()
        out = []
        for index, ip, plen in self._raw("list addresses", lambda: self.rt.addresses()):
            name = names.get(index)
            if name is None or (ifname is not None and name != ifname):
                continue
            out.append(Address(name, f"{ip}/{plen}"))
        return out

    def _addresses_pyroute2(self, ifname: str | None = None) -> list[Address]:
        names = self._names()
        out = []
        for msg in self._dump("list addresses", lambda: self.ipr.addr("dump")):
            name = names.get(msg["index"])
            if name is None or (ifname is not None and name != ifname):
                continue
            ip = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
            out.append(Address(name, f"{ip}/{msg['prefixlen']}"))
        return out

    def _addr(self, op: str, a: Address) -> None:
        idx = self.index(a.ifname)
        ip, _, plen = a.address.partition("/")
        verb = "add" if op == "add" else "delete"
        self._raw(f"{verb} {a.describe()}", lambda: self.rt.address(verb, idx, a.family, ip, int(plen)))

    def add_address(self, a: Address) -> None:
        self._addr("add", a)

    def delete_address(self, a: Address) -> None:
        self._addr("del", a)

    # --- routes ---------------------------------------------------------------------
    def _route_of(self, msg, names: dict[int, str]) -> KernelRoute | None:
        family = FAMILY.get(msg["family"])
        if family is None:
            return None
        dst = msg.get("RTA_DST") or ("0.0.0.0" if family == 4 else "::")
        oif = msg.get("RTA_OIF")
        from pyroute2.netlink.rtnl import rt_type

        return KernelRoute(
            dst=f"{dst}/{msg['dst_len']}",
            table=msg.get("RTA_TABLE") or msg["table"],
            ifname=names.get(oif) if oif is not None else None,
            gateway=msg.get("RTA_GATEWAY"),
            metric=msg.get("RTA_PRIORITY"),
            proto=msg["proto"],
            type=rt_type.get(msg["type"], str(msg["type"])),
            prefsrc=msg.get("RTA_PREFSRC"),
        )

    def routes(self, *, table: int | None = None, proto: int | None = None,
               family: int | None = None) -> list[KernelRoute]:
        """Routes of one table (or all), optionally only one protocol's, of one family or both.

        Read through :mod:`warpcli.host.routing.rtnl_batch` (a dump decoded without pyroute2: ~15x
        faster on large tables); :meth:`_routes_pyroute2` is the reference it is tested against.
        """
        from warpcli.host.routing import rtnl_batch

        return rtnl_batch.dump_routes(self.netns, table=table, proto=proto, family=family)

    def _routes_pyroute2(self, *, table: int | None = None, proto: int | None = None,
                         family: int | None = None) -> list[KernelRoute]:
        names = self._names()
        out = []
        for fam in (family,) if family else (4, 6):
            for msg in self._dump("list routes", partial(self.ipr.route, "dump", family=AF[fam])):
                if msg["family"] != AF[fam]:
                    continue
                r = self._route_of(msg, names)
                if r is None or (table is not None and r.table != table) or (proto is not None and r.proto != proto):
                    continue
                out.append(r)
        return out

    def _route_args(self, r: KernelRoute, *, delete: bool = False) -> dict:
        from pyroute2.netlink.rtnl import rt_type

        # scopes as iproute2 sets them: a device route is on-link; a delete matches any scope
        if delete:
            scope = RT_SCOPE_NOWHERE
        elif r.type == "unicast" and r.gateway is None:
            scope = RT_SCOPE_LINK
        else:
            scope = RT_SCOPE_UNIVERSE
        args = dict(dst=r.dst, family=AF[r.family], table=r.table, proto=r.proto,
                    type=rt_type[r.type], priority=r.metric, scope=scope)
        if r.ifname:
            args["oif"] = self.index(r.ifname)
        if r.gateway:
            args["gateway"] = r.gateway
        if r.prefsrc:
            args["prefsrc"] = r.prefsrc
        return args

    def add_route(self, r: KernelRoute) -> None:
        args = self._call(f"add {r.describe()}", lambda: self._route_args(r))
        self._call(f"add {r.describe()}", lambda: self.ipr.route("add", **args))

    def delete_route(self, r: KernelRoute, *, missing_ok: bool = False) -> None:
        """Delete exactly this route (the protocol number is part of the match)."""
        try:
            args = self._route_args(r, delete=True)
        except HostError:
            if missing_ok:  # its interface is gone, and the route with it
                return
            raise
        try:
            self._call(f"delete {r.describe()}", lambda: self.ipr.route("del", **args))
        except NetlinkFailure as exc:
            if not (missing_ok and exc.errno == E.ESRCH):
                raise

    def add_routes(self, routes: Iterable[KernelRoute]) -> list[RouteResult]:
        """Add many routes in batched netlink messages (:mod:`~warpcli.host.routing.rtnl_batch`); one
        result per route, in order (no rollback: see :mod:`warpcli.host.routing.plan`)."""
        from warpcli.host.routing import rtnl_batch

        return rtnl_batch.add_routes(self.netns, routes)

    def _add_routes_one_by_one(self, routes: Iterable[KernelRoute]) -> list[RouteResult]:
        results = []
        for r in routes:
            try:
                self.add_route(r)
            except HostError as exc:
                results.append(RouteResult(r, exc.message, getattr(exc, "errno", None)))
            else:
                results.append(RouteResult(r))
        return results

    def purge_routes(self, *, proto: int = ROUTE_PROTO, table: int | None = None) -> list[KernelRoute]:
        """List, then delete (in batches), every route with protocol ``proto`` (in ``table``);
        returns them."""
        from warpcli.host.routing import rtnl_batch

        return rtnl_batch.purge_routes(self.netns, proto=proto, table=table)

    def connected_networks(self) -> list[str]:
        """Networks this host reaches directly: its interface addresses' networks, and the main
        table's routes through a device without a gateway (other than warpcli's own)."""
        nets = {a.network for a in self.addresses()}
        for r in self.routes(table=MAIN_TABLE):
            if (r.proto != ROUTE_PROTO and r.type == "unicast" and r.gateway is None and r.ifname
                    and not r.dst.endswith("/0")):
                nets.add(r.dst)
        return sorted(nets, key=lambda n: (":" in n, n))

    def default_routes(self) -> list[KernelRoute]:
        return [r for r in self.routes(table=MAIN_TABLE) if r.dst.endswith("/0") and r.type == "unicast"]

    # --- rules ----------------------------------------------------------------------
    def _rule_of(self, msg) -> KernelRule | None:
        from warpcli.host.routing.rules import rule_value

        family = FAMILY.get(msg["family"])
        if family is None:
            return None
        suppress = msg.get("FRA_SUPPRESS_PREFIXLEN")
        src, dst = msg.get("FRA_SRC"), msg.get("FRA_DST")
        return rule_value(
            oifname=msg.get("FRA_OIFNAME"),
            action=msg["action"],
            priority=msg.get("FRA_PRIORITY") or 0,
            table=msg.get("FRA_TABLE") or msg["table"],
            family=family,
            suppress_prefixlength=None if suppress in (None, NO_SUPPRESS) else suppress,
            iifname=msg.get("FRA_IIFNAME"),
            src=f"{src}/{msg['src_len']}" if src else None,
            dst=f"{dst}/{msg['dst_len']}" if dst else None,
            fwmark=msg.get("FRA_FWMARK"),
            proto=msg.get("FRA_PROTOCOL") or 0,
        )

    def rules(self, *, family: int | None = None, proto: int | None = None) -> list[KernelRule]:
        out = []
        for fam in (family,) if family else (4, 6):
            found = self._raw("list rules", partial(self.rt.rules, fam))
            out += [r for r in found if proto is None or r.proto == proto]
        return out

    def _rules_pyroute2(self, *, family: int | None = None, proto: int | None = None) -> list[KernelRule]:
        out = []
        for fam in (family,) if family else (4, 6):
            for msg in self._dump("list rules", partial(self.ipr.rule, "dump", family=AF[fam])):
                if msg["family"] != AF[fam]:
                    continue
                rule = self._rule_of(msg)
                if rule is not None and (proto is None or rule.proto == proto):
                    out.append(rule)
        return out

    @staticmethod
    def _rule_args(r: KernelRule) -> dict:
        args = dict(family=AF[r.family], priority=r.priority, table=r.table, protocol=r.proto,
                    action="to_tbl" if r.action == "lookup" else r.action)
        if r.oifname:
            args["oifname"] = r.oifname
        if r.suppress_prefixlength is not None:
            args["suppress_prefixlen"] = r.suppress_prefixlength
        if r.iifname:
            args["iifname"] = r.iifname
        if r.fwmark is not None:
            args["fwmark"] = r.fwmark
        for name in ("src", "dst"):
            value = getattr(r, name)
            if value:
                ip, _, plen = value.partition("/")
                args[name], args[f"{name}_len"] = ip, int(plen)
        return args

    def add_rule(self, r: KernelRule) -> None:
        self._raw(f"add {r.describe()}", lambda: self.rt.rule("add", r))

    def delete_rule(self, r: KernelRule, *, missing_ok: bool = False) -> None:
        try:
            self._raw(f"delete {r.describe()}", lambda: self.rt.rule("delete", r))
        except NetlinkFailure as exc:
            if not (missing_ok and exc.errno == E.ENOENT):
                raise

    def purge_rules(self, *, proto: int = ROUTE_PROTO) -> list[KernelRule]:
        """List, then delete, every rule with protocol ``proto``; returns them."""
        found = self.rules(proto=proto)
        for r in found:
            self.delete_rule(r, missing_ok=True)
        return found
