"""warpcli benchmarks: each figure against a baseline measured in the same run.

    .venv/bin/python benchmarks/run.py            # all rows, full size
    .venv/bin/python benchmarks/run.py --quick    # smaller inputs, every row: a smoke run (CI)
    .venv/bin/python benchmarks/run.py --only 1,2

Prints a table (figure, baseline, ratio, target) and writes benchmarks/results.json.
Times are medians of several repetitions. Benchmarks are not tests: a slow row is a
figure, not a failure; the exit status is 1 only when a row could not run (broken).
Rows 7-9 (control-plane commands, each a whole process): benchmarks/control_plane.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from warpcli.core.cidr import parse_network  # noqa: E402

BIN = Path(sys.executable).parent
WARPCLI = str(BIN / "warpcli")


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# -- data -------------------------------------------------------------------------
def random_cidrs(n: int, *, seed: int = 7, v6_share: float = 0.2) -> list[str]:
    """IPv4 /8-/32 and IPv6 /32-/128 prefixes, canonical, as strings."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        if rnd.random() < v6_share:
            p = rnd.randint(32, 128)
            v = (0x2001_0db8 << 96 | rnd.getrandbits(96)) & ~((1 << (128 - p)) - 1)
            out.append(f"{socket.inet_ntop(socket.AF_INET6, v.to_bytes(16, 'big'))}/{p}")
        else:
            p = rnd.randint(8, 32)
            v = rnd.getrandbits(32) & ~((1 << (32 - p)) - 1) & 0xFFFFFFFF
            out.append(f"{socket.inet_ntoa(v.to_bytes(4, 'big'))}/{p}")
    return out


def routes_in_vnets(n: int, vnets: int = 10) -> list[tuple[int, str]]:
    """n distinct (vnet, cidr) pairs."""
    seen: set[tuple[int, str]] = set()
    rnd = random.Random(11)
    cidrs = random_cidrs(n * 2)
    out = []
    for c in cidrs:
        key = (rnd.randrange(vnets), c)
        if key not in seen:
            seen.add(key)
            out.append(key)
            if len(out) == n:
                break
    return out


# -- row 1: overlap report --------------------------------------------------------
# `warpcli routes --overlaps` reads the routes from the controller (`route_entries`: the
# store decodes its address BLOBs, no text is parsed) and calls `service.overlaps`, which
# wraps every route in a RouteRef and runs the sweep. "ours" times exactly that call on
# a real store (only rendering is left out); the baseline is the plain sweep fed the same
# `route_entries` rows. The row's original form, from CIDR text in memory with parsing
# included, is kept as a further line: the library path (`parse_network` +
# `overlap_report`), e.g. for a controller that lists its routes as text.
def _plain_sweep(items: list[tuple]) -> int:
    """Sort ``(vnet, v6, lo, -hi)`` tuples and count the (route, nearest enclosing route) pairs."""
    items.sort()
    stack: list[tuple] = []
    pairs = 0
    for vnet, v6, lo, neg_hi in items:
        while stack and (stack[-1][0] != (vnet, v6) or stack[-1][1] < lo):
            stack.pop()
        if stack:
            pairs += 1
        stack.append(((vnet, v6), -neg_hi))
    return pairs


def baseline_sweep(rows: list[tuple[int, str]]) -> int:
    """The plain pure-Python sort-and-sweep over integer intervals (parse included)."""
    pton, fb = socket.inet_pton, int.from_bytes
    items = []
    for vnet, cidr in rows:
        a, _, p = cidr.partition("/")
        v6 = ":" in a
        bits = 128 if v6 else 32
        lo = fb(pton(socket.AF_INET6 if v6 else socket.AF_INET, a), "big")
        items.append((vnet, v6, lo, -(lo | ((1 << (bits - int(p))) - 1))))
    return _plain_sweep(items)


def baseline_sweep_entries(entries) -> int:
    """The same plain sweep over a controller's ``route_entries`` rows."""
    items = []
    for _id, _network, version, lo, plen, _tunnel, vnet in entries:
        v6 = version == 6
        items.append((vnet, v6, lo, -(lo | ((1 << ((128 if v6 else 32) - plen)) - 1))))
    return _plain_sweep(items)


