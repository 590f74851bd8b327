"""`warpcli controller serve` and `controller token` as real processes, over real HTTP on 127.0.0.1.

- tokens: shown once, never listed, only their sha256 in the state;
- the server's life: start-up line, logfmt access log without secrets, SIGTERM/SIGINT exit 0,
  an in-flight request finishing during shutdown, one-line start-up errors;
- auth: no token, a wrong, revoked or tunnel token are refused (401/403, Cloudflare's
  envelope) and change nothing;
- concurrency: 50 clients creating routes lose nothing and duplicate nothing; races on one
  CIDR and one tunnel name have exactly one winner.
"""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import WARPCLI, Paths, dump_state
from tests.served import ServedController, create_token, parse_logfmt

N_CLIENTS = 50


def envelope_error(resp: requests.Response, status: int) -> dict:
    """The Cloudflare failure envelope of ``resp``, which must have ``status``."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    assert len(body["errors"]) == 1 and isinstance(body["errors"][0]["code"], int)
    return body["errors"][0]


# -- tokens ---------------------------------------------------------------------------------
def test_a_token_is_shown_once_and_only_its_sha256_is_kept(paths: Paths, sh) -> None:
    r = sh("controller", "token", "create", "--name", "ci")
    assert r.exit_code == 0, r.stderr
    token = r.stdout.strip()
    assert r.stdout == token + "\n" and len(token) == 40
    assert "shown only this once" in r.stderr and token not in r.stderr

    r = sh("controller", "token", "create", "--name", "laptop", "--json")
    made = json.loads(r.stdout)
    assert set(made) == {"id", "name", "created_at", "account_id", "token", "api_url_hint"}
    assert made["name"] == "laptop" and made["api_url_hint"] == "http://127.0.0.1:8787/client/v4"
    assert made["token"] not in r.stderr

    listed = sh("controller", "token", "list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [t["name"] for t in rows] == ["ci", "laptop"]
    assert all(t["last_used_at"] is None and t["revoked_at"] is None for t in rows)
    table = sh("controller", "token", "list")
    for secret in (token, made["token"]):
        assert secret not in listed.stdout + listed.stderr + table.stdout + table.stderr

    # the state holds the digests, never a token (in no file of the state directory)
    dump = "\n".join(dump_state(paths.state))
    for secret in (token, made["token"]):
        assert hashlib.sha256(secret.encode()).hexdigest() in dump
        for f in paths.state.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f

    assert sh("controller", "token", "create", "--name", "ci").exit_code == 4
    assert sh("controller", "token", "create", "--name", "").exit_code == 2
    r = sh("controller", "token", "revoke", "ci", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["revoked_at"] is not None
    assert sh("controller", "token", "revoke", "ci").exit_code == 3
    assert sh("controller", "token", "revoke", made["id"]).exit_code == 0
    every = json.loads(sh("controller", "token", "list", "--all", "--json").stdout)
    assert [(t["name"], t["revoked_at"] is not None) for t in every] == [("ci", True), ("laptop", True)]
    assert json.loads(sh("controller", "token", "list", "--json").stdout) == []
    # a revoked name may be used again
    assert sh("controller", "token", "create", "--name", "ci").exit_code == 0


def test_the_state_dir_option_of_the_subcommand_wins(paths: Paths, sh, tmp_path: Path) -> None:
    other = tmp_path / "other-state"
    assert sh("controller", "token", "create", "--name", "x", "--state-dir", str(other)).exit_code == 0
    assert json.loads(sh("controller", "token", "list", "--json").stdout) == []
    assert [t["name"] for t in json.loads(sh("--state-dir", str(paths.state), "controller", "token", "list",
                                               "--state-dir", str(other), "--json").stdout)] == ["x"]


# -- the server's life -------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_starts_serves_logs_and_stops_cleanly(paths: Paths, sig: int) -> None:
    served = ServedController(paths.state).start()
    try:
        verify = requests.get(f"{served.url}/user/tokens/verify", headers=served.headers, timeout=30)
        assert verify.json()["result"] == {"id": served.token_id.replace("-", ""), "status": "active"}
        created = requests.post(served.account_url("/warp_connector"), json={"name": "office"},
                                headers=served.headers, timeout=30)
        assert created.status_code == 200, created.text
        requests.get(served.account_url("/warp_connector"), params={"name": "office", "api_token": "hush"},
                     headers=served.headers, timeout=30)
        requests.get(f"{served.url}/user/tokens/verify", headers={"Authorization": "Bearer wrong-token"},
                     timeout=30)
        # a path that would forge a second log line if it were written raw
        forged = requests.get(f"{served.url}/nothing%0Atime=0%20level=error%20msg=%22forged%22", timeout=30)
        assert forged.status_code in (401, 404)
        started = time.monotonic()
    finally:
        code = served.stop(sig)
    assert code == 0, served.log_text()
    assert time.monotonic() - started < 15

    lines = served.log_lines()  # every line is logfmt
    first = lines[0]
    assert first["msg"] == "listening" and first["url"] == served.url and first["account_id"] == served.account_id
    assert first["state_dir"] == str(paths.state) and first["tls"] == "false"
    own = [x for x in lines if x["logger"] == "warpcli.server"]  # an access line may follow "stopping"
    assert [x["msg"] for x in own] == ["listening", "stopping", "stopped"], served.log_text()
    assert own[1]["signal"] == signal.Signals(sig).name
    assert lines[-1]["msg"] == "stopped"
    # a line is written once its response is sent, so lines of back-to-back requests may swap
    access = [x for x in lines if x["logger"] == "warpcli.server.access"]
    forged_lines = [x for x in access if x["path"].startswith("/client/v4/nothing")]
    assert [x["path"] for x in forged_lines] == ['/client/v4/nothing\ntime=0 level=error msg="forged"']
    assert not [x for x in lines if x.get("msg") == "forged"]
    access = sorted((x for x in access if x not in forged_lines),
                    key=lambda x: (x["status"], x["method"], x["path"], x.get("query", "")))
    # (ServedController.start() makes the first verify request itself)
    assert [(x["method"], x["status"]) for x in access] == [("GET", "200"), ("GET", "200"), ("GET", "200"),
                                                           ("POST", "200"), ("GET", "401")]
    for x in access[:4]:
        assert (x["principal"], x["token_id"]) == ("api", served.token_id)
        assert float(x["duration_ms"]) >= 0 and x["remote"] == "127.0.0.1" and x["time"].endswith("Z")
    assert access[0]["query"] == "name=office&api_token=%2A%2A%2A"
    assert access[1]["path"] == "/client/v4/user/tokens/verify" and "query" not in access[1]
    assert (access[4]["principal"], access[4]["token_id"]) == ("-", "-")
    text = served.log_text()
    assert served.token not in text and "hush" not in text and "wrong-token" not in text
    # the state is intact and the token's use was noted
    conn = sqlite3.connect(paths.state / "state.db")
    try:
        assert conn.execute("SELECT name FROM tunnels").fetchall() == [("office",)]
        assert conn.execute("SELECT last_used_at IS NOT NULL FROM api_tokens").fetchall() == [(1,)]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def _recv_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def _wait_until_refused(host: str, port: int, bound: float = 15.0) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=2).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.02)  # polling a condition, with a bound
    raise AssertionError(f"the server still accepts connections {bound} s after SIGTERM")


def test_sigterm_lets_an_in_flight_request_finish(paths: Paths) -> None:
    """Headers first with ``Expect: 100-continue``: once the server answers "100 Continue" a
    worker owns the request; SIGTERM; once new connections are refused, the body follows."""
    with ServedController(paths.state) as served:
        url = urlsplit(served.account_url("/warp_connector"))
        body = json.dumps({"name": "in-flight"}).encode()
        sock = socket.create_connection((url.hostname, url.port), timeout=30)
        try:
            sock.sendall(
                f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {served.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
                "Expect: 100-continue\r\n\r\n".encode()
            )
            assert _recv_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100 Continue\r\n")
            served.proc.send_signal(signal.SIGTERM)
            _wait_until_refused(url.hostname, url.port)
            sock.sendall(body)
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        finally:
            sock.close()
        head, _, payload = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), response
        assert json.loads(payload)["result"]["name"] == "in-flight"
        assert served.stop() == 0, served.log_text()
    conn = sqlite3.connect(paths.state / "state.db")
    try:
        assert conn.execute("SELECT name FROM tunnels").fetchall() == [("in-flight",)]
    finally:
        conn.close()
    assert [(x["method"], x["status"]) for x in served.access_log()] == [("GET", "200"), ("POST", "200")]


def _serve(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([WARPCLI, "controller", "serve", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--listen", "8787"], 2, "is not ADDR:PORT"),
        (["--listen", "127.0.0.1:99999"], 2, "is not ADDR:PORT"),
        (["--listen", "::1:8787"], 2, "[::1]:8787"),
        (["--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem"], 2, "both --tls-cert and --tls-key"),
        (["--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], 2,
         "cannot read /nonexistent.pem"),
        (["--listen", "127.0.0.1:0", "--threads", "0"], 2, "--threads"),
    ],
    ids=["no-port", "port-too-big", "bare-ipv6", "cert-without-key", "unreadable-cert", "no-threads"],
)
def test_bad_serve_options_are_one_line(paths: Paths, args: list[str], code: int, says: str) -> None:
    r = _serve(*args)
    assert r.returncode == code, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("warpcli: error: ") and says in r.stderr, r.stderr
    assert r.stdout == ""


def test_a_port_in_use_is_one_line(paths: Paths) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = _serve("--listen", f"127.0.0.1:{busy.getsockname()[1]}")
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1].startswith("warpcli: error: cannot listen on 127.0.0.1:")
    assert "Address already in use" in r.stderr and "Traceback" not in r.stderr


def test_without_the_server_extra_serve_says_what_to_install(paths: Paths) -> None:
    probe = (
        "import sys\nsys.modules['flask'] = None\nsys.argv = ['warpcli', 'controller', 'serve']\n"
        "from warpcli.cli.app import main\nmain()\n"
    )
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr == ("warpcli: error: `controller serve` needs the server extra; pip install 'warpcli[server]' "
                        "(in a checkout: pip install -e '.[server]')\n")


def test_serve_over_tls(paths: Paths, tmp_path: Path) -> None:
    from tests.test_server import _self_signed

    cert, key = _self_signed(tmp_path)
    with ServedController(paths.state, extra_args=("--tls-cert", str(cert), "--tls-key", str(key)),
                          verify=str(cert)) as served:
        assert served.url.startswith("https://127.0.0.1:")
        resp = requests.get(f"{served.url}/user/tokens/verify", headers=served.headers, timeout=30, verify=str(cert))
        assert resp.json()["result"]["status"] == "active"
    assert served.log_lines()[0]["tls"] == "true"


def test_serve_json_matches_docs(paths: Paths) -> None:
    from tests.test_docs import _conforms, _field_tables

    with ServedController(paths.state) as served:
        pass
    _conforms(served.info, _field_tables()["Controller server"], "Controller server")
    assert served.info == {"url": served.url, "account_id": served.account_id, "state_dir": str(paths.state),
                           "tls": False, "database": None}


# -- auth ---------------------------------------------------------------------------------------
def test_every_refused_credential_changes_nothing(paths: Paths, sh) -> None:
    with ServedController(paths.state) as served:
        env = served.env
        for args in (["tunnel", "create", "office"], ["tunnel", "create", "lab"]):
            assert sh(*args, env=env).exit_code == 0
        tunnel_token = sh("tunnel", "token", "office").stdout.strip()  # the embedded controller's own view
        revoked = create_token(paths.state, "old")
        assert sh("controller", "token", "revoke", "old").exit_code == 0
        tunnels = served.account_url("/warp_connector")
        requests.get(tunnels, headers=served.headers, timeout=30)  # last_used_at noted before the snapshot
        before = dump_state(paths.state)

        post = {"name": "intruder"}
        cases = [
            ("no header", {}, 401, 9106),
            ("not bearer", {"Authorization": f"Basic {served.token}"}, 401, 9106),
            ("empty bearer", {"Authorization": "Bearer "}, 401, 9106),
            ("wrong token", {"Authorization": "Bearer " + "x" * 40}, 401, 10000),
            ("token with a byte changed", {"Authorization": f"Bearer {served.token[:-1]}A"
                                           if not served.token.endswith("A") else f"Bearer {served.token[:-1]}B"},
             401, 10000),
            ("revoked token", {"Authorization": f"Bearer {revoked['token']}"}, 401, 10000),
            ("tunnel token on an API endpoint", {"Authorization": f"Bearer {tunnel_token}"}, 403, 9109),
        ]
        for what, headers, status, code in cases:
            for method, url, body in (("GET", tunnels, None), ("POST", tunnels, post),
                                      ("GET", f"{served.url}/user/tokens/verify", None)):
                resp = requests.request(method, url, json=body, headers=headers, timeout=30)
                error = envelope_error(resp, status)
                assert error["code"] == code, (what, method, error)
                if status == 401:
                    assert resp.headers["WWW-Authenticate"] == "Bearer"
        # an API token for another account's path
        resp = requests.post(f"{served.url}/accounts/{'0' * 32}/warp_connector", json=post,
                             headers=served.headers, timeout=30)
        assert envelope_error(resp, 403)["code"] == 9109
        # the tunnel token of "office" on the enrollment endpoints of "lab" (tunnel_scoped ones)
        ids = {t["name"]: t["id"] for t in requests.get(tunnels, headers=served.headers, timeout=30).json()["result"]}
        as_office = {"Authorization": f"Bearer {tunnel_token}"}
        own = requests.get(served.account_url(f"/warpcli/tunnels/{ids['office']}"), headers=as_office, timeout=30)
        assert own.status_code == 200 and own.json()["result"]["name"] == "office"  # its own: allowed
        key = {"public_key": "x7Hq2b2bY0TR7HPIVo6bPq0sQ3l9Ry1xwDkqYdGmOmE="}
        for method, path, body in (("GET", f"/warpcli/tunnels/{ids['lab']}", None),
                                   ("POST", f"/warpcli/tunnels/{ids['lab']}/connectors", key),
                                   ("GET", f"/warpcli/tunnels/{ids['lab']}/peers", None)):
            resp = requests.request(method, served.account_url(path), json=body, headers=as_office, timeout=30)
            assert envelope_error(resp, 403)["code"] == 9109, (method, path)
        after = dump_state(paths.state)
    assert after == before
    text = served.log_text()
    for secret in (served.token, revoked["token"], tunnel_token):
        assert secret not in text
    refused = [x for x in served.access_log() if x["status"] in ("401", "403")]
    assert len(refused) == len(cases) * 3 + 1 + 3
    assert {x["tunnel_id"] for x in refused if x["principal"] == "tunnel"} == {ids["office"]}
    assert {x["principal"] for x in refused if x["status"] == "401"} == {"-"}
    assert {x["principal"] for x in refused if x["status"] == "403"} == {"tunnel", "api"}


# -- concurrency ----------------------------------------------------------------------------------
def _cloudflare_controller(served: ServedController):
    from warpcli.controllers.cloudflare import ApiClient, CloudflareController, RetryPolicy

    return CloudflareController(ApiClient(served.url, served.token, policy=RetryPolicy(read_timeout=60)),
                                served.account_id)


def _together(n: int, work) -> list:
    """Run ``work(i)`` in n threads released at once; every result or exception, in order."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
        assert not t.is_alive(), "a client hung"
    return results


