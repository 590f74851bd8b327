"""Links, addresses and rules over raw rtnetlink (no pyroute2): what ``up`` and ``down`` need.

Importing pyroute2 costs more (0.3-0.9 s here) than ``ip -batch`` takes to add 10,000
routes, and ``up``/``down`` only ever need a handful of link, address and rule
operations besides the routes (:mod:`warpcli.host.routing.rtnl_batch`). This module encodes
those requests with :mod:`struct`, on one ``NETLINK_ROUTE`` socket opened inside the
namespace, exactly as iproute2 sends them, and parses the dumps the same way.
:class:`warpcli.host.routing.netlink.Netlink` uses it; its pyroute2 twins are the reference in
the tests.
"""

from __future__ import annotations

import os
import select
import socket
import struct

from warpcli.host.errors import HostError, NetlinkFailure
from warpcli.host.model import KernelRule, LinkInfo
from warpcli.host.routing import netns as ns
from warpcli.host.routing.rtnl_batch import NLMSG_DONE, NLMSG_ERROR, NLMSGHDR, _ext_message, _open_socket
from warpcli.host.routing.rules import action_of, rule_value

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE = 32, 33, 34
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x01, 0x04, 0x300, 0x200, 0x400
NLM_F_DUMP_INTR = 0x10

IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 4, 18, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_PRIORITY, FRA_FWMARK = 1, 2, 3, 6, 10
FRA_OIFNAME, FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_PROTOCOL = 17, 14, 15, 21
FR_ACT_TO_TBL = 1
NO_SUPPRESS = 0xFFFFFFFF
IFF_UP = 1
AF = {4: socket.AF_INET, 6: socket.AF_INET6}
FAMILY = {socket.AF_INET: 4, socket.AF_INET6: 6}
ACK_WAIT = 5.0

_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RULEHDR = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, res1, res2, action, flags
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")


