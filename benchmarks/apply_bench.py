"""Issue 15's benchmark rows: `warpcli apply` against `routes export` / `routes import` (whole CLI
commands as subprocesses, baselines in the same run, medians).

- row 10: the plan (`apply --dry-run`) of a file of N routes against a store holding the same N
  routes, vs `routes export` of that store (target <= 1.5x);
- row 11: `apply --prune` of 1,000 changes (creates, comment edits, deletes) within N routes, vs
  `routes import` of 1,000 rows into the same store (target <= 2x).

Run through benchmarks/run.py (``--only 10,11``). The request count of a plan against a
Cloudflare-dialect server is a test (tests/test_apply_atomic.py), not a timing.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from warpcli.core.cidr import parse_network


def _cidrs(n: int) -> list[str]:
    return [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32" for i in range(n)]


def _store(state: Path, n: int) -> None:
    from warpcli.controllers.local.store import LocalController
    from warpcli.core.controller import RouteSpec
    from warpcli.secret_stores import open_secret_store

    ctrl = LocalController(state, secrets=lambda: open_secret_store("file", state))
    ta, tb = ctrl.create_tunnel("office"), ctrl.create_tunnel("lab")
    vid = ctrl.list_virtual_networks(is_default=True)[0].id
    ctrl.import_routes(RouteSpec(parse_network(c), ta.id if i % 2 else tb.id, vid, f"c{i % 7}", i)
                       for i, c in enumerate(_cidrs(n)))
    ctrl.close()


def _timed(argv: list[str], env: dict, repeat: int, prepare=None) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of the command.

    On a shared machine the CPU time is the steadier figure; both are reported.
    """
    times, cpus = [], []
    for _ in range(repeat + 1):  # the first run warms the page cache
        if prepare is not None:
            prepare()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if p.returncode not in (0, 10):
            raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return statistics.median(times[1:]), statistics.median(cpus[1:])


def _result(what: str, ours: tuple[float, float], base: tuple[float, float], base_name: str,
            target: float) -> dict:
    return {"what": what, "figure": f"{ours[0]:.2f} s", "baseline": f"{base[0]:.2f} s ({base_name})",
            "ratio": ours[0] / base[0], "target": f"<= {target}x", "ok": ours[0] / base[0] <= target,
            "extra": f"CPU {ours[1]:.2f} s vs {base[1]:.2f} s: {ours[1] / base[1]:.2f}x"}


def _env(tmp: str, state: Path) -> dict:
    return {**os.environ, "WARPCLI_STATE_DIR": str(state), "WARPCLI_CONFIG_DIR": f"{tmp}/c",
            "WARPCLI_SECRET_BACKEND": "file"}


def row10(quick: bool, warpcli: str) -> dict:
    n = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s"
        _store(state, n)
        env = _env(tmp, state)
        net = Path(tmp) / "network.toml"
        with open(net, "w") as out:
            subprocess.run([warpcli, "export"], env=env, stdout=out, stderr=subprocess.DEVNULL, check=True)
        repeat = 5
        ours = _timed([warpcli, "apply", "-f", str(net), "--dry-run"], env, repeat)
        base = _timed([warpcli, "routes", "export"], env, repeat)
        return _result(f"apply --dry-run: plan of {n:,} routes vs a store of the same", ours, base,
                       "routes export", 1.5)


def row11(quick: bool, warpcli: str) -> dict:
    n = 10_000 if quick else 100_000
    k = 1000
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        _store(template, n)
        state = Path(tmp) / "s"
        env = _env(tmp, state)

        def fresh() -> None:
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(template, state)

        fresh()
        text = subprocess.run([warpcli, "export"], env=env, capture_output=True, text=True, check=True).stdout
        head, _, body = text.partition("routes = [\n")
        lines = body.split("\n")
        routes, tail = lines[:n], "\n".join(lines[n:])
        third = k // 3
        # k changes: third new routes, third comment edits, the rest deleted (left out, --prune)
        changed = [line.replace('comment = "c', 'comment = "edited c') for line in routes[:third]]
        kept = routes[third:n - (k - 2 * third)]
        new = [f'  {{ network = "11.0.{i >> 8 & 255}.{i & 255}/32", tunnel = "office", vnet = "default" }},'
               for i in range(third)]
        net = Path(tmp) / "network.toml"
        net.write_text(head + "routes = [\n" + "\n".join(changed + kept + new) + "\n" + tail)
        rows = Path(tmp) / "rows.csv"
        rows.write_text("network,tunnel,vnet,comment\n" + "".join(
            f"12.0.{i >> 8 & 255}.{i & 255}/32,office,default,imported\n" for i in range(k)))
        repeat = 3
        ours = _timed([warpcli, "apply", "-f", str(net), "--prune"], env, repeat, fresh)
        base = _timed([warpcli, "routes", "import", str(rows)], env, repeat, fresh)
        return _result(f"apply --prune: {k:,} changes within {n:,} routes (embedded)", ours, base,
                       f"routes import of {k:,} rows", 2)