@pytest.mark.slow
def test_fifty_clients_creating_routes_lose_nothing_and_duplicate_nothing(paths: Paths) -> None:
    from warpcli.core.cidr import parse_network

    per_client = 4
    with ServedController(paths.state) as served:
        setup = _cloudflare_controller(served)
        tunnels = [setup.create_tunnel(name).id for name in ("office", "lab")]
        staging = setup.create_virtual_network("staging").id
        setup.close()

        def work(i: int) -> list[str]:
            controller = _cloudflare_controller(served)  # its own session, as a separate client
            try:
                made = []
                for k in range(per_client):
                    net = f"10.{i}.{k}.0/24" if k % 2 == 0 else f"2001:db8:{i:x}:{k:x}::/64"
                    route = controller.create_route(parse_network(net), tunnels[i % 2],
                                                    virtual_network_id=staging if i % 5 == 0 else None)
                    made.append(route.id)
                return made
            finally:
                controller.close()

        results = _together(N_CLIENTS, work)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    ids = [rid for made in results for rid in made]
    conn = sqlite3.connect(paths.state / "state.db")
    try:
        rows = conn.execute("SELECT id, network, virtual_network_id FROM routes WHERE deleted_at IS NULL").fetchall()
    finally:
        conn.close()
    assert sorted(r[0] for r in rows) == sorted(ids) and len(set(ids)) == N_CLIENTS * per_client
    assert len({(r[1], r[2]) for r in rows}) == len(rows)
    assert not [x for x in served.access_log() if not x["status"].startswith("2")]


