"""Cloudflare's official Python SDK against a real ``warpcli controller serve``.

The client is ``cloudflare`` 5.x from PyPI (pinned in the ``test`` extra), built as its
users build it, ``Cloudflare(api_token=..., base_url="http://HOST:PORT/client/v4")``, with
``_strict_response_validation=True``: every answer must parse into the SDK's own response
models. Both the sync and the async client are driven.

Every request the SDK sends and every answer it gets is also checked against the
project's contract (``tests/cfstub/contract.py``: Cloudflare's OpenAPI subset plus the
newer operations taken from this SDK's types) by httpx event hooks on the SDK's own
HTTP client, so the served controller is held to the contract as the stand-in is.

What is covered: every operation the SDK offers for WARP-connector tunnels (the HA ones
too: connections, failover, configurations, with roles from a hub's report), ``tunnels.list``, tunnel routes (with
``ips.get`` and pagination at several page sizes), virtual networks, token
verification, every error class the server answers with (each in one request: the
answers carry ``x-should-retry: false``), and what is refused, with its message
(``cfd_tunnel``, the deprecated ``routes.networks``). README "With Cloudflare's SDK"
and docs/controller-api.md list the same.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

cloudflare = pytest.importorskip("cloudflare")
httpx = pytest.importorskip("httpx")

from tests.cfstub.contract import validate_request, validate_response  # noqa: E402
from tests.served import ServedController  # noqa: E402

_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


class Exchanges:
    """Every request and answer of one SDK client, contract-checked as they pass."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, dict[str, list[str]], int, httpx.Headers]] = []
        self.violations: list[str] = []
        self._pending: dict[int, tuple[str, str, dict[str, list[str]]]] = {}

    def _request(self, request: httpx.Request) -> None:
        path = request.url.raw_path.decode().split("?", 1)[0]
        query = parse_qs(request.url.query.decode(), keep_blank_values=True)
        body = request.read()
        self.violations += validate_request(request.method, path, query, dict(request.headers), body)
        self._pending[id(request)] = (request.method, path, query)

    def _response(self, response: httpx.Response, body: bytes) -> None:
        method, path, query = self._pending.pop(id(response.request))
        self.violations += validate_response(method, path, response.status_code, body,
                                             content_type=response.headers.get("content-type"))
        self.log.append((method, path, query, response.status_code, response.headers))

    def sync_client(self) -> httpx.Client:
        def on_response(response: httpx.Response) -> None:
            self._response(response, response.read())

        return cloudflare.DefaultHttpxClient(event_hooks={"request": [self._request], "response": [on_response]})

    def async_client(self) -> httpx.AsyncClient:
        async def on_request(request: httpx.Request) -> None:
            self._request(request)

        async def on_response(response: httpx.Response) -> None:
            self._response(response, await response.aread())

        return cloudflare.DefaultAsyncHttpxClient(event_hooks={"request": [on_request], "response": [on_response]})

    def to(self, method: str, suffix: str) -> list[tuple[str, str, dict[str, list[str]], int, httpx.Headers]]:
        return [x for x in self.log if x[0] == method and x[1].endswith(suffix)]

    def clear(self) -> None:
        self.log.clear()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedController]:
    """One server for the module, its state, secrets and home in a temporary directory."""
    root = tmp_path_factory.mktemp("sdk")
    with pytest.MonkeyPatch.context() as env:
        for var, value in {"HOME": root / "home", "XDG_DATA_HOME": root / "home/.local/share",
                           "XDG_CONFIG_HOME": root / "home/.config", "WARPCLI_CONFIG_DIR": root / "config",
                           "WARPCLI_STATE_DIR": root / "state", "WARPCLI_SECRET_BACKEND": "file"}.items():
            env.setenv(var, str(value))
        env.delenv("WARPCLI_CONTROLLER", raising=False)
        with ServedController(root / "state") as server:
            yield server
    assert server.problems() == []


