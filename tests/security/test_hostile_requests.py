"""Hostile requests against a real ``warpcli controller serve`` (issue 17, items 3, 6, 12).

Each is answered in the JSON envelope with a 4xx, at once, leaves the state unchanged,
and leaves no traceback, error line or secret in the server's log.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.served import ServedController
from tests.test_server import AUTH, serving
from warpcli.core.keys import generate_keypair

#: the server's whole-request deadline: a refusal "at once" comes well inside it
REQUEST_TIMEOUT = 10.0


def _raw(served: ServedController, head: str, body: bytes = b"") -> tuple[bytes, float]:
    """Send ``head`` (and ``body``) on a fresh connection; the whole answer and how long it took."""
    url = urlsplit(served.url)
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data, time.monotonic() - started


def _envelope(answer: bytes) -> tuple[int, dict]:
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(payload)


def _code(resp: requests.Response) -> int:
    assert resp.headers["Content-Type"] == "application/json", resp.text
    body = resp.json()
    assert body["success"] is False and body["result"] is None
    return body["errors"][0]["code"]


def _tunnels(served: ServedController) -> list[str]:
    conn = sqlite3.connect(served.state_dir / "state.db")
    try:
        return sorted(row[0] for row in conn.execute("SELECT name FROM tunnels"))
    finally:
        conn.close()


def _clean_log(served: ServedController) -> None:
    assert served.problems() == []
    assert "Traceback" not in served.log_text() and "RecursionError" not in served.log_text()


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000, b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
                         ids=["lists", "objects", "inside-a-field"])
def test_deeply_nested_json_is_a_400(served: ServedController, body: bytes) -> None:
    before = _tunnels(served)
    resp = requests.post(served.account_url("/warp_connector"), data=body, timeout=30,
                         headers={**served.headers, "Content-Type": "application/json"})
    assert resp.status_code == 400 and _code(resp) in (6007, 1001), resp.text
    assert _tunnels(served) == before
    _clean_log(served)


def test_two_authorization_headers_are_refused(served: ServedController) -> None:
    path = urlsplit(served.url).path + "/user/tokens/verify"
    answer, _ = _raw(served, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
                             "Authorization: Bearer other\r\nConnection: close\r\n\r\n")
    status, body = _envelope(answer)
    assert status == 400 and "Authorization" in body["errors"][0]["message"]
    assert served.token.encode() not in answer and b"other" not in answer


@pytest.mark.parametrize("length", ["-1", "+5", " -0", "5, 6", "0x10", "1e3"])
def test_a_bad_content_length_is_refused_at_once(served: ServedController, length: str) -> None:
    path = urlsplit(served.url).path + f"/accounts/{served.account_id}/warp_connector"
    # headers only: a server that believed the length would wait for a body (the deadline, 10 s)
    answer, took = _raw(served, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
                                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n")
    status, body = _envelope(answer)
    assert status == 400 and body["errors"][0]["code"] == 1001
    assert took < REQUEST_TIMEOUT / 2


def test_a_body_over_the_limit_is_refused_from_its_length(served: ServedController) -> None:
    path = urlsplit(served.url).path + f"/accounts/{served.account_id}/warp_connector"
    answer, took = _raw(served, f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
                                f"Content-Type: application/json\r\nContent-Length: {50 << 20}\r\n\r\n")
    status, body = _envelope(answer)
    assert status == 413 and body["errors"][0]["code"] == 1008
    assert took < REQUEST_TIMEOUT / 2


def test_a_double_slash_path_is_the_envelope_not_a_redirect(served: ServedController) -> None:
    url = urlsplit(served.url)
    for path in (f"/{url.path}/user/tokens/verify", f"{url.path}//user/tokens/verify",
                 f"{url.path}/accounts/{served.account_id}//warp_connector"):
        answer, _ = _raw(served, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
                                 "Connection: close\r\n\r\n")
        status, body = _envelope(answer)  # JSON whatever the path, never an HTML redirect
        assert b"location:" not in answer.lower() and status in (200, 404), answer
        if not path.startswith("//"):  # (a leading "//" is the same path to the router)
            assert status == 404 and body["errors"][0]["code"] == 7003, answer


@pytest.mark.parametrize("value", ["2.0", "+2", " 2", "2 ", "\u0662", "1e1", "0", "-1", "00000000000000000002",
                                   "99999999999999999999", "1001", "", "0x2"])
def test_page_and_per_page_take_ascii_digits_within_bounds(served: ServedController, value: str) -> None:
    for param in ("page", "per_page"):
        if param == "page" and value == "1001":
            continue  # a valid page number
        resp = requests.get(served.account_url("/warp_connector"), params={param: value}, headers=served.headers,
                            timeout=30)
        assert resp.status_code == 400 and _code(resp) == 1001, (param, value, resp.text)


def test_page_and_per_page_in_bounds_are_taken(served: ServedController) -> None:
    resp = requests.get(served.account_url("/warp_connector"), params={"page": "1000000", "per_page": "1000"},
                        headers=served.headers, timeout=30)
    assert resp.status_code == 200 and resp.json()["result_info"]["page"] == 1000000
    resp = requests.get(served.account_url("/warp_connector"), params={"page": "1000001"}, headers=served.headers,
                        timeout=30)
    assert resp.status_code == 400


def test_token_endpoints_are_not_cached(served: ServedController) -> None:
    made = requests.post(served.account_url("/warp_connector"), json={"name": "cache-probe"},
                         headers=served.headers, timeout=30).json()["result"]
    for path in (f"/warp_connector/{made['id']}/token", "/warp_connector"):
        resp = requests.get(served.account_url(path), headers=served.headers, timeout=30)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    resp = requests.get(f"{served.url}/user/tokens/verify", headers=served.headers, timeout=30)
    assert resp.headers["Cache-Control"] == "no-store"


class _Locked:
    """A controller whose state is unusable, with a message that names a path and a variable."""

    def __init__(self, *args, **kwargs) -> None:
        from warpcli.controllers.local import LocalController

        self._real = LocalController(*args, **kwargs)

    def __getattr__(self, name):
        from warpcli.core.errors import StateError

        if name == "list_tunnels":
            def fail(**kwargs):
                raise StateError("cannot open /srv/secret-place/state.db",
                                 hint="set WARPCLI_STATE_DIR to a writable directory")
            return fail
        return getattr(self._real, name)


def test_a_503_says_nothing_of_the_servers_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="warpcli.server")
    with serving(tmp_path, cls=_Locked) as (url, account):  # type: ignore[arg-type]
        resp = requests.get(f"{url}/accounts/{account}/warp_connector", headers=AUTH, timeout=30)
    assert resp.status_code == 503 and _code(resp) == 1005
    assert "secret-place" not in resp.text and "WARPCLI_STATE_DIR" not in resp.text
    assert resp.json()["errors"][0]["message"] == "The server's state is unavailable; try again later"
    (line,) = [r.getMessage() for r in caplog.records if "secret-place" in r.getMessage()]
    assert "status=503" in line and "WARPCLI_STATE_DIR" in line


# -- item 3: which virtual networks a tunnel token may join --------------------------------------------
def _api(served: ServedController, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else served.headers
    return requests.request(method, served.account_url(path), headers=headers, timeout=30, **kwargs)


def _connectors(served: ServedController) -> list[tuple[str, str]]:
    conn = sqlite3.connect(served.state_dir / "state.db")
    try:
        return sorted(conn.execute("SELECT tunnel_id, virtual_network_id FROM connectors WHERE deleted_at IS NULL"))
    finally:
        conn.close()


def test_a_tunnel_token_joins_only_where_its_tunnel_has_a_route(served: ServedController) -> None:
    ok = lambda r: r.json()["result"]  # noqa: E731
    vnet = ok(_api(served, "POST", "/teamnet/virtual_networks", json={"name": "private-v"}))
    a = ok(_api(served, "POST", "/warp_connector", json={"name": "join-a"}))
    b = ok(_api(served, "POST", "/warp_connector", json={"name": "join-b"}))
    assert _api(served, "POST", "/teamnet/routes", json={"network": "10.77.0.0/24", "tunnel_id": b["id"],
                                                          "virtual_network_id": vnet["id"]}).status_code == 200
    token_a = ok(_api(served, "GET", f"/warp_connector/{a['id']}/token"))
    enroll = f"/warpcli/tunnels/{a['id']}/connectors"
    before = _connectors(served)

    # A has no route: not in B's vnet ...
    resp = _api(served, "POST", enroll, token_a, json={"public_key": generate_keypair().public_key,
                                                       "virtual_network_id": vnet["id"]})
    assert resp.status_code == 403 and _code(resp) == 9109, resp.text
    assert _connectors(served) == before
    # ... so not its routes either
    peers = _api(served, "GET", f"/warpcli/tunnels/{a['id']}/peers", token_a,
                 params={"virtual_network_id": vnet["id"]})
    assert peers.status_code == 403 and "10.77.0.0" not in peers.text
    # the default vnet it may join
    joined = _api(served, "POST", enroll, token_a, json={"public_key": generate_keypair().public_key})
    assert joined.status_code == 200, joined.text

    # once A has a route in the vnet, it may join it; then not the default one any more
    assert _api(served, "POST", "/teamnet/routes", json={"network": "10.78.0.0/24", "tunnel_id": a["id"],
                                                          "virtual_network_id": vnet["id"]}).status_code == 200
    resp = _api(served, "POST", enroll, token_a, json={"public_key": generate_keypair().public_key,
                                                       "virtual_network_id": vnet["id"]})
    assert resp.status_code == 200, resp.text
    resp = _api(served, "POST", enroll, token_a, json={"public_key": generate_keypair().public_key})
    assert resp.status_code == 403
    # an API token may enroll anywhere
    resp = _api(served, "POST", f"/warpcli/tunnels/{b['id']}/connectors",
                json={"public_key": generate_keypair().public_key})
    assert resp.status_code == 200
    assert served.token not in served.log_text() and token_a not in served.log_text()


def test_a_hubs_key_is_never_a_connectors(served: ServedController) -> None:
    hub_key = generate_keypair().public_key
    t = _api(served, "POST", "/warp_connector", json={"name": "hub-key-probe"}).json()["result"]
    default = next(v for v in _api(served, "GET", "/teamnet/virtual_networks").json()["result"]
               if v["is_default_network"])
    assert _api(served, "PUT", f"/warpcli/virtual_networks/{default['id']}/hub",
                json={"public_key": hub_key, "endpoint": "hub.example.net:51820"}).status_code == 200
    before = _connectors(served)
    token = _api(served, "GET", f"/warp_connector/{t['id']}/token").json()["result"]
    for bearer in (token, None):
        resp = _api(served, "POST", f"/warpcli/tunnels/{t['id']}/connectors", bearer, json={"public_key": hub_key})
        assert resp.status_code == 409 and _code(resp) == 1003, resp.text
    assert _connectors(served) == before
    # nor the other way round
    conn_key = generate_keypair().public_key
    assert _api(served, "POST", f"/warpcli/tunnels/{t['id']}/connectors", json={"public_key": conn_key}).ok
    resp = _api(served, "PUT", f"/warpcli/virtual_networks/{default['id']}/hub",
                json={"public_key": conn_key, "endpoint": "hub.example.net:51820"})
    assert resp.status_code == 409


def test_the_embedded_controller_keeps_the_same_rule(paths) -> None:
    from warpcli.controllers.local import LocalController
    from warpcli.core.enrollment import enroll
    from warpcli.core.errors import AuthError
    from warpcli.secret_stores import open_secret_store

    state = paths.state
    ctrl = LocalController(state, secrets=lambda: open_secret_store("file", state))
    try:
        vnet = ctrl.create_virtual_network("other")
        a = ctrl.create_tunnel("embedded-a")
        token = ctrl.get_tunnel_token(a.id)
        secrets = open_secret_store("file", paths.config)
        with pytest.raises(AuthError, match="only in the default virtual network"):
            enroll(ctrl, config_dir=paths.config, secrets=secrets, token=token, vnet="other",
                   keygen=lambda: (lambda p: (p.private_key, p.public_key))(generate_keypair()))
        assert ctrl.list_connectors() == []
        assert not (paths.config / "connector.toml").exists()
        # by name (whoever holds the state holds everything) it is allowed
        done = enroll(ctrl, config_dir=paths.config, secrets=secrets, tunnel="embedded-a", vnet="other",
                      keygen=lambda: (lambda p: (p.private_key, p.public_key))(generate_keypair()))
        assert done.connector is not None and done.connector.virtual_network_id == vnet.id
    finally:
        ctrl.close()
