"""Row 8: the data plane. TCP between two sites through the hub (set up by warpcli) vs a direct
wireguard-go tunnel set up by hand, in the same run.

    .venv/bin/python benchmarks/dataplane.py [--quick] [--policy]     # as root; needs iperf3 and wireguard-go

``--policy`` (row 19, issue 21): the hub path alone, with a network policy of 10,000 rules loaded at
the hub (nftables verdict maps; the rule that allows the traffic is the last one) against no policy,
throughput in interleaved rounds (target >= 0.95x).

Both topologies are built in network namespaces (``wcbench-*``), each site a LAN host behind a
connector (LAN links MTU 1500, tunnels MTU 1280):

- hub: host A -> connector A -> hub -> connector B -> host B, every piece made by the warpcli commands
  a user runs (``tunnel create``, ``route add``, ``enroll``, ``hub up``, ``up``);
- direct: host A' -> gateway A' == wireguard-go == gateway B' -> host B': ``wireguard-go`` started by
  hand in each gateway, configured over its UAPI socket with a few lines written here (no warpcli),
  addresses and routes with ``ip``.

For each: ``iperf3`` host to host, 1 and 4 streams, both directions; the CPU time (user + system,
from /proc) of every wireguard-go process of the topology during each transfer, per byte delivered
(the stable figure on shared cores); throughput; the idle round-trip time (median of TCP
ping-pongs). Targets (issue 16): CPU per byte <= 2.2x the direct tunnel's, throughput >= 0.45x,
RTT <= 1.5x. Everything is removed in ``finally`` (processes by PID).
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

from host_up import Bench, _ip  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
MTU = 1280

PINGPONG = r"""
import socket, statistics, sys, time
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(1); s.settimeout(60)
    print("READY", flush=True)
    c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(n):
        c.sendall(c.recv(1))
