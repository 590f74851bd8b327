"""Failover of connector replicas (issue 12), measured in network namespaces with the real programs.

    sudo .venv/bin/python benchmarks/failover.py [--trials 10] [--planned 3] [--json FILE]

Topology: tests/host/ha_lab.py (hub, replicas A1/A2 of site A under keepalived, connector B, a host on
each side). A UDP ticker on each host sends a datagram carrying its send time to the other host every
5 ms; the receiver keeps the arrival times (CLOCK_MONOTONIC is one clock for every namespace).

- unplanned failover: SIGKILL of the active replica's wireguard-go and keepalived (parent and VRRP
  child); figure = from the kill to the first datagram sent after it that arrives, per direction.
- failback with preempt: `warpcli up` on the dead replica again; figure = the longest gap between
  arrivals while it takes the role back, per direction.
- planned switchover: `ha promote` on the standby (20 long-lived TCP connections running); figures =
  the longest gap, per direction, and TCP connections lost.

Targets (issue 12): failover median <= 1.5 s and max <= 3 s per direction; switchover and failback
<= 0.5 s of interruption and 0 connections lost. Nothing here asserts: it prints the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.host.conftest import Lab  # noqa: E402
from tests.host.ha_lab import _readline, bring_up, build, kill, wait_active  # noqa: E402

TICKER = r"""
import socket, sys, threading, time
peer, port = sys.argv[1], int(sys.argv[2])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rx.bind(("0.0.0.0", port))
arrivals = []  # (arrival, sent)
lock = threading.Lock()
def receive():
    while True:
        data = rx.recv(64)
        with lock:
            arrivals.append((time.monotonic(), float(data)))
            if len(arrivals) > 200000:
                del arrivals[:100000]
def send():
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    while True:
        try:
            tx.sendto(repr(time.monotonic()).encode(), (peer, port))
        except OSError:
            pass
        time.sleep(0.005)
threading.Thread(target=receive, daemon=True).start()
threading.Thread(target=send, daemon=True).start()
print("READY", flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    with lock:
        got = list(arrivals)
    if cmd == "first":  # first arrival of a datagram sent at or after T, minus T
        t = float(args[0])
        hit = [a for a, s in got if s >= t]
        print(repr(min(hit) - t) if hit else "None", flush=True)
    elif cmd == "gap":  # the longest silence between T0 and T1 (arrival times)
        t0, t1 = float(args[0]), float(args[1])
        times = [t0] + [a for a, _ in got if t0 <= a <= t1] + [t1]
        print(repr(max(b - a for a, b in zip(times, times[1:]))), flush=True)
"""


class Ticker:
    def __init__(self, lab: Lab, ns: str, peer: str, port: int) -> None:
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", "-c", TICKER, peer, str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lab.procs.append(self.proc)
        assert _readline(self.proc) == "READY"

    def ask(self, *words: object) -> float | None:
        self.proc.stdin.write(" ".join(map(str, words)) + "\n")
        self.proc.stdin.flush()
        out = _readline(self.proc)
        return None if out == "None" else float(out)


def wait_first(ticker: Ticker, t: float, bound: float = 30.0) -> float | None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        got = ticker.ask("first", t)
        if got is not None:
            return got
        time.sleep(0.05)
    return None


def summary(values: list[float | None]) -> dict:
    done = [v for v in values if v is not None]
    return {"median_s": round(statistics.median(done), 3) if done else None,
            "max_s": round(max(done), 3) if done else None, "trials": len(values),
            "no_recovery": len(values) - len(done), "all_s": [None if v is None else round(v, 3) for v in values]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--planned", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warpcli-failover-"))
    lab = Lab(run_dir=tmp / "run")
    results: dict = {}
    try:
        s = build(lab, tmp)
        bring_up(s)
        wait_active(s, "a1")
        # host A receives what host B sends (B -> A: the off-ramp via the hub), and the other way
        at_a = Ticker(lab, s.ns["hosta"], "10.2.0.10", 9200)
        at_b = Ticker(lab, s.ns["hostb"], "10.1.0.10", 9200)
        fo = {"lan_to_tunnel (A->B)": [], "tunnel_to_lan (B->A)": []}
        fb = {"lan_to_tunnel (A->B)": [], "tunnel_to_lan (B->A)": []}
        for i in range(args.trials):
            s.track()
            t = time.monotonic()
            kill([s.wireguard_pid("a1"), *s.keepalived_pids("a1")])
            fo["lan_to_tunnel (A->B)"].append(wait_first(at_b, t))
            fo["tunnel_to_lan (B->A)"].append(wait_first(at_a, t))
            wait_active(s, "a2")
            t0 = time.monotonic()
            s.warpcli("a1", "up")
            s.track()
            wait_active(s, "a1")
            time.sleep(0.5)  # a benchmark, not a test: let the tail of the failback arrive
            t1 = time.monotonic()
            fb["lan_to_tunnel (A->B)"].append(at_b.ask("gap", t0, t1))
            fb["tunnel_to_lan (B->A)"].append(at_a.ask("gap", t0, t1))
            print(f"trial {i + 1}: failover A->B {fo['lan_to_tunnel (A->B)'][-1]:.3f} s, "
                  f"B->A {fo['tunnel_to_lan (B->A)'][-1]:.3f} s; failback gaps "
                  f"{fb['lan_to_tunnel (A->B)'][-1]:.3f} / {fb['tunnel_to_lan (B->A)'][-1]:.3f} s", flush=True)
        results["unplanned_failover"] = {k: summary(v) for k, v in fo.items()}
        results["failback_preempt_gap"] = {k: summary(v) for k, v in fb.items()}

        s.start_traffic(connections=10)  # 10 from each side: 20 long-lived TCP connections
        first = s.wait_flowing()
        pg = {"lan_to_tunnel (A->B)": [], "tunnel_to_lan (B->A)": []}
        for _ in range(args.planned):
            for role in ("a2", "a1"):
                t0 = time.monotonic()
                s.warpcli(role, "ha", "promote")
                wait_active(s, role)
                time.sleep(0.5)
                t1 = time.monotonic()
                pg["lan_to_tunnel (A->B)"].append(at_b.ask("gap", t0, t1))
                pg["tunnel_to_lan (B->A)"].append(at_a.ask("gap", t0, t1))
        last = s.wait_flowing(since=s.reports())
        lost = sum(1 for role in last for c in last[role]["tcp"] if c["error"])
        lost += sum(1 for role in last for a, b in zip(first[role]["tcp"], last[role]["tcp"], strict=True)
                    if a["port"] != b["port"])
        results["planned_switchover"] = {**{k: summary(v) for k, v in pg.items()},
                                         "tcp_connections": 20, "tcp_connections_lost": lost}
    finally:
        lab.cleanup()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
