"""``CloudflareStandIn``: warpcli's Cloudflare-dialect server on 127.0.0.1, contract-checked.

It serves a fresh :class:`LocalController` through :func:`warpcli.server.create_app`,
answers the Zero Trust Gateway rules itself (:class:`~tests.cfstub.gateway.GatewayRules`,
in memory; not with ``warpcli_extension``, which stands for a served warpcli controller)
and wraps the app in :class:`ContractCheck`, a WSGI middleware that

- validates every request and every response against the OpenAPI contract and
  records each violation (the fixtures fail the test at teardown if any are left);
- records a log of requests (:class:`RequestRecord`) for assertions such as
  "exactly one POST created it";
- applies queued faults (:class:`FaultInjector`): a canned response instead of the
  real one, or the real one held back until the client has given up.

Injected responses are contract-checked like real ones, except the deliberately
off-contract ones: a fault given a raw ``body`` (HTML, malformed JSON, ...) is marked
``off_contract`` and its response is not validated. Requests are always validated.
"""

from __future__ import annotations

import hmac
import io
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from tests.cfstub.contract import BASE_PATH, validate_request, validate_response
from tests.cfstub.gateway import GatewayRules

Headers = list[tuple[str, str]]


@dataclass
class Fault:
    """One queued fault; matched by method (``None``: any) and ``re.search`` on the path."""

    method: str | None
    path: re.Pattern
    status: int | None = None  # None: pass the real response through (after_handling)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    off_contract: bool = False
    consumed: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and bool(self.path.search(path))

    def describe(self) -> str:
        what = f"respond {self.status}" if self.status is not None else f"after_handling delay={self.delay}"
        return f"{self.method or '*'} /{self.path.pattern}/: {what}"


def _default_error(status: int) -> dict[str, Any]:
    code = {401: 10000, 403: 9109}.get(status, 1000)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return {"code": code, "message": f"{phrase} (injected fault)"}


