"""Row 18: network policies (issue 21), whole commands as subprocesses.

    .venv/bin/python benchmarks/policy_bench.py [--quick]     # as root (the hub rows)

- ``hub up`` whose only change is a new policy of N rules (compile + one nft transaction), against
  ``hub up`` with nothing to change in the same run: the difference is the policy's cost;
- ``hub up`` with the policy loaded and nothing to change, against the same without a policy;
- ``hub up`` applying one added rule to a policy of N rules, against the same at 10 rules (the
  median of 7 changes, each one more rule, in turns on two hubs); the same for one deleted rule;
- ``policy test`` on N rules, against the start-up of ``routes --json`` (empty state).

The hubs run in namespaces made here (``wcbench-*``) and removed in ``finally``, with any
process in it killed by PID; nothing touches the root namespace. The data-plane row (throughput
through the hub with N rules) is not measured yet.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WARPCLI = str(Path(sys.executable).parent / "warpcli")


def rules(n: int, seed: int = 7) -> list[dict]:
    """n distinct rules: a /24 of 10.64.0.0/10 to a host of 172.16.0.0/12 on one TCP port."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        src = f"10.{64 + (i >> 8) % 64}.{i & 255}.0/24"
        dst = f"172.{16 + rnd.randrange(16)}.{rnd.randrange(256)}.{rnd.randrange(256)}/32"
        out.append({"name": f"r{i}", "action": rnd.choice(["allow", "deny"]), "sources": [src],
                    "destinations": [dst], "protocol": "tcp", "ports": [str(rnd.randrange(1, 65536))],
                    "log": False, "comment": ""})
    return out


def _store(state: Path):
    from warpcli.controllers.local.store import LocalController
    from warpcli.secret_stores.file_store import FileStore

    return LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))


def set_policy(state: Path, n: int, extra: int = 0, dropped: int = 0) -> None:
    """Write a policy of n (+ extra) rules straight into the store (the setup, not timed); with
    ``dropped``, that many rules taken out of the middle (one more each time: one rule deleted)."""
    from warpcli.core.policies import PolicySpec

    ctrl = _store(state)
    try:
        vnet = ctrl.list_virtual_networks(is_default=True)[0].id
        current = ctrl.get_policy(vnet)
        listed = rules(n + extra)
        del listed[n // 2:n // 2 + dropped]
        doc = {"default": "deny", "rules": listed}
        ctrl.put_policy(vnet, PolicySpec.from_dict(doc, current.revision))
    finally:
        ctrl.close()


def _median(argv: list[str], env: dict[str, str], repeat: int, ok: tuple[int, ...] = (0,)) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        times.append(time.perf_counter() - t)
        if p.returncode not in ok:
            raise RuntimeError(f"{' '.join(argv[-6:])}: exit {p.returncode}: {p.stderr.strip()[-300:]}")
    return statistics.median(times)


def policy_test_row(n: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s"
        env = {**os.environ, "WARPCLI_STATE_DIR": str(state), "WARPCLI_CONFIG_DIR": f"{tmp}/c",
               "WARPCLI_SECRET_BACKEND": "file"}
        base = _median([WARPCLI, "routes", "--json"], env, repeat)
        set_policy(state, n)
        t = _median([WARPCLI, "policy", "test", "--from", "10.64.0.7", "--to", "172.16.0.1:443/tcp"], env, repeat,
                    ok=(0, 11))
    return {"what": f"`policy test` on {n:,} rules", "figure": f"{t * 1e3:.0f} ms",
            "baseline": f"start-up of `routes --json` {base * 1e3:.0f} ms", "ratio": t / base,
            "target": "<= 1.2x", "ok": t / base <= 1.2}


class Hub:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.tag = secrets.token_hex(3)
        self.ns = f"wcbench-{self.tag}-hub"
        self.ifname = f"wch{self.tag}"
        self.state = tmp / "state"

    def env(self) -> dict[str, str]:
        return {**os.environ, "WARPCLI_STATE_DIR": str(self.state), "WARPCLI_CONFIG_DIR": str(self.tmp / "c"),
                "WARPCLI_RUN_DIR": str(self.tmp / "run"), "WARPCLI_SECRET_BACKEND": "file", "NO_COLOR": "1"}

    def up(self) -> float:
        argv = ["ip", "netns", "exec", self.ns, WARPCLI, "hub", "up", "--endpoint", "192.0.2.1:51820",
                "--interface", self.ifname]
        return _median(argv, self.env(), 1)

    def __enter__(self) -> Hub:
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=30)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True, timeout=30).stdout
        for pid in {int(x) for x in out.split() if x.isdigit()}:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=60)
        Path(f"/var/run/wireguard/{self.ifname}.sock").unlink(missing_ok=True)


