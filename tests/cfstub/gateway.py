"""``GatewayRules``: the stand-in's Zero Trust Gateway rules (``/accounts/{id}/gateway/rules``), in memory.

warpcli's server has no Gateway (a served controller keeps policies through its own
extension), so the stand-in answers these paths itself, in front of the app and inside the
contract check, as Cloudflare does (docs: developers.cloudflare.com/api, "Zero Trust Gateway
rules"; shapes: ``cloudflare-openapi-additions.json``):

- ``GET .../gateway/rules``: every live rule, by precedence (one page: the SDK's
  ``SyncSinglePage``); ``POST`` creates (``name`` and ``action`` required; ``filters`` one
  value); ``GET``/``PUT``/``DELETE .../gateway/rules/{rule_id}`` read, replace (what a PUT
  leaves out takes its default) and delete one. ``updated_at`` and
  ``version`` move on every PUT.
- The ``traffic`` of an ``l4`` (network) rule is parsed: the wirefilter subset Cloudflare
  documents for network policies (fields ``net.src.ip``, ``net.dst.ip``, ``net.src.port``,
  ``net.dst.port``, ``net.protocol``, ``net.vnet_id`` and a few more; ``==``, ``!=``, ``<``,
  ``<=``, ``>``, ``>=``, ``in {...}``; ``and``, ``or``, ``not``, parentheses), each value of
  its field's type (IP or CIDR, port 0-65535, ``"tcp"``/``"udp"``/``"icmp"``, a quoted
  string). Anything else is refused with 400, as Cloudflare refuses an expression it cannot
  parse (the code, 2001, and the message are the stand-in's).
- Credentials: the stand-in's API token (401 without, 9106; another, 10000); another
  account's path is 403 (9109), as the rest of the stand-in answers.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from tests.cfstub.contract import BASE_PATH

#: what a network (l4) rule's traffic may test, and the type of each field's values
L4_FIELDS = {
    "net.src.ip": "ip", "net.dst.ip": "ip", "net.src.port": "port", "net.dst.port": "port",
    "net.protocol": "protocol", "net.vnet_id": "string", "net.sni.host": "string", "net.detected_protocol": "string",
    "net.dst.geo.country": "string", "net.src.geo.country": "string",
}
PROTOCOLS = ("tcp", "udp", "icmp")
_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>==|!=|>=|<=|>|<|\(|\)|\{|\}|&&|\|\|)
                     |(?P<word>[A-Za-z0-9_.:/\-\[\]*]+))""", re.VERBOSE)


class TrafficError(ValueError):
    pass


def _tokens(text: str) -> list[str]:
    out, at = [], 0
    text = text.rstrip()
    while at < len(text):
        m = _TOKEN.match(text, at)
        if m is None or m.end() == at:
            raise TrafficError(f"unexpected character at offset {at}")
        out.append(m.group(m.lastgroup or "word"))
        at = m.end()
    return out


def _check_value(kind: str, token: str) -> None:
    import ipaddress

    if kind == "ip":
        try:
            ipaddress.ip_network(token, strict=True)
        except ValueError:
            raise TrafficError(f"{token!r} is not an IP address or CIDR (host bits set?)") from None
    elif kind == "port":
        if not token.isdigit() or not 0 <= int(token) <= 65535:
            raise TrafficError(f"{token!r} is not a port")
    elif kind == "protocol":
        if token.strip('"') not in PROTOCOLS or not token.startswith('"'):
            raise TrafficError(f"{token!r} is not a protocol (\"tcp\", \"udp\", \"icmp\")")
    elif not token.startswith('"'):
        raise TrafficError(f"{token!r} is not a quoted string")