@pytest.fixture
def seen() -> Iterator[Exchanges]:
    exchanges = Exchanges()
    yield exchanges
    assert exchanges.violations == [], "contract violations:\n  " + "\n  ".join(exchanges.violations)


def _client(served: ServedController, seen: Exchanges, **kw: Any):
    return cloudflare.Cloudflare(api_token=kw.pop("api_token", served.token), base_url=served.url,
                                 _strict_response_validation=True, http_client=seen.sync_client(), **kw)


@pytest.fixture
def cf(served: ServedController, seen: Exchanges):
    client = _client(served, seen)
    yield client
    client.close()


def enroll(served: ServedController, tunnel_id: str) -> dict[str, Any]:
    """A connector of the tunnel, enrolled through the warpcli extension (a WireGuard public key)."""
    import requests

    key = base64.b64encode(os.urandom(32)).decode()
    resp = requests.post(served.account_url(f"/warpcli/tunnels/{tunnel_id}/connectors"), headers=served.headers,
                         json={"public_key": key}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]["connector"]


# -- WARP connector tunnels ----------------------------------------------------------------------
def test_warp_connector_tunnels_every_operation(cf, served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    tunnels = cf.zero_trust.tunnels.warp_connector
    name = unique("office")
    made = tunnels.create(account_id=a, name=name)
    assert (made.name, made.tun_type, made.status, made.account_tag) == (name, "warp_connector", "inactive", a)

    got = tunnels.get(made.id, account_id=a)
    assert (got.id, got.name, got.deleted_at) == (made.id, name, None)
    listed = list(tunnels.list(account_id=a, name=name))
    assert [t.id for t in listed] == [made.id]
    assert [t.id for t in tunnels.list(account_id=a, uuid=made.id, is_deleted=False)] == [made.id]
    assert made.id in {t.id for t in tunnels.list(account_id=a, include_prefix=name[:6])}

    renamed = tunnels.edit(made.id, account_id=a, name=name + "-b")
    assert (renamed.id, renamed.name) == (made.id, name + "-b")
    assert tunnels.get(made.id, account_id=a).name == name + "-b"

    token = tunnels.token.get(made.id, account_id=a)
    assert isinstance(token, str) and len(token) > 40

    connector = enroll(served, made.id)
    client = tunnels.connectors.get(connector["id"], account_id=a, tunnel_id=made.id)
    assert client.id == connector["id"]
    assert client.run_at is not None and client.conns == [] and client.features == []
    extra = client.model_extra or {}
    assert extra["address"] == connector["address"] and extra["tunnel_id"] == made.id

    route = cf.zero_trust.networks.routes.create(account_id=a, network="198.18.0.0/31", tunnel_id=made.id)
    seen.clear()
    with pytest.raises(cloudflare.ConflictError) as caught:  # a tunnel with routes
        tunnels.delete(made.id, account_id=a)
    assert "still has 1 route" in caught.value.message and len(seen.log) == 1  # not retried
    cf.zero_trust.networks.routes.delete(route.id, account_id=a)
    deleted = tunnels.delete(made.id, account_id=a)
    assert deleted.id == made.id and deleted.deleted_at is not None
    again = tunnels.get(made.id, account_id=a)  # as Cloudflare: still fetched by id, with deleted_at
    assert again.deleted_at is not None
    assert made.id in {t.id for t in tunnels.list(account_id=a, is_deleted=True)}
    assert made.id not in {t.id for t in tunnels.list(account_id=a, is_deleted=False)}
    with pytest.raises(cloudflare.NotFoundError):
        tunnels.token.get(made.id, account_id=a)
    with pytest.raises(cloudflare.NotFoundError):
        tunnels.connectors.get(connector["id"], account_id=a, tunnel_id=made.id)


def test_tunnel_rename_conflicts_and_tunnel_secret_is_refused(cf, served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    tunnels = cf.zero_trust.tunnels.warp_connector
    first, second = (tunnels.create(account_id=a, name=unique("t")) for _ in range(2))
    seen.clear()
    with pytest.raises(cloudflare.ConflictError) as caught:
        tunnels.edit(first.id, account_id=a, name=second.name)
    assert "already exists" in caught.value.message
    assert len(seen.log) == 1 and seen.log[0][4]["x-should-retry"] == "false"
    with pytest.raises(cloudflare.BadRequestError):
        tunnels.edit(first.id, account_id=a, tunnel_secret=base64.b64encode(os.urandom(32)).decode())


def test_ha_replicas_failover_and_configurations(cf, served: ServedController, seen: Exchanges) -> None:
    """Cloudflare's HA endpoints, with the replicas' roles a hub reported (the warpcli extension)."""
    from datetime import UTC, datetime

    import requests

    a = served.account_id
    tunnels = cf.zero_trust.tunnels.warp_connector
    made = tunnels.create(account_id=a, name=unique("ha"), ha=True)
    one, two = enroll(served, made.id), enroll(served, made.id)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    report = served.account_url(f"/warpcli/virtual_networks/{one['virtual_network_id']}/hub/report")
    resp = requests.post(report, headers=served.headers, timeout=30, json={"connectors": [
        {"id": one["id"], "last_seen": now, "role": "active", "priority": 200},
        {"id": two["id"], "last_seen": now, "role": "standby", "priority": 100}]})
    assert resp.status_code == 200, resp.text

    replicas = list(tunnels.connections.get(made.id, account_id=a))
    assert {r.id: r.ha_status for r in replicas} == {one["id"]: "active", two["id"]: "passive"}
    assert tunnels.connectors.get(two["id"], account_id=a, tunnel_id=made.id).ha_status == "passive"

    tunnels.failover.update(made.id, account_id=a, client_id=two["id"])
    pending = requests.post(report, headers=served.headers, json={"connectors": []}, timeout=30).json()
    assert [(f["tunnel_id"], f["client_id"]) for f in pending["result"]["failover"]] == [(made.id, two["id"])]
    with pytest.raises(cloudflare.NotFoundError):
        tunnels.failover.update(made.id, account_id=a, client_id="00000000-0000-4000-8000-000000000000")

    config = tunnels.configurations.get(made.id, account_id=a)
    assert config is not None and (config.tunnel_id, config.ha_mode) == (made.id, "none")
    updated = tunnels.configurations.update(made.id, account_id=a, ha_mode="local",
                                            config={"vips": [{"address": "10.1.0.1"}]})
    assert updated is not None and updated.ha_mode == "local"
    assert updated.configuration_version == config.configuration_version + 1
    with pytest.raises(cloudflare.BadRequestError) as caught:
        tunnels.configurations.update(made.id, account_id=a, ha_mode="aws", config={"fnr_id": "eni-0"})
    assert "aws" in caught.value.message


def test_tunnels_list_all_types_with_list_valued_tun_types(cf, served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    prefix = unique("all")
    ids = {cf.zero_trust.tunnels.warp_connector.create(account_id=a, name=f"{prefix}-{i}").id for i in range(5)}
    seen.clear()
    found = list(cf.zero_trust.tunnels.list(account_id=a, include_prefix=prefix, per_page=2,
                                            tun_types=["cfd_tunnel", "warp_connector"]))
    assert sorted(t.id for t in found) == sorted(ids) and len(found) == len(ids)
    assert all(t.tun_type == "warp_connector" for t in found)
    assert seen.log[0][2]["tun_types"] == ["cfd_tunnel", "warp_connector"]  # sent repeated
    assert len(seen.log) == math.ceil(len(ids) / 2) + 1  # the SDK stops at the first empty page
    assert list(cf.zero_trust.tunnels.list(account_id=a, include_prefix=prefix, tun_types=["ip_sec", "gre"])) == []
    assert len(list(cf.zero_trust.tunnels.list(account_id=a, include_prefix=prefix, status="inactive"))) == 5
    with pytest.raises(cloudflare.BadRequestError):
        cf.zero_trust.tunnels.list(account_id=a, extra_query={"tun_types": "bogus"})
    assert any("'bogus' is not one of" in v for v in seen.violations)
    seen.violations.clear()  # provoked on purpose: the SDK would not send it


# -- routes ----------------------------------------------------------------------------------------
def test_routes_every_operation(cf, served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    routes = cf.zero_trust.networks.routes
    tunnel = cf.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("r"))
    other = cf.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("r"))
    vnet = cf.zero_trust.networks.virtual_networks.create(account_id=a, name=unique("vn"))

    made = routes.create(account_id=a, network="10.20.0.0/16", tunnel_id=tunnel.id, comment="wide",
                         virtual_network_id=vnet.id)
    assert (made.network, made.tunnel_id, made.virtual_network_id, made.comment) == \
        ("10.20.0.0/16", tunnel.id, vnet.id, "wide")
    narrow = routes.create(account_id=a, network="10.20.5.0/24", tunnel_id=other.id, virtual_network_id=vnet.id)

    got = routes.get(made.id, account_id=a)
    assert (got.id, got.network) == (made.id, "10.20.0.0/16")
    extra = got.model_extra or {}
    assert (extra.get("tunnel_name"), extra.get("virtual_network_name")) == (tunnel.name, vnet.name)

    hit = routes.ips.get("10.20.5.9", account_id=a, virtual_network_id=vnet.id)
    assert (hit.id, hit.tunnel_name, hit.virtual_network_name) == (narrow.id, other.name, vnet.name)
    assert routes.ips.get("10.20.6.9", account_id=a, virtual_network_id=vnet.id,
                          default_virtual_network_fallback=True).id == made.id
    with pytest.raises(cloudflare.NotFoundError):
        routes.ips.get("10.20.6.9", account_id=a)  # the default vnet has no such route

    def ids(**filters: Any) -> list[str]:
        return sorted(r.id for r in routes.list(account_id=a, virtual_network_id=vnet.id, is_deleted=False, **filters))

    assert ids() == sorted([made.id, narrow.id])
    assert ids(tunnel_id=other.id) == [narrow.id]
    assert ids(network_subset="10.20.4.0/22") == [narrow.id]
    assert ids(network_superset="10.20.5.7/32") == sorted([made.id, narrow.id])
    assert ids(comment="wide") == [made.id]
    assert ids(route_id=narrow.id) == [narrow.id]
    assert ids(tun_types=["warp_connector"]) == sorted([made.id, narrow.id])
    assert ids(tun_types=["gre"]) == []
    assert ids(existed_at="2000-01-01T00:00:00Z") == []

    edited = routes.edit(made.id, account_id=a, comment="narrower", network="10.20.0.0/17")
    assert (edited.comment, edited.network) == ("narrower", "10.20.0.0/17")
    moved = routes.edit(made.id, account_id=a, tunnel_id=other.id)
    assert moved.tunnel_id == other.id

    deleted = routes.delete(made.id, account_id=a)
    assert deleted.id == made.id and deleted.deleted_at is not None
    assert routes.get(made.id, account_id=a).deleted_at is not None  # fetched by id, with deleted_at
    assert ids() == [narrow.id]
    with pytest.raises(cloudflare.NotFoundError):
        routes.delete(made.id, account_id=a)
    with pytest.raises(cloudflare.NotFoundError):
        routes.get("8d7b3c2a-0000-4000-8000-000000000000", account_id=a)


@pytest.mark.parametrize("per_page", [1, 7, 20, 36, 37, 1000])
def test_route_pagination_lists_every_route_exactly_once(cf, served: ServedController, seen: Exchanges,
                                                         per_page: int) -> None:
    a = served.account_id
    tunnel = cf.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("pages"))
    made = []
    for i in range(37):
        version6 = i % 3 == 0
        network = f"fd00:{i:x}::/48" if version6 else f"10.{100 + i // 250}.{i % 250}.0/24"
        made.append(cf.zero_trust.networks.routes.create(account_id=a, network=network, tunnel_id=tunnel.id).id)
    seen.clear()
    listed = [r.id for r in cf.zero_trust.networks.routes.list(account_id=a, tunnel_id=tunnel.id, per_page=per_page)]
    assert len(listed) == len(set(listed)) == len(made)
    assert set(listed) == set(made)
    assert len(seen.log) == math.ceil(len(made) / per_page) + 1
    pages = [cf.zero_trust.networks.routes.list(account_id=a, tunnel_id=tunnel.id, per_page=per_page, page=p)
             for p in (1, 2)]
    info = pages[0].result_info
    assert info is not None and (info.page, info.per_page, info.total_count) == (1, per_page, len(made))
    assert info.count == min(per_page, len(made))
    assert not set(r.id for r in pages[0].result) & set(r.id for r in pages[1].result)
    cf.zero_trust.tunnels.warp_connector.delete(tunnel.id, account_id=a, extra_query={"force": True})


# -- virtual networks ----------------------------------------------------------------------------
def test_virtual_networks_every_operation(cf, served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    vnets = cf.zero_trust.networks.virtual_networks
    name = unique("lab")
    made = vnets.create(account_id=a, name=name, comment="lab copy", is_default=False)
    assert (made.name, made.comment, made.is_default_network) == (name, "lab copy", False)
    got = vnets.get(made.id, account_id=a)
    assert (got.id, got.name, got.deleted_at) == (made.id, name, None)

    assert [v.id for v in vnets.list(account_id=a, name=name)] == [made.id]
    assert [v.id for v in vnets.list(account_id=a, id=made.id, is_deleted=False)] == [made.id]
    (default,) = vnets.list(account_id=a, is_default=True)
    assert [v.id for v in vnets.list(account_id=a, is_default_network=True)] == [default.id]
    assert made.id in {v.id for v in vnets.list(account_id=a, is_default_network=False)}

    edited = vnets.edit(made.id, account_id=a, name=name + "-2", comment="renamed")
    assert (edited.name, edited.comment) == (name + "-2", "renamed")
    vnets.edit(made.id, account_id=a, is_default_network=True)
    assert vnets.get(made.id, account_id=a).is_default_network is True
    assert vnets.get(default.id, account_id=a).is_default_network is False
    with pytest.raises(cloudflare.ConflictError):
        vnets.delete(made.id, account_id=a)  # the default one
    vnets.edit(default.id, account_id=a, is_default_network=True)

    with pytest.raises(cloudflare.ConflictError):
        vnets.create(account_id=a, name=name + "-2")
    deleted = vnets.delete(made.id, account_id=a)
    assert deleted.id == made.id and deleted.deleted_at is not None
    assert vnets.get(made.id, account_id=a).deleted_at is not None
    assert made.id in {v.id for v in vnets.list(account_id=a, is_deleted=True)}
    with pytest.raises(cloudflare.NotFoundError):
        vnets.edit(made.id, account_id=a, comment="gone")
    with pytest.raises(cloudflare.NotFoundError):
        vnets.get("8d7b3c2a-0000-4000-8000-000000000001", account_id=a)


# -- tokens and error classes ----------------------------------------------------------------------
def test_token_verify(cf, served: ServedController) -> None:
    verified = cf.user.tokens.verify()
    assert verified.status == "active" and verified.id


def test_every_error_class_in_one_request(served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    good = _client(served, seen)
    wrong_token = _client(served, seen, api_token="x" * 40)
    tunnel = good.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("err"))
    cases = [
        (cloudflare.BadRequestError, 400, lambda: good.zero_trust.networks.routes.create(
            account_id=a, network="10.0.0.1/24", tunnel_id=tunnel.id)),
        (cloudflare.AuthenticationError, 401, lambda: wrong_token.user.tokens.verify()),
        (cloudflare.PermissionDeniedError, 403, lambda: good.zero_trust.networks.virtual_networks.list(
            account_id="0" * 32)),
        (cloudflare.NotFoundError, 404, lambda: good.zero_trust.tunnels.warp_connector.get(
            "8d7b3c2a-0000-4000-8000-000000000002", account_id=a)),
        (cloudflare.ConflictError, 409, lambda: good.zero_trust.tunnels.warp_connector.create(
            account_id=a, name=tunnel.name)),
    ]
    messages = []
    for cls, status, call in cases:
        seen.clear()
        with pytest.raises(cls) as caught:
            call()
        assert caught.value.status_code == status
        messages.append(str(caught.value))
        assert len(seen.log) == 1, (cls, seen.log)  # not retried: x-should-retry: false
        assert seen.log[0][4]["x-should-retry"] == "false"
    assert "10.0.0.0/24" in messages[0]  # names the canonical form
    assert served.token not in "".join(messages)
    good.close()
    wrong_token.close()


def test_what_is_refused_says_why(cf, served: ServedController, seen: Exchanges) -> None:
    a = served.account_id
    with pytest.raises(cloudflare.BadRequestError) as caught:
        cf.zero_trust.tunnels.cloudflared.list(account_id=a)
    assert "cfd_tunnel" in caught.value.message and "warp_connector" in caught.value.message
    with pytest.raises(cloudflare.BadRequestError) as caught:
        cf.zero_trust.tunnels.cloudflared.create(account_id=a, name=unique("cfd"))
    assert "not served" in caught.value.message
    tunnel = cf.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("dep"))
    with pytest.raises(cloudflare.BadRequestError) as caught, pytest.warns(DeprecationWarning):
        cf.zero_trust.networks.routes.networks.create("10.99.0.0/24", account_id=a, tunnel_id=tunnel.id)
    assert "deprecated" in caught.value.message
    (violation,) = seen.violations  # the contract marks it deprecated too: provoked on purpose
    assert "POST is deprecated" in violation
    seen.violations.clear()
    assert list(cf.zero_trust.networks.routes.list(account_id=a, tunnel_id=tunnel.id)) == []


# -- the async client --------------------------------------------------------------------------------
def test_the_async_client(served: ServedController, seen: Exchanges) -> None:
    a = served.account_id

    async def session() -> None:
        async with cloudflare.AsyncCloudflare(api_token=served.token, base_url=served.url,
                                              _strict_response_validation=True,
                                              http_client=seen.async_client()) as acf:
            tunnel = await acf.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("async"))
            renamed = await acf.zero_trust.tunnels.warp_connector.edit(tunnel.id, account_id=a,
                                                                       name=tunnel.name + "-r")
            assert renamed.name == tunnel.name + "-r"
            vnet = await acf.zero_trust.networks.virtual_networks.create(account_id=a, name=unique("avn"))
            assert (await acf.zero_trust.networks.virtual_networks.get(vnet.id, account_id=a)).name == vnet.name
            made = await asyncio.gather(*(
                acf.zero_trust.networks.routes.create(account_id=a, network=f"172.16.{i}.0/24", tunnel_id=tunnel.id,
                                                      virtual_network_id=vnet.id)
                for i in range(9)))
            listed = [r.id async for r in acf.zero_trust.networks.routes.list(
                account_id=a, virtual_network_id=vnet.id, per_page=4)]
            assert sorted(listed) == sorted(r.id for r in made)
            got = await acf.zero_trust.networks.routes.get(made[3].id, account_id=a)
            assert got.network == "172.16.3.0/24"
            hit = await acf.zero_trust.networks.routes.ips.get("172.16.3.3", account_id=a, virtual_network_id=vnet.id)
            assert hit.id == made[3].id
            all_types = [t.id async for t in acf.zero_trust.tunnels.list(account_id=a, uuid=tunnel.id,
                                                                          tun_types=["warp_connector"])]
            assert all_types == [tunnel.id]
            assert (await acf.user.tokens.verify()).status == "active"
            with pytest.raises(cloudflare.ConflictError):
                await acf.zero_trust.networks.virtual_networks.create(account_id=a, name=vnet.name)
            with pytest.raises(cloudflare.NotFoundError):
                await acf.zero_trust.networks.routes.get("8d7b3c2a-0000-4000-8000-000000000003", account_id=a)
            deleted = await acf.zero_trust.tunnels.warp_connector.delete(tunnel.id, account_id=a,
                                                                         extra_query={"force": True})
            assert deleted.deleted_at is not None
            assert [r async for r in acf.zero_trust.networks.routes.list(
                account_id=a, virtual_network_id=vnet.id, is_deleted=False)] == []

    asyncio.run(session())


