"""The server against its own OpenAPI document: agreement with Cloudflare's, then schemathesis.

1. :func:`warpcli.server.openapi.server_openapi` builds the server's document from the
   Cloudflare subset; the tests here check it agrees with the subset for every shared
   operation (identical but for the documented additions), and with the app's routes.
2. schemathesis generates requests from that document (valid and invalid ones) and sends
   them over real HTTP to a live, contract-checked stand-in on 127.0.0.1 with the bearer
   token. Every response must be below 500 and conform to the document, checked by
   ``tests/cfstub/contract.py`` with its documented deviations (a 4XX body is checked
   against the ``*-common-failure`` schema alone), plus schemathesis's status-code and
   content-type checks. schemathesis's own body check is left out because of that
   deviation: the 4XX schemas are unsatisfiable as written.

To reach more than "not found", :func:`_pick` (a function of the generated case, so a
shrunk or replayed case is treated alike) swaps generated ids for ids of live objects
(made on demand) and the account id for the server's, and sends the bearer token; one
case in five keeps the generated account (403), one keeps everything as generated (the
generated credentials, if any: 401).

Bounded for CI: :data:`EXAMPLES` examples per operation whatever the Hypothesis profile,
derandomized, no example database, ``deadline=None``. ``WARPCLI_API_EXAMPLES`` raises it
for a longer local run.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import re
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance  # noqa: E402

from tests.cfstub.contract import SPEC_FILE, Contract, merged_spec  # noqa: E402
from tests.cfstub.server import CloudflareStandIn  # noqa: E402
from warpcli.core.cidr import parse_network  # noqa: E402
from warpcli.core.model import RouteFilter  # noqa: E402
from warpcli.server.openapi import (  # noqa: E402
    ADDED_QUERY,
    REFUSED,
    SECURITY,
    SERVED,
    server_openapi,
    without_additions,
)

#: Cloudflare's document: the 2024-08 subset with the newer operations (tests/cfstub/contract.py)
SUBSET = merged_spec()
DOC = server_openapi(SUBSET)
EXAMPLES = int(os.environ.get("WARPCLI_API_EXAMPLES", "25"))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


# -- 1. the document agrees with Cloudflare's -----------------------------------------------
def _operations(doc: dict) -> Iterator[tuple[str, str, dict]]:
    for template, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, template, operation


def test_the_document_has_exactly_the_served_operations() -> None:
    assert sorted((m, t) for m, t, _ in _operations(DOC)) == sorted(SERVED)
    for _method, template, operation in _operations(DOC):
        assert not operation.get("deprecated")
        assert "/cfd_tunnel" not in template and "/routes/network/" not in template


def test_shared_operations_are_cloudflares_but_for_the_documented_additions() -> None:
    for method, template, operation in _operations(DOC):
        theirs = SUBSET["paths"][template][method]
        assert without_additions(method, template, operation) == {k: v for k, v in theirs.items() if k != "security"}
        # the server takes one of Cloudflare's credential alternatives, not a new one
        assert operation["security"] == SECURITY and all(req in theirs["security"] for req in SECURITY)
        # path-level parameters are Cloudflare's
        ours_item = {k: v for k, v in DOC["paths"][template].items() if k not in METHODS}
        assert ours_item == {k: v for k, v in SUBSET["paths"][template].items() if k not in METHODS}
        # an addition is an optional query parameter Cloudflare does not declare
        theirs_names = {p.get("name") for p in theirs.get("parameters", []) if "name" in p}
        for added in ADDED_QUERY.get((method, template), ()):
            assert added["in"] == "query" and added["required"] is False and added["name"] not in theirs_names


def test_components_are_cloudflares_and_every_ref_resolves() -> None:
    for name, schema in DOC["components"]["schemas"].items():
        assert schema == SUBSET["components"]["schemas"][name], name
    assert DOC["components"]["securitySchemes"] == {"api_token": SUBSET["components"]["securitySchemes"]["api_token"]}
    text = json.dumps(DOC)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', text)):
        assert ref[1] in DOC["components"][ref[0]], ref
    # nothing unused either
    used = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert used == set(DOC["components"]["schemas"])


def test_the_document_is_valid_openapi_and_the_subset_is_untouched() -> None:
    before = SPEC_FILE.read_text()
    merged = merged_spec(json.loads(before))
    server_openapi(merged)
    assert json.loads(before) == json.loads(SPEC_FILE.read_text())  # merging copies, never edits
    assert merged == SUBSET  # and the builder copies too
    schemathesis.openapi.from_dict(DOC).validate()  # OpenAPI 3.0 meta-schema


def _template_of(rule: str) -> tuple[str, ...]:
    """A Flask rule or an OpenAPI template as segments, every variable as ``{}``."""
    return tuple("{}" if (s.startswith("<") or s.startswith("{")) else s for s in rule.strip("/").split("/"))


def test_the_document_and_the_app_agree(tmp_path: Path) -> None:
    """Every documented operation is routed, and every route on a Cloudflare path is documented."""
    from warpcli.server import PREFIX, create_app

    app = create_app(lambda: None, account_id="0" * 32, authorize=lambda token: False)
    routed = {(m.lower(), _template_of(rule.rule[len(PREFIX):]))
              for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX + "/")
              for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    documented = {(m, _template_of(t)) for m, t, _ in _operations(DOC)}
    cloudflare = {(m, _template_of(t)) for m, t, op in _operations(SUBSET)}
    assert documented <= routed, sorted(documented - routed)
    refused = {(m, _template_of(t)) for m, t, _ in REFUSED}
    assert not refused & documented
    assert routed & cloudflare <= documented | refused, sorted((routed & cloudflare) - documented - refused)
    assert refused <= routed and refused <= cloudflare  # refused with a reason, not left to a 404


# -- 2. schemathesis against a live server ----------------------------------------------------
class Live:
    """The stand-in, and live objects whose ids replace generated ones."""

    def __init__(self, stand_in: CloudflareStandIn) -> None:
        self.stand_in = stand_in
        self.ctl = stand_in.controller()
        self.contract = Contract(DOC)
        self._n = itertools.count()
        self.statuses: dict[str, set[int]] = {}

    def tunnel_id(self) -> str:
        live = self.ctl.list_tunnels(is_deleted=False)
        return live[0].id if live else self.ctl.create_tunnel(f"seed-{next(self._n)}").id

    def virtual_network_id(self) -> str:
        live = [v for v in self.ctl.list_virtual_networks() if not v.is_default_network]
        return live[0].id if live else self.ctl.create_virtual_network(f"seed-{next(self._n)}").id

    def _first_route(self, flt: RouteFilter = RouteFilter()):
        routes = self.ctl.list_routes(flt)
        try:
            return next(iter(routes), None)
        finally:
            getattr(routes, "close", lambda: None)()  # end the read at once

    def route_id(self) -> str:
        route = self._first_route()
        if route is not None:
            return route.id
        tunnel = self.tunnel_id()
        for i in itertools.count():
            network = parse_network(f"10.{77 + i // 256}.{i % 256}.0/24")
            if self._first_route(RouteFilter(network_superset=network)) is None:
                return self.ctl.create_route(network, tunnel).id
        raise AssertionError("unreachable")

    def ip(self) -> str:
        route = self._first_route()
        network = ipaddress.ip_network(route.network) if route else ipaddress.ip_network("10.77.0.0/24")
        return str(network.network_address + 1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    stand_in = CloudflareStandIn(tmp_path_factory.mktemp("api-properties") / "state").start()
    try:
        yield Live(stand_in)
        # the stand-in checked every response too; generated requests may break the
        # contract on purpose (negative cases), responses never may
        bad = [v for v in stand_in.take_violations()
               if " -> " in v.split(": ", 1)[0] and not _NO_SUCH_OPERATION.search(v)]
        assert bad == [], "\n".join(bad[:20])
    finally:
        stand_in.stop()


_ID_KEYS = ("tunnel_id", "route_id", "virtual_network_id")
#: a response to a method the path does not have: nothing in the document to check it against
_NO_SUCH_OPERATION = re.compile(r"^[A-Z]+ \S+ -> \d+: \S+ has no [A-Z]+ operation")


def _pick(case: Any) -> int:
    """0..4, a stable function of what was generated (schemathesis cannot mix ``given``
    strategies with schema examples)."""
    def stable(value: Any) -> str:  # no memory addresses (schemathesis's NotSet and the like)
        return type(value).__name__ if " at 0x" in repr(value) else repr(value)

    text = json.dumps([case.path_parameters, case.query, case.body], sort_keys=True, default=stable)
    return zlib.crc32(text.encode()) % 5


def _substitute(case: Any, live: Live, pick: int) -> None:
    """Point a generated case at the live server's account and (sometimes) live objects."""
    if pick == 4:
        return  # as generated: a foreign account, random ids, the generated credentials
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {live.stand_in.token}"}
    params = case.path_parameters or {}
    if pick == 3:
        return  # the token, but the generated account
    if "account_id" in params:
        params["account_id"] = live.stand_in.account_id
    if pick == 2:
        return  # the right account, generated ids
    places = [params, case.query if isinstance(case.query, dict) else {},
              case.body if isinstance(case.body, dict) else {}]
    for place in places:
        for key in _ID_KEYS:
            if key in place:
                place[key] = getattr(live, key)()
    if "ip" in params and pick == 0:
        params["ip"] = live.ip()