def _attr(kind: int, payload: bytes) -> bytes:
    data = _RTA.pack(4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def _attrs(buf: bytes, pos: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while pos + 4 <= end:
        alen, atype = _RTA.unpack_from(buf, pos)
        if alen < 4:
            break
        out[atype & 0x3FFF] = buf[pos + 4:pos + alen]
        pos += (alen + 3) & ~3
    return out


def _text(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode(errors="replace")


class Rtnl:
    """One rtnetlink socket in ``netns`` (``None``: this process's); used from the caller's thread."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._sock: socket.socket | None = None
        self._seq = 1 + (int.from_bytes(os.urandom(2), "big") << 8)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            try:
                self._sock, _ = ns.run_in(self.netns, _open_socket, (), 1 << 20)
            except FileNotFoundError:
                raise HostError(f"network namespace {self.netns!r} does not exist") from None
        return self._sock

    def _next(self) -> int:
        self._seq = self._seq + 1 if self._seq < 0x7FFFFFFE else 1
        return self._seq

    def _messages(self, sock: socket.socket, buf: bytearray):
        """Datagrams as they come: (type, flags, seq, start, end) of each message."""
        while True:
            try:
                got = sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                if not select.select([sock], [], [], ACK_WAIT)[0]:
                    raise HostError("no answer from the kernel") from None
                continue
            off = 0
            while off + 16 <= got:
                length, mtype, flags, seq, _pid = NLMSGHDR.unpack_from(buf, off)
                if length < 16:
                    break
                yield mtype, flags, seq, off, off + length
                off += (length + 3) & ~3

    def request(self, mtype: int, flags: int, payload: bytes) -> None:
        """One request, acknowledged; a refusal raises :class:`NetlinkFailure` (errno, kernel text)."""
        sock = self._socket()
        seq = self._next()
        sock.send(NLMSGHDR.pack(16 + len(payload), mtype, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0) + payload)
        buf = bytearray(1 << 16)
        for rtype, rflags, rseq, start, end in self._messages(sock, buf):
            if rseq != seq or rtype != NLMSG_ERROR:
                continue
            code = -struct.unpack_from("=i", buf, start + 16)[0]
            if code == 0:
                return
            text = _ext_message(memoryview(buf), start, end, rflags)
            reason = os.strerror(code)
            raise NetlinkFailure(reason if not text or text == reason else f"{reason} ({text})", errno=code)

    def dump(self, mtype: int, payload: bytes) -> list[tuple[int, bytes]]:
        """Every message of a dump, as (type, message bytes); dumped again when interrupted."""
        sock = self._socket()
        for _ in range(5):
            seq = self._next()
            sock.send(NLMSGHDR.pack(16 + len(payload), mtype, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + payload)
            buf = bytearray(1 << 17)
            out: list[tuple[int, bytes]] = []
            interrupted = False
            for rtype, rflags, rseq, start, end in self._messages(sock, buf):
                if rseq != seq:
                    continue
                interrupted |= bool(rflags & NLM_F_DUMP_INTR)
                if rtype == NLMSG_DONE:
                    break
                if rtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", buf, start + 16)[0]
                    if code:
                        raise NetlinkFailure(os.strerror(code), errno=code)
                    break
                out.append((rtype, bytes(buf[start:end])))
            if not interrupted:
                return out
        return out

    # --- links ------------------------------------------------------------------------
    def links(self) -> list[LinkInfo]:
        out = []
        for mtype, msg in self.dump(RTM_GETLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            if mtype != RTM_NEWLINK:
                continue
            _family, _type, index, flags, _change = _IFINFO.unpack_from(msg, 16)
            a = _attrs(msg, 32, len(msg))
            kind = None
            if IFLA_LINKINFO in a:
                info = _attrs(a[IFLA_LINKINFO], 0, len(a[IFLA_LINKINFO]))
                kind = _text(info[IFLA_INFO_KIND]) if IFLA_INFO_KIND in info else None
            mtu = _U32.unpack_from(a[IFLA_MTU])[0] if IFLA_MTU in a else None
            out.append(LinkInfo(index=index, ifname=_text(a.get(IFLA_IFNAME, b"")), kind=kind,
                                mtu=mtu, up=bool(flags & IFF_UP)))  # type: ignore[arg-type]
        return out

    def set_link(self, index: int, *, mtu: int | None = None, up: bool | None = None) -> None:
        flags = change = 0
        if up is not None:
            flags, change = (IFF_UP if up else 0), IFF_UP
        attrs = _attr(IFLA_MTU, _U32.pack(mtu)) if mtu is not None else b""
        self.request(RTM_NEWLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change) + attrs)

    def add_link(self, ifname: str, kind: str) -> None:
        info = _attr(IFLA_INFO_KIND, kind.encode())
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, ifname.encode() + b"\0")
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body + _attr(IFLA_LINKINFO, info))

    def delete_link(self, index: int) -> None:
        self.request(RTM_DELLINK, 0, _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0))

    # --- addresses --------------------------------------------------------------------
    def addresses(self) -> list[tuple[int, str, int]]:
        """(interface index, address, prefix length) of every address."""
        out = []
        for mtype, msg in self.dump(RTM_GETADDR, _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            if mtype != RTM_NEWADDR:
                continue
            family, plen, _flags, _scope, index = _IFADDR.unpack_from(msg, 16)
            if family not in FAMILY:
                continue
            a = _attrs(msg, 24, len(msg))
            raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
            if raw:
                out.append((index, socket.inet_ntop(family, raw), plen))
        return out

    def address(self, op: str, index: int, family: int, ip: str, prefixlen: int) -> None:
        af = AF[family]
        raw = socket.inet_pton(af, ip)
        body = _IFADDR.pack(af, prefixlen, 0, 0, index) + _attr(IFA_LOCAL, raw) + _attr(IFA_ADDRESS, raw)
        if op == "add":
            self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)
        else:
            self.request(RTM_DELADDR, 0, body)

    # --- rules ------------------------------------------------------------------------
    def rules(self, family: int) -> list[KernelRule]:
        out = []
        af = AF[family]
        for mtype, msg in self.dump(RTM_GETRULE, _RULEHDR.pack(af, 0, 0, 0, 0, 0, 0, 0, 0)):
            if mtype != RTM_NEWRULE:
                continue
            fam, dst_len, src_len, _tos, table, _r1, _r2, action, _flags = _RULEHDR.unpack_from(msg, 16)
            if fam != af:
                continue
            a = _attrs(msg, 28, len(msg))

            def u32(key: int, a=a) -> int | None:
                return _U32.unpack_from(a[key])[0] if key in a else None

            suppress = u32(FRA_SUPPRESS_PREFIXLEN)
            src = socket.inet_ntop(af, a[FRA_SRC]) if FRA_SRC in a else None
            dst = socket.inet_ntop(af, a[FRA_DST]) if FRA_DST in a else None
            rule = rule_value(
                oifname=_text(a[FRA_OIFNAME]) if FRA_OIFNAME in a else None,
                action=action,
                priority=u32(FRA_PRIORITY) or 0,
                table=u32(FRA_TABLE) or table,
                family=family,
                suppress_prefixlength=None if suppress in (None, NO_SUPPRESS) else suppress,
                iifname=_text(a[FRA_IIFNAME]) if FRA_IIFNAME in a else None,
                src=f"{src}/{src_len}" if src else None,
                dst=f"{dst}/{dst_len}" if dst else None,
                fwmark=u32(FRA_FWMARK),
                proto=a[FRA_PROTOCOL][0] if FRA_PROTOCOL in a else 0,
            )
            if rule is not None:
                out.append(rule)
        return out

    def rule(self, op: str, r: KernelRule) -> None:
        """Add or delete a rule as ``ip rule add|del`` sends it (every field of ``r`` named)."""
        af = AF[r.family]
        attrs = _attr(FRA_TABLE, _U32.pack(r.table)) if r.table else b""
        attrs += _attr(FRA_PRIORITY, _U32.pack(r.priority))
        attrs += _attr(FRA_PROTOCOL, bytes([r.proto]))
        if r.suppress_prefixlength is not None:
            attrs += _attr(FRA_SUPPRESS_PREFIXLEN, _U32.pack(r.suppress_prefixlength))
        if r.iifname:
            attrs += _attr(FRA_IIFNAME, r.iifname.encode() + b"\0")
        oifname = r.oifname
        if oifname:
            attrs += _attr(FRA_OIFNAME, oifname.encode() + b"\0")
        if r.fwmark is not None:
            attrs += _attr(FRA_FWMARK, _U32.pack(r.fwmark))
        lens = {}
        for name, kind in (("src", FRA_SRC), ("dst", FRA_DST)):
            value = getattr(r, name)
            lens[name] = 0
            if value:
                ip, _, plen = value.partition("/")
                attrs += _attr(kind, socket.inet_pton(af, ip))
                lens[name] = int(plen)
        hdr = _RULEHDR.pack(af, lens["dst"], lens["src"], 0, r.table if r.table < 256 else 0, 0, 0, action_of(r), 0)
        if op == "add":
            self.request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, hdr + attrs)
        else:
            self.request(RTM_DELRULE, 0, hdr + attrs)

