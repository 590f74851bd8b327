"""The replicas as the CLI shows them, on every controller (embedded, PostgreSQL, the Cloudflare
stand-in, `controller serve`): the tunnel status from the hub's reports, `tunnel show`'s replicas,
`connector list`'s version and role, `tunnel create --ha`, and `ha promote --tunnel --replica`
through the controller's failover endpoint (a thread plays the hub: it waits for the request and
reports the replica active, as `hub up --follow` would after the replica promoted itself)."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime

from tests.conftest import assert_one_line_error
from warpcli.core.keys import generate_keypair
from warpcli.core.liveness import ConnectorReport


def _store(paths):
    """The embedded store every backend of the test serves (SQLite file or PostgreSQL database)."""
    from warpcli.controllers.local.interface import open_store
    from warpcli.secret_stores.file_store import FileStore

    return open_store(os.environ.get("WARPCLI_DATABASE_URL"), paths.state,
                      secrets=lambda: FileStore(paths.state / "secrets.json"))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _play_the_hub(store, vnet_id: str, connector_id: str, done: threading.Event, bound: float = 20.0) -> None:
    """Wait (bounded) for a failover request for ``connector_id``; then report that replica active."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and not done.is_set():
        if any(p.connector_id == connector_id for p in store.report_connectors(vnet_id, [])):
            store.report_connectors(vnet_id, [ConnectorReport(connector_id, last_seen=_now(), role="active",
                                                              priority=254)])
            return
        done.wait(0.05)


def test_status_replicas_and_a_promotion_through_the_controller(cli, backend, paths) -> None:
    r = cli("tunnel", "create", "site-a", "--ha", "--json")
    assert r.exit_code == 0, r.stderr
    tid = json.loads(r.stdout)["id"]
    assert cli("tunnel", "create", "site-b").exit_code == 0
    store = _store(paths)
    try:
        vnet = store.list_virtual_networks(is_default=True)[0]
        assert store.get_tunnel_ha(tid).ha_mode == "none"
        a = store.register_connector(tid, generate_keypair().public_key, version="0.1.0")
        b = store.register_connector(tid, generate_keypair().public_key)
        statuses = {t["name"]: t["status"] for t in json.loads(cli("tunnel", "list", "--json").stdout)}
        assert statuses == {"site-a": "inactive", "site-b": "inactive"}

        store.report_connectors(vnet.id, [
            ConnectorReport(a.id, last_seen=_now(), role="active", priority=200, role_changed_at=_now()),
            ConnectorReport(b.id, last_seen=_now(), role="standby", priority=100)])
        statuses = {t["name"]: t["status"] for t in json.loads(cli("tunnel", "list", "--json").stdout)}
        assert statuses == {"site-a": "healthy", "site-b": "inactive"}
        shown = json.loads(cli("tunnel", "show", "site-a", "--json").stdout)
        assert [(x["address"], x["role"], x["priority"]) for x in shown["replicas"]] == [
            (a.address, "active", 200), (b.address, "standby", 100)]
        assert shown["replicas"][0]["role_changed_at"] and shown["status"] == "healthy"
        table = cli("tunnel", "show", "site-a")
        assert table.exit_code == 0 and a.address in table.stdout and "standby" in table.stdout
        if backend.name != "cloudflare":  # Cloudflare lists no warpcli connectors
            listed = cli("connector", "list")
            assert "0.1.0" in listed.stdout and "active (200)" in listed.stdout

        assert_one_line_error(cli("ha", "promote", "--tunnel", "site-a"), 2)
        assert_one_line_error(cli("ha", "promote", "--tunnel", "site-a", "--replica", "100.96.9.9"), 3)
        done = threading.Event()
        hub = threading.Thread(target=_play_the_hub, args=(store, vnet.id, b.id, done), daemon=True)
        hub.start()
        try:
            r = cli("ha", "promote", "--tunnel", "site-a", "--replica", b.address, "--timeout", "20", "--json")
        finally:
            done.set()
            hub.join(30)
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout) == {"role": "active", "hub_owner": b.address, "drained": False}
    finally:
        store.close()


def test_a_promotion_nobody_carries_out_times_out(cli, backend, paths) -> None:
    assert cli("tunnel", "create", "site-a").exit_code == 0
    store = _store(paths)
    try:
        t = store.list_tunnels()[0]
        b = store.register_connector(t.id, generate_keypair().public_key)
    finally:
        store.close()
    r = cli("ha", "promote", "--tunnel", "site-a", "--replica", b.id, "--timeout", "0.5")
    assert_one_line_error(r, 4)
    assert "not reported active within 0.5 s" in r.stderr
