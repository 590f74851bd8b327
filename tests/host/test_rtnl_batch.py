"""Bulk routes over raw rtnetlink (warpcli.host.routing.rtnl_batch), against real kernels in namespaces
the tests create; the encoder's bytes are checked against pyroute2's decoder."""

from __future__ import annotations

import errno as E
import ipaddress
import os
import random
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warpcli.host.constants import ROUTE_PROTO, TABLE
from warpcli.host.model import KernelRoute
from warpcli.host.routing import rtnl_batch as rb
from warpcli.host.routing.netlink import Netlink

from .conftest import ip


def setup_host(lab, role: str) -> str:
    """A namespace with a veth to a peer: v0 = 10.9.0.1/24, fd00:9::1/64 (peer .2 / ::2)."""
    h, peer = lab.netns(role), lab.netns(f"{role}p")
    lab.veth(h, peer, "10.9.0.1/24", "10.9.0.2/24")
    ip("-n", h, "addr", "add", "fd00:9::1/64", "dev", "v0", "nodad")
    ip("-n", peer, "addr", "add", "fd00:9::2/64", "dev", "v0", "nodad")
    return h


@pytest.fixture
def host(lab) -> str:
    return setup_host(lab, "h")


def mixed_routes(n: int, table: int = TABLE) -> list[KernelRoute]:
    """n distinct routes: IPv4/IPv6, device and gateway routes, some metrics and source hints."""
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            out.append(KernelRoute(f"10.{100 + (i >> 8)}.{i & 255}.0/24", table=table, ifname="v0",
                             prefsrc="10.9.0.1" if i % 8 == 0 else None))
        elif kind == 1:
            out.append(KernelRoute(f"172.{16 + (i >> 8)}.{i & 255}.0/24", table=table, gateway="10.9.0.2",
                             metric=(i % 3) * 10))
        elif kind == 2:
            out.append(KernelRoute(f"fd10:{i:x}::/64", table=table, ifname="v0",
                             prefsrc="fd00:9::1" if i % 8 == 2 else None))
        else:
            out.append(KernelRoute(f"fd20:{i:x}::/48", table=table, gateway="fd00:9::2", metric=100 + i % 2))
    random.Random(n).shuffle(out)
    return out


def as_listed(r: KernelRoute) -> KernelRoute:
    """How the kernel lists a route we added: it fills in the device of a gateway route."""
    return r if r.ifname else KernelRoute(r.dst, table=r.table, ifname="v0", gateway=r.gateway, metric=r.metric,
                                    proto=r.proto, type=r.type, prefsrc=r.prefsrc)


def listed(netns: str, table: int = TABLE, proto: int = ROUTE_PROTO) -> list[KernelRoute]:
    with Netlink(netns) as nl:
        return nl._routes_pyroute2(table=table, proto=proto)  # the reference decoder


@pytest.mark.parametrize("acks", ["errors", "each"])
def test_two_thousand_routes_go_in_and_out_exactly(host, acks):
    routes = mixed_routes(2000)
    with rb.RtnlBatch(host, acks=acks) as b:
        results = b.add_routes(routes)
        assert [r.route for r in results] == routes
        assert [r for r in results if not r.ok] == []
        got = listed(host)
        assert len(got) == 2000
        assert set(got) == {as_listed(r) for r in routes}
        # iproute2 sees the same, in both families
        v4 = ip("-n", host, "route", "show", "table", str(TABLE), "proto", str(ROUTE_PROTO)).stdout
        v6 = ip("-n", host, "-6", "route", "show", "table", str(TABLE), "proto", str(ROUTE_PROTO)).stdout
        assert (len(v4.splitlines()), len(v6.splitlines())) == (1000, 1000)

        results = b.delete_routes(list(reversed(routes)))
        assert [r.route for r in results] == list(reversed(routes))
        assert all(r.ok for r in results)
        assert listed(host) == []


def bad_batch() -> tuple[list[KernelRoute], set[int]]:
    """Good routes with a few bad ones; returns the batch and the positions of the bad ones."""
    routes = mixed_routes(400)
    plan = [
        (7, lambda rs: KernelRoute("10.200.0.0/24", table=TABLE, gateway="192.0.2.1")),  # no route to the gateway
        (50, lambda rs: KernelRoute("fd30::/64", table=TABLE, gateway="2001:db8::1")),  # no route to the gateway
        (120, lambda rs: rs[3]),  # a duplicate of an earlier route of the batch
        (121, lambda rs: KernelRoute("10.201.0.0/24", table=TABLE, ifname="nope0")),  # no such device
        # the key (prefix, table, metric) of an earlier route, another type: exists already
        (300, lambda rs: KernelRoute(rs[299].dst, table=TABLE, metric=rs[299].metric, type="blackhole")),
        (301, lambda rs: KernelRoute(rs[298].dst, table=TABLE, metric=rs[298].metric, type="blackhole")),
    ]
    for pos, make in plan:
        routes.insert(pos, make(routes))
    routes.append(routes[0])  # a duplicate, last in the batch
    bad = {pos for pos, _ in plan} | {len(routes) - 1}
    return routes, bad