def check_l4_traffic(text: str) -> None:
    """TrafficError unless ``text`` is a well-formed network-policy expression."""
    toks = _tokens(text)
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise TrafficError(f"expected {expected or 'more'}, found {tok or 'the end'}")
        pos += 1
        return tok

    def disjunction() -> None:
        conjunction()
        while peek() in ("or", "||"):
            take()
            conjunction()

    def conjunction() -> None:
        unary()
        while peek() in ("and", "&&"):
            take()
            unary()

    def unary() -> None:
        tok = peek()
        if tok in ("not", "!"):
            take()
            unary()
        elif tok == "(":
            take("(")
            disjunction()
            take(")")
        else:
            comparison()

    def comparison() -> None:
        name = take()
        kind = L4_FIELDS.get(name)
        if kind is None:
            raise TrafficError(f"unknown field {name!r} for a network (l4) rule")
        op = take()
        if op == "in":
            take("{")
            n = 0
            while peek() not in ("}", None):
                _check_value(kind, take())
                n += 1
            take("}")
            if not n:
                raise TrafficError(f"an empty set for {name}")
        elif op in ("==", "!="):
            _check_value(kind, take())
        elif op in (">", ">=", "<", "<="):
            if kind != "port":
                raise TrafficError(f"{op} compares ports only, not {name}")
            _check_value(kind, take())
        else:
            raise TrafficError(f"{op!r} is not an operator")

    if not toks:
        raise TrafficError("the expression is empty")
    disjunction()
    if pos != len(toks):
        raise TrafficError(f"unexpected {toks[pos]!r}")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class GatewayRules:
    """The account's Gateway rules and the WSGI layer that serves them."""

    def __init__(self, account_id: str, authorize: Callable[[str], bool]) -> None:
        self.account_id = account_id
        self._authorize = authorize
        self._lock = threading.Lock()
        self._rules: dict[str, dict[str, Any]] = {}

    # -- for tests ------------------------------------------------------------------
    def rules(self) -> list[dict[str, Any]]:
        """Every live rule (copies), by precedence."""
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._sorted()]

    def add(self, **fields: Any) -> dict[str, Any]:
        """Put a rule in directly (someone else's, made in the dashboard)."""
        with self._lock:
            return json.loads(json.dumps(self._create(fields)))

    # -- the store ------------------------------------------------------------------
    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(self._rules.values(), key=lambda r: (r["precedence"], r["created_at"], r["id"]))

    def _fill(self, rule: dict[str, Any], body: dict[str, Any]) -> None:
        precedence = body.get("precedence")
        if precedence is None:
            precedence = max((r["precedence"] for r in self._rules.values()), default=0) + 1000
        rule.update({
            "name": body["name"], "action": body["action"], "description": body.get("description", ""),
            "enabled": bool(body.get("enabled", False)), "filters": list(body.get("filters") or ["http"]),
            "precedence": precedence, "traffic": body.get("traffic", ""), "identity": body.get("identity", ""),
            "device_posture": body.get("device_posture", ""),
        })
        for k in ("rule_settings", "schedule", "expiration"):
            if body.get(k) is not None:
                rule[k] = body[k]
            else:
                rule.pop(k, None)

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        rule: dict[str, Any] = {"id": str(uuid.uuid4()), "created_at": now, "updated_at": now, "deleted_at": None,
                                "version": 1}
        self._fill(rule, body)
        self._rules[rule["id"]] = rule
        return rule

    # -- WSGI -----------------------------------------------------------------------
    def wrap(self, app: Callable) -> Callable:
        """``app`` with this account's ``/gateway/rules`` paths answered here."""
        prefix = f"{BASE_PATH}/accounts/"

        def layer(environ: dict, start_response: Callable) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            parts = path[len(prefix):].split("/") if path.startswith(prefix) else []
            if len(parts) in (3, 4) and parts[1:3] == ["gateway", "rules"]:
                status, body = self._serve(environ, parts[0], parts[3] if len(parts) == 4 else None)
                raw = json.dumps(body).encode()
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))]
                if 400 <= status < 500:
                    headers.append(("x-should-retry", "false"))
                start_response(f"{status} {'OK' if status == 200 else 'Error'}", headers)
                return [raw]
            return app(environ, start_response)

        return layer

    @staticmethod
    def _ok(result: Any) -> tuple[int, dict]:
        return 200, {"success": True, "errors": [], "messages": [], "result": result}

    @staticmethod
    def _fail(status: int, code: int, message: str) -> tuple[int, dict]:
        return status, {"success": False, "errors": [{"code": code, "message": message}], "messages": [],
                        "result": None}

    def _serve(self, environ: dict, account: str, rule_id: str | None) -> tuple[int, dict]:
        kind, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return self._fail(401, 9106, "Missing Authorization header")
        if not self._authorize(token.strip()):
            return self._fail(401, 10000, "Authentication error")
        if account != self.account_id:
            return self._fail(403, 9109, "Unauthorized to access requested resource")
        method = environ["REQUEST_METHOD"]
        body: Any = None
        if method in ("POST", "PUT"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                body = json.loads(environ["wsgi.input"].read(length) or b"null")
            except ValueError:
                return self._fail(400, 6007, "Malformed JSON in request body")
            problem = self._invalid(body)
            if problem:
                return self._fail(400, 2001, problem)
        with self._lock:
            if rule_id is None:
                if method == "GET":
                    return self._ok(self._sorted())
                if method == "POST":
                    return self._ok(self._create(body))
                return self._fail(405, 10405, "Method not allowed for this path")
            rule = self._rules.get(rule_id)
            if rule is None:
                return self._fail(404, 2002, f"rule {rule_id} not found")
            if method == "GET":
                return self._ok(rule)
            if method == "PUT":
                self._fill(rule, body)
                rule["updated_at"] = _now()
                rule["version"] += 1
                return self._ok(rule)
            if method == "DELETE":
                del self._rules[rule_id]
                return self._ok({})
            return self._fail(405, 10405, "Method not allowed for this path")

    @staticmethod
    def _invalid(body: Any) -> str | None:
        """Why a create or update body is refused (the schema's checks are the contract's)."""
        if not isinstance(body, dict):
            return "the body is not a JSON object"
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            return "name is required"
        if not isinstance(body.get("action"), str):
            return "action is required"
        filters = body.get("filters")
        if filters is not None and (not isinstance(filters, list) or len(filters) != 1):
            return "filters can only contain a single value"
        if filters == ["l4"] and body.get("traffic"):
            try:
                check_l4_traffic(str(body["traffic"]))
            except TrafficError as exc:
                return f"traffic: {exc}"
        return None
