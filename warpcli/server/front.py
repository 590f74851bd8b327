"""The HTTP front end: an asyncio event loop reads whole requests, threads run the WSGI app.

Why not a threaded WSGI server (cheroot, which served here before): there a worker
thread owns a connection while it reads the request, so ``--threads`` slow clients
(a header line every few seconds, a body a byte at a time, or idle keep-alive) stop the
server for everyone (issue 17). Here one event loop holds every connection, reads each
request with :mod:`h11` under deadlines, and only a *complete* request reaches the
thread pool that runs the app, so a slow or idle connection costs a few kilobytes and
no thread. Limits (:class:`Limits`):

- a whole-request deadline: headers and body within ``request_timeout`` seconds of the
  request's first byte, else ``408`` and the connection is closed;
- an idle keep-alive connection is closed after ``idle_timeout`` seconds;
- the TLS handshake within ``request_timeout`` seconds (it happens on the event loop
  too, after the connection is counted);
- a response is written within ``write_timeout`` seconds, else the connection is dropped;
- headers at most ``max_header_bytes`` (``431``), a body at most ``max_body`` (``413``,
  decided from ``Content-Length`` before any of the body is read);
- at most ``per_client`` connections from one client (one IPv4 address, or one IPv6
  /64), and ``max_connections`` in all: a connection over a cap is answered ``429`` and
  closed, and the log says so (one line per client and cap at most every 10 seconds).

Malformed requests (a bad or signed ``Content-Length``, two ``Authorization`` headers,
a bad request line) are answered ``400`` at once, in the API's JSON envelope.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import json
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import h11

from warpcli.server.logfmt import log_fields

log = logging.getLogger("warpcli.server")

#: headers a request may carry once only: a second one is refused (400), never guessed at
_SINGLE_HEADERS = frozenset({b"authorization", b"host", b"content-type", b"content-length"})
#: how often one refused client (or the global cap) is logged at most, in seconds
_REFUSAL_LOG_INTERVAL = 10.0
_QUOTED_SLASH = re.compile(rb"%2F", re.IGNORECASE)
#: after refusing a body (413), how much of it is read and dropped so that the client,
#: still sending, reads the answer instead of a reset
_DRAIN_BYTES = 8 << 20
_DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server (see the module docstring)."""

    request_timeout: float = 10.0
    idle_timeout: float = 15.0
    write_timeout: float = 30.0
    max_header_bytes: int = 16 * 1024
    max_body: int = 1 << 20
    per_client: int = 64
    max_connections: int = 4096