else:
    c = socket.create_connection((host, port), timeout=60); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    for _ in range(n):
        t = time.perf_counter(); c.sendall(b"x"); c.recv(1); out.append(time.perf_counter() - t)
    print(statistics.median(out[n // 10:]), flush=True)
"""


def _cpu(pids: list[int]) -> float:
    """User + system seconds of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICK


def _wg_pids(ns_list: list[str]) -> list[int]:
    pids = []
    for ns in ns_list:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30).stdout
        for p in out.split():
            try:
                if "wireguard-go" in Path(f"/proc/{p}/cmdline").read_text():
                    pids.append(int(p))
            except OSError:
                pass
    return pids


class Topology:
    def __init__(self, b: Bench, name: str, host_a: str, host_b: str, addr_b: str, wg_namespaces: list[str]):
        self.b, self.name, self.host_a, self.host_b, self.addr_b = b, name, host_a, host_b, addr_b
        self.wg_namespaces = wg_namespaces

    def iperf(self, streams: int, reverse: bool, seconds: float, port: int) -> dict:
        last = ""
        for attempt in range(3):  # a transfer iperf3 itself reports as failed is run again (bounded)
            got = self._iperf_once(streams, reverse, seconds, port + 1000 * attempt)
            if isinstance(got, dict):
                return got
            last = got
        raise RuntimeError(f"iperf3 ({self.name}) failed 3 times: {last}")

    def _iperf_once(self, streams: int, reverse: bool, seconds: float, port: int) -> dict | str:
        server = subprocess.Popen(["ip", "netns", "exec", self.host_b, "iperf3", "-s", "-1", "--forceflush",
                                   "-p", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.b.pids.add(server.pid)
        try:
            assert server.stdout is not None
            for _ in range(10):  # iperf3 says when it listens (--forceflush: at once); "" when it died
                line = server.stdout.readline()
                if not line or "listening" in line:
                    break
            if "listening" not in line:
                return "server did not start"
            pids = _wg_pids(self.wg_namespaces)
            argv = ["ip", "netns", "exec", self.host_a, "iperf3", "-c", self.addr_b, "-p", str(port), "-J",
                    "-t", str(seconds), "-P", str(streams)] + (["-R"] if reverse else [])
            cpu0 = _cpu(pids)
            p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
            cpu = _cpu(pids) - cpu0
            try:
                doc = json.loads(p.stdout)
            except ValueError:
                return (p.stdout + p.stderr)[-300:]
            end = doc.get("end", {})
            if p.returncode != 0 or "error" in doc or "sum_received" not in end:
                return str(doc.get("error", "no result"))
            got = end["sum_received"]["bytes"]
            secs = end["sum_received"]["seconds"]
            return {"gbps": got * 8 / secs / 1e9, "bytes": got, "cpu_s": cpu, "cpu_ns_per_byte": cpu * 1e9 / got}
        finally:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
            if server.stdout:
                server.stdout.close()

    def rtt(self, port: int, n: int = 400) -> float:
        code = PINGPONG
        server = subprocess.Popen(["ip", "netns", "exec", self.host_b, sys.executable, "-u", "-c", code, "server",
                                   self.addr_b, str(port), str(n)], stdout=subprocess.PIPE, text=True)
        self.b.pids.add(server.pid)
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "READY":
                raise RuntimeError("ping-pong server did not start")
            p = subprocess.run(["ip", "netns", "exec", self.host_a, sys.executable, "-c", code, "client",
                                self.addr_b, str(port), str(n)], capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError(f"ping-pong: {p.stderr[-300:]}")
            return float(p.stdout.split()[-1])
        finally:
            server.wait(timeout=60)
            if server.stdout:
                server.stdout.close()


def _site_hosts(b: Bench, gw: str, host_role: str, lan: str) -> str:
    """A LAN host behind gateway namespace ``gw`` (LAN ``lan`` = 'x.y.z'): host .10, gateway .1."""
    host = b.netns(host_role)
    _ip("-n", gw, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", host)
    _ip("-n", gw, "addr", "add", f"{lan}.1/24", "dev", "lan0")
    _ip("-n", host, "addr", "add", f"{lan}.10/24", "dev", "eth0")
    _ip("-n", gw, "link", "set", "lan0", "up")
    _ip("-n", host, "link", "set", "eth0", "up")
    _ip("-n", host, "route", "add", "default", "via", f"{lan}.1")
    return host


def build_hub(b: Bench) -> Topology:
    wan = b.netns("wan")
    _ip("-n", wan, "link", "add", "br0", "type", "bridge")
    _ip("-n", wan, "link", "set", "br0", "up")
    ns = {}
    for role, addr, port in (("hub", "192.0.2.1/24", "p1"), ("cona", "192.0.2.11/24", "p2"),
                             ("conb", "192.0.2.12/24", "p3")):
        ns[role] = b.netns(role)
        _ip("-n", ns[role], "link", "add", "wan0", "type", "veth", "peer", "name", port, "netns", wan)
        _ip("-n", ns[role], "addr", "add", addr, "dev", "wan0")
        _ip("-n", ns[role], "link", "set", "wan0", "up")
        _ip("-n", wan, "link", "set", port, "master", "br0")
        _ip("-n", wan, "link", "set", port, "up")
    host_a = _site_hosts(b, ns["cona"], "hosta", "10.1.0")
    host_b = _site_hosts(b, ns["conb"], "hostb", "10.2.0")
    t = b.tag[-5:]
    b.warpcli(None, "ctl", "tunnel", "create", "site-a")
    b.warpcli(None, "ctl", "tunnel", "create", "site-b")
    b.warpcli(None, "ctl", "route", "add", "10.1.0.0/24", "--tunnel", "site-a")
    b.warpcli(None, "ctl", "route", "add", "10.2.0.0/24", "--tunnel", "site-b")
    b.warpcli(ns["cona"], "cona", "enroll", "--tunnel", "site-a", "--interface", f"wdA{t}")
    b.warpcli(ns["conb"], "conb", "enroll", "--tunnel", "site-b", "--interface", f"wdB{t}")
    b.warpcli(ns["hub"], "hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", f"wdH{t}",
              "--mtu", str(MTU))
    b.warpcli(ns["cona"], "cona", "up")
    b.warpcli(ns["conb"], "conb", "up")
    return Topology(b, "hub", host_a, host_b, "10.2.0.10", [ns["hub"], ns["cona"], ns["conb"]])


def _uapi_set(ifname: str, lines: list[str]) -> None:
    import socket

    path = f"/var/run/wireguard/{ifname}.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(("set=1\n" + "".join(line + "\n" for line in lines) + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    if b"errno=0" not in reply:
        raise RuntimeError(f"UAPI set on {ifname}: {reply.decode().strip()}")


def build_direct(b: Bench) -> Topology:
    """Two gateways on one link, a wireguard-go tunnel between them set up by hand."""
    from warpcli.core.keys import b64_to_hex, generate_keypair

    ga, gb = b.netns("gwa"), b.netns("gwb")
    _ip("-n", ga, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", gb)
    for g, addr in ((ga, "198.51.100.1/24"), (gb, "198.51.100.2/24")):
        _ip("-n", g, "addr", "add", addr, "dev", "wan0")
        _ip("-n", g, "link", "set", "wan0", "up")
    host_a = _site_hosts(b, ga, "hosta2", "10.11.0")
    host_b = _site_hosts(b, gb, "hostb2", "10.12.0")
    t = b.tag[-5:]
    keys = {g: generate_keypair() for g in (ga, gb)}
    names = {ga: f"wdX{t}", gb: f"wdY{t}"}
    for g in (ga, gb):
        proc = subprocess.Popen(["ip", "netns", "exec", g, "wireguard-go", "-f", names[g]],
                                env={**os.environ, "LOG_LEVEL": "error"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        b.pids.add(proc.pid)
        sock = Path(f"/var/run/wireguard/{names[g]}.sock")
        deadline = time.monotonic() + 30
        while not sock.exists():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"wireguard-go {names[g]} did not start")
            time.sleep(0.02)
    for g, other, port, peer_addr, lan in ((ga, gb, 51820, "198.51.100.2", "10.12.0.0/24"),
                                           (gb, ga, 51820, "198.51.100.1", "10.11.0.0/24")):
        _uapi_set(names[g], [f"private_key={b64_to_hex(keys[g].private_key)}", f"listen_port={port}",
                             f"public_key={b64_to_hex(keys[other].public_key)}", f"endpoint={peer_addr}:{port}",
                             "allowed_ip=100.100.0.0/24", f"allowed_ip={lan}"])
    for g, addr, lan in ((ga, "100.100.0.1/24", "10.12.0.0/24"), (gb, "100.100.0.2/24", "10.11.0.0/24")):
        _ip("-n", g, "addr", "add", addr, "dev", names[g])
        _ip("-n", g, "link", "set", names[g], "mtu", str(MTU), "up")
        _ip("-n", g, "route", "add", lan, "dev", names[g])
        subprocess.run(["ip", "netns", "exec", g, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
    return Topology(b, "direct", host_a, host_b, "10.12.0.10", [ga, gb])


def measure(quick: bool) -> list[dict]:
    seconds = 2 if quick else 8
    rounds = 1 if quick else 3
    missing = [x for x in ("ip", "iperf3", "wireguard-go") if not shutil.which(x)]
    if os.geteuid() != 0 or missing:
        return [{"what": "TCP between two sites through the hub vs a direct wireguard-go tunnel", "figure": "-",
                 "baseline": "direct tunnel", "ratio": None, "target": "CPU/byte <= 2.2x", "ok": None,
                 "extra": "needs root" if os.geteuid() != 0 else f"needs {', '.join(missing)}"}]
    tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench(Path(tmp), tag)
        try:
            hub, direct = build_hub(b), build_direct(b)
            port = 5201
            rtts: dict[str, list[float]] = {"hub": [], "direct": []}
            for _ in range(rounds):
                for topo in (hub, direct):
                    port += 1
                    rtts[topo.name].append(topo.rtt(port))
            rtt_hub, rtt_direct = statistics.median(rtts["hub"]), statistics.median(rtts["direct"])
            out.append({"what": "idle RTT host A -> host B (TCP ping-pong, median)", "figure": f"{rtt_hub * 1e3:.3f} ms",
                        "baseline": f"{rtt_direct * 1e3:.3f} ms (direct tunnel)", "ratio": rtt_hub / rtt_direct,
                        "target": "<= 1.5x", "ok": rtt_hub / rtt_direct <= 1.5})
            for streams in (1, 4):
                for reverse in (False, True):
                    runs: dict[str, list[dict]] = {"hub": [], "direct": []}
                    for _ in range(rounds):  # interleaved, so load drift hits both alike
                        for topo in (hub, direct):
                            port += 1
                            runs[topo.name].append(topo.iperf(streams, reverse, seconds, port))

                    def med(name: str, key: str, runs=runs) -> float:
                        return statistics.median(r[key] for r in runs[name])

                    way = "B -> A" if reverse else "A -> B"
                    cpu_h, cpu_d = med("hub", "cpu_ns_per_byte"), med("direct", "cpu_ns_per_byte")
                    gb_h, gb_d = med("hub", "gbps"), med("direct", "gbps")
                    out.append({
                        "what": f"TCP {way}, {streams} stream(s): WireGuard CPU per byte, hub path",
                        "figure": f"{cpu_h:.2f} ns/B", "baseline": f"{cpu_d:.2f} ns/B (direct tunnel)",
                        "ratio": cpu_h / cpu_d, "target": "<= 2.2x", "ok": cpu_h / cpu_d <= 2.2,
                        "extra": f"throughput {gb_h:.3f} vs {gb_d:.3f} Gb/s ({gb_h / gb_d:.2f}x, target >= 0.45x)",
                        "throughput_ratio": gb_h / gb_d,
                    })
        finally:
            b.cleanup()
    return out


# -- row 19: the same path with a large network policy at the hub (issue 21) ---------------------
def _put_policy(b: Bench, n: int) -> None:
    """The default vnet's policy: ``n`` rules that match none of the benchmark's traffic (policy_bench's
    generated /24 -> host rules), then the one rule that allows it, last (the worst place for a
    rule-by-rule filter), with a default deny; ``n == 0``: no policy at all (allow everything, no table)."""
    from host_up import _controller
    from policy_bench import rules

    from warpcli.core.policies import PolicySpec

    doc = {"default": "allow", "rules": []} if n == 0 else {"default": "deny", "rules": [*rules(n), {
        "name": "bench-a-to-b", "action": "allow", "sources": ["10.1.0.0/24"], "destinations": ["10.2.0.0/24"],
        "protocol": "tcp", "ports": [], "log": False, "comment": ""}]}
    ctrl = _controller(b.state)
    try:
        vnet = ctrl.list_virtual_networks(is_default=True)[0].id
        ctrl.put_policy(vnet, PolicySpec.from_dict(doc, ctrl.get_policy(vnet).revision))
    finally:
        ctrl.close()


def measure_policy(quick: bool) -> list[dict]:
    """Throughput host A -> host B through the hub with a policy of N rules vs with none, same run
    (interleaved rounds; each switch is the `hub up` a user runs, which loads or removes the table)."""
    n = 1_000 if quick else 10_000
    seconds = 2 if quick else 8
    rounds = 1 if quick else 3
    missing = [x for x in ("ip", "iperf3", "wireguard-go", "nft") if not shutil.which(x)]
    if os.geteuid() != 0 or missing:
        return [{"what": f"TCP through the hub with a {n:,}-rule policy", "figure": "-", "baseline": "no policy",
                 "ratio": None, "target": ">= 0.95x", "ok": None,
                 "extra": "needs root" if os.geteuid() != 0 else f"needs {', '.join(missing)}"}]
    tag = f"{os.getpid() % 100000}{secrets.token_hex(2)}"
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench(Path(tmp), tag)
        try:
            hub = build_hub(b)
            hub_ns = next(ns for ns in b.namespaces if ns.endswith("-hub"))
            iface = f"wdH{b.tag[-5:]}"

            def load(rules: int) -> None:
                _put_policy(b, rules)
                b.warpcli(hub_ns, "hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", iface,
                          "--mtu", str(MTU))
                listed = subprocess.run(["ip", "netns", "exec", hub_ns, "nft", "list", "tables"], capture_output=True,
                                        text=True, timeout=60).stdout
                if ("warpcli_policy" in listed) != bool(rules):
                    raise RuntimeError(f"the policy table is {'missing' if rules else 'still there'}: {listed}")

            port = 6201
            for streams in (1, 4):
                runs: dict[int, list[dict]] = {0: [], n: []}
                for _ in range(rounds):
                    for rules in (0, n):
                        load(rules)
                        port += 1
                        runs[rules].append(hub.iperf(streams, False, seconds, port))
                load(0)
                none = statistics.median(r["gbps"] for r in runs[0])
                many = statistics.median(r["gbps"] for r in runs[n])
                out.append({"what": f"TCP A -> B through the hub, {streams} stream(s), with a {n:,}-rule policy "
                                    "(the allowing rule last, default deny)",
                            "figure": f"{many:.3f} Gb/s", "baseline": f"{none:.3f} Gb/s (no policy)",
                            "ratio": many / none, "target": ">= 0.95x", "ok": many / none >= 0.95})
        finally:
            b.cleanup()
    return out


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="row 8: the data plane, through the hub vs a direct tunnel")
    ap.add_argument("--quick", action="store_true", help="2-second transfers, one round")
    ap.add_argument("--policy", action="store_true", help="row 19: with a 10,000-rule policy vs none")
    args = ap.parse_args()
    for r in (measure_policy if args.policy else measure)(args.quick):
        ratio = f"{r['ratio']:.2f}x" if isinstance(r.get("ratio"), float) else "-"
        status = {True: "ok", False: "MISSED", None: "n/a"}[r["ok"]]
        print(f"{r['what']}: {r['figure']}  baseline {r['baseline']}  {ratio}  target {r['target']}  {status}"
              f"  {r.get('extra', '')}", flush=True)


if __name__ == "__main__":
    main()