@pytest.mark.slow
def test_racing_for_one_cidr_or_one_tunnel_name_has_exactly_one_winner(paths: Paths) -> None:
    n = 20
    with ServedController(paths.state) as served:
        session_for = lambda: requests.Session()  # noqa: E731
        created = requests.post(served.account_url("/warp_connector"), json={"name": "office"},
                                headers=served.headers, timeout=30).json()["result"]
        staging = requests.post(served.account_url("/teamnet/virtual_networks"), json={"name": "staging"},
                                headers=served.headers, timeout=30).json()["result"]

        def same_cidr(i: int) -> requests.Response:
            with session_for() as s:
                return s.post(served.account_url("/teamnet/routes"), headers=served.headers, timeout=60,
                              json={"network": "192.168.0.0/16", "tunnel_id": created["id"],
                                    "virtual_network_id": staging["id"], "comment": f"client {i}"})

        def same_name(i: int) -> requests.Response:
            with session_for() as s:
                return s.post(served.account_url("/warp_connector"), json={"name": "racer"},
                              headers=served.headers, timeout=60)

        for work in (same_cidr, same_name):
            results = _together(n, work)
            assert not [r for r in results if isinstance(r, Exception)]
            assert Counter(r.status_code for r in results) == {200: 1, 409: n - 1}, work.__name__
            for r in results:
                if r.status_code == 409:
                    assert envelope_error(r, 409)["code"] == 1003
    conn = sqlite3.connect(paths.state / "state.db")
    try:
        assert conn.execute("SELECT count(*) FROM routes WHERE network = '192.168.0.0/16'").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM tunnels WHERE name = 'racer'").fetchone() == (1,)
    finally:
        conn.close()