def client_key(address: str) -> str:
    """What the per-client cap counts by: the IPv4 address, or the /64 of an IPv6 one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def _envelope(status: int, code: int, message: str, *, close: bool = True) -> tuple[int, list, bytes]:
    body = json.dumps({"success": False, "errors": [{"code": code, "message": message}], "messages": [],
                       "result": None}, separators=(",", ":")).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    return status, headers, body


_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 413: b"Payload Too Large", 429: b"Too Many Requests",
            431: b"Request Header Fields Too Large", 500: b"Internal Server Error"}
#: the front end's own failures, in the codes of :mod:`warpcli.server.errors`
BAD_REQUEST = (400, 1001, "Malformed HTTP request")
DUPLICATE_HEADER = (400, 1001, "A header that may appear once appears more than once: {}")
TIMEOUT = (408, 1001, "The request was not received in time")
TOO_LARGE = (413, 1008, "Request body too large")
HEADERS_TOO_LARGE = (431, 1001, "Request headers too large")
TOO_MANY = (429, 1001, "Too many connections from this client")


class _Refused(Exception):
    """Answer this failure and close the connection."""

    def __init__(self, failure: tuple[int, int, str], detail: str = "") -> None:
        super().__init__(failure[2])
        status, code, message = failure
        self.response = _envelope(status, code, message.format(detail) if detail else message)
        self.drain = False


class Server:
    """A bound, listening HTTP(S) server for a WSGI app; see the module docstring.

    ``Server(app, host, port)`` binds at once (``port`` 0 picks a free one, readable as
    ``server.port``); ``start_in_thread()`` serves in the background and ``stop()``
    closes the listener, lets in-flight requests finish within ``shutdown_timeout``
    seconds and waits for the serving thread.
    """

    def __init__(self, app: Callable, host: str, port: int, *, threads: int = 8,
                 ssl_context: ssl.SSLContext | None = None, limits: Limits | None = None,
                 backlog: int = 1024) -> None:
        self.app = app
        self.threads = threads
        self.ssl_context = ssl_context
        self.limits = limits or Limits()
        self.shutdown_timeout = 10.0
        self._backlog = backlog
        self._sock = _bind(host, port, backlog)
        self.bind_addr = self._sock.getsockname()[:2]
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = threading.Event()
        self._stopping = False
        self._serving: asyncio.Event | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._per_client: dict[str, int] = {}
        self._total = 0
        self._idle: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._refusals: dict[tuple[str, str], tuple[float, int]] = {}

    # -- the public face --------------------------------------------------------
    @property
    def host(self) -> str:
        return self.bind_addr[0]

    @property
    def port(self) -> int:
        return self.bind_addr[1]

    @property
    def url(self) -> str:
        """``scheme://host:port`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl_context is not None else 'http'}://{host}:{self.port}"

    @property
    def serving_in_thread(self) -> bool:
        """Whether the thread of ``start_in_thread()`` is still serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Serve in this thread until ``stop()`` is called from another."""
        asyncio.run(self._main())

    def start_in_thread(self) -> None:
        """Serve in a daemon thread; the socket is already bound and listening."""
        ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main(ready)),
                                        name=f"warpcli-server-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(30)

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (``shutdown_timeout``), wait for the thread."""
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(self._begin_stop)
            self._stopped.wait(self.shutdown_timeout + 10)
        else:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(timeout=self.shutdown_timeout + 10)
            self._thread = None

    # -- the loop -----------------------------------------------------------------
    async def _main(self, ready: threading.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._serving = asyncio.Event()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="warpcli-worker")
        try:
            server = await asyncio.start_server(self._connection, sock=self._sock, backlog=self._backlog)
        finally:
            if ready is not None:
                ready.set()
        try:
            await self._serving.wait()  # set by _begin_stop
            server.close()
            for writer in list(self._idle):  # no request under way: nothing to wait for
                writer.transport.abort()
            if self._tasks:
                _done, pending = await asyncio.wait(self._tasks, timeout=self.shutdown_timeout)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._sock.close()
            self._stopped.set()

    def _begin_stop(self) -> None:
        self._stopping = True
        if self._serving is not None:
            self._serving.set()

    # -- admission ------------------------------------------------------------------
    def _admit(self, key: str) -> str | None:
        """Count a new connection; the name of the cap it is over, if any."""
        if self._total >= self.limits.max_connections:
            return "max_connections"
        if self._per_client.get(key, 0) >= self.limits.per_client:
            return "per_client"
        self._total += 1
        self._per_client[key] = self._per_client.get(key, 0) + 1
        return None

    def _release(self, key: str) -> None:
        self._total -= 1
        left = self._per_client[key] - 1
        if left:
            self._per_client[key] = left
        else:
            del self._per_client[key]

    def _log_refusal(self, key: str, cap: str) -> None:
        now = time.monotonic()
        last, count = self._refusals.get((key, cap), (-_REFUSAL_LOG_INTERVAL, 0))
        count += 1
        if now - last < _REFUSAL_LOG_INTERVAL:
            self._refusals[(key, cap)] = (last, count)
            return
        self._refusals[(key, cap)] = (now, 0)
        limit = self.limits.per_client if cap == "per_client" else self.limits.max_connections
        what = ("too many connections from one client" if cap == "per_client"
                else "too many connections in all")
        log_fields(log, logging.WARNING, {"msg": f"{what}: connection refused", "client": key, "cap": cap,
                                          "limit": limit, "refused": count})

    # -- one connection ---------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("-", 0)
        key = client_key(str(peer[0]))
        over = None if not self._stopping else "stopping"
        if over is None:
            over = self._admit(key)
        if over is not None:
            if over != "stopping":
                self._log_refusal(key, over)
                if self.ssl_context is None:
                    status, headers, body = _envelope(*TOO_MANY)
                    writer.write(_raw_response(status, headers, body))
            if self.ssl_context is not None:
                writer.transport.abort()
            else:
                writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve_connection(reader, writer, peer)
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:
            log.error("unexpected error on a connection", exc_info=True)
        finally:
            self._idle.discard(writer)
            writer.transport.abort()
            self._release(key)
            if task is not None:
                self._tasks.discard(task)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                peer: tuple) -> None:
        limits = self.limits
        if self.ssl_context is not None:
            async with asyncio.timeout(limits.request_timeout):
                await writer.start_tls(self.ssl_context)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        while not self._stopping:
            try:
                request, body = await self._read_request(conn, reader, writer)
            except _Refused as refused:
                await self._send_and_close(conn, reader, writer, refused)
                return
            if request is None:
                return  # closed, or idle too long
            environ = self._environ(request, body, peer)
            status, headers, chunks = await asyncio.get_running_loop().run_in_executor(
                self._pool, _call_app, self.app, environ)
            if self._stopping:
                headers = [*headers, ("Connection", "close")]
            await self._send(conn, writer, status, headers, b"" if request.method == b"HEAD" else chunks)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> tuple[h11.Request | None, bytes]:
        """One whole request (headers and body) within the deadline, or (None, b"") when the
        client closed or stayed idle past ``idle_timeout``."""
        limits = self.limits
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        request: h11.Request | None = None
        body = bytearray()
        self._idle.add(writer)
        try:
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    failure = HEADERS_TOO_LARGE if exc.error_status_hint == 431 else BAD_REQUEST
                    raise _Refused(failure) from None
                if event is h11.NEED_DATA:
                    if deadline is None:
                        if self._stopping:
                            return None, b""
                        try:
                            async with asyncio.timeout(limits.idle_timeout):
                                data = await reader.read(65536)
                        except TimeoutError:
                            return None, b""
                        if not data:
                            return None, b""
                        self._idle.discard(writer)
                        deadline = loop.time() + limits.request_timeout
                    else:
                        try:
                            async with asyncio.timeout_at(deadline):
                                data = await reader.read(65536)
                        except TimeoutError:
                            raise _Refused(TIMEOUT) from None
                        if not data:
                            return None, b""
                    conn.receive_data(data)
                    continue
                if deadline is None:  # a pipelined request, already buffered
                    self._idle.discard(writer)
                    deadline = loop.time() + limits.request_timeout
                if isinstance(event, h11.Request):
                    request = event
                    self._check_request(event)
                    if conn.they_are_waiting_for_100_continue:
                        writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[],
                                                                         reason=b"Continue")))
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > limits.max_body:
                        refused = _Refused(TOO_LARGE)
                        refused.drain = True
                        raise refused
                elif isinstance(event, h11.EndOfMessage):
                    assert request is not None
                    return request, bytes(body)
                elif isinstance(event, h11.ConnectionClosed):
                    return None, b""
        finally:
            self._idle.discard(writer)

    def _check_request(self, request: h11.Request) -> None:
        seen: set[bytes] = set()
        length = None
        for name, value in request.headers:
            if name in _SINGLE_HEADERS:
                if name in seen:
                    raise _Refused(DUPLICATE_HEADER, name.decode("ascii", "replace").title())
                seen.add(name)
            if name == b"content-length":
                length = int(value)  # h11 has checked it is digits
        if not request.target.startswith(b"/"):
            raise _Refused(BAD_REQUEST)
        if length is not None and length > self.limits.max_body:
            refused = _Refused(TOO_LARGE)
            refused.drain = True
            raise refused

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, headers: list,
                    body: bytes, reason: bytes = b"") -> None:
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        writer.write(conn.send(h11.Response(status_code=status, headers=encoded, reason=reason)))
        if body:
            writer.write(conn.send(h11.Data(data=body)))
        writer.write(conn.send(h11.EndOfMessage()))
        async with asyncio.timeout(self.limits.write_timeout):
            await writer.drain()

    async def _send_and_close(self, conn: h11.Connection, reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter, refused: _Refused) -> None:
        status, headers, body = refused.response
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                await self._send(conn, writer, status, headers, body, _REASONS.get(status, b""))
            except h11.LocalProtocolError:
                writer.write(_raw_response(status, headers, body))
        else:
            writer.write(_raw_response(status, headers, body))
        async with asyncio.timeout(self.limits.write_timeout):
            await writer.drain()
        if refused.drain:  # let a client still sending its body read the answer, not a reset
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                async with asyncio.timeout(_DRAIN_SECONDS):
                    left = _DRAIN_BYTES
                    while left > 0 and (data := await reader.read(65536)):
                        left -= len(data)

    # -- WSGI ---------------------------------------------------------------------------
    def _environ(self, request: h11.Request, body: bytes, peer: tuple) -> dict[str, Any]:
        path, _, query = request.target.partition(b"?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method.decode("ascii"),
            "SCRIPT_NAME": "",
            "PATH_INFO": _path_info(path),
            "QUERY_STRING": query.decode("latin-1"),
            "REQUEST_URI": request.target.decode("latin-1"),
            "SERVER_NAME": self.host,
            "SERVER_PORT": str(self.port),
            "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode('ascii')}",
            "REMOTE_ADDR": str(peer[0]),
            "REMOTE_PORT": str(peer[1]) if len(peer) > 1 else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.ssl_context is not None else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers:
            text = value.decode("latin-1")
            if name == b"content-type":
                environ["CONTENT_TYPE"] = text
            elif name == b"content-length":
                continue
            else:
                key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
                environ[key] = f"{environ[key]},{text}" if key in environ else text
        return environ


def _path_info(path: bytes) -> str:
    """The path percent-decoded, except an encoded slash, which stays ``%2F`` (a CIDR in one
    path segment stays one segment, as cheroot and most WSGI servers do)."""
    return b"%2F".join(unquote_to_bytes(part) for part in _QUOTED_SLASH.split(path)).decode("latin-1")


def _call_app(app: Callable, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run the WSGI app in a worker thread; the whole response (answers here are small)."""
    captured: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = int(status.split(" ", 1)[0]), list(headers)
        return written.append

    try:
        result = app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:
        log.error("unexpected error in the application", exc_info=True)
        status, headers, body = _envelope(500, 1000, "Internal server error", close=False)
        return status, headers, body
    body = b"".join(written)
    headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "transfer-encoding")]
    headers.append(("Content-Length", str(len(body))))
    return captured["status"], headers, body


def _raw_response(status: int, headers: list, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} {_REASONS.get(status, b'').decode()}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on (host, port); ``OSError`` when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for a PEM certificate and key: TLS 1.2 at least (``ssl.SSLError`` if unusable)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
