"""cloudflared, replayed: what the real binary cannot show, and the origin certificate.

The real ``cloudflared`` (``../shared/tools/cloudflared``) now drives the server in
tests/test_cloudflared_real.py: ``tunnel vnet add|list|update|delete`` and ``tunnel route
ip add|show|get|delete``. This module keeps only the replay of what that binary cannot
reach: ``per_page`` paging (its ``--max-fetch-size`` flag is read but not defined, so it
cannot be set), the ``is_default`` body of cloudflared before f4bea397, a wrong token at
the byte level, and the port of its origin-certificate decoder. The notes below are
from when the binary could not be had here.

The real ``cloudflared`` binary cannot be had on this machine: it is in none of the
reachable registries (``apt-cache policy cloudflared`` knows no such package; the PyPI and
npm packages of that name are third-party wrappers that download the binary from GitHub's
releases, at run time or in a postinstall script, and GitHub is out of reach). So this
module replays, byte for byte where it matters, what its Go code sends, and ports the
part of its decoder that reads the answers. Source read
(github.com/cloudflare/cloudflared, through the search tool's stored copies; commit of
the stored version in brackets):

- ``cfapi/base_client.go`` [6db3cb2f]: ``NewRESTClient(baseURL, accountTag, ...)`` joins
  ``--api-url`` with ``/accounts/{accountTag}/teamnet/routes`` and
  ``.../teamnet/virtual_networks``. ``sendRequest`` sets ``User-Agent``, ``Content-Type:
  application/json`` only when there is a body, ``Authorization: Bearer <apiToken>``,
  ``Accept: application/json;version=1``. ``parseResponseEnvelope`` decodes
  ``{success, errors: [{code: json.Number, message}], messages: []string, result,
  result_info: {count, page, per_page, total_count: int}}``, fails on any error or on
  ``success`` false, then ``json.Unmarshal``s ``result``. ``fetchExhaustively`` asks for
  ``page=1, 2, ...`` and stops when ``count < per_page`` or it holds ``total_count``
  items. ``statusCodeToError`` reads an error envelope only when ``Content-Type`` is
  exactly ``application/json``.
- ``cfapi/virtual_network.go`` [f4bea397]: create POSTs ``{"name","comment",
  "is_default_network"}`` (the older [45500111] sent ``is_default``); list GETs with the
  filter's query; delete is ``DELETE .../virtual_networks/{id}`` plus ``?force=true`` with
  ``--force``; every answer decodes into ``VirtualNetwork{id uuid.UUID, comment, name
  string, is_default_network bool, created_at, deleted_at time.Time}``.
- ``cfapi/virtual_network_filter.go`` [672a1287]: ``vnet list`` always sends
  ``is_deleted=<--show-deleted>``; ``id``, ``name``, ``is_default``, ``per_page`` with their flags.
- ``cmd/cloudflared/tunnel/vnets_subcommands.go`` [4e9b54e6]: ``getVnetId`` takes a UUID
  as is, else lists ``is_deleted=false&name=NAME`` and needs exactly one answer (so
  ``--vnet NAME`` on the route commands and ``vnet delete NAME`` cost one lookup each).
- ``cfapi/ip_route.go`` [86476e62]: add POSTs ``{"network","tunnel_id","comment",
  "virtual_network_id"(omitempty)}`` to ``.../teamnet/routes`` and decodes ``Route{network
  CIDR, tunnel_id uuid, virtual_network_id *uuid, comment, created_at, deleted_at}``;
  ``DELETE .../teamnet/routes/{id}`` (no query, no body) decodes a ``Route``; get-by-IP
  is ``GET .../teamnet/routes/ip/{ip}`` with ``?virtual_network_id=`` only when scoped and
  decodes a ``DetailedRoute`` (adds ``id``, ``tunnel_name``); a zero ``tunnel_id`` means
  "no route matches". ``network`` must parse with ``net.ParseCIDR``.
- ``cfapi/ip_route_filter.go`` [6db3cb2f]: every route listing starts from
  ``NewIPRouteFilter()``, which always sets ``tun_types=cfd_tunnel``; ``route ip show``
  adds ``is_deleted=false`` (``true`` with ``--filter-is-deleted``) and ``page``.
- ``cmd/cloudflared/tunnel/subcommand_context_teamnet.go`` (stored copy, id 4111654708):
  ``route ip delete CIDR`` finds the route id first: ``getRouteId`` lists with
  ``tun_types=cfd_tunnel``, ``is_deleted=false``, ``network_subset=CIDR`` and
  ``network_superset=CIDR`` (exact match) and ``virtual_network_id`` with ``--vnet``,
  needs exactly one answer, then ``DeleteRoute(id)``.
- ``cmd/cloudflared/tunnel/subcommand_context.go`` [8d83aacc] ``findID``: a tunnel given by
  UUID is used as is; a tunnel *name* is looked up on ``.../cfd_tunnel``, which this
  server does not serve, so ``route ip add`` needs the tunnel's UUID here.
- ``cfapi/tunnel.go`` [86476e62]: tunnels live under ``/accounts/{id}/cfd_tunnel`` only.
- ``credentials/origin_cert.go`` [906452a9] and ``credentials/credentials.go``
  [b89c092c] (and a newer stored copy, id 32757898587, with ``FedEndpoint = "fed"`` and
  ``IsFEDEndpoint``, which callers use to replace ``--api-url`` by the FedRAMP API): the
  origin certificate, see ``test_origin_cert_*`` below.

Deviations found, and where they are handled: cloudflared filters every route listing by
``tun_types=cfd_tunnel`` and every tunnel here is a ``warp_connector`` (the server lets
``cfd_tunnel`` select them, see warpcli/server/app.py); cloudflared sends no body on
``DELETE .../virtual_networks/{id}``, which the 2024-08 schema marked required and the
current API does not (the contract's additions say so).

Go's ``url.Values.Encode`` sorts the keys and query-escapes the values (``/`` is ``%2F``),
which :func:`go_query` reproduces. Go's ``net/http`` adds ``Host``, ``Content-Length``
and ``Accept-Encoding: gzip``; :class:`Cloudflared` sends those too, with ``http.client``
so that no other header slips in.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import pytest

from tests.cfstub.fixtures import cf_api  # noqa: F401  (the fixture)
from tests.cfstub.server import CloudflareStandIn
from warpcli.core.origincert import origin_cert_pem

USER_AGENT = "cloudflared/2024.8.3"


# -- what cloudflared sends -----------------------------------------------------------------
def go_query(values: dict[str, str]) -> str:
    """``url.Values.Encode()``: keys sorted, ``url.QueryEscape`` on keys and values."""
    return "&".join(f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}" for k, v in sorted(values.items()))


def go_json(fields: list[tuple[str, Any]]) -> bytes:
    """``json.Marshal`` of a struct: its fields in declaration order, compact."""
    return json.dumps(dict(fields), separators=(",", ":")).encode()


class GoDecodeError(AssertionError):
    """What cloudflared would report as "failed to decode response" or an unexpected type."""


# -- how cloudflared reads the answers (a port of the Go decoding it relies on) --------------
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")


def go_time(value: Any) -> datetime | None:
    """``time.Time.UnmarshalJSON``: null is the zero time; else a strict RFC 3339 string."""
    if value is None:
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise GoDecodeError(f"parsing time {value!r} as RFC 3339")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def go_uuid(value: Any) -> uuid.UUID | None:
    """``uuid.UUID`` (google/uuid) from JSON: null leaves it zero; a string must parse."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise GoDecodeError(f"cannot unmarshal {type(value).__name__} into uuid.UUID")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise GoDecodeError(f"invalid UUID {value!r}") from None


