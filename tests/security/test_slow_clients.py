"""Slow and idle clients against a real ``warpcli controller serve`` (issue 17, item 1).

A thousand connections that dribble headers (slowloris), dribble a body, or sit idle must
not keep a well-behaved client waiting: the front end holds connections on an event loop
and hands only complete requests to the worker threads. Bounds are relative to the
server's own deadline, not wall-clock budgets: a good request is answered while every
attacker is still connected and well inside the whole-request deadline (10 s) that the
attackers are about to hit; then the deadline itself is shown to close the dribblers.
"""

from __future__ import annotations

import resource
import select
import socket
import ssl
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.served import ServedController

#: the server's whole-request deadline (warpcli.server.front.Limits.request_timeout)
REQUEST_TIMEOUT = 10.0
ATTACKERS = 1000
#: attackers per source address (127.0.1.x), under the default cap of 64 per client
PER_SOURCE = 50

pytestmark = pytest.mark.slow


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _connect(host: str, port: int, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect((host, port))
    return sock


@contextmanager
def _attack(host: str, port: int, count: int, path: str, wrap=None) -> Iterator[list[tuple[str, socket.socket]]]:
    """``count`` connections from 127.0.1.x: a third slowloris (half a header block), a third
    slow body (full headers, a part of the body), a third idle (nothing sent)."""
    socks: list[tuple[str, socket.socket]] = []
    try:
        for i in range(count):
            sock = _connect(host, port, f"127.0.1.{1 + i // PER_SOURCE}")
            if wrap is not None:
                sock = wrap(sock)
            kind = ("headers", "body", "idle")[i % 3]
            if kind == "headers":
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n".encode())
            elif kind == "body":
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                             "Content-Length: 1000\r\n\r\n{".encode())
            socks.append((kind, sock))
        yield socks
    finally:
        for _, sock in socks:
            sock.close()


def _drip(socks: list[tuple[str, socket.socket]]) -> None:
    """One more slow step from every dribbling attacker (a header line, a body byte)."""
    for kind, sock in socks:
        if kind == "headers":
            sock.sendall(b"X-a: b\r\n")
        elif kind == "body":
            sock.sendall(b" ")


def _timed_get(url: str, **kwargs) -> float:
    started = time.monotonic()
    resp = requests.get(url, timeout=60, **kwargs)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    return elapsed


def _closed_by_server(sock: socket.socket, bound: float) -> bytes:
    """What the server sent before closing ``sock``, waiting at most ``bound`` seconds."""
    sock.settimeout(bound)
    data = b""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the server kept the connection open past the deadline; it sent {data!r}")


def _still_connected(socks: list[tuple[str, socket.socket]]) -> int:
    """How many attackers the server has neither answered nor closed (nothing readable on them)."""
    if socks and isinstance(socks[0][1], ssl.SSLSocket):  # TLS 1.3 session tickets are readable bytes
        alive = 0
        for _, sock in socks:
            sock.setblocking(False)
            try:
                sock.recv(1)
            except ssl.SSLWantReadError:
                alive += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return alive
    poller = select.poll()
    for _, sock in socks:
        poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return len(socks) - len(poller.poll(0))


def test_a_thousand_slow_and_idle_connections_do_not_delay_a_good_client(paths) -> None:
    _raise_fd_limit(ATTACKERS + 512)
    with ServedController(paths.state) as served:
        url = urlsplit(served.url)
        verify = f"{served.url}/user/tokens/verify"
        quiet = [_timed_get(verify, headers=served.headers) for _ in range(5)]
        with _attack(url.hostname, url.port, ATTACKERS, f"{url.path}/user/tokens/verify") as socks:
            attack_started = time.monotonic()
            during = []
            for _ in range(5):
                _drip(socks)
                during.append(_timed_get(verify, headers=served.headers))
            answered_within = time.monotonic() - attack_started
            # every attacker was still connected while the good requests were answered ...
            assert _still_connected(socks) == ATTACKERS
            assert answered_within < REQUEST_TIMEOUT / 2, (quiet, during)
            # ... and the whole-request deadline then closes the dribblers, dribbling or not
            _drip(socks)
            slow = [s for kind, s in socks if kind != "idle"]
            first = _closed_by_server(slow[0], REQUEST_TIMEOUT * 3)
            assert first.startswith(b"HTTP/1.1 408 "), first
            for sock in slow[1:]:
                _closed_by_server(sock, REQUEST_TIMEOUT)
        print(f"quiet median {statistics.median(quiet) * 1000:.1f} ms; under attack max "
              f"{max(during) * 1000:.1f} ms")
        assert requests.get(verify, headers=served.headers, timeout=30).status_code == 200
        assert served.problems() == []


def test_the_per_client_cap_refuses_and_logs(paths) -> None:
    cap = 10
    with ServedController(paths.state, extra_args=("--max-connections-per-client", str(cap))) as served:
        url = urlsplit(served.url)
        held = [_connect(url.hostname, url.port, "127.0.2.1") for _ in range(cap)]
        try:
            # held connections are counted once the server has accepted them: the next one is refused
            refused = _connect(url.hostname, url.port, "127.0.2.1")
            answer = _closed_by_server(refused, 30)
            assert answer.startswith(b"HTTP/1.1 429 "), answer
            assert b'"code":1001' in answer
            # another address is not affected, and neither is the good client
            other = _connect(url.hostname, url.port, "127.0.2.2")
            other.sendall(f"GET {url.path}/user/tokens/verify HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {served.token}\r\nConnection: close\r\n\r\n".encode())
            assert _closed_by_server(other, 30).startswith(b"HTTP/1.1 200 ")
            refused.close()
            other.close()
        finally:
            for sock in held:
                sock.close()
        assert requests.get(f"{served.url}/user/tokens/verify", headers=served.headers, timeout=30).ok
    (line,) = [x for x in served.log_lines() if x.get("cap") == "per_client"]
    assert line["level"] == "warning" and line["client"] == "127.0.2.1" and line["limit"] == str(cap)
    assert line["msg"] == "too many connections from one client: connection refused"


def test_the_tls_port_holds_up_the_same(paths, tmp_path: Path) -> None:
    from tests.test_server import _self_signed

    cert, key = _self_signed(tmp_path)
    attackers = 300
    _raise_fd_limit(attackers + 512)
    with ServedController(paths.state, extra_args=("--tls-cert", str(cert), "--tls-key", str(key)),
                          verify=str(cert)) as served:
        url = urlsplit(served.url)
        verify = f"{served.url}/user/tokens/verify"
        context = ssl.create_default_context(cafile=str(cert))
        half = attackers // 2
        # half never start the handshake (a TCP connection and silence) ...
        silent = [_connect(url.hostname, url.port, f"127.0.3.{1 + i // PER_SOURCE}") for i in range(half)]
        try:
            # ... half finish it and then dribble like the plain-text attackers
            with _attack(url.hostname, url.port, half, f"{url.path}/user/tokens/verify",
                         wrap=lambda s: context.wrap_socket(s, server_hostname="127.0.0.1")) as socks:
                started = time.monotonic()
                for _ in range(3):
                    _drip(socks)
                    _timed_get(verify, headers=served.headers, verify=str(cert))
                assert time.monotonic() - started < REQUEST_TIMEOUT / 2
                assert _still_connected(socks) == half
                # the handshake has a deadline too
                _closed_by_server(silent[0], REQUEST_TIMEOUT * 3)
        finally:
            for sock in silent:
                sock.close()
        assert served.problems() == []