schema = schemathesis.openapi.from_dict(DOC)


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_response_in_the_document(case: Any, live: Live) -> None:
    _substitute(case, live, _pick(case))
    response = case.call(base_url=live.stand_in.url, timeout=10)
    what = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r} -> {response.status_code}"
    assert response.status_code < 500, f"{what}: {response.text[:500]}"
    if case.method.lower() != case.operation.method.lower():
        _assert_method_not_allowed(response, what)  # schemathesis tries other methods too
        return
    path = response.request.path_url.split("?", 1)[0]
    problems = live.contract.validate_response(case.method, path, response.status_code, response.content,
                                               content_type=_header(response, "Content-Type"))
    assert problems == [], f"{what}: {problems}"
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance])
    live.statuses.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)


def _header(response: Any, name: str) -> str | None:
    """A header of schemathesis's Response (lower-cased names, lists of values)."""
    values = response.headers.get(name.lower()) or [None]
    return values[0]


def _assert_method_not_allowed(response: Any, what: str) -> None:
    """A method the path does not have: 405 with ``Allow`` in Cloudflare's failure envelope
    (or 401/403 first, when the credentials or the account are wrong)."""
    assert response.status_code in (401, 403, 405), what
    assert _header(response, "Content-Type") == "application/json", what
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["errors"][0]["code"] >= 1000, what
    if response.status_code == 405:
        assert _header(response, "Allow") and body["errors"][0]["code"] == 10405, what


def test_the_generated_cases_reached_past_the_errors(live: Live) -> None:
    """Runs after the property test (same module): it made real changes, not only 4XX."""
    if len(live.statuses) < len(SERVED):
        pytest.skip("the property test did not run for every operation (-k? another order?)")
    ok = {label for label, statuses in live.statuses.items() if 200 in statuses}
    assert len(ok) >= len(SERVED) * 3 // 4, sorted(live.statuses.items())
    seen = set().union(*live.statuses.values())
    assert {200, 400, 401, 403, 404, 409} <= seen, sorted(seen)
    assert uuid.UUID(live.tunnel_id())  # the server is still answering with sane state
