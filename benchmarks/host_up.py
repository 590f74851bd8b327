"""Row 7: `warpcli up` / `down` and `hub up` / `hub down` with many routes, whole commands.

    .venv/bin/python benchmarks/host_up.py [--quick]     # as root

Each figure times the command a user runs (``ip netns exec NS warpcli up``, a subprocess, with the
embedded controller) against ``ip -batch`` adding or deleting the same routes (same table,
protocol and device) in a namespace of the same run:

- ``up`` first run: a connector of a vnet whose other tunnel serves N routes (creates the
  WireGuard interface, configures its peer, installs the N routes, rules, sysctls);
- ``up`` again with nothing to change; ``down``;
- ``hub up`` with C connectors (one tunnel each) and N routes in all; again; ``hub down``;
- ``up`` applying one route change at N routes and at 10×N routes (the cost of a change must not
  grow with the table);
- the same under ``up --follow``: the time of the reconcile that applies the change, as the follow
  process reports it (``warpcli_reconcile_duration_seconds`` on ``--metrics-listen``, read with curl
  inside the namespace), at N and at 10×N routes.

The namespaces (``wcbench-*``) and every wireguard-go process are created here and removed in
``finally`` (processes by PID); nothing touches the root namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from warpcli.host.constants import ROUTE_PROTO, TABLE  # noqa: E402

WARPCLI = str(Path(sys.executable).parent / "warpcli")
REPEAT = 3


def _ip(*args: str, input: str | None = None) -> str:
    p = subprocess.run(["ip", *args], input=input, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args[:6])} ...: {p.stderr.strip()[:300]}")
    return p.stdout


def _cidrs(n: int, offset: int = 0) -> list[str]:
    """n distinct CIDRs: /24s in 10.64.0.0/10, then /32s in 172.16.0.0/12 (the first ``offset`` skipped)."""
    out = []
    for i in range(offset, offset + n):
        if i < 16384:
            out.append(f"10.{64 + (i >> 8)}.{i & 255}.0/24")
        else:
            j = i - 16384
            out.append(f"172.{16 + (j >> 16)}.{(j >> 8) & 255}.{j & 255}/32")
    return out


class Bench:
    def __init__(self, tmp: Path, tag: str) -> None:
        self.tmp, self.tag = tmp, tag
        self.namespaces: list[str] = []
        self.pids: set[int] = set()
        self.state = tmp / "state"

    # --- plumbing ---------------------------------------------------------------------
    def netns(self, role: str) -> str:
        name = f"wcbench-{self.tag}-{role}"
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def env(self, role: str) -> dict[str, str]:
        return {**os.environ, "WARPCLI_STATE_DIR": str(self.state), "WARPCLI_CONFIG_DIR": str(self.tmp / f"c-{role}"),
                "WARPCLI_RUN_DIR": str(self.tmp / f"run-{role}"), "WARPCLI_SECRET_BACKEND": "file", "NO_COLOR": "1"}

    def warpcli(self, ns: str | None, role: str, *args: str, input: str | None = None) -> float:
        argv = [WARPCLI, *args] if ns is None else ["ip", "netns", "exec", ns, WARPCLI, *args]
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env(role), input=input, timeout=900)
        took = time.perf_counter() - t
        self.track()
        if p.returncode != 0:
            raise RuntimeError(f"warpcli {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()[-400:]}")
        return took

    def track(self) -> None:
        for run in self.tmp.glob("run-*"):
            for f in run.glob("*.json"):
                try:
                    pid = json.loads(f.read_text()).get("pid")
                except (ValueError, AttributeError, OSError):
                    continue
                if isinstance(pid, int):
                    self.pids.add(pid)

    def cleanup(self) -> None:
        for ns in self.namespaces:
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30).stdout
            self.pids |= {int(x) for x in out.split() if x.isdigit()}
        for pid in self.pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=60)
        for sock in Path("/var/run/wireguard").glob(f"*{self.tag[-5:]}.sock"):  # a killed wireguard-go's
            if sock.name.startswith(("wd", "wcb", "wcc", "wch")):
                sock.unlink(missing_ok=True)

    def count(self, ns: str, table: int) -> int:
        n = 0
        for fam in ("-4", "-6"):  # a table without routes of a family does not exist for it
            p = subprocess.run(["ip", "-n", ns, fam, "route", "show", "table", str(table), "proto", str(ROUTE_PROTO)],
                               capture_output=True, text=True, timeout=300)
            n += len(p.stdout.splitlines())
        return n

    # --- the baseline -------------------------------------------------------------------
    def ip_batch(self, ns: str, dev: str, cidrs: list[str], table: int) -> tuple[float, float]:
        """Seconds for ``ip -batch`` to add, then delete, the routes through ``dev``."""
        add = "".join(f"route add {c} dev {dev} table {table} proto {ROUTE_PROTO}\n" for c in cidrs)
        dele = "".join(f"route del {c} dev {dev} table {table} proto {ROUTE_PROTO}\n" for c in cidrs)
        t = time.perf_counter()
        _ip("-n", ns, "-batch", "-", input=add)
        a = time.perf_counter() - t
        if self.count(ns, table) != len(cidrs):
            raise RuntimeError("ip -batch add: wrong count")
        t = time.perf_counter()
        _ip("-n", ns, "-batch", "-", input=dele)
        d = time.perf_counter() - t
        return a, d


def _veth(ns: str, name: str) -> None:
    """An interface that is up (a veth pair inside ``ns``: no dummy module needed)."""
    _ip("-n", ns, "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    _ip("-n", ns, "link", "set", f"{name}p", "up")


def _controller(state: Path):
    from warpcli.controllers.local import LocalController
    from warpcli.secret_stores.file_store import FileStore

    return LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))


def _import(ctrl, tunnel_id: str, vnet_id: str, cidrs: list[str]) -> None:
    from warpcli.core.cidr import parse_network
    from warpcli.core.controller import RouteSpec

    ctrl.import_routes(RouteSpec(parse_network(c), tunnel_id, vnet_id, "", i) for i, c in enumerate(cidrs))


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _row(what: str, ours: float, base: float, base_what: str, target: float, extra: str = "") -> dict:
    ratio = ours / base
    return {"what": what, "figure": f"{ours:.2f} s", "baseline": f"{base:.2f} s ({base_what})", "ratio": ratio,
            "target": f"<= {target:g}x", "ok": ratio <= target, "extra": extra}


def connector_rows(b: Bench, n: int) -> list[dict]:
    from warpcli.core.keys import generate_keypair

    hub_ns, con_ns, base_ns = b.netns("hub"), b.netns("con"), b.netns("base")
    _ip("-n", hub_ns, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", con_ns)
    _ip("-n", hub_ns, "addr", "add", "192.0.2.1/24", "dev", "wan0")
    _ip("-n", con_ns, "addr", "add", "192.0.2.12/24", "dev", "wan0")
    for ns in (hub_ns, con_ns):
        _ip("-n", ns, "link", "set", "wan0", "up")
    _veth(base_ns, "d0")
    _ip("-n", base_ns, "link", "set", "d0", "up")
    ctrl = _controller(b.state)
    try:
        vnet = ctrl.list_virtual_networks(is_default=True)[0]
        a = ctrl.create_tunnel("site-a")
        ctrl.create_tunnel("site-b")
        cidrs = _cidrs(n)
        _import(ctrl, a.id, vnet.id, cidrs)
        ctrl.register_hub(generate_keypair().public_key, "192.0.2.1:51820", virtual_network_id=vnet.id)
    finally:
        ctrl.close()
    iface = f"wcb{b.tag[-6:]}"
    b.warpcli(con_ns, "con", "enroll", "--tunnel", "site-b", "--interface", iface)
    ups, agains, downs, adds, dels = [], [], [], [], []
    for _ in range(REPEAT):  # interleaved with the baseline, so drift hits both alike
        ups.append(b.warpcli(con_ns, "con", "up"))
        if b.count(con_ns, TABLE) < n:
            raise RuntimeError(f"up installed {b.count(con_ns, TABLE)} routes, expected {n}+")
        agains.append(b.warpcli(con_ns, "con", "up"))
        downs.append(b.warpcli(con_ns, "con", "down"))
        if b.count(con_ns, TABLE) != 0:
            raise RuntimeError("down left routes")
        a_, d_ = b.ip_batch(base_ns, "d0", cidrs, TABLE)
        adds.append(a_)
        dels.append(d_)
    add, dele = _median(adds), _median(dels)
    return [
        _row(f"`warpcli up`, {n:,} remote routes (first run)", _median(ups), add, "ip -batch add", 2),
        _row(f"`warpcli up` again, {n:,} routes, nothing to change", _median(agains), add, "ip -batch add", 1),
        _row(f"`warpcli down`, {n:,} routes", _median(downs), dele, "ip -batch del", 2),
    ]


def one_change_rows(b: Bench, n: int) -> list[dict]:
    """`up` applying one new route on a host with n routes, then with 10n."""
    hub_ns = b.netns("hub1")
    out = {}
    ctrl = _controller(b.state)
    from warpcli.core.keys import generate_keypair

    con_ns = b.netns("con1")
    _ip("-n", hub_ns, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", con_ns)
    _ip("-n", con_ns, "addr", "add", "192.0.2.12/24", "dev", "wan0")
    _ip("-n", con_ns, "link", "set", "wan0", "up")
    try:
        vnet = ctrl.create_virtual_network("bench-change")
        a = ctrl.create_tunnel("chg-a")
        ctrl.create_tunnel("chg-b")
        ctrl.register_hub(generate_keypair().public_key, "192.0.2.1:51820", virtual_network_id=vnet.id)
    finally:
        ctrl.close()
    iface = f"wcc{b.tag[-6:]}"
    b.warpcli(con_ns, "chg", "enroll", "--tunnel", "chg-b", "--vnet", "bench-change", "--interface", iface)
    have = 0
    for step, size in enumerate((n, 10 * n)):
        ctrl = _controller(b.state)
        try:
            _import(ctrl, a.id, vnet.id, _cidrs(size - have, offset=have))
        finally:
            ctrl.close()
        have = size
        b.warpcli(con_ns, "chg", "up")
        times = []
        for k in range(REPEAT):
            b.warpcli(None, "chg", "route", "add", f"198.18.{step * 16 + k}.0/24", "--tunnel", "chg-a", "--vnet", "bench-change")
            times.append(b.warpcli(con_ns, "chg", "up"))
            have += 1
        out[size] = _median(times)
    b.warpcli(con_ns, "chg", "down")
    small, big = out[n], out[10 * n]
    return [_row(f"`warpcli up` applying 1 change at {10 * n:,} routes", big, small,
                 f"the same at {n:,} routes", 1.5)]


class Follower:
    """``ip netns exec NS warpcli up --follow`` with its metrics on the namespace's loopback: the
    time of each reconcile is read from ``warpcli_reconcile_duration_seconds`` (what the
    process itself measured, without the poll interval)."""

    PORT = 19187

    def __init__(self, b: Bench, ns: str, role: str) -> None:
        import queue
        import threading

        self.ns = ns
        argv = ["ip", "netns", "exec", ns, WARPCLI, "up", "--follow", "--interval", "0.1", "--json",
                "--metrics-listen", f"127.0.0.1:{self.PORT}"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=b.env(role))
        b.pids.add(self.proc.pid)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def reconciled(self, timeout: float = 600) -> dict:
        """The next reconcile's JSON line."""
        import queue

        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise RuntimeError(f"no reconcile within {timeout} s: {self.proc.stderr.read()[-400:]}"
                               if self.proc.poll() is not None else f"no reconcile within {timeout} s") from None

    def seconds(self) -> tuple[float, int]:
        """(sum, count) of the reconcile durations so far."""
        out = subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-sf", f"http://127.0.0.1:{self.PORT}/metrics"],
                             capture_output=True, text=True, timeout=60).stdout
        got = {}
        for line in out.splitlines():
            for key in ("sum", "count"):
                if line.startswith(f"warpcli_reconcile_duration_seconds_{key}{{"):
                    got[key] = float(line.rsplit(" ", 1)[1])
        return got["sum"], int(got["count"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=120)


def follow_rows(b: Bench, n: int) -> list[dict]:
    """`up --follow` applying one new route on a host with n routes, then with 10n (the time of
    the reconcile that applies it, as the follow process measures it)."""
    from warpcli.core.keys import generate_keypair

    hub_ns, con_ns = b.netns("hubf"), b.netns("conf")
    _ip("-n", hub_ns, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", con_ns)
    _ip("-n", con_ns, "addr", "add", "192.0.2.12/24", "dev", "wan0")
    _ip("-n", con_ns, "link", "set", "wan0", "up")
    ctrl = _controller(b.state)
    try:
        vnet = ctrl.create_virtual_network("bench-follow")
        a = ctrl.create_tunnel("fol-a")
        ctrl.create_tunnel("fol-b")
        ctrl.register_hub(generate_keypair().public_key, "192.0.2.1:51820", virtual_network_id=vnet.id)
    finally:
        ctrl.close()
    iface = f"wcf{b.tag[-6:]}"
    b.warpcli(con_ns, "fol", "enroll", "--tunnel", "fol-b", "--vnet", "bench-follow", "--interface", iface)
    have, out, firsts = 0, {}, {}
    for step, size in enumerate((n, 10 * n)):
        ctrl = _controller(b.state)
        try:
            _import(ctrl, a.id, vnet.id, _cidrs(size - have, offset=have))
        finally:
            ctrl.close()
        have = size
        f = Follower(b, con_ns, "fol")
        try:
            f.reconciled()
            firsts[size] = f.seconds()[0]
            times = []
            for k in range(REPEAT + 2):
                before, count = f.seconds()
                cidr = f"198.19.{step * 16 + k}.0/24"
                b.warpcli(None, "fol", "route", "add", cidr, "--tunnel", "fol-a", "--vnet", "bench-follow")
                line = f.reconciled()
                if not line["changed"] or not any(cidr in x for x in line["plan"]):
                    raise RuntimeError(f"the follow loop did not apply {cidr}: {line}")
                after, count2 = f.seconds()
                times.append((after - before) / max(1, count2 - count))
                have += 1
            out[size] = _median(times)
        finally:
            f.stop()
        if b.count(con_ns, TABLE) != have + 1:
            raise RuntimeError(f"{b.count(con_ns, TABLE)} routes in the kernel, expected {have + 1}")
    b.warpcli(con_ns, "fol", "down")
    small, big = out[n], out[10 * n]
    return [_row(f"`warpcli up --follow` applying 1 change at {10 * n:,} routes", big, small,
                 f"the same at {n:,} routes", 1.5,
                 extra=f"first (full) reconcile {firsts[n]:.2f} / {firsts[10 * n]:.2f} s; "
                       f"one change {small * 1000:.1f} / {big * 1000:.1f} ms")]


def hub_rows(b: Bench, connectors: int, n: int) -> list[dict]:
    from warpcli.core.keys import generate_keypair

    hub_ns, base_ns = b.netns("hubh"), b.netns("baseh")
    _veth(hub_ns, "wan0")
    _ip("-n", hub_ns, "addr", "add", "192.0.2.1/24", "dev", "wan0")
    _ip("-n", hub_ns, "link", "set", "wan0", "up")
    _veth(base_ns, "d0")
    _ip("-n", base_ns, "link", "set", "d0", "up")
    ctrl = _controller(b.state)
    per = n // connectors
    cidrs = _cidrs(per * connectors)
    try:
        vnet = ctrl.create_virtual_network("bench-hub")
        from warpcli.core.cidr import parse_network
        from warpcli.core.controller import RouteSpec

        specs = []
        for i in range(connectors):
            t = ctrl.create_tunnel(f"h{i}")
            ctrl.register_connector(t.id, generate_keypair().public_key, virtual_network_id=vnet.id)
            specs += [RouteSpec(parse_network(c), t.id, vnet.id, "", 0) for c in cidrs[i * per:(i + 1) * per]]
        ctrl.import_routes(specs)
        devs = [f"{c.address}/32" for c in ctrl.list_connectors(virtual_network_id=vnet.id)]
    finally:
        ctrl.close()
    every = cidrs + devs
    iface = f"wch{b.tag[-6:]}"
    ups, agains, downs, adds, dels = [], [], [], [], []
    for _ in range(REPEAT):
        ups.append(b.warpcli(hub_ns, "hub", "hub", "up", "--vnet", "bench-hub", "--endpoint", "192.0.2.1:51820",
                             "--interface", iface))
        agains.append(b.warpcli(hub_ns, "hub", "hub", "up", "--vnet", "bench-hub", "--endpoint", "192.0.2.1:51820",
                                "--interface", iface))
        downs.append(b.warpcli(hub_ns, "hub", "hub", "down", "--interface", iface))
        a_, d_ = b.ip_batch(base_ns, "d0", every, TABLE + 100)
        adds.append(a_)
        dels.append(d_)
    add, dele = _median(adds), _median(dels)
    what = f"{connectors:,} connectors, {len(every):,} routes"
    return [
        _row(f"`warpcli hub up`, {what} (first run)", _median(ups), add, "ip -batch add", 2),
        _row(f"`warpcli hub up` again, {what}, nothing to change", _median(agains), add, "ip -batch add", 1),
        _row(f"`warpcli hub down`, {what}", _median(downs), dele, "ip -batch del", 2),
    ]


def measure(quick: bool, parts: str = "connector,hub,change,follow") -> list[dict]:
    n = 2_000 if quick else 10_000
    connectors = 100 if quick else 1_000
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("wireguard-go"):
        return [{"what": f"`warpcli up`/`down`, `hub up`/`hub down` with {n:,} routes", "figure": "-",
                 "baseline": "ip -batch", "ratio": None, "target": "<= 2x", "ok": None,
                 "extra": "needs root, iproute2 and wireguard-go"}]
    tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench(Path(tmp), tag)
        try:
            if "connector" in parts:
                out += connector_rows(b, n)
            if "hub" in parts:
                out += hub_rows(b, connectors, n)
            if "change" in parts:
                out += one_change_rows(b, n)
            if "follow" in parts:
                out += follow_rows(b, n)
        finally:
            b.cleanup()
    return out


def _print(r: dict) -> None:
    ratio = f"{r['ratio']:.2f}x" if isinstance(r.get("ratio"), float) else "-"
    status = {True: "ok", False: "MISSED", None: "n/a"}[r["ok"]]
    print(f"{r['what']}: {r['figure']}  baseline {r['baseline']}  {ratio}  target {r['target']}  {status}"
          f"  {r.get('extra', '')}", flush=True)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="row 13: warpcli up/down and hub up/down vs ip -batch")
    ap.add_argument("--quick", action="store_true", help="2,000 routes and 100 connectors")
    ap.add_argument("--parts", default="connector,hub,change,follow")
    args = ap.parse_args()
    import run  # time warpcli with its bytecode cached, as an installed package runs (see run.py)

    run._cache_bytecode()
    for part in args.parts.split(","):
        for r in measure(args.quick, part):
            _print(r)


if __name__ == "__main__":
    main()