@pytest.mark.parametrize("acks", ["errors", "each"])
def test_bad_routes_fail_alone_with_the_kernels_errno(lab, acks):
    ours, oracle = setup_host(lab, "ours"), setup_host(lab, "oracle")
    routes, bad = bad_batch()
    assert {routes[300].family, routes[301].family} == {4, 6}
    results = rb.RtnlBatch(ours, acks=acks).add_routes(routes)
    assert [r.route for r in results] == routes
    assert {i for i, r in enumerate(results) if not r.ok} == bad
    # the same routes one by one through pyroute2 in an identical namespace: the same verdicts
    with Netlink(oracle) as nl:
        expected = nl.add_routes(routes)
    kernel = [i for i in range(len(routes)) if i != 121]  # Netlink finds no nope0 before asking the kernel
    assert [(results[i].ok, results[i].errno) for i in kernel] == [(expected[i].ok, expected[i].errno) for i in kernel]
    assert results[121].errno == E.ENODEV and "nope0" in expected[121].error
    assert {results[i].errno for i in (120, 300, 301, len(routes) - 1)} == {E.EEXIST}
    for i in bad:
        reason = os.strerror(results[i].errno)
        assert results[i].error.startswith(f"could not add {routes[i].describe()}: {reason}")
    # everything else went in, once
    good = [as_listed(r) for i, r in enumerate(routes) if i not in bad]
    got = listed(ours)
    assert len(got) == len(good) and set(got) == set(good)
    assert sorted(got, key=KernelRoute.sort_key) == sorted(listed(oracle), key=KernelRoute.sort_key)


def test_delete_removes_exactly_ours(host):
    routes = mixed_routes(600)
    assert all(r.ok for r in rb.add_routes(host, routes))
    # another program's routes with the same prefixes, in the same table and in main
    v4 = next(r for r in routes if r.family == 4 and r.ifname)
    v6 = next(r for r in routes if r.family == 6 and r.ifname)
    ip("-n", host, "route", "add", v4.dst, "dev", "v0", "table", str(TABLE), "proto", "static", "metric", "10")
    ip("-n", host, "-6", "route", "add", v6.dst, "dev", "v0", "table", str(TABLE), "proto", "static", "metric", "10")
    ip("-n", host, "route", "add", v4.dst, "dev", "v0", "proto", "static")
    others_before = listed(host, proto=4)  # RTPROT_STATIC

    gone, kept = routes[:450], routes[450:]
    results = rb.delete_routes(host, gone)
    assert [r.route for r in results] == gone and all(r.ok for r in results)
    assert set(listed(host)) == {as_listed(r) for r in kept}
    assert listed(host, proto=4) == others_before and len(others_before) == 2
    assert "proto static" in ip("-n", host, "route", "show", v4.dst).stdout

    # already gone: an error per route, unless missing_ok
    again = rb.delete_routes(host, gone[:20] + kept[:1])
    assert [r.errno for r in again] == [E.ESRCH] * 20 + [None]
    assert all(r.error.startswith("could not delete route ") for r in again[:20])
    assert all(r.ok for r in rb.delete_routes(host, gone[:20] + kept[1:], missing_ok=True))
    assert listed(host) == [] and listed(host, proto=4) == others_before


def test_an_overrun_receive_buffer_never_reports_done(host):
    """Answers the socket had no room for are reported as unknown (ENOBUFS), never as done."""
    routes = mixed_routes(400)
    # every request acknowledged, into a receive buffer with room for a handful of answers
    b = rb.RtnlBatch(host, acks="each", buffer=2048)
    b.add_routes(routes[:1])
    b.max_batch = 399  # past what the buffer holds (the class would never choose this)
    results = b.add_routes(routes[1:])
    codes = {r.errno for r in results}
    assert codes == {None, E.ENOBUFS}
    assert b.max_batch < 399  # later batches shrink
    present = set(listed(host))
    assert all(as_listed(r.route) in present for r in results if r.ok)
    assert all("state unknown" in r.error for r in results if not r.ok)

    # only failures answered, and the batch is all failures: none may pass for done
    b2 = rb.RtnlBatch(host, acks="errors", buffer=2048)
    b2.add_routes([KernelRoute("10.250.0.0/24", table=TABLE, ifname="v0")])
    b2.max_batch = 400
    results = b2.add_routes(routes)
    assert not any(r.ok for r in results)
    assert {r.errno for r in results} <= {E.EEXIST, E.ENOBUFS} and E.ENOBUFS in {r.errno for r in results}
    b.close()
    b2.close()