def go_cidr(value: Any):
    """cfapi's ``CIDR.UnmarshalJSON``: a string that ``net.ParseCIDR`` accepts."""
    if not isinstance(value, str) or "/" not in value:
        raise GoDecodeError(f"error parsing invalid network from backend: {value!r}")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise GoDecodeError(f"error parsing invalid network from backend: {value!r}") from None


def go_string(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GoDecodeError(f"cannot unmarshal {type(value).__name__} into string")
    return value


def go_bool(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise GoDecodeError(f"cannot unmarshal {type(value).__name__} into bool")
    return value


def go_int(value: Any) -> int:
    """A Go ``int`` field: a JSON number without a fraction or exponent."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise GoDecodeError(f"cannot unmarshal {value!r} into int")
    return value


def go_struct(value: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """``json.Unmarshal`` into a struct: unknown keys ignored, missing ones zero, keys matched
    case-insensitively when there is no exact match (as encoding/json does)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise GoDecodeError(f"cannot unmarshal {type(value).__name__} into a struct")
    out = {}
    for name, decode in fields.items():
        key = name if name in value else next((k for k in value if k.lower() == name.lower()), None)
        out[name] = decode(value.get(key) if key is not None else None)
    return out


VIRTUAL_NETWORK = {"id": go_uuid, "comment": go_string, "name": go_string, "is_default_network": go_bool,
                   "created_at": go_time, "deleted_at": go_time}
ROUTE = {"network": go_cidr, "tunnel_id": go_uuid, "virtual_network_id": go_uuid, "comment": go_string,
         "created_at": go_time, "deleted_at": go_time}
DETAILED_ROUTE = {"id": go_uuid, **ROUTE, "tunnel_name": go_string}


def go_envelope(raw: bytes) -> dict[str, Any]:
    """``parseResponseEnvelope``: the wrapper, its errors and ``success``."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise GoDecodeError("failed to decode response") from None
    if not isinstance(body, dict):
        raise GoDecodeError("failed to decode response")
    errors = body.get("errors") or []
    messages = body.get("messages") or []
    if not isinstance(errors, list) or not all(
            isinstance(e, dict) and isinstance(e.get("code", 0), (int, float)) and not isinstance(e.get("code"), bool)
            and isinstance(e.get("message", ""), str) for e in errors):
        raise GoDecodeError(f"errors is not []apiErr: {errors!r}")
    if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
        raise GoDecodeError(f"messages is not []string: {messages!r}")  # Go: a decode error
    pagination = go_struct(body.get("result_info"), {"count": go_int, "page": go_int, "per_page": go_int,
                                                     "total_count": go_int})
    if errors:
        raise GoDecodeError(f"API errors: {errors!r}")
    if not go_bool(body.get("success")):
        raise GoDecodeError("API call failed")
    return {"result": body.get("result"), "pagination": pagination}


def go_list(result: Any, fields: dict[str, Any]) -> list[dict[str, Any]]:
    if result is None:
        return []
    if not isinstance(result, list):
        raise GoDecodeError("the Cloudflare API response was an unexpected type")
    return [go_struct(item, fields) for item in result]


# -- a cloudflared that speaks HTTP to the stand-in -------------------------------------------
class Cloudflared:
    """The requests of cloudflared's RESTClient, sent exactly; answers decoded as it does."""

    def __init__(self, cf: CloudflareStandIn, account_id: str, api_token: str) -> None:
        url = urlsplit(cf.url)  # --api-url
        self.host, self.port, self.base = url.hostname, url.port, url.path
        self.account = account_id
        self.token = api_token
        self.sent: list[tuple[str, str, str, bytes]] = []

    def request(self, method: str, path: str, query: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        target = f"{self.base}/accounts/{self.account}{path}"
        if query:
            target += "?" + go_query(query)
        headers = {"Host": f"{self.host}:{self.port}", "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Length"] = str(len(body))
            headers["Content-Type"] = "application/json"
        headers["Authorization"] = f"Bearer {self.token}"
        headers["Accept"] = "application/json;version=1"
        headers["Accept-Encoding"] = "gzip"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)  # cfapi's defaultTimeout
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for key, value in headers.items():
                conn.putheader(key, value)
            conn.endheaders(body)
            resp = conn.getresponse()
            raw = resp.read()
            answer = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        finally:
            conn.close()
        self.sent.append((method, path, go_query(query or {}), body or b""))
        return answer

    def ok(self, method: str, path: str, query: dict[str, str] | None = None, body: bytes | None = None) -> Any:
        status, headers, raw = self.request(method, path, query, body)
        assert status == 200, f"{method} {path}: {status} {raw[:300]!r}"
        assert headers["content-type"] == "application/json"
        return go_envelope(raw)["result"]

    def failure(self, method: str, path: str, query: dict[str, str] | None = None) -> str:
        """``statusCodeToError``: what the user would read for a non-200 answer."""
        status, headers, raw = self.request(method, path, query)
        assert status != 200
        # it reads the envelope only for exactly this Content-Type (no parameters)
        assert headers["content-type"] == "application/json", headers
        body = json.loads(raw)
        assert body["success"] is False and body["errors"], body
        error = body["errors"][0]
        return f"code: {error['code']}, reason: {error['message']}"

    # -- cfapi.RESTClient --------------------------------------------------------------------
    def create_virtual_network(self, name: str, comment: str, is_default: bool, *, field: str = "is_default_network"):
        body = go_json([("name", name), ("comment", comment), (field, is_default)])
        return go_struct(self.ok("POST", "/teamnet/virtual_networks", body=body), VIRTUAL_NETWORK)

    def list_virtual_networks(self, query: dict[str, str]) -> list[dict[str, Any]]:
        return go_list(self.ok("GET", "/teamnet/virtual_networks", query), VIRTUAL_NETWORK)

    def delete_virtual_network(self, vnet_id: uuid.UUID, force: bool):
        query = {"force": "true"} if force else None
        return go_struct(self.ok("DELETE", f"/teamnet/virtual_networks/{quote(str(vnet_id), safe='')}", query),
                         VIRTUAL_NETWORK)

    def add_route(self, network: str, tunnel_id: uuid.UUID, comment: str, vnet_id: uuid.UUID | None):
        fields: list[tuple[str, Any]] = [("network", str(ipaddress.ip_network(network))),
                                         ("tunnel_id", str(tunnel_id)), ("comment", comment)]
        if vnet_id is not None:
            fields.append(("virtual_network_id", str(vnet_id)))
        return go_struct(self.ok("POST", "/teamnet/routes", body=go_json(fields)), ROUTE)

    def list_routes(self, query: dict[str, str], *, max_pages: int = 50) -> list[dict[str, Any]]:
        """``fetchExhaustively``: page after page until a short page or ``total_count``."""
        routes: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            status, _headers, raw = self.request("GET", "/teamnet/routes", {**query, "page": str(page)})
            assert status == 200, raw
            envelope = go_envelope(raw)
            routes += go_list(envelope["result"], DETAILED_ROUTE)
            info = envelope["pagination"]
            if info["count"] < info["per_page"] or len(routes) >= info["total_count"]:
                return routes
        raise AssertionError(f"cloudflared would still be paging after {max_pages} pages")

    def delete_route(self, route_id: uuid.UUID):
        return go_struct(self.ok("DELETE", f"/teamnet/routes/{quote(str(route_id), safe='')}"), ROUTE)

    def get_by_ip(self, ip: str, vnet_id: uuid.UUID | None):
        query = {"virtual_network_id": str(vnet_id)} if vnet_id is not None else None
        return go_struct(self.ok("GET", f"/teamnet/routes/ip/{quote(ip, safe=':')}", query), DETAILED_ROUTE)

    # -- cmd/cloudflared/tunnel -------------------------------------------------------------
    def vnet_id(self, name_or_id: str) -> uuid.UUID:
        """``getVnetId``."""
        try:
            return uuid.UUID(name_or_id)
        except ValueError:
            pass
        vnets = self.list_virtual_networks({"is_deleted": "false", "name": name_or_id})
        assert len(vnets) == 1, f"there should only be 1 non-deleted virtual network named {name_or_id}"
        return vnets[0]["id"]

    def route_id(self, network: str, vnet_id: uuid.UUID | None) -> uuid.UUID:
        """``getRouteId``: the exact-match lookup before ``route ip delete CIDR``."""
        query = {"tun_types": "cfd_tunnel", "is_deleted": "false",
                 "network_subset": network, "network_superset": network}
        if vnet_id is not None:
            query["virtual_network_id"] = str(vnet_id)
        found = self.list_routes(query)
        assert len(found) == 1, f"unable to find route for provided network and vnet: {found}"
        return found[0]["id"]

    def show_routes(self, **flags: str) -> list[dict[str, Any]]:
        """``route ip show``: ``NewIpRouteFilterFromCLI`` with no filter flags."""
        return self.list_routes({"tun_types": "cfd_tunnel", "is_deleted": "false", **flags})


@pytest.fixture
def cloudflared(cf_api: CloudflareStandIn, tmp_path) -> Cloudflared:
    """A cloudflared configured as a user would: ``cert.pem`` from warpcli, ``--api-url``."""
    cert = tmp_path / "cert.pem"
    cert.write_text(origin_cert_pem(cf_api.account_id, cf_api.token))
    user = read_origin_cert(cert.read_bytes())
    assert not is_fed_endpoint(user)  # so cloudflared uses --api-url
    return Cloudflared(cf_api, user["accountID"], user["apiToken"])


def test_route_ip_show_pages_with_max_fetch_size(cf_api: CloudflareStandIn, cloudflared: Cloudflared) -> None:
    """``--max-fetch-size 2`` sets ``per_page``; cloudflared pages until it holds ``total_count``."""
    tunnel = uuid.UUID(cf_api.controller().create_tunnel("t").id)
    for i in range(5):
        cloudflared.add_route(f"10.9.{i}.0/24", tunnel, "", None)
    cf_api.clear_requests()
    shown = cloudflared.show_routes(per_page="2")
    assert [str(r["network"]) for r in shown] == [f"10.9.{i}.0/24" for i in range(5)]
    assert [r.query["page"] for r in cf_api.requests] == [["1"], ["2"], ["3"]]
    # a page that ends exactly at the last item: count == per_page, then total_count stops it
    cloudflared.delete_route(shown[-1]["id"])
    cf_api.clear_requests()
    assert len(cloudflared.show_routes(per_page="2")) == 4
    assert len(cf_api.requests) == 2


def test_older_cloudflared_creates_a_default_vnet_with_is_default(cf_api: CloudflareStandIn,
                                                                  cloudflared: Cloudflared) -> None:
    """cloudflared before f4bea397 sent ``is_default``; ``vnet add --default`` either way."""
    old = cloudflared.create_virtual_network("old", "", True, field="is_default")
    assert old["is_default_network"] is True
    new = cloudflared.create_virtual_network("new", "", True)
    assert new["is_default_network"] is True
    listed = cloudflared.list_virtual_networks({"is_deleted": "false", "is_default": "true"})
    assert [v["name"] for v in listed] == ["new"]


def test_wrong_token_is_what_cloudflared_reports_as_unauthorized(cf_api: CloudflareStandIn) -> None:
    client = Cloudflared(cf_api, cf_api.account_id, "not-the-token")
    status, headers, raw = client.request("GET", "/teamnet/virtual_networks", {"is_deleted": "false"})
    assert status == 401 and headers["content-type"] == "application/json"  # -> ErrUnauthorized
    assert json.loads(raw)["errors"][0]["code"] == 10000


# -- the origin certificate ---------------------------------------------------------------------
_PEM_BLOCK = re.compile(rb"-----BEGIN ([^\n-]+)-----\r?\n(.*?)-----END \1-----\r?\n?", re.S)


def pem_blocks(data: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """Go's ``pem.Decode`` in a loop: (type, headers, bytes) of each well-formed block."""
    out = []
    for match in _PEM_BLOCK.finditer(data):
        kind, text = match.group(1).decode(), match.group(2)
        headers: dict[str, str] = {}
        head, sep, rest = text.partition(b"\n\n")
        if sep and all(b":" in line for line in head.splitlines()):
            headers = dict((k.strip(), v.strip()) for k, v in
                           (line.decode().split(":", 1) for line in head.splitlines()))
            text = rest
        try:
            payload = base64.b64decode(b"".join(text.split()), validate=True)
        except ValueError:
            continue  # Go: not a block; pem.Decode moves on
        out.append((kind, headers, payload))
    return out


def decode_origin_cert(blocks: bytes) -> dict[str, str]:
    """cloudflared's ``decodeOriginCert`` (credentials/origin_cert.go), ported."""
    if not blocks:
        raise ValueError("cannot decode empty certificate")
    cert = {"zoneID": "", "accountID": "", "apiToken": "", "endpoint": ""}
    for kind, _headers, payload in pem_blocks(blocks):
        if kind in ("PRIVATE KEY", "CERTIFICATE"):
            continue  # legacy
        if kind != "ARGO TUNNEL TOKEN":
            raise ValueError(f"unknown block {kind} in the certificate")
        if cert["zoneID"] or cert["apiToken"]:
            raise ValueError("found multiple tokens in the certificate")
        try:  # `_ = json.Unmarshal(block.Bytes, &originCert)`: errors ignored
            parsed = go_struct(json.loads(payload), {"zoneID": go_string, "accountID": go_string,
                                                     "apiToken": go_string, "endpoint": go_string})
        except (ValueError, GoDecodeError):
            continue
        parsed["endpoint"] = parsed["endpoint"].lower()  # OriginCert.UnmarshalJSON
        cert.update(parsed)
    if not cert["zoneID"] or not cert["apiToken"]:
        raise ValueError("missing token in the certificate")
    return cert


def read_origin_cert(blocks: bytes) -> dict[str, str]:
    """``credentials.Read``: decode, then refuse a certificate without an account id."""
    cert = decode_origin_cert(blocks)
    if not cert["accountID"]:
        raise ValueError("Origin certificate needs to be refreshed before creating new tunnels.")
    return cert


def is_fed_endpoint(cert: dict[str, str]) -> bool:
    """``User.IsFEDEndpoint``: true sends cloudflared to the FedRAMP API, not ``--api-url``."""
    return cert["endpoint"] == "fed"


def test_origin_cert_decodes_as_cloudflared_decodes_it() -> None:
    account, token = "0123456789abcdef0123456789abcdef", "tok_" + "x" * 36
    text = origin_cert_pem(account, token)
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN ARGO TUNNEL TOKEN-----" and lines[-1] == "-----END ARGO TUNNEL TOKEN-----"
    assert all(len(line) <= 64 for line in lines[1:-1]) and len(lines[1]) == 64  # Go's pem line length
    assert text.endswith("\n")
    ((kind, headers, payload),) = pem_blocks(text.encode())
    assert (kind, headers) == ("ARGO TUNNEL TOKEN", {})
    assert payload == (b'{"zoneID":"0123456789abcdef0123456789abcdef","accountID":"0123456789abcdef0123456789abcdef",'
                       b'"apiToken":"tok_' + b"x" * 36 + b'"}')  # EncodeOriginCert's json.Marshal, byte for byte
    cert = read_origin_cert(text.encode())
    assert cert == {"zoneID": account, "accountID": account, "apiToken": token, "endpoint": ""}
    assert not is_fed_endpoint(cert)


def test_origin_cert_matches_cloudflareds_own_test_values() -> None:
    """The values of cloudflared's TestJSONArgoTunnelToken (credentials/origin_cert_test.go)."""
    text = origin_cert_pem("abcdabcdabcdabcd1234567890abcdef", "test-service-key",
                           zone_id="7b0a4d77dfb881c1a3b7d61ea9443e19")
    cert = read_origin_cert(text.encode())
    assert cert["zoneID"] == "7b0a4d77dfb881c1a3b7d61ea9443e19" and cert["apiToken"] == "test-service-key"


def test_origin_cert_endpoint_and_refusals() -> None:
    cert = read_origin_cert(origin_cert_pem("a" * 32, "t", endpoint="Custom").encode())
    assert cert["endpoint"] == "custom" and not is_fed_endpoint(cert)
    for endpoint in ("fed", "FED"):
        with pytest.raises(ValueError, match="FedRAMP"):
            origin_cert_pem("a" * 32, "t", endpoint=endpoint)
    for account, token in (("", "t"), ("a" * 32, "")):
        with pytest.raises(ValueError, match="non-empty"):
            origin_cert_pem(account, token)


def test_origin_cert_decoder_port_refuses_what_cloudflared_refuses() -> None:
    """The port follows the Go code on the inputs its own tests use."""
    with pytest.raises(ValueError, match="empty certificate"):
        decode_origin_cert(b"")
    one = origin_cert_pem("a" * 32, "t").encode()
    with pytest.raises(ValueError, match="multiple tokens"):
        decode_origin_cert(one + one)
    with pytest.raises(ValueError, match="unknown block RSA PRIVATE KEY"):
        decode_origin_cert(one + b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    legacy = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert decode_origin_cert(legacy + one)["apiToken"] == "t"
    with pytest.raises(ValueError, match="missing token"):
        decode_origin_cert(_token_block(b'{"zoneID":"z","accountID":"a"}'))
    with pytest.raises(ValueError, match="refreshed"):
        read_origin_cert(_token_block(b'{"zoneID":"z","apiToken":"t"}'))


def _token_block(payload: bytes) -> bytes:
    return b"-----BEGIN ARGO TUNNEL TOKEN-----\n" + base64.b64encode(payload) + b"\n-----END ARGO TUNNEL TOKEN-----\n"