def ours_overlaps(ctrl):
    """What `warpcli routes --overlaps` computes before rendering."""
    from warpcli.core.service import overlaps

    return overlaps(ctrl)


def ours_overlaps_text(rows: list[tuple[int, str]]):
    """The library path from text: parse each CIDR, feed the sweep."""
    from warpcli.core.overlaps import overlap_report

    def entries():
        for i, (vnet, cidr) in enumerate(rows):
            version, value, plen = parse_network(cidr)
            yield vnet, version, value, plen, i

    return overlap_report(entries())


def pairs_of(report) -> int:
    return sum(len(g.inner) for g in report.nested)


def median_pair(ours: Callable[[], object], base: Callable[[], object], repeat: int) -> dict[str, float]:
    """Medians of alternating runs (fairer under a varying load), wall and CPU; results are freed off the clock."""
    times: dict[str, list[float]] = {"ours": [], "base": [], "ours_cpu": [], "base_cpu": []}
    for _ in range(repeat):
        for name, fn in (("base", base), ("ours", ours)):
            t, c = time.perf_counter(), time.process_time()
            result = fn()
            times[name].append(time.perf_counter() - t)
            times[name + "_cpu"].append(time.process_time() - c)
            del result
    return {name: statistics.median(values) for name, values in times.items()}


