"""Benchmark rows 15-17 (run.py; this module names them row7-row9): the embedded controller on PostgreSQL (issue 14), each against a baseline
measured in the same run.

    .venv/bin/python benchmarks/run.py --only 15,16,17 [--quick]

- row 7: route creates through the HTTP API, 16 concurrent clients spread over 2 replicas on
  PostgreSQL, against 16 clients on 1 replica on SQLite (target >= 2x the throughput);
- row 8: listing every route through the API (pages of 1000), PostgreSQL against SQLite
  (target <= 1.5x the time);
- row 9: store operations at 1M routes on PostgreSQL against an empty PostgreSQL store
  (target <= 3x, as row 3 for SQLite).

A private cluster (tests/pg.py) is started for the run and removed after it. Clients are
separate processes (the clients' own CPU must not be what is measured on a small machine).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

CLIENTS = 16
CLIENT_PROCS = 4


def _cluster():
    from tests.pg import PgCluster

    why = PgCluster.unavailable()
    if why is not None:
        raise SystemExit(f"rows 15-17 need PostgreSQL: {why}")
    return PgCluster.start()


@contextmanager
def _servers(state: Path, url: str | None, n: int):
    from tests.served import ServedController

    old = os.environ.get("WARPCLI_DATABASE_URL")
    if url:
        os.environ["WARPCLI_DATABASE_URL"] = url
    os.environ["WARPCLI_SECRET_BACKEND"] = "file"
    started = []
    try:
        for i in range(n):
            started.append(ServedController(state, token_name=f"bench{i}", extra_args=("--threads", "16"),
                                            log_file=state.parent / f"serve{i}.log").start())
        yield started
    finally:
        for s in started:
            s.stop()
        if old is None:
            os.environ.pop("WARPCLI_DATABASE_URL", None)
        else:
            os.environ["WARPCLI_DATABASE_URL"] = old


def _client_proc(args: tuple) -> tuple[int, int]:
    """One process, several threads, keep-alive connections: (200s, others)."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    urls, token, tunnel, nets = args
    ok = [0, 0]
    lock = threading.Lock()
    chunks = [nets[i::CLIENTS // CLIENT_PROCS] for i in range(CLIENTS // CLIENT_PROCS)]

    def run(k: int) -> None:
        u = urlsplit(urls[k % len(urls)])
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        for net in chunks[k]:
            body = json.dumps({"network": net, "tunnel_id": tunnel})
            conn.request("POST", u.path, body, {"Authorization": f"Bearer {token}",
                                                "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            with lock:
                ok[0 if resp.status == 200 else 1] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0], ok[1]


def _throughput(servers, n: int, offset: int) -> float:
    import requests

    a = servers[0]
    r = requests.post(a.account_url("/warp_connector"), json={"name": f"bench-{offset}"}, headers=a.headers,
                      timeout=60)
    tunnel = r.json()["result"]["id"]
    nets = [f"{offset}.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}/32" for i in range(n)]
    urls = [s.account_url("/teamnet/routes") for s in servers]
    jobs = []
    for p in range(CLIENT_PROCS):
        # each process's threads alternate over the replicas
        jobs.append((urls[p % len(urls):] + urls[:p % len(urls)], a.token, tunnel, nets[p::CLIENT_PROCS]))
    with ProcessPoolExecutor(CLIENT_PROCS) as pool:
        pool.submit(int, 0).result()  # the processes exist before the clock starts
        t0 = time.perf_counter()
        done = list(pool.map(_client_proc, jobs))
        took = time.perf_counter() - t0
    good = sum(d[0] for d in done)
    assert good == n, f"only {good} of {n} creates succeeded"
    return n / took


def row7(quick: bool) -> dict:
    n = 1200 if quick else 4000
    cluster = _cluster()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            with _servers(Path(tmp) / "sqlite", None, 1) as one:
                _throughput(one, 200, 11)  # warm-up
                base = _throughput(one, n, 10)
            url = cluster.new_database()
            with _servers(Path(tmp) / "pg", url, 2) as two:
                _throughput(two, 200, 11)
                ours = _throughput(two, n, 10)
    finally:
        cluster.stop()
    ratio = ours / base
    return {"what": f"route creates via API, {CLIENTS} clients, 2 PG replicas ({n:,})",
            "figure": f"{ours:.0f}/s", "baseline": f"{base:.0f}/s (1 replica on SQLite)", "ratio": ratio,
            "target": ">= 2x the throughput", "ok": ratio >= 2.0, "extra": f"{os.cpu_count()} CPUs"}


def _fill(ctrl, n: int) -> None:
    from benchmarks.run import random_cidrs
    from warpcli.core.cidr import parse_network
    from warpcli.core.controller import RouteSpec

    t = ctrl.create_tunnel("t")
    v = ctrl.list_virtual_networks(is_default=True)[0]
    cidrs = list(dict.fromkeys(random_cidrs(n * 11 // 10, v6_share=0.0)))[:n]
    ctrl.import_routes(RouteSpec(parse_network(c), t.id, v.id, "", i) for i, c in enumerate(cidrs))


def _list_all(served) -> float:
    import requests

    s = requests.Session()
    t0 = time.perf_counter()
    page, got = 1, 0
    while True:
        r = s.get(served.account_url("/teamnet/routes"), headers=served.headers,
                  params={"page": page, "per_page": 1000}, timeout=600)
        doc = r.json()
        got += len(doc["result"])
        if got >= doc["result_info"]["total_count"] or not doc["result"]:
            break
        page += 1
    return time.perf_counter() - t0


def _store(state: Path, url: str | None):
    from warpcli.controllers.local.interface import open_store
    from warpcli.secret_stores.file_store import FileStore

    return open_store(url, state, secrets=lambda: FileStore(state / "secrets.json"))


def row8(quick: bool) -> dict:
    import statistics

    n = 20_000 if quick else 100_000
    cluster = _cluster()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = cluster.new_database()
            times = {}
            for name, where in (("sqlite", None), ("pg", url)):
                state = Path(tmp) / name
                ctrl = _store(state, where)
                _fill(ctrl, n)
                ctrl.close()
                with _servers(state, where, 1) as (served,):
                    _list_all(served)  # warm
                    times[name] = statistics.median(_list_all(served) for _ in range(3))
    finally:
        from warpcli.controllers.local.postgres import close_pools

        close_pools()
        cluster.stop()
    ratio = times["pg"] / times["sqlite"]
    return {"what": f"list {n:,} routes via API (pages of 1000) on PG", "figure": f"{times['pg']:.2f} s",
            "baseline": f"{times['sqlite']:.2f} s (SQLite)", "ratio": ratio, "target": "<= 1.5x the time",
            "ok": ratio <= 1.5}


def row9(quick: bool) -> list[dict]:
    from benchmarks.run import _store_ops

    n = 100_000 if quick else 1_000_000
    out = []
    cluster = _cluster()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            empty = _store(Path(tmp) / "e", cluster.new_database())
            t_e = empty.create_tunnel("t")
            v_e = empty.list_virtual_networks(is_default=True)[0]
            base = _store_ops(empty, t_e.id, v_e.id, random.Random(5))
            full = _store(Path(tmp) / "f", cluster.new_database())
            t0 = time.perf_counter()
            _fill(full, n)
            load = time.perf_counter() - t0
            t = full.list_tunnels()[0]
            v = full.list_virtual_networks(is_default=True)[0]
            ours = _store_ops(full, t.id, v.id, random.Random(5))
            for name in base:
                ratio = ours[name] / base[name]
                out.append({"what": f"PG store with {n:,} routes: {name}", "figure": f"{ours[name] * 1e3:.2f} ms",
                            "baseline": f"{base[name] * 1e3:.2f} ms (empty PG store)", "ratio": ratio,
                            "target": "<= 3x", "ok": ratio <= 3.0})
            out.append({"what": f"PG routes import of {n:,} rows (one transaction)", "figure": f"{load:.1f} s",
                        "baseline": "-", "ratio": None, "target": "-", "ok": None})
    finally:
        from warpcli.controllers.local.postgres import close_pools

        close_pools()
        cluster.stop()
    return out