def test_logfmt_parser_refuses_what_is_not_logfmt() -> None:
    assert parse_logfmt('a=1 b="x y" c=-') == {"a": "1", "b": "x y", "c": "-"}
    with pytest.raises(ValueError):
        parse_logfmt("Traceback (most recent call last):")


# -- the systemd unit example -------------------------------------------------------------------
UNIT = Path(__file__).resolve().parent.parent / "examples" / "warpcli-controller.service"


def test_the_systemd_unit_runs_serve_with_options_it_has(tmp_path: Path) -> None:
    import shlex
    import shutil

    import typer.main

    from warpcli.cli.app import app

    lines = [line.strip() for line in UNIT.read_text().splitlines() if line.strip() and not line.startswith("#")]
    settings = [line.split("=", 1) for line in lines if not line.startswith("[")]
    assert [line for line in lines if line.startswith("[")] == ["[Unit]", "[Service]", "[Install]"]
    (exec_start,) = [v for k, v in settings if k == "ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0].endswith("/warpcli") and argv[1:3] == ["controller", "serve"]
    serve = typer.main.get_command(app).get_command(None, "controller").get_command(None, "serve")
    known = {o for p in serve.params for o in getattr(p, "opts", [])}
    assert {a for a in argv[3:] if a.startswith("--")} <= known
    assert ("KillSignal", "SIGTERM") in [tuple(s) for s in settings]
    if shutil.which("systemd-analyze") is None:
        return
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(argv[0], WARPCLI))
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_logfmt_quotes_what_would_break_a_line() -> None:
    from warpcli.server.logfmt import line

    assert line({"a": "plain", "b": None, "c": True, "d": 1.5}) == "a=plain b=- c=true d=1.5"
    assert line({"path": "/a\nb c", "q": 'say "hi"', "e": "", "eq": "k=v"}) == (
        'path="/a\\nb c" q="say \\"hi\\"" e="" eq="k=v"'
    )