def test_the_sdk_version_is_the_pinned_generation() -> None:
    major = int(cloudflare.__version__.split(".")[0])
    assert major == 5, cloudflare.__version__
    assert Path(cloudflare.__file__).exists()


def test_what_is_out_of_scope_answers_as_the_readme_says(cf, served: ServedController, seen: Exchanges) -> None:
    """The README's table of what the SDK offers and warpcli does not do, row by row."""
    a = served.account_id
    for call in (lambda: list(cf.zero_trust.networks.hostname_routes.list(account_id=a)),
                 lambda: list(cf.zero_trust.networks.subnets.list(account_id=a))):
        with pytest.raises(cloudflare.NotFoundError) as caught:
            call()
        assert caught.value.status_code == 404 and caught.value.body["errors"][0]["code"] == 7003
    with pytest.raises(cloudflare.BadRequestError) as caught:
        list(cf.zero_trust.tunnels.list(account_id=a, was_active_at="2026-01-01T00:00:00Z"))
    assert "was_active_at" in caught.value.message
    seen.violations.clear()  # paths and parameters outside the contract, asked on purpose


def test_connectors_get_answers_the_connectors_real_version_and_last_seen(cf, served: ServedController) -> None:
    """The version the connector gave at enrollment, then what the hub reports (version, last
    handshake) is what Cloudflare's ``connectors.get`` answers (run_at: when it was last seen)."""
    import requests

    a = served.account_id
    made = cf.zero_trust.tunnels.warp_connector.create(account_id=a, name=unique("seen"))
    key = base64.b64encode(os.urandom(32)).decode()
    resp = requests.post(served.account_url(f"/warpcli/tunnels/{made.id}/connectors"), headers=served.headers,
                         json={"public_key": key, "version": "1.2.3"}, timeout=30)
    assert resp.status_code == 200, resp.text
    connector = resp.json()["result"]["connector"]
    got = cf.zero_trust.tunnels.warp_connector.connectors.get(connector["id"], account_id=a, tunnel_id=made.id)
    assert got.version == "1.2.3" and got.run_at is not None
    assert (got.model_extra or {}).get("last_seen") is None  # no handshake reported yet

    seen_at = "2026-12-06T03:00:00Z"
    resp = requests.post(served.account_url(f"/warpcli/virtual_networks/{connector['virtual_network_id']}/hub/report"),
                         headers=served.headers, timeout=30,
                         json={"connectors": [{"id": connector["id"], "last_seen": seen_at, "version": "1.2.4"}]})
    assert resp.status_code == 200, resp.text
    got = cf.zero_trust.tunnels.warp_connector.connectors.get(connector["id"], account_id=a, tunnel_id=made.id)
    assert got.version == "1.2.4"
    assert got.run_at is not None and got.run_at.isoformat().startswith("2026-12-06T03:00:00")
    assert (got.model_extra or {})["last_seen"].startswith("2026-12-06T03:00:00")