class FaultInjector:
    """Faults queued by tests, each consumed by the first request it matches (FIFO)."""

    _UNSET: Any = object()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def respond(
        self,
        method: str | None,
        path: str,
        *,
        status: int,
        headers: dict[str, str] | None = None,
        body: str | bytes | None = None,
        content_type: str = "application/json",
        errors: list[dict[str, Any]] | None = None,
        result: Any = _UNSET,
    ) -> Fault:
        """Answer the next matching request with this instead of handling it.

        ``body``: raw text sent as is (marked off-contract, not validated). Otherwise a
        Cloudflare envelope is built and validated: ``errors`` (or a default error
        for a status >= 400) in a failure envelope, or ``result`` in a success one.
        """
        if body is not None and (errors is not None or result is not FaultInjector._UNSET):
            raise ValueError("give a raw body, or errors/result for an envelope, not both")
        if body is not None:
            raw = body.encode() if isinstance(body, str) else body
            off_contract = True
        elif status >= 400 or errors is not None:
            raw = json.dumps({"success": False, "errors": errors or [_default_error(status)], "messages": [],
                              "result": None}).encode()
            off_contract = False
        else:
            value = {} if result is FaultInjector._UNSET else result
            raw = json.dumps({"success": True, "errors": [], "messages": [], "result": value}).encode()
            off_contract = False
        return self._add(Fault(method, re.compile(path), status=status, headers=dict(headers or {}), body=raw,
                               content_type=content_type, off_contract=off_contract))

    def after_handling(self, method: str | None, path: str, *, delay: float) -> Fault:
        """Handle the next matching request for real (it takes effect), then hold the
        response ``delay`` seconds before sending it, so a client with a shorter
        timeout gives up. Stopping the server cuts the wait short."""
        return self._add(Fault(method, re.compile(path), delay=delay))

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    fault.consumed = True
                    return self._faults.pop(i)
        return None

    def pending(self) -> list[Fault]:
        """Faults no request has matched yet."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass(frozen=True)
class RequestRecord:
    """One request as the stand-in saw it (the Authorization header is never kept)."""

    method: str
    path: str  # as sent, percent-encoding kept, no query string
    query: dict[str, list[str]]
    body: Any  # parsed JSON; None when empty; the text when it is not JSON
    status: int
    response: Any  # parsed JSON response body; None when not JSON
    auth: str  # "valid" (the API token), "tunnel" (a valid tunnel token), "invalid" or "missing"
    fault: Fault | None = None

    @property
    def api_path(self) -> str:
        """The path relative to ``/client/v4``."""
        return self.path[len(BASE_PATH):] if self.path.startswith(BASE_PATH) else self.path


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


class ContractCheck:
    """WSGI middleware: contract checks, request log and faults around the real app."""

    def __init__(self, app: Callable, *, token: str, faults: FaultInjector, stopping: threading.Event,
                 is_tunnel_token: Callable[[str], bool] = lambda token: False) -> None:
        self.app = app
        self.token = token
        self.is_tunnel_token = is_tunnel_token
        self.faults = faults
        self.stopping = stopping
        self._lock = threading.Lock()
        self.records: list[RequestRecord] = []
        self.violations: list[str] = []

    def _auth(self, header: str) -> str:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing"
        if hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return "valid"
        return "tunnel" if self.is_tunnel_token(token.strip()) else "invalid"

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = self._read_body(environ)
        method = environ["REQUEST_METHOD"]
        raw_uri = environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", ""))
        path = raw_uri.split("?", 1)[0]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        problems = validate_request(method, path, query, headers, body)

        fault = self.faults.take(method, path)
        if fault is not None and fault.status is not None:
            status = fault.status
            out_headers: Headers = [("Content-Type", fault.content_type), *fault.headers.items()]
            out = fault.body or b""
        else:
            status, out_headers, out = self._call_app(environ)
        content_type = next((v for k, v in out_headers if k.lower() == "content-type"), None)
        if fault is None or not fault.off_contract:
            problems += validate_response(method, path, status, out, content_type=content_type)

        record = RequestRecord(method, path, query, _parse(body), status, _parse(out),
                               self._auth(environ.get("HTTP_AUTHORIZATION", "")), fault)
        with self._lock:
            self.records.append(record)
            self.violations += problems
        if fault is not None and fault.status is None and fault.delay > 0:
            self.stopping.wait(fault.delay)  # the client times out meanwhile
        out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
        out_headers.append(("Content-Length", str(len(out))))
        start_response(f"{status} {_phrase(status)}", out_headers)
        return [out]

    @staticmethod
    def _read_body(environ: dict) -> bytes:
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = stream.read(int(length))
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = stream.read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    def _call_app(self, environ: dict) -> tuple[int, Headers, bytes]:
        captured: dict[str, Any] = {}

        def start(status_line: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = int(status_line.split(" ", 1)[0]), list(headers)
            return lambda chunk: None

        result = self.app(environ, start)
        try:
            out = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured["status"], captured["headers"], out


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class CloudflareStandIn:
    """The server, its state and its instruments. Use ``cf_server()`` or the ``cf_api`` fixture."""

    def __init__(self, state_dir: Path, *, threads: int = 8, warpcli_extension: bool = False,
                 host: str = "127.0.0.1") -> None:
        """``warpcli_extension``: also serve the enrollment endpoints (a served warpcli
        controller); off, the stand-in answers only what Cloudflare has. ``host``: the
        address to bind (a test namespace's own address; never outside one)."""
        self.state_dir = Path(state_dir)
        self.warpcli_extension = warpcli_extension
        self.host = host
        self.faults = FaultInjector()
        self.token = secrets.token_urlsafe(30)  # 40 characters, like Cloudflare's API tokens
        self._threads = threads
        self._stopping = threading.Event()
        self._direct: list[Any] = []
        self._server: Any = None
        self._app: Any = None
        self._check: ContractCheck | None = None
        self.account_id = ""
        self.gateway: GatewayRules | None = None  #: the account's Zero Trust Gateway rules (in memory)

    # -- lifecycle --------------------------------------------------------------
    def _open_controller(self):
        from warpcli.controllers.local import LocalController
        from warpcli.secret_stores import open_secret_store

        state = self.state_dir
        return LocalController(state, secrets=lambda: open_secret_store("file", state), lock_timeout=10)

    def _authorize(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.token.encode())

    def _tunnel_of(self, token: str) -> str | None:
        """The tunnel a valid tunnel token belongs to (a live tunnel of this state), else None."""
        from warpcli.core.errors import WarpcliError

        controller = self._open_controller()
        try:
            return controller.verify_tunnel_token(token).id
        except WarpcliError:
            return None
        finally:
            controller.close()

    def _authenticate(self, token: str):
        """The API token is an API principal; with the extension, a tunnel token of this state
        is a tunnel principal (as Cloudflare, the stand-in without it refuses tunnel tokens: 401)."""
        from warpcli.server.app import token_id
        from warpcli.server.auth import Principal

        if self._authorize(token):
            return Principal("api", token_id(token), name="stand-in")
        tunnel_id = self._tunnel_of(token) if self.warpcli_extension else None
        return None if tunnel_id is None else Principal("tunnel", token_id(token), tunnel_id=tunnel_id)

    def start(self) -> CloudflareStandIn:
        from warpcli.server import create_app, make_server

        self.account_id = self.controller().account_id  # random 32 hex, made with the state
        self._app = create_app(self._open_controller, account_id=self.account_id, authenticate=self._authenticate,
                               warpcli_extension=self.warpcli_extension)
        app = self._app
        if not self.warpcli_extension:  # Cloudflare's Gateway; a served warpcli controller has none
            self.gateway = GatewayRules(self.account_id, self._authorize)
            app = self.gateway.wrap(app)
        self._check = ContractCheck(app, token=self.token, faults=self.faults, stopping=self._stopping,
                                    is_tunnel_token=lambda token: self._authenticate(token) is not None)
        self._server = make_server(self._check, self.host, 0, threads=self._threads)
        self._server.start_in_thread()
        return self

    def stop(self) -> None:
        from warpcli.server import close_controllers

        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._app is not None:
            close_controllers(self._app)
        for controller in self._direct:
            controller.close()
        self._direct.clear()

    def __enter__(self) -> CloudflareStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT/client/v4`` (the bound host)."""
        return f"{self._server.url}{BASE_PATH}" if self._server else ""

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header with the valid token."""
        return {"Authorization": f"Bearer {self.token}"}

    def account_url(self, path: str = "") -> str:
        """``{url}/accounts/{account_id}{path}``."""
        return f"{self.url}/accounts/{self.account_id}{path}"

    def controller(self):
        """A LocalController on the server's state, for arranging and asserting (closed at stop)."""
        controller = self._open_controller()
        self._direct.append(controller)
        return controller

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, in arrival order (a snapshot)."""
        assert self._check is not None, "the stand-in is not started"
        with self._check._lock:
            return list(self._check.records)

    def requests_to(self, method: str | None, path: str) -> list[RequestRecord]:
        """The requests with this method (None: any) whose path ``re.search``-matches ``path``."""
        pattern = re.compile(path)
        return [r for r in self.requests
                if (method is None or r.method == method.upper()) and pattern.search(r.path)]

    def clear_requests(self) -> None:
        assert self._check is not None
        with self._check._lock:
            self._check.records.clear()

    @property
    def violations(self) -> list[str]:
        """Contract violations seen so far (a snapshot)."""
        assert self._check is not None, "the stand-in is not started"
        with self._check._lock:
            return list(self._check.violations)

    def take_violations(self) -> list[str]:
        """Return the violations and forget them: for tests that provoke violations on purpose."""
        assert self._check is not None
        with self._check._lock:
            taken, self._check.violations = self._check.violations, []
        return taken

    def problems(self) -> list[str]:
        """What makes a test fail at teardown: violations and faults never consumed."""
        out = [f"contract violation: {v}" for v in self.violations]
        out += [f"fault never consumed (cf.faults.clear() if intended): {f.describe()}"
                for f in self.faults.pending()]
        return out
