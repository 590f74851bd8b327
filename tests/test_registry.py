"""The controller's enrollment registry: connectors (device addresses) and hubs, on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from warpcli.controllers.local import LocalController
from warpcli.controllers.local.schema import MIGRATIONS, SCHEMA_VERSION
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.secret_stores.file_store import FileStore


@pytest.fixture
def ctrl(tmp_path: Path) -> LocalController:
    c = LocalController(tmp_path / "s", secrets=lambda: FileStore(tmp_path / "s" / "secrets.json"))
    yield c
    c.close()


def test_addresses_are_allocated_lowest_free_and_reused(ctrl: LocalController) -> None:
    t = ctrl.create_tunnel("office")
    a, b, c = (ctrl.register_connector(t.id, f"key{i}") for i in range(3))
    assert [x.address for x in (a, b, c)] == ["100.96.0.2", "100.96.0.3", "100.96.0.4"]
    ctrl.delete_connector(b.id)
    d = ctrl.register_connector(t.id, "key9")
    assert d.address == "100.96.0.3"
    assert [x.address for x in ctrl.list_connectors(tunnel_id=t.id)] == ["100.96.0.2", "100.96.0.3", "100.96.0.4"]


def test_registering_the_same_key_twice_returns_the_same_connector(ctrl: LocalController) -> None:
    t = ctrl.create_tunnel("office")
    first = ctrl.register_connector(t.id, "k")
    assert ctrl.register_connector(t.id, "k") == first
    other = ctrl.create_tunnel("lab")
    with pytest.raises(Conflict) as err:
        ctrl.register_connector(other.id, "k")
    assert err.value.existing == first
    assert len(ctrl.list_connectors()) == 1


def test_tokens_are_verified_against_the_store(ctrl: LocalController) -> None:
    t = ctrl.create_tunnel("office")
    token = ctrl.get_tunnel_token(t.id)
    assert ctrl.verify_tunnel_token(token).id == t.id
    other = ctrl.get_tunnel_token(ctrl.create_tunnel("lab").id)
    import base64
    import json

    claims = json.loads(base64.b64decode(other))
    forged = base64.b64encode(json.dumps({**claims, "t": t.id}).encode()).decode()
    with pytest.raises(InvalidInput):
        ctrl.verify_tunnel_token(forged)
    with pytest.raises(InvalidInput):
        ctrl.verify_tunnel_token("not a token")
    ctrl.delete_tunnel(t.id)
    with pytest.raises(InvalidInput):
        ctrl.verify_tunnel_token(token)


def test_deleting_a_tunnel_retires_its_connectors(ctrl: LocalController) -> None:
    t = ctrl.create_tunnel("office")
    ctrl.register_connector(t.id, "k")
    ctrl.delete_tunnel(t.id)
    assert ctrl.list_connectors() == []


def test_a_hub_is_updated_in_place_by_key_or_endpoint(ctrl: LocalController) -> None:
    with pytest.raises(NotFound):
        ctrl.get_hub()
    h1 = ctrl.register_hub("pub1", "192.0.2.1:51820")
    assert h1.address == "100.96.0.1"
    h2 = ctrl.register_hub("pub2", "192.0.2.1:51820")  # the same host with a new key pair
    assert h2.id == h1.id and (h2.public_key, h2.endpoint) == ("pub2", "192.0.2.1:51820")
    h2b = ctrl.register_hub("pub2", "192.0.2.1:51821")  # the same key at a new port
    assert h2b.id == h1.id and h2b.endpoint == "192.0.2.1:51821"
    staging = ctrl.create_virtual_network("staging")
    h3 = ctrl.register_hub("pub3", "192.0.2.9:51820", virtual_network_id=staging.id)
    assert h3.id != h1.id and h3.address == "100.96.0.1"
    assert ctrl.get_hub().public_key == "pub2"
    ctrl.delete_hub()
    with pytest.raises(NotFound):
        ctrl.get_hub()
    assert ctrl.get_hub(staging.id).id == h3.id


def test_a_version_1_state_file_is_migrated_in_place(tmp_path: Path) -> None:
    state = tmp_path / "s"
    state.mkdir()
    conn = sqlite3.connect(state / "state.db")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    LocalController._seed(conn)
    conn.execute("INSERT INTO tunnels(id, name, token_sha256, created_at) VALUES ('t1', 'old', 'x', 'now')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    ctrl = LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))
    assert [t.name for t in ctrl.list_tunnels()] == ["old"]
    assert ctrl.register_connector("t1", "k").address == "100.96.0.2"
    (version,) = ctrl.conn.execute("PRAGMA user_version").fetchone()
    assert version == SCHEMA_VERSION == 7
    ctrl.close()
