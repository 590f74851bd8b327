"""`controller serve` exposes /metrics (issue 18, item 12): scraped with prometheus_client's own parser."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.served import ServedController
from tests.test_server import AUTH, opener
from warpcli.server import close_controllers, create_app, make_server


def scrape(url: str, headers: dict[str, str], **kw) -> dict[str, dict[tuple, float]]:
    """metric sample name -> {sorted label items: value}."""
    resp = requests.get(url, headers=headers, timeout=30, **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_metrics_of_a_real_controller_serve(tmp_path: Path) -> None:
    with ServedController(tmp_path / "state", log_file=tmp_path / "serve.log") as served:
        base = served.url.removesuffix("/client/v4")
        metrics_url = base + "/metrics"
        h = served.headers
        tunnel = requests.post(served.account_url("/warp_connector"), json={"name": "t1"}, headers=h, timeout=30).json()
        tid = tunnel["result"]["id"]
        for cidr in ("10.0.0.0/24", "10.1.0.0/24"):
            r = requests.post(served.account_url("/teamnet/routes"), json={"network": cidr, "tunnel_id": tid},
                              headers=h, timeout=30)
            assert r.status_code == 200, r.text
        vnet = requests.get(served.account_url("/teamnet/virtual_networks"), headers=h, timeout=30).json()["result"][0]
        version_url = served.account_url(f"/warpcli/virtual_networks/{vnet['id']}/version")
        for step in range(3):  # version, same version, a change, version: one change seen
            assert requests.get(version_url, headers=h, timeout=30).status_code == 200
            if step == 1:
                requests.post(served.account_url("/teamnet/routes"), json={"network": "10.2.0.0/24", "tunnel_id": tid},
                              headers=h, timeout=30).raise_for_status()
        for _ in range(20):  # scanners' paths: all one "unmatched" series, never a label per path
            requests.get(f"{served.url}/{uuid.uuid4()}", headers=h, timeout=30)

        # who may scrape: an API token; no token is a 401, a tunnel token a 403
        assert requests.get(metrics_url, timeout=30).status_code == 401
        token = requests.get(served.account_url(f"/warp_connector/{tid}/token"), headers=h, timeout=30).json()["result"]
        r = requests.get(metrics_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 403 and token not in r.text

        got = scrape(metrics_url, h)
        text = requests.get(metrics_url, headers=h, timeout=30).text
    assert served.token not in text and token not in text
    assert served.problems() == []
    assert token not in served.log_text()

    routes = got["warpcli_server_requests_total"]
    create = (("method", "POST"), ("route", "/client/v4/accounts/<account_id>/teamnet/routes"), ("status", "200"))
    assert routes[create] == 3
    assert routes[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 20
    assert routes[(("method", "GET"), ("route", "/metrics"), ("status", "401"))] == 1
    assert routes[(("method", "GET"), ("route", "/metrics"), ("status", "403"))] == 1
    assert not any(str(tid) in str(labels) for labels in routes), "an id became a label"
    assert len(routes) < 15, sorted(routes)

    count = got["warpcli_server_request_duration_seconds_count"]
    assert count[(("method", "POST"), ("route", create[1][1]))] == 3
    buckets = got["warpcli_server_request_duration_seconds_bucket"]
    mine = {dict(labels)["le"]: v for labels, v in buckets.items() if create[1] in labels and ("method", "POST") in labels}
    assert mine["+Inf"] == 3 and all(v <= 3 for v in mine.values())

    objects = got["warpcli_server_objects"]
    assert objects == {(("kind", "connectors"),): 0, (("kind", "routes"),): 3, (("kind", "tunnels"),): 1,
                       (("kind", "virtual_networks"),): 1}
    assert got["warpcli_server_objects_count_ok"] == {(): 1}
    assert got["warpcli_server_state_version_changes_total"] == {(): 1}
    assert got["warpcli_server_store_errors_total"] == {(): 0}


class _Unusable:
    """A store whose reads fail as a store does when its file is gone or locked."""

    def __init__(self, *args, **kwargs) -> None:
        from warpcli.controllers.local import LocalController

        self._real = LocalController(*args, **kwargs)

    def __getattr__(self, name):
        from warpcli.core.errors import StateError

        if name in ("list_tunnels", "route_page_json"):
            def fail(*a, **kw):
                raise StateError("cannot read the state")
            return fail
        return getattr(self._real, name)


def test_store_errors_are_counted_and_a_scrape_still_answers(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with opener(state)() as c:
        account = c.account_id
    app = create_app(opener(state, _Unusable), account_id=account,  # type: ignore[arg-type]
                     authorize=lambda t: t.startswith("test-token"), metrics=True)
    server = make_server(app, "127.0.0.1", 0, access_log=False)
    server.start_in_thread()
    try:
        for _ in range(2):
            r = requests.get(f"{server.url}/client/v4/accounts/{account}/warp_connector", headers=AUTH, timeout=30)
            assert r.status_code == 503
        got = scrape(f"{server.url}/metrics", AUTH)
    finally:
        server.stop()
        close_controllers(app)
    assert got["warpcli_server_store_errors_total"] == {(): 2}
    assert got["warpcli_server_objects_count_ok"] == {(): 0}
    assert "warpcli_server_objects" not in got


@pytest.mark.parametrize("interval", [0.0, 3600.0])
def test_object_counts_are_taken_at_most_once_per_interval(interval: float) -> None:
    from warpcli.metrics.server import _ObjectCollector

    calls = []

    def count() -> dict[str, int]:
        calls.append(1)
        return {"routes": len(calls)}

    collector = _ObjectCollector(count, interval=interval)
    values = []
    for _ in range(5):
        families = {f.name: f for f in collector.collect()}
        (routes,) = [s.value for s in families["warpcli_server_objects"].samples if s.labels["kind"] == "routes"]
        values.append(routes)
    assert values == ([1, 2, 3, 4, 5] if interval == 0 else [1, 1, 1, 1, 1])


def test_the_stand_in_app_has_no_metrics(tmp_path: Path) -> None:
    """Without metrics=True (what tests and the Cloudflare stand-in build), /metrics is just a 404."""
    state = tmp_path / "state"
    with opener(state)() as c:
        account = c.account_id
    app = create_app(opener(state), account_id=account, authorize=lambda t: t.startswith("test-token"))
    assert not any(rule.rule == "/metrics" for rule in app.url_map.iter_rules())


def test_every_server_metric_is_documented() -> None:
    """docs/metrics.md lists every metric `controller serve` registers (a renamed metric fails here)."""
    from warpcli.metrics.server import ServerMetrics

    text = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    m = ServerMetrics(lambda: {"routes": 1})
    m.request("/x", "GET", 200, 0.1)
    families = list(m.registry.collect())
    assert len(families) >= 6
    for family in families:
        shown = f"{family.name}_total" if family.type == "counter" else family.name
        assert f"`{shown}`" in text, f"docs/metrics.md does not list {shown}"
        assert shown.startswith("warpcli_server_")
