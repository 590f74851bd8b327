"""Rows 7-9: control-plane commands as a user runs them, each a whole ``warpcli`` process.

7. Listing through a served controller (``warpcli controller serve`` on loopback, the
   CLI's cloudflare controller pointed at it): ``routes --json`` and
   ``routes --overlaps --json``, against the same command on the embedded controller
   over the same state file; and the listing at 10x the routes (linear: <= 12x).
8. ``warpcli routes import FILE.csv`` into an empty table, against
   ``sqlite3 .import`` of the same file into a table with a unique (vnet, network) index.
9. The human table ``warpcli routes`` against ``warpcli routes --json``; when its
   first rows appear (read from a pipe), and ``warpcli routes | head``.

Runs alternate between ours and the baseline (fairer under a varying load); figures are
medians. Imported by ``run.py``; nothing here asserts a speed, only that each command
worked and said the same thing as its baseline.
"""

from __future__ import annotations

import os
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

WARPCLI = str(Path(sys.executable).with_name("warpcli"))

MEASURE = """
import resource, subprocess, sys, time
argv, stdin = sys.argv[1:], None
if argv[0] == "--stdin":
    stdin, argv = open(argv[1], "rb"), argv[2:]
t = time.perf_counter()
p = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
took = time.perf_counter() - t
if p.returncode:
    sys.stderr.buffer.write(p.stderr)
    sys.exit(p.returncode)
print(took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def timed(argv: list[str], env: dict[str, str], *, stdin: str | None = None) -> tuple[float, float]:
    """One run of ``argv`` in a small middle process: (seconds, the command's peak RSS in MB)."""
    pre = ["--stdin", stdin] if stdin else []
    p = subprocess.run([sys.executable, "-c", MEASURE, *pre, *argv], env=env, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    seconds, kb = p.stdout.split()
    return float(seconds), int(kb) / 1024


def paired(ours, base, repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """Medians of alternating runs of two zero-argument callables returning (seconds, MB)."""
    got: dict[str, list[tuple[float, float]]] = {"ours": [], "base": []}
    for _ in range(repeat):
        got["base"].append(base())
        got["ours"].append(ours())
    return tuple(  # type: ignore[return-value]
        {"s": statistics.median(x[0] for x in got[k]), "mb": max(x[1] for x in got[k])} for k in ("ours", "base")
    )


def _store(state: Path, n: int) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run

    run.overlap_store(state, n)  # n routes, 10 vnets, 4 tunnels


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "WARPCLI_CONFIG_DIR": str(tmp / "config"), "WARPCLI_SECRET_BACKEND": "file", **extra}


def _output(argv: list[str], env: dict[str, str]) -> bytes:
    p = subprocess.run(argv, env=env, capture_output=True, check=False)
    if p.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {p.stderr.decode(errors='replace')[-300:]}")
    return p.stdout


# -- row 7 -------------------------------------------------------------------------------
def row7(quick: bool) -> list[dict]:
    from tests.served import ServedController

    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    repeat = 3 if quick else 5
    out, listing = [], {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for n in (small, large):
            state = tmp / f"s{n}"
            _store(state, n)
            embedded = _env(tmp, WARPCLI_STATE_DIR=str(state))
            with ServedController(state, token_name=f"bench{os.getpid()}") as served:
                remote = _env(tmp, WARPCLI_STATE_DIR=str(tmp / "unused"), **served.env)
                argv = [WARPCLI, "routes", "--json"]
                if _output(argv, remote) != _output(argv, embedded):
                    raise RuntimeError("the served listing differs from the embedded one")
                ours, base = paired(lambda a=argv, e=remote: timed(a, e), lambda a=argv, e=embedded: timed(a, e),
                                    repeat)
                listing[n] = ours["s"]
                out.append({
                    "what": f"warpcli routes --json via controller serve, {n:,} routes",
                    "figure": f"{ours['s']:.2f} s", "baseline": f"{base['s']:.2f} s (embedded controller)",
                    "ratio": ours["s"] / base["s"], "target": "<= 3x", "ok": ours["s"] / base["s"] <= 3,
                    "extra": f"peak RSS {ours['mb']:.0f} MB; load avg {load:.1f}",
                    "seconds": ours["s"], "baseline_seconds": base["s"],
                })
                if n == large:
                    argv = [WARPCLI, "routes", "--overlaps", "--json"]
                    if _output(argv, remote) != _output(argv, embedded):
                        raise RuntimeError("the served overlap report differs from the embedded one")
                    ours, base = paired(lambda a=argv, e=remote: timed(a, e),
                                        lambda a=argv, e=embedded: timed(a, e), repeat)
                    out.append({
                        "what": f"warpcli routes --overlaps --json via controller serve, {n:,} routes",
                        "figure": f"{ours['s']:.2f} s", "baseline": f"{base['s']:.2f} s (embedded controller)",
                        "ratio": ours["s"] / base["s"], "target": "<= 3x", "ok": ours["s"] / base["s"] <= 3,
                        "extra": f"peak RSS {ours['mb']:.0f} MB", "seconds": ours["s"], "baseline_seconds": base["s"],
                    })
                problems = served.problems()
                if problems:
                    raise RuntimeError(f"the server's log: {problems[:3]}")
    ratio = listing[large] / listing[small]
    out.append({
        "what": f"the served listing at {large:,} vs {small:,} routes (linear: 10x)",
        "figure": f"{listing[large]:.2f} s", "baseline": f"{listing[small]:.2f} s ({small:,} routes)",
        "ratio": ratio, "target": "<= 12x", "ok": ratio <= 12,
    })
    return out


# -- row 8 -------------------------------------------------------------------------------
def import_csv(path: Path, n: int) -> None:
    """n rows (network, tunnel t0-t3, vnet '' or v1, a comment on every third), (vnet, network) unique."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run

    seen: set[tuple[int, str]] = set()
    with open(path, "w", encoding="utf-8") as f:
        f.write("network,tunnel,vnet,comment\n")
        i = 0
        for cidr in run.random_cidrs(n * 3, seed=5):
            v = i % 2
            if (v, cidr) in seen:
                continue
            seen.add((v, cidr))
            f.write(f"{cidr},t{i % 4},{'v1' if v else ''},{'' if i % 3 else f'row {i}'}\n")
            i += 1
            if i == n:
                return
    raise RuntimeError(f"only {i} distinct rows")


BASELINE_IMPORT = """CREATE TABLE routes(network TEXT, tunnel TEXT, vnet TEXT, comment TEXT);
CREATE UNIQUE INDEX route_cidr ON routes(vnet, network);
.import --csv --skip 1 {csv} routes
"""


def row8(quick: bool) -> list[dict]:
    n = 50_000 if quick else 1_000_000
    repeat = 3
    sqlite = shutil.which("sqlite3")
    if sqlite is None:
        return [{"what": f"warpcli routes import, {n:,} CSV rows", "figure": "-", "baseline": "sqlite3 CLI missing",
                 "ratio": None, "target": "<= 2x", "ok": None}]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv = tmp / "routes.csv"
        import_csv(csv, n)
        empty = tmp / "empty"
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import run

        ctrl = run._controller(empty)
        for i in range(4):
            ctrl.create_tunnel(f"t{i}")
        ctrl.create_virtual_network("v1")
        ctrl.close()
        script = tmp / "base.sql"
        script.write_text(BASELINE_IMPORT.format(csv=csv))

        def ours() -> tuple[float, float]:
            state = tmp / "state"
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(empty, state)
            got = timed([WARPCLI, "routes", "import", str(csv)], _env(tmp, WARPCLI_STATE_DIR=str(state)))
            with run._controller(state) as c:
                if sum(1 for _ in c.route_entries()) != n:
                    raise RuntimeError("routes import did not import every row")
            return got

        def base() -> tuple[float, float]:
            db = tmp / "base.db"
            db.unlink(missing_ok=True)
            return timed([sqlite, str(db)], dict(os.environ), stdin=str(script))

        o, b = paired(ours, base, repeat)
    ratio = o["s"] / b["s"]
    return [{
        "what": f"warpcli routes import FILE.csv, {n:,} rows (4 tunnels, 2 vnets)",
        "figure": f"{o['s']:.2f} s, {o['mb']:.0f} MB", "baseline": f"{b['s']:.2f} s (sqlite3 .import, unique index)",
        "ratio": ratio, "target": "<= 2x; <= 400 MB", "ok": ratio <= 2 and o["mb"] <= 400,
        "seconds": o["s"], "baseline_seconds": b["s"], "peak_rss_mb": o["mb"],
    }]


# -- row 9 -------------------------------------------------------------------------------
def first_rows_after(argv: list[str], env: dict[str, str], rows: int = 1) -> float:
    """Seconds from start until the first ``rows`` data rows (after header and rule) are read from a pipe."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        for _ in range(2 + rows):
            if not p.stdout.readline():
                raise RuntimeError("the table ended early")
        return time.perf_counter() - t
    finally:
        p.kill()
        p.wait()
        p.stdout.close()


def row9(quick: bool) -> list[dict]:
    n = 10_000 if quick else 100_000
    repeat = 3 if quick else 5
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        state = tmp / "s"
        _store(state, n)
        env = _env(tmp, WARPCLI_STATE_DIR=str(state))
        table = _output([WARPCLI, "routes"], env).decode().splitlines()
        if len(table) != n + 1:  # the header, then one line per route
            raise RuntimeError(f"the table has {len(table) - 1} rows, not {n}")
        ours, base = paired(lambda: timed([WARPCLI, "routes"], env), lambda: timed([WARPCLI, "routes", "--json"], env),
                            repeat)
        first = statistics.median(first_rows_after([WARPCLI, "routes"], env) for _ in range(repeat))
        head = statistics.median(
            timed(["sh", "-c", f"{WARPCLI} routes | head -n 20 >/dev/null"], env)[0] for _ in range(repeat)
        )
    ratio = ours["s"] / base["s"]
    return [{
        "what": f"warpcli routes (the table), {n:,} routes",
        "figure": f"{ours['s']:.2f} s, {ours['mb']:.0f} MB", "baseline": f"{base['s']:.2f} s (routes --json)",
        "ratio": ratio, "target": "<= 3x", "ok": ratio <= 3, "seconds": ours["s"], "baseline_seconds": base["s"],
    }, {
        "what": f"warpcli routes: first row on a pipe / `| head`, {n:,} routes",
        "figure": f"{first:.2f} / {head:.2f} s", "baseline": "-", "ratio": None, "target": "<= 0.3 s",
        "ok": first <= 0.3 and head <= 0.3, "first_row_seconds": first, "head_seconds": head,
    }]
