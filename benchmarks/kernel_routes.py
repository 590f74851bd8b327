"""Row 5: install and remove N kernel routes in warpcli's table inside a network namespace.

    .venv/bin/python benchmarks/kernel_routes.py [--quick]     # as root

Baseline: ``ip -n NS -batch -`` with the same routes (one ``ip`` process for the adds, one for
the deletes). Ours: :mod:`warpcli.host.routing.rtnl_batch` (a fresh socket per call, interface names
resolved inside the namespace, one result per route). For the record, timed once: pyroute2
route by route (:class:`warpcli.host.routing.netlink.Netlink`: ``add_routes``, ``delete_route``), listing
the table (``rtnl_batch.dump_routes`` vs ``Netlink.routes``) and ``rtnl_batch.purge_routes``. Figures are medians of 5 add+delete rounds;
each round checks that all N routes went in and all came out. The namespaces (``wcbench-*``)
are created here and removed in ``finally``; nothing touches the root namespace.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from warpcli.host.constants import ROUTE_PROTO, TABLE  # noqa: E402
from warpcli.host.model import KernelRoute  # noqa: E402

REPEAT = 5


def _ip(*args: str, input: str | None = None) -> str:
    p = subprocess.run(["ip", *args], input=input, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args[:6])} ...: {p.stderr.strip()[:300]}")
    return p.stdout


def bench_routes(n: int) -> list[KernelRoute]:
    """n distinct routes in warpcli's table: 80% IPv4, 20% IPv6; half through the device, half
    through the peer as gateway (a few with a metric)."""
    out = []
    for i in range(n):
        if i % 5 == 4:
            if i % 2:
                out.append(KernelRoute(f"fd10:{i >> 16:x}:{i & 0xFFFF:x}::/64", table=TABLE, ifname="v0"))
            else:
                out.append(KernelRoute(f"fd20:{i >> 16:x}:{i & 0xFFFF:x}::/64", table=TABLE, gateway="fd00:9::2"))
        else:
            a, b = 16 + (i >> 16), (i >> 8) & 255
            if i % 2:
                out.append(KernelRoute(f"10.{a}.{b}.{i & 255}/32", table=TABLE, ifname="v0"))
            else:
                out.append(KernelRoute(f"172.{a}.{b}.{i & 255}/32", table=TABLE, gateway="10.9.0.2",
                                 metric=100 if i % 10 == 0 else None))
    return out


def batch_text(routes: list[KernelRoute], verb: str) -> str:
    lines = []
    for r in routes:
        parts = [f"route {verb} {r.dst}"]
        if r.gateway:
            parts.append(f"via {r.gateway}")
        if r.ifname:
            parts.append(f"dev {r.ifname}")
        parts.append(f"table {r.table} proto {r.proto} metric {r.metric}")
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def _count(ns: str) -> int:
    v4 = _ip("-n", ns, "route", "show", "table", str(TABLE), "proto", str(ROUTE_PROTO))
    v6 = _ip("-n", ns, "-6", "route", "show", "table", str(TABLE), "proto", str(ROUTE_PROTO))
    return len(v4.splitlines()) + len(v6.splitlines())


def _setup(tag: str) -> tuple[str, str]:
    ns, peer = f"wcbench-{tag}-a", f"wcbench-{tag}-b"
    _ip("netns", "add", ns)
    _ip("netns", "add", peer)
    _ip("-n", ns, "link", "set", "lo", "up")
    _ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v0", "netns", peer)
    _ip("-n", ns, "addr", "add", "10.9.0.1/24", "dev", "v0")
    _ip("-n", ns, "addr", "add", "fd00:9::1/64", "dev", "v0", "nodad")
    _ip("-n", peer, "addr", "add", "10.9.0.2/24", "dev", "v0")
    _ip("-n", peer, "addr", "add", "fd00:9::2/64", "dev", "v0", "nodad")
    _ip("-n", ns, "link", "set", "v0", "up")
    _ip("-n", peer, "link", "set", "v0", "up")
    return ns, peer


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def measure(quick: bool) -> dict:
    from warpcli.host.routing import rtnl_batch

    n = 2_000 if quick else 10_000
    res = {"what": f"install+remove {n:,} kernel routes in a netns", "figure": "-", "baseline": "ip -batch",
           "ratio": None, "target": "<= 2x ip -batch", "ok": None, "extra": ""}
    if os.geteuid() != 0 or not shutil.which("ip"):
        res["extra"] = "needs root and iproute2 (creates network namespaces)"
        return res
    routes = bench_routes(n)
    add_text, del_text = batch_text(routes, "add"), batch_text(routes, "del")
    tag = f"{os.getpid()}-{secrets.token_hex(3)}"
    names: list[str] = []
    try:
        ns, peer = _setup(tag)
        names = [ns, peer]

        def check(expected: int, what: str) -> None:
            got = _count(ns)
            if got != expected:
                raise RuntimeError(f"{what}: {got} routes in table {TABLE}, expected {expected}")

        def ip_round() -> tuple[float, float]:
            a, _ = _timed(lambda: _ip("-n", ns, "-batch", "-", input=add_text))
            check(n, "ip -batch add")
            d, _ = _timed(lambda: _ip("-n", ns, "-batch", "-", input=del_text))
            check(0, "ip -batch del")
            return a, d

        def our_round(acks: str = "errors") -> tuple[float, float]:
            def add():
                with rtnl_batch.RtnlBatch(ns, acks=acks) as b:
                    return b.add_routes(routes)

            def delete():
                with rtnl_batch.RtnlBatch(ns, acks=acks) as b:
                    return b.delete_routes(routes)

            a, results = _timed(add)
            bad = [r for r in results if not r.ok]
            if bad:
                raise RuntimeError(f"rtnl_batch add: {len(bad)} failed, e.g. {bad[0].error}")
            check(n, "rtnl_batch add")
            d, results = _timed(delete)
            bad = [r for r in results if not r.ok]
            if bad:
                raise RuntimeError(f"rtnl_batch delete: {len(bad)} failed, e.g. {bad[0].error}")
            check(0, "rtnl_batch delete")
            return a, d

        ip_rounds, our_rounds, each_rounds = [], [], []
        for _ in range(REPEAT):  # interleaved, so drift hits both alike
            ip_rounds.append(ip_round())
            our_rounds.append(our_round())
            each_rounds.append(our_round("each"))

        def med(rounds, k=None):
            return statistics.median([sum(r) if k is None else r[k] for r in rounds])

        base, ours, each = med(ip_rounds), med(our_rounds), med(each_rounds)

        from warpcli.host.routing.netlink import Netlink

        # listing (what purge and observe need): our dump vs pyroute2's, then purge = list + delete
        rtnl_batch.add_routes(ns, routes)
        dump = statistics.median(_timed(lambda: rtnl_batch.dump_routes(ns, table=TABLE, proto=ROUTE_PROTO))[0]
                                 for _ in range(3))
        with Netlink(ns) as nl:
            py_dump, listed = _timed(lambda: nl.routes(table=TABLE, proto=ROUTE_PROTO))
        if sorted(listed, key=KernelRoute.sort_key) != sorted(rtnl_batch.dump_routes(ns, table=TABLE, proto=ROUTE_PROTO),
                                                        key=KernelRoute.sort_key):
            raise RuntimeError("rtnl_batch.dump_routes and Netlink.routes disagree")
        purge, gone = _timed(lambda: rtnl_batch.purge_routes(ns, table=TABLE))
        if len(gone) != n:
            raise RuntimeError(f"purge removed {len(gone)} routes, expected {n}")
        check(0, "rtnl_batch purge")

        with Netlink(ns) as nl:
            pa, results = _timed(lambda: nl.add_routes(routes))
            if not all(r.ok for r in results):
                raise RuntimeError("pyroute2 add failed")
            check(n, "pyroute2 add")
            pd, _ = _timed(lambda: [nl.delete_route(r) for r in routes])
            check(0, "pyroute2 delete")
        py = pa + pd

        ratio = ours / base
        res.update(
            figure=f"{ours:.3f} s", baseline=f"{base:.3f} s (ip -batch)", ratio=ratio, ok=ratio <= 2.0,
            extra=(f"add {med(our_rounds, 0):.3f} + delete {med(our_rounds, 1):.3f} s "
                   f"(ip -batch {med(ip_rounds, 0):.3f} + {med(ip_rounds, 1):.3f}); "
                   f"ack every route: {each:.3f} s ({each / base:.2f}x); "
                   f"pyroute2 route by route, once: {py:.2f} s ({py / base:.0f}x); "
                   f"listing: {dump:.3f} s (pyroute2 {py_dump:.2f} s); purge (list + delete) {purge:.3f} s"),
            seconds={"ours": ours, "ours_add": med(our_rounds, 0), "ours_delete": med(our_rounds, 1),
                     "ours_ack_each": each, "ip_batch": base, "ip_batch_add": med(ip_rounds, 0),
                     "ip_batch_delete": med(ip_rounds, 1), "pyroute2_add": pa, "pyroute2_delete": pd,
                     "dump": dump, "pyroute2_dump": py_dump, "purge": purge},
        )
        return res
    finally:
        for name in reversed(names or [f"wcbench-{tag}-b", f"wcbench-{tag}-a"]):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=60)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="row 5: bulk kernel routes vs ip -batch")
    ap.add_argument("--quick", action="store_true", help="2,000 routes instead of 10,000")
    args = ap.parse_args()
    r = measure(args.quick)
    ratio = f"{r['ratio']:.2f}x" if isinstance(r.get("ratio"), float) else "-"
    status = {True: "ok", False: "MISSED", None: "n/a"}[r["ok"]]
    print(f"{r['what']}: {r['figure']}  baseline {r['baseline']}  ratio {ratio}  target {r['target']}  {status}")
    if r.get("extra"):
        print(f"  {r['extra']}")


if __name__ == "__main__":
    main()
