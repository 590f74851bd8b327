"""``warpcli controller serve``: the embedded controller served until SIGTERM or SIGINT.

The CLI parses the options and calls :func:`serve`; this module owns the process's life:
bind, log a start-up line, serve, and on SIGTERM/SIGINT stop accepting, let in-flight
requests finish (up to :data:`SHUTDOWN_GRACE` seconds), close every controller, return.
Signal handlers only set an event; the main thread does the shutdown, so no server code
runs inside a signal handler.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warpcli.core.errors import InvalidInput, WarpcliError
from warpcli.core.records import replace
from warpcli.core.settings import DEFAULT_LISTEN, Settings
from warpcli.server.logfmt import log_fields

#: 127.0.0.1, not 0.0.0.0: the API speaks plain HTTP unless given a certificate, and bearer
#: tokens must not cross a network in clear by default. Exposing it is a deliberate
#: ``--listen 0.0.0.0:8787 --tls-cert ... --tls-key ...`` (or a TLS proxy in front).
DEFAULT_THREADS = 8
#: connections one client (an IPv4 address, an IPv6 /64) may hold open at once
DEFAULT_PER_CLIENT = 64
#: connections held open in all, at most (and no more than the file descriptors allow)
MAX_CONNECTIONS = 16384
#: seconds an in-flight request may take to finish once shutdown has begun
SHUTDOWN_GRACE = 10.0
PREFIX = "/client/v4"

log = logging.getLogger("warpcli.server")


@dataclass(frozen=True)
class Listening:
    """What ``serve`` reports once the socket is bound (``--json`` prints it)."""

    url: str
    account_id: str
    state_dir: str
    tls: bool
    database: str | None = None  #: the PostgreSQL URL without its password; None: SQLite in state_dir

    def to_dict(self) -> dict[str, object]:
        return {"url": self.url, "account_id": self.account_id, "state_dir": self.state_dir, "tls": self.tls,
                "database": self.database}


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[V6]:PORT`` for IPv6) -> (host, port); port 0 picks a free port."""
    from warpcli.core.cidr import parse_listen as parse

    return parse(text, option="--listen", port_zero=True,
                 example=f"{DEFAULT_LISTEN}, 0.0.0.0:8787 or [::1]:8787 (port 0 picks a free port)")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    settings: Settings,
    *,
    listen: str = DEFAULT_LISTEN,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    threads: int = DEFAULT_THREADS,
    per_client: int = DEFAULT_PER_CLIENT,
    on_listening: Callable[[Listening], None] | None = None,
) -> None:
    """Serve the embedded controller (``settings.database_url``, else ``settings.state_dir``) until
    SIGTERM or SIGINT. Several processes may serve one PostgreSQL database."""
    from warpcli.controllers import open_controller
    from warpcli.server import close_controllers, create_app, make_server, setup_access_log
    from warpcli.server.front import Limits
    from warpcli.server.principals import TokenAuthenticator

    host, port = parse_listen(listen)
    if (tls_cert is None) != (tls_key is None):
        raise InvalidInput("give both --tls-cert and --tls-key, or neither")
    local = replace(settings, controller="local")

    def open_local():
        return open_controller(local)

    with open_local() as first:  # fails here, before binding, if the state is unusable
        account_id = first.account_id
        live_tokens = len(first.list_api_tokens())

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)

    setup_access_log()
    authenticate = TokenAuthenticator(open_local)
    app = create_app(open_local, account_id=account_id, authenticate=authenticate, metrics=True)
    limits = Limits(per_client=per_client, max_connections=_connection_budget(MAX_CONNECTIONS))
    server = _bind(make_server, app, host, port, tls_cert, tls_key, threads, limits)
    server.shutdown_timeout = SHUTDOWN_GRACE
    server.start_in_thread()
    from warpcli.core.dburl import mask

    info = Listening(f"{server.url}{PREFIX}", account_id, str(local.state_dir), tls_cert is not None,
                     mask(local.database_url))
    log_fields(log, logging.INFO, {"msg": "listening", **info.to_dict(), "threads": threads,
                                     "max_connections_per_client": limits.per_client,
                                     "max_connections": limits.max_connections,
                                     "request_timeout_s": limits.request_timeout, "pid": os.getpid()})
    if live_tokens == 0:
        log_fields(log, logging.WARNING, {"msg": "no API token yet: only tunnel tokens are accepted",
                                          "hint": "warpcli controller token create --name NAME"})
    if tls_cert is None and not _is_loopback(host):
        log_fields(log, logging.WARNING, {"msg": "plain HTTP on a non-loopback address: tokens cross the "
                                                 "network in clear", "hint": "use --tls-cert and --tls-key"})
    if on_listening is not None:
        on_listening(info)
    try:
        while not stop.wait(1.0):
            if not server.serving_in_thread:
                raise WarpcliError("the server stopped serving unexpectedly (see the log above)")
    finally:
        why = signal.Signals(received[0]).name if received else "error"
        log_fields(log, logging.INFO, {"msg": "stopping", "signal": why, "grace_s": SHUTDOWN_GRACE})
        server.stop()  # no new connections; in-flight requests finish
        close_controllers(app)
        authenticate.close()
        log_fields(log, logging.INFO, {"msg": "stopped"})


def _connection_budget(wanted: int) -> int:
    """Raise this process's file-descriptor limit to its hard limit; the connections it leaves room for."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = wanted + 256 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return max(16, min(wanted, soft - 256))


def _bind(make_server, app, host, port, tls_cert, tls_key, threads, limits):
    import ssl

    for path in (tls_cert, tls_key):
        if path is not None:
            try:
                Path(path).open("rb").close()
            except OSError as exc:
                raise InvalidInput(f"cannot read {path} ({exc.strerror})") from None
    try:
        return make_server(app, host, port, tls_cert=_str(tls_cert), tls_key=_str(tls_key), threads=threads,
                           limits=limits)
    except ssl.SSLError as exc:
        raise InvalidInput(f"cannot use the TLS certificate or key ({exc.reason or exc.strerror})") from None
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise WarpcliError(f"cannot listen on {host}:{port} ({why})") from None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)
