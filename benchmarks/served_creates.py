"""Row 7: route creates through ``warpcli controller serve``, 8 clients against 1 and against a bare app.

    .venv/bin/python benchmarks/served_creates.py [--quick]

Ours: a real ``warpcli controller serve`` process (an API token, ``--threads 8``) and N
``POST .../teamnet/routes`` (a distinct /24 each) sent by 1 and by 8 keep-alive clients
(threads of this process with ``http.client``, cheaper per request than ``requests`` so
that the server is what is timed). Baseline: a bare Flask app answering an equivalent
POST (parse the JSON body, answer a small JSON envelope) in its own process on the same
front end with the same settings (8 threads, access log on), driven by the same 8
clients. Targets (issue 16): 8 clients >= 0.8x the bare app, and >= 2x one client.
Figures are requests per second, the median of 3 rounds.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARPCLI = str(Path(sys.executable).parent / "warpcli")

BARE_APP = r'''
import json, logging, os, sys
from flask import Flask, Response, request
from warpcli.server import make_server, setup_access_log

app = Flask("bare")

@app.post("/client/v4/accounts/<account>/teamnet/routes")
def create(account):
    body = json.loads(request.get_data() or b"{}")
    text = json.dumps({"success": True, "errors": [], "messages": [], "result": {"network": body.get("network")}})
    return Response(text, mimetype="application/json")

setup_access_log(open(os.devnull, "w"))
server = make_server(app, "127.0.0.1", 0, threads=8)
print(json.dumps({"url": server.url + "/client/v4"}), flush=True)
server.start()
'''


def _start(argv: list[str], env: dict) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env, text=True)
    text = ""
    while True:  # the first JSON document on stdout (``serve --json`` indents it)
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{argv[:3]} did not start")
        text += line
        try:
            return proc, json.loads(text)
        except ValueError:
            continue


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _drive(url: str, token: str, account: str, tunnel_id: str, clients: int, per_client: int,
           offset: int) -> float:
    """Requests per second of ``clients`` keep-alive clients sending ``per_client`` creates each."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    path = f"{u.path}/accounts/{account}/teamnet/routes"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    failures: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        start.wait()
        for i in range(per_client):
            n = offset + k * per_client + i
            body = json.dumps({"network": f"10.{n // 256 % 256}.{n % 256}.0/24", "tunnel_id": tunnel_id,
                               "comment": f"{n // 65536}"})
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                failures.append(f"{resp.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    took = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} creates failed, e.g. {failures[0]}")
    return clients * per_client / took


def measure(quick: bool) -> list[dict]:
    total = 800 if quick else 4000
    rounds = 3
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WARPCLI_STATE_DIR": f"{tmp}/s", "WARPCLI_CONFIG_DIR": f"{tmp}/c",
               "WARPCLI_SECRET_BACKEND": "file", "HOME": tmp}
        made = json.loads(subprocess.run([WARPCLI, "controller", "token", "create", "--name", "bench", "--json"],
                                         env=env, capture_output=True, text=True, check=True).stdout)
        token, account = made["token"], made["account_id"]
        ours, info = _start([WARPCLI, "controller", "serve", "--listen", "127.0.0.1:0", "--threads", "8",
                             "--json"], env)
        bare, bare_info = _start([sys.executable, "-c", BARE_APP], env)
        try:
            tunnel = subprocess.run([WARPCLI, "tunnel", "create", "bench", "--json"], env=env, capture_output=True,
                                    text=True, check=True)
            tunnel_id = json.loads(tunnel.stdout)["id"]
            one, eight, base = [], [], []
            offset = 0
            for _ in range(rounds):
                one.append(_drive(info["url"], token, account, tunnel_id, 1, total // 4, offset))
                offset += total // 4
                eight.append(_drive(info["url"], token, account, tunnel_id, 8, total // 8, offset))
                offset += total
                base.append(_drive(bare_info["url"], token, account, tunnel_id, 8, total // 8, 0))
        finally:
            _stop(ours)
            _stop(bare)
    r1, r8, rb = statistics.median(one), statistics.median(eight), statistics.median(base)
    return [
        {"what": "route creates through controller serve, 8 clients", "figure": f"{r8:.0f}/s",
         "baseline": f"{rb:.0f}/s (bare Flask app, same front end)", "ratio": r8 / rb, "target": ">= 0.8x",
         "ok": r8 / rb >= 0.8},
        {"what": "route creates through controller serve, 8 clients vs 1", "figure": f"{r8:.0f}/s",
         "baseline": f"{r1:.0f}/s (1 client)", "ratio": r8 / r1, "target": ">= 2x", "ok": r8 / r1 >= 2},
    ]


if __name__ == "__main__":
    for row in measure("--quick" in sys.argv):
        print(row)
