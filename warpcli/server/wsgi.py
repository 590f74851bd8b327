"""Serving a WSGI app (:mod:`warpcli.server.front`: an event loop and worker threads), optionally TLS.

``make_server(app, "127.0.0.1", 0)`` binds at once (so a port of 0 is resolved and
readable as ``server.port``); ``start_in_thread()`` serves in the background and
``stop()`` shuts down and waits for the serving thread. Every request leaves one
access-log line on the ``warpcli.server.access`` logger (``setup_access_log()`` sends
it to stderr, in logfmt): method, path, query, status, duration, and who called (the
principal's kind and token id, set by the app). Never a header, never a body, never a
token; only the values of the API's own query parameters are written, others are masked.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from warpcli.server.auth import PRINCIPAL_ENVIRON_KEY
from warpcli.server.front import Limits, Server, tls_context
from warpcli.server.logfmt import LogfmtFormatter, log_fields

access_log = logging.getLogger("warpcli.server.access")

#: query parameters of the API whose values are logged; any other value is masked, since a
#: client may put anything in a parameter this server does not know
_LOGGED_PARAMS = frozenset({
    "name", "uuid", "id", "status", "is_deleted", "existed_at", "include_prefix", "exclude_prefix",
    "was_active_at", "was_inactive_at", "page", "per_page", "tunnel_id", "virtual_network_id",
    "network_subset", "network_superset", "comment", "route_id", "tun_types", "force", "is_default",
    "is_default_network",
})
_SECRET_WORDS = ("token", "secret", "key", "password", "auth", "signature")


def _loggable_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [
        (k, v if k in _LOGGED_PARAMS and not any(w in k.lower() for w in _SECRET_WORDS) else "***")
        for k, v in pairs
    ]
    return urlencode(masked)


class AccessLog:
    """WSGI middleware: one structured line per request, written when the response is done."""

    def __init__(self, app: Callable, logger: logging.Logger = access_log) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        status: list[str] = []

        def record_status(status_line: str, headers: list, exc_info: Any = None):
            status[:] = [status_line.split(" ", 1)[0]]
            return start_response(status_line, headers, exc_info)

        body = self.app(environ, record_status)
        return _ClosingIterator(body, lambda: self._log(environ, status, started))

    def _log(self, environ: dict, status: list[str], started: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {"method": environ.get("REQUEST_METHOD", "-"), "path": environ.get("PATH_INFO", "")}
        query = environ.get("QUERY_STRING", "")
        if query:
            fields["query"] = _loggable_query(query)
        principal = environ.get(PRINCIPAL_ENVIRON_KEY)
        fields.update(
            status=status[0] if status else "-",
            duration_ms=f"{(time.perf_counter() - started) * 1000:.1f}",
            remote=environ.get("REMOTE_ADDR", "-"),
            principal=getattr(principal, "kind", None),
            token_id=getattr(principal, "token_id", None),
        )
        tunnel_id = getattr(principal, "tunnel_id", None)
        if tunnel_id:
            fields["tunnel_id"] = tunnel_id
        log_fields(self.logger, logging.INFO, fields)


class _ClosingIterator:
    """Pass a WSGI body through and call ``on_close`` once it has been sent (or dropped)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._iter = iter(body)
        self._on_close = on_close

    def __iter__(self) -> _ClosingIterator:
        return self

    def __next__(self) -> bytes:
        return next(self._iter)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


#: the listen backlog. cheroot's default of 5 overflowed as soon as a few dozen clients
#: connected at once: the kernel fell back to SYN cookies, dropped handshakes, and clients
#: had a request reset before the server ever saw it (a lost POST, not retried)
LISTEN_BACKLOG = 1024


def make_server(
    app: Callable,
    host: str,
    port: int,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    threads: int = 8,
    access_log: bool = True,
    limits: Limits | None = None,
) -> Server:
    """A bound, listening server for ``app`` (``port=0`` picks a free port).

    Give both ``tls_cert`` and ``tls_key`` (PEM files) to serve HTTPS. ``limits``: what
    one client may cost (:class:`warpcli.server.front.Limits`).
    """
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("give both tls_cert and tls_key, or neither")
    context = tls_context(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    return Server(AccessLog(app) if access_log else app, host, port, threads=threads, ssl_context=context,
                  limits=limits, backlog=LISTEN_BACKLOG)


def setup_access_log(stream: Any = None, level: int = logging.INFO) -> logging.Handler:
    """Send the access log (and the server's other lines) to ``stream`` (stderr by default), in logfmt."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    server_log = logging.getLogger("warpcli.server")
    server_log.addHandler(handler)
    server_log.setLevel(level)
    return handler