def test_the_cli_defaults_are_the_servers() -> None:
    """The CLI cannot import warpcli.server at start-up, so it repeats these constants."""
    import inspect

    from warpcli.cli.commands import controller as controller_cmds
    from warpcli.server import run

    assert controller_cmds.DEFAULT_LISTEN == run.DEFAULT_LISTEN == "127.0.0.1:8787"
    assert controller_cmds.API_URL_HINT == f"http://{run.DEFAULT_LISTEN}{run.PREFIX}"
    assert inspect.signature(controller_cmds.serve).parameters["threads"].default == run.DEFAULT_THREADS
    assert inspect.signature(controller_cmds.serve).parameters["per_client"].default == run.DEFAULT_PER_CLIENT


def test_token_create_writes_a_cloudflared_origin_cert_only_as_a_new_0600_file(paths: Paths, sh, tmp_path: Path) -> None:
    from tests.test_cloudflared_compat import read_origin_cert

    cert = tmp_path / "cert.pem"
    r = sh("controller", "token", "create", "--name", "cloudflared", "--origincert", str(cert), "--json")
    assert r.exit_code == 0, r.stderr
    made = json.loads(r.stdout)
    assert cert.stat().st_mode & 0o777 == 0o600
    decoded = read_origin_cert(cert.read_bytes())  # cloudflared's own decoding, ported
    assert decoded["accountID"] == made["account_id"] and decoded["apiToken"] == made["token"]
    assert made["token"] not in r.stderr
    # an existing file: refused before anything is made, the file untouched
    before, text = dump_state(paths.state), cert.read_text()
    r = sh("controller", "token", "create", "--name", "another", "--origincert", str(cert))
    assert r.exit_code == 4 and r.stdout == "" and r.stderr.count("\n") == 1 and "already exists" in r.stderr
    assert dump_state(paths.state) == before and cert.read_text() == text
    # a taken name: the new file is not left behind
    fresh = tmp_path / "fresh.pem"
    r = sh("controller", "token", "create", "--name", "cloudflared", "--origincert", str(fresh))
    assert r.exit_code == 4 and not fresh.exists()
    r = sh("controller", "token", "create", "--name", "x", "--origincert", str(tmp_path / "no" / "dir.pem"))
    assert r.exit_code == 2 and dump_state(paths.state) == before