PEAK_KB = """
import resource
try:  # the child's own high-water mark: Linux carries ru_maxrss over from the parent through fork + exec
    print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(code: str) -> float:
    p = subprocess.run([sys.executable, "-c", code + "\n" + PEAK_KB], capture_output=True, text=True, cwd=ROOT,
                       check=True)
    return int(p.stdout.split()[-1]) / 1024


def overlap_store(state: Path, n: int) -> None:
    """A store holding ``routes_in_vnets(n)`` in 10 vnets over 4 tunnels, imported in one go."""
    from warpcli.core.controller import RouteSpec

    ctrl = _controller(state)
    tunnels = [ctrl.create_tunnel(f"t{i}").id for i in range(4)]
    vnets = [ctrl.list_virtual_networks(is_default=True)[0].id]
    vnets += [ctrl.create_virtual_network(f"vnet{i}").id for i in range(1, 10)]
    ctrl.import_routes(
        RouteSpec(parse_network(c), tunnels[i % 4], vnets[v], "", i) for i, (v, c) in enumerate(routes_in_vnets(n))
    )
    ctrl.close()


def scatter_rows(state: Path) -> None:
    """Rewrite the routes table in id order, i.e. in random address order.

    One import writes rows sorted by (vnet, address), which hands both sweeps a
    presorted input; a store grown route by route has no such order.
    """
    import sqlite3

    conn = sqlite3.connect(state / "state.db", isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -1000000")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TEMP TABLE scattered AS SELECT * FROM routes ORDER BY id")
        conn.execute("DELETE FROM routes")
        conn.execute("INSERT INTO routes SELECT * FROM scattered")
        conn.execute("COMMIT")
    finally:
        conn.close()


def cli_overlaps_json(state: Path) -> tuple[float, float]:
    """One run of `warpcli routes --overlaps --json` (rendering included): seconds, peak RSS in MB."""
    with tempfile.TemporaryDirectory() as config:
        env = {**os.environ, "WARPCLI_STATE_DIR": str(state), "WARPCLI_CONFIG_DIR": config}
        argv = [WARPCLI, "routes", "--overlaps", "--json"]
        code = (  # a small middle process: its children's peak is the command's own
            "import resource, subprocess, time; t = time.perf_counter(); "
            f"subprocess.run({argv!r}, stdout=subprocess.DEVNULL, check=True); "
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        seconds, kb = p.stdout.split()
        return float(seconds), int(kb) / 1024


def row1(quick: bool) -> list[dict]:
    n = 100_000 if quick else 1_000_000
    target = "<= 2.5 s and <= 1.2x; <= 400 MB"
    limit = 2.5 * n / 1_000_000
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s"
        overlap_store(state, n)
        figures = {}
        for order in ("as imported", "scattered"):
            if order == "scattered":
                scatter_rows(state)
            ctrl = _controller(state)
            assert baseline_sweep_entries(ctrl.route_entries()) == pairs_of(ours_overlaps(ctrl)), "sweeps disagree"
            figures[order] = median_pair(lambda c=ctrl: ours_overlaps(c),
                                         lambda c=ctrl: baseline_sweep_entries(c.route_entries()), 3)
            ctrl.close()
        mem = peak_rss_mb(
            f"import sys; sys.path.insert(0, 'benchmarks'); import run; from pathlib import Path; "
            f"run.ours_overlaps(run._controller(Path({str(state)!r})))"
        )
        cli_seconds, cli_mem = cli_overlaps_json(state)
    fig, imported = figures["scattered"], figures["as imported"]
    ours, base = fig["ours"], fig["base"]
    out = [{
        "what": f"overlap report, {n:,} routes in a store (v4+v6, 10 vnets)",
        "figure": f"{ours:.2f} s", "baseline": f"{base:.2f} s (plain sweep, same rows)", "ratio": ours / base,
        "target": target,
        "extra": f"peak RSS {mem:.0f} MB; CPU {fig['ours_cpu']:.2f} s vs {fig['base_cpu']:.2f} s; "
                 f"rows in address order (one import): {imported['ours']:.2f} s vs {imported['base']:.2f} s "
                 f"({imported['ours'] / imported['base']:.2f}x); load avg {load:.1f}",
        "ok": ours <= limit and ours / base <= 1.2 and mem <= 400,
        "seconds": ours, "baseline_seconds": base, "cpu_seconds": fig["ours_cpu"],
        "baseline_cpu_seconds": fig["base_cpu"], "peak_rss_mb": mem,
        "imported_order": imported, "load_average": load,
    }, {
        "what": f"warpcli routes --overlaps --json, {n:,} routes (end to end)",
        "figure": f"{cli_seconds:.2f} s", "baseline": "-", "ratio": None, "target": "(report only, see above)",
        "extra": f"peak RSS {cli_mem:.0f} MB; rendering included", "ok": None,
        "seconds": cli_seconds, "peak_rss_mb": cli_mem,
    }]

    rows = routes_in_vnets(n)
    assert baseline_sweep(rows) == pairs_of(ours_overlaps_text(rows)), "the two sweeps disagree"
    fig = median_pair(lambda: ours_overlaps_text(rows), lambda: baseline_sweep(rows), 3)
    ours, base = fig["ours"], fig["base"]
    mem = peak_rss_mb(
        f"import sys; sys.path.insert(0, 'benchmarks'); import run; rows = run.routes_in_vnets({n}); "
        "run.ours_overlaps_text(rows)"
    )
    out.append({
        "what": f"overlap report from CIDR text, {n:,} routes (library, parse incl.)",
        "figure": f"{ours:.2f} s", "baseline": f"{base:.2f} s (plain sweep)", "ratio": ours / base,
        "target": target,
        "extra": f"peak RSS {mem:.0f} MB (incl. test data); CPU {fig['ours_cpu']:.2f} s vs {fig['base_cpu']:.2f} s",
        "ok": ours <= limit and ours / base <= 1.2 and mem <= 400,
        "seconds": ours, "baseline_seconds": base, "cpu_seconds": fig["ours_cpu"],
        "baseline_cpu_seconds": fig["base_cpu"], "peak_rss_mb": mem,
    })
    return out


# -- row 2: longest-prefix match --------------------------------------------------
def row2(quick: bool) -> dict:
    from warpcli.core.lpm import PrefixTable

    nroutes, nlookups = (20_000, 100_000) if quick else (200_000, 1_000_000)
    cidrs = random_cidrs(nroutes, v6_share=0.0)
    table = PrefixTable(((tuple(parse_network(c)), i) for i, c in enumerate(set(cidrs))))
    rnd = random.Random(3)
    addrs = [rnd.getrandbits(32) for _ in range(nlookups)]
    def ours() -> None:
        table.lookup_many(4, addrs)

    assert table.lookup_many(4, addrs[:1000]) == [table.lookup(4, a) for a in addrs[:1000]]

    t = median_time(ours, 3)
    rate = nlookups / t
    result = {"what": f"route get LPM, {nlookups:,} addresses vs {nroutes:,} routes",
              "figure": f"{rate / 1e6:.2f} M/s", "target": ">= 1.5 M/s", "ok": rate >= 1.5e6, "rate": rate}
    try:
        import pytricia  # type: ignore[import-not-found]

        pt = pytricia.PyTricia(32)
        for i, c in enumerate(cidrs):
            pt[c] = i
        if hasattr(pt, "freeze"):
            pt.freeze()
        strs = [socket.inet_ntoa(a.to_bytes(4, "big")) for a in addrs]
        base_rate = nlookups / median_time(lambda: [pt.get(s) for s in strs], 3)
        result.update(baseline=f"{base_rate / 1e6:.2f} M/s (pytricia)", ratio=base_rate / rate)
    except ImportError:
        result.update(baseline="pytricia not installed", ratio=None)
    return result


# -- row 3: the embedded controller at scale --------------------------------------
def _controller(state: Path):
    from warpcli.controllers.local import LocalController
    from warpcli.secret_stores.file_store import FileStore

    return LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))


def _store_ops(ctrl, tunnel_id: str, vnet_id: str, rnd: random.Random) -> dict[str, float]:
    from warpcli.core.cidr import Network
    from warpcli.core.model import RouteFilter

    def add() -> None:
        # a fresh /32 in 203.0.113.0/24-style space, never present: duplicate + overlap checks
        while True:
            net = Network(4, (198 << 24) | (51 << 16) | rnd.getrandbits(16), 32)
            try:
                route = ctrl.create_route(net, tunnel_id, virtual_network_id=vnet_id)
                break
            except Exception:
                continue
        list(ctrl.list_routes(RouteFilter(virtual_network_id=vnet_id, network_superset=net)))
        list(ctrl.list_routes(RouteFilter(virtual_network_id=vnet_id, network_subset=net)))
        ctrl.delete_route(route.id)

    def get() -> None:
        ctrl.get_route_by_ip(4, rnd.getrandbits(32), virtual_network_id=vnet_id)

    def within() -> None:
        base = rnd.getrandbits(32) & 0xFFFF0000
        list(ctrl.list_routes(RouteFilter(virtual_network_id=vnet_id, network_subset=Network(4, base, 16))))

    return {name: median_time(fn, 31) for name, fn in (("route add", add), ("route get", get),
                                                            ("routes --within /16", within))}


def row3(quick: bool) -> list[dict]:
    from warpcli.core.controller import RouteSpec

    n = 100_000 if quick else 1_000_000
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        empty = _controller(Path(tmp) / "empty")
        t_e = empty.create_tunnel("t")
        v_e = empty.list_virtual_networks(is_default=True)[0]
        base = _store_ops(empty, t_e.id, v_e.id, random.Random(5))
        full = _controller(Path(tmp) / "full")
        t = full.create_tunnel("t")
        v = full.list_virtual_networks(is_default=True)[0]
        cidrs = [c for c in dict.fromkeys(random_cidrs(n * 11 // 10, v6_share=0.0))][:n]
        t0 = time.perf_counter()
        full.import_routes(RouteSpec(parse_network(c), t.id, v.id, "", i) for i, c in enumerate(cidrs))
        load = time.perf_counter() - t0
        ours = _store_ops(full, t.id, v.id, random.Random(5))
        for name in base:
            ratio = ours[name] / base[name]
            out.append({
                "what": f"store with {n:,} routes: {name}", "figure": f"{ours[name] * 1e3:.2f} ms",
                "baseline": f"{base[name] * 1e3:.2f} ms (empty store)", "ratio": ratio, "target": "<= 3x",
                "ok": ratio <= 3.0,
            })
        out.append({"what": f"routes import of {n:,} rows (one transaction)", "figure": f"{load:.1f} s",
                    "baseline": "-", "ratio": None, "target": "well under 60 s", "ok": load < 60})
    return out


# -- row 4: start-up --------------------------------------------------------------
MINIMAL_TYPER = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "x") -> None:
    print(name)
app()
"""