def test_names_and_namespaces(host):
    r = KernelRoute("10.77.0.0/24", table=TABLE, ifname="v0")
    # a given name -> index map is used as is (no lookup in the namespace)
    with Netlink(host) as nl:
        idx = nl.index("v0")
    assert rb.add_routes(host, [r], ifindex={"v0": idx})[0].ok
    assert rb.add_routes(host, [r], ifindex={})[0].errno == E.ENODEV
    assert rb.delete_routes(host, [r], ifindex={}, missing_ok=True)[0].ok  # its device is gone
    assert rb.delete_routes(host, [r])[0].ok
    assert rb.add_routes(host, []) == []
    from warpcli.host.errors import HostError

    with pytest.raises(HostError, match="does not exist"):
        rb.add_routes("wct-no-such-namespace", [r])


def test_replace_and_small_tables(host):
    r = KernelRoute("10.78.0.0/24", table=100, ifname="v0", metric=5)
    assert rb.add_routes(host, [r])[0].ok
    assert rb.add_routes(host, [r])[0].errno == E.EEXIST
    via = KernelRoute("10.78.0.0/24", table=100, gateway="10.9.0.2", metric=5)
    assert rb.add_routes(host, [via], replace=True)[0].ok
    assert listed(host, table=100) == [as_listed(via)]
    assert "10.78.0.0/24 via 10.9.0.2 dev v0 proto 245 metric 5" in ip("-n", host, "route", "show", "table", "100").stdout
    assert rb.delete_routes(host, [via])[0].ok and listed(host, table=100) == []


def test_dump_lists_what_netlink_lists(host):
    routes = [*mixed_routes(300), KernelRoute("10.240.0.0/16", table=TABLE, type="blackhole"), KernelRoute("fd40::/32", table=TABLE, type="unreachable", metric=7), KernelRoute("0.0.0.0/0", table=TABLE, gateway="10.9.0.2", metric=50), KernelRoute("::/0", table=TABLE, ifname="v0"), KernelRoute("10.241.0.0/24", table=100, ifname="v0", proto=99)]
    assert all(r.ok for r in rb.add_routes(host, routes))
    ip("-n", host, "route", "add", "10.242.0.0/24", "via", "10.9.0.2", "table", str(TABLE), "proto", "static")
    with Netlink(host) as nl:
        for kw in ({}, {"table": TABLE}, {"table": TABLE, "proto": ROUTE_PROTO}, {"proto": 4},
                   {"table": 254}, {"table": 255, "family": 6}, {"proto": 99, "family": 4},
                   {"table": 4242}):  # a table that does not exist
            assert rb.dump_routes(host, **kw) == nl._routes_pyroute2(**kw), kw
    assert len(rb.dump_routes(host, table=TABLE, proto=ROUTE_PROTO)) == 304
    assert rb.dump_routes(host, table=4242) == []


def test_purge_deletes_only_one_protocol(host):
    routes = mixed_routes(800)
    assert all(r.ok for r in rb.add_routes(host, routes))
    ip("-n", host, "route", "add", routes[0].dst, "dev", "v0", "table", str(TABLE), "proto", "static", "metric", "10")
    static = listed(host, proto=4)
    gone = rb.purge_routes(host, table=TABLE)
    assert set(gone) == {as_listed(r) for r in routes}
    assert listed(host) == [] and listed(host, proto=4) == static and len(static) == 1
    assert rb.purge_routes(host, table=TABLE) == []