def _changes(big: Hub, little: Hub, n: int, small: int, repeat: int, *, delete: bool) -> tuple[float, float]:
    """The median `hub up` applying one change to a policy of about n rules, and the same at
    ``small`` rules, measured in turns on two hubs (so that a change in the machine's load
    weighs on both): one rule appended each time, or one rule deleted from the middle each time.
    The policies are loaded first (not timed)."""
    for hub, size in ((big, n), (little, small)):
        set_policy(hub.state, size, extra=repeat if delete else 0)
        hub.up()
    times: dict[int, list[float]] = {n: [], small: []}
    for k in range(1, repeat + 1):
        for hub, size in ((big, n), (little, small)):
            if delete:
                set_policy(hub.state, size, extra=repeat, dropped=k)
            else:
                set_policy(hub.state, size, extra=k)
            times[size].append(hub.up())
    return statistics.median(times[n]), statistics.median(times[small])


def hub_rows(n: int, small: int = 10, repeat: int = 7) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp, Hub(Path(tmp) / "a") as hub, Hub(Path(tmp) / "b") as other:
        hub.up()  # the hub itself (no policy yet)
        idle = min(hub.up() for _ in range(3))  # nothing to change
        set_policy(hub.state, n)
        load = hub.up()
        cost = load - idle
        out.append({"what": f"`hub up` loading a new policy of {n:,} rules (compile + one nft transaction)",
                    "figure": f"{load:.2f} s", "baseline": f"`hub up` with nothing to change {idle:.2f} s",
                    "ratio": load / idle, "target": "policy's share <= 1 s", "ok": cost <= 1.0,
                    "extra": f"policy's share {cost:.2f} s"})
        same = min(hub.up() for _ in range(3))
        out.append({"what": f"`hub up` with the policy of {n:,} rules loaded, nothing to change",
                    "figure": f"{same:.2f} s", "baseline": f"the same without a policy {idle:.2f} s",
                    "ratio": same / idle, "target": "-", "ok": None})
        other.up()
        for delete in (False, True):
            big, little = _changes(hub, other, n, small, repeat, delete=delete)
            what = "deleted" if delete else "added"
            out.append({"what": f"`hub up` applying one {what} rule at {n:,} rules (median of {repeat})",
                        "figure": f"{big:.2f} s", "baseline": f"the same at {small} rules {little:.2f} s",
                        "ratio": big / little, "target": "<= 1.5x", "ok": big / little <= 1.5})
    return out


def measure(quick: bool) -> list[dict]:
    n = 2_000 if quick else 10_000
    out = [policy_test_row(n, 5 if quick else 11)]
    if os.geteuid() != 0 or not shutil.which("nft"):
        out.append({"what": "`hub up` with a policy (needs root and nft)", "figure": "-", "target": "-",
                    "ratio": None, "ok": None})
        return out
    return out + hub_rows(n)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 rules")
    args = ap.parse_args()
    for r in measure(args.quick):
        ratio = f"{r['ratio']:.2f}x" if isinstance(r.get("ratio"), float) else "-"
        print(f"{r['what']:<72} {r['figure']:>9}  base {r.get('baseline', '-'):<44} {ratio:>7}  "
              f"target {r['target']}  {r.get('extra', '')}", flush=True)