def _run_median(argv: list[str], env: dict, repeat: int) -> float:
    def once() -> None:
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    once()  # warm the page cache and .pyc files
    return median_time(once, repeat)


def row4(quick: bool) -> list[dict]:
    repeat = 7 if quick else 21
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WARPCLI_STATE_DIR": f"{tmp}/s", "WARPCLI_CONFIG_DIR": f"{tmp}/c"}
        script = Path(tmp) / "minimal.py"
        script.write_text(MINIMAL_TYPER)
        py = _run_median([sys.executable, "-I", "-c", "pass"], env, repeat)
        typer_min = _run_median([sys.executable, str(script), "--name", "a"], env, repeat)
        out = []
        for argv in (["--version"], ["routes", "--json"]):
            t = _run_median([WARPCLI, *argv], env, repeat)
            out.append({
                "what": f"start-up: warpcli {' '.join(argv)}", "figure": f"{t * 1e3:.0f} ms",
                "baseline": f"{typer_min * 1e3:.0f} ms (1-command Typer app); python -I: {py * 1e3:.0f} ms",
                "ratio": t / typer_min, "target": "<= 1.2x", "ok": t / typer_min <= 1.2,
            })
    return out


# -- row 6: printing a large table as JSON ----------------------------------------
def row6(quick: bool) -> dict:
    from warpcli.core.controller import RouteSpec

    n = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "s"
        ctrl = _controller(state)
        t = ctrl.create_tunnel("t")
        v = ctrl.list_virtual_networks(is_default=True)[0]
        cidrs = list(dict.fromkeys(random_cidrs(n * 11 // 10)))[:n]
        ctrl.import_routes(RouteSpec(parse_network(c), t.id, v.id, "", i) for i, c in enumerate(cidrs))
        ctrl.close()
        env = {**os.environ, "WARPCLI_STATE_DIR": str(state), "WARPCLI_CONFIG_DIR": f"{tmp}/c"}
        sqlite = shutil.which("sqlite3")
        ours = _run_median([WARPCLI, "routes", "--json"], env, 5)
        mem = _child_rss([WARPCLI, "routes", "--json"], env)
        res = {"what": f"warpcli routes --json, {n:,} routes", "figure": f"{ours:.2f} s",
               "target": "<= 3x, streaming", "extra": f"peak RSS {mem:.0f} MB"}
        if sqlite:
            q = ("SELECT r.id, r.network, r.tunnel_id, t.name AS tunnel_name, r.virtual_network_id, "
                 "v.name AS virtual_network_name, r.comment, r.created_at, r.deleted_at FROM routes r "
                 "JOIN tunnels t ON t.id = r.tunnel_id JOIN virtual_networks v ON v.id = r.virtual_network_id "
                 "WHERE r.deleted_at IS NULL")
            base = _run_median([sqlite, "-json", str(state / "state.db"), q], env, 5)
            res.update(baseline=f"{base:.2f} s (sqlite3 -json)", ratio=ours / base, ok=ours / base <= 3)
        else:
            res.update(baseline="sqlite3 CLI missing", ratio=None, ok=None)
        return res


def _child_rss(argv: list[str], env: dict) -> float:
    code = (
        "import resource, subprocess, sys; "
        f"subprocess.run({argv!r}, stdout=subprocess.DEVNULL, env={env!r}); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(p.stdout.split()[-1]) / 1024


def row5(quick: bool) -> dict:
    """Kernel routes in bulk (root only: it makes its own network namespaces)."""
    if os.geteuid() != 0:
        return {"what": "install/remove 10,000 kernel routes in a netns", "figure": "-", "baseline": "ip -batch",
                "ratio": None, "target": "<= 2x", "ok": None, "extra": "needs root"}
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import kernel_routes

    return kernel_routes.measure(quick)


def row13(quick: bool) -> list[dict]:
    """`warpcli up`/`down` and `hub up`/`hub down` with many routes (root: makes its own namespaces)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import host_up

    return host_up.measure(quick)


def row14(quick: bool) -> list[dict]:
    """TCP between two sites through the hub vs a direct wireguard-go tunnel (root, iperf3)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import dataplane

    return dataplane.measure(quick)



def row18(quick: bool) -> list[dict]:
    """Network policies: `policy test` start-up, `hub up` loading and updating a large policy."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import policy_bench

    return policy_bench.measure(quick)


def row19(quick: bool) -> list[dict]:
    """Throughput through the hub with a 10,000-rule network policy vs none (root, iperf3, nft)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import dataplane

    return dataplane.measure_policy(quick)


def row12(quick: bool) -> list[dict]:
    """Route creates through `controller serve` (benchmarks/served_creates.py)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import served_creates

    return served_creates.measure(quick)



def row10(quick: bool) -> dict:
    import apply_bench  # issue 15: the plan and the apply of a network file

    return apply_bench.row10(quick, WARPCLI)


def row11(quick: bool) -> dict:
    import apply_bench

    return apply_bench.row11(quick, WARPCLI)


def _control_plane(name: str) -> Callable[[bool], list[dict]]:
    def row(quick: bool) -> list[dict]:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import control_plane

        return getattr(control_plane, name)(quick)

    return row




def _postgres_row(num: int) -> Callable[[bool], object]:
    """Rows 15-17 (benchmarks/postgres.py: its row7-row9), imported only when run: they start a PostgreSQL cluster."""
    def run_row(quick: bool) -> object:
        from benchmarks import postgres

        return getattr(postgres, f"row{num}")(quick)
    return run_row


#: every row, by number (tests/test_benchmarks_quick.py reads the keys of this literal)
ROWS = {1: row1, 2: row2, 3: row3, 4: row4, 5: row5, 6: row6,
        7: _control_plane("row7"), 8: _control_plane("row8"), 9: _control_plane("row9"),
        10: row10, 11: row11, 12: row12, 13: row13, 14: row14,
        15: _postgres_row(7), 16: _postgres_row(8), 17: _postgres_row(9), 18: row18, 19: row19}


def _cache_bytecode() -> None:
    """Time warpcli as installed: with its modules' .pyc files written and used.

    pip writes them at install; a shell that sets PYTHONDONTWRITEBYTECODE (this one
    did) would otherwise have every timed run recompile each module edited since
    the last cached compile, and time the compiler (~2 ms a module) instead of us.
    """
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    compileall.compile_dir(str(ROOT / "warpcli"), quiet=1)


def main() -> None:
    _cache_bytecode()
    # the tables are timed as a pipe prints them, whole: a COLUMNS in the environment (pytest-xdist
    # sets one) would make `warpcli routes` fit them to a terminal that is not there
    for var in ("COLUMNS", "LINES"):
        os.environ.pop(var, None)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    ap.add_argument("--only", default="", help="comma-separated row numbers")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = ap.parse_args()
    only = {int(x) for x in args.only.split(",") if x} or set(ROWS)
    results, broken = [], []
    for num in sorted(only):
        try:
            got = ROWS[num](args.quick)
        except Exception as exc:  # a broken row: report it, run the others, fail at the end
            import traceback

            traceback.print_exc()
            broken.append(num)
            got = [{"what": f"row {num} BROKEN: {type(exc).__name__}: {exc}", "figure": "-", "target": "-",
                    "ratio": None, "ok": None, "broken": True}]
        for r in got if isinstance(got, list) else [got]:
            r["row"] = num
            results.append(r)
            ratio = f"{r['ratio']:.2f}x" if isinstance(r.get("ratio"), float) else "-"
            status = {True: "ok", False: "MISSED", None: "n/a"}[r.get("ok")]
            print(f"{num}  {r['what']:<58} {r['figure']:>11}  base {r.get('baseline', '-'):<40} "
                  f"{ratio:>7}  target {r['target']:<30} {status}  {r.get('extra', '')}", flush=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "quick": args.quick,
        "results": results,
    }
    Path(args.out).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    if broken:  # a slow row is a figure; a row that could not run is a failure
        print(f"broken row(s): {', '.join(map(str, broken))}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    main()