# --- the encoder, byte for byte -------------------------------------------------------
@st.composite
def routes(draw):
    v6 = draw(st.booleans())
    bits, af = (128, socket.AF_INET6) if v6 else (32, socket.AF_INET)
    plen = draw(st.integers(0, bits))
    value = draw(st.integers(0, (1 << bits) - 1)) & ~((1 << (bits - plen)) - 1)
    dst = f"{socket.inet_ntop(af, value.to_bytes(bits // 8, 'big'))}/{plen}"
    addr = st.integers(1, (1 << bits) - 1).map(lambda v: socket.inet_ntop(af, v.to_bytes(bits // 8, "big")))
    return KernelRoute(
        dst,
        table=draw(st.integers(1, 2**32 - 1) | st.sampled_from([254, 255, 100, TABLE])),
        ifname=draw(st.none() | st.sampled_from(["v0", "eth1"])),
        gateway=draw(st.none() | addr),
        metric=draw(st.none() | st.integers(0, 2**32 - 1)),
        proto=draw(st.integers(0, 255)),
        type=draw(st.sampled_from(sorted(rb.RTN))),
        prefsrc=draw(st.none() | addr),
    )


ATTR_NAMES = {1: "RTA_DST", 4: "RTA_OIF", 5: "RTA_GATEWAY", 6: "RTA_PRIORITY", 7: "RTA_PREFSRC", 15: "RTA_TABLE"}


def walk_attrs(data: bytes) -> list[int]:
    """Attribute types of a request, checking that they tile it exactly and are 4-byte aligned."""
    length = struct.unpack_from("=I", data)[0]
    assert length == len(data) and length % 4 == 0
    pos, types = 16 + 12, []
    while pos < length:
        alen, atype = struct.unpack_from("=HH", data, pos)
        assert alen >= 4 and pos + alen <= length
        types.append(atype)
        pos += (alen + 3) & ~3
    assert pos == length
    return types


@given(st.lists(routes(), min_size=1, max_size=8), st.sampled_from(["add", "replace", "delete"]),
       st.integers(1, 2**31 - 100), st.booleans())
def test_encoded_requests_decode_to_the_same_fields(batch, op, seq, ack):
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    index = {"v0": 3, "eth1": 70000}
    msgs, positions, failures = rb._encode(batch, op, index, seq, ack)
    assert positions == list(range(len(batch))) and failures == []
    for i, (r, data) in enumerate(zip(batch, msgs, strict=False)):
        m = rtmsg(data)
        m.decode()
        hdr = m["header"]
        flags = {"add": 0x601, "replace": 0x501, "delete": 0x001}[op] | (0x4 if ack else 0)
        assert (hdr["length"], hdr["type"], hdr["flags"], hdr["sequence_number"]) == (
            len(data), 25 if op == "delete" else 24, flags, seq + i)
        assert (m["family"], m["dst_len"], m["src_len"], m["tos"]) == (
            10 if r.family == 6 else 2, int(r.dst.split("/")[1]), 0, 0)
        assert m["table"] == (r.table if r.table < 256 else 0)
        assert (m["proto"], m["type"]) == (r.proto, rb.RTN[r.type])
        if op == "delete":
            scope = 255
        elif r.type == "unicast":
            scope = 0 if r.gateway else 253
        else:
            scope = {"local": 254, "nat": 254, "broadcast": 253, "anycast": 253, "multicast": 253}.get(r.type, 0)
        assert m["scope"] == scope
        # addresses compared as addresses (pyroute2 writes ::0.1.0.0 for ::1:0)
        attrs = {k: ipaddress.ip_address(v) if isinstance(v, str) else v for k, v in m["attrs"]}
        assert len(attrs) == len(m["attrs"])  # no attribute twice
        expected = {"RTA_TABLE": r.table, "RTA_PRIORITY": r.metric}
        if not r.dst.endswith("/0"):
            expected["RTA_DST"] = ipaddress.ip_address(r.dst.split("/")[0])
        if r.ifname:
            expected["RTA_OIF"] = index[r.ifname]
        if r.gateway:
            expected["RTA_GATEWAY"] = ipaddress.ip_address(r.gateway)
        if r.prefsrc:
            expected["RTA_PREFSRC"] = ipaddress.ip_address(r.prefsrc)
        assert attrs == expected
        assert sorted(ATTR_NAMES[t] for t in walk_attrs(data)) == sorted(expected)
        assert rb.encode_route(r, seq=seq + i, op=op, oif=index.get(r.ifname), ack=ack) == data


def test_unsendable_routes_are_reported_not_raised():
    r = KernelRoute("10.1.0.0/24", table=TABLE, ifname="v9")
    _msgs, positions, failures = rb._encode([KernelRoute("10.0.0.0/8", table=TABLE), r], "add", {}, 1)
    assert positions == [0] and failures == [(1, E.ENODEV, "no interface v9")]
    with pytest.raises(ValueError, match="no interface v9"):
        rb.encode_route(r, seq=1)
    with pytest.raises(ValueError, match="unknown operation"):
        rb._encode([r], "flush", {}, 1)
