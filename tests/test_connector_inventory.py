"""`warpcli connector list | delete`: the controller's inventory of enrolled hosts, on the embedded
controller and through `controller serve` (the Cloudflare run lists none: Cloudflare's connectors are
warp-cli's)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error, dump_state
from warpcli.core.keys import generate_keypair


def _enroll(backend, paths, tunnel: str, vnet: str | None = None):
    """Enroll a fresh key into ``tunnel`` on the controller the test runs against (library call)."""
    from warpcli.controllers import open_controller
    from warpcli.core import service
    from warpcli.core.settings import load_settings

    with open_controller(load_settings()) as ctrl:
        t = service.resolve_tunnel(ctrl, tunnel)
        v = service.resolve_vnet(ctrl, vnet)
        return ctrl.register_connector(t.id, generate_keypair().public_key, virtual_network_id=v.id)


@pytest.fixture
def enrolled(cli, backend, paths):
    if backend.name == "cloudflare":
        pytest.skip("Cloudflare's connectors are warp-cli's: the stand-in has no WireGuard enrollment")
    for name in ("office", "lab"):
        assert cli("tunnel", "create", name).exit_code == 0
    assert cli("vnet", "add", "staging").exit_code == 0
    a = _enroll(backend, paths, "office")
    b = _enroll(backend, paths, "office")
    c = _enroll(backend, paths, "lab", "staging")
    return a, b, c


def test_list_shows_every_connector_sorted_and_filters(cli, enrolled) -> None:
    a, b, c = enrolled
    r = cli("connector", "list", "--json")
    assert r.exit_code == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [x["id"] for x in listed] == [c.id, a.id, b.id]  # lab before office; then by address
    assert {x["tunnel_name"] for x in listed} == {"office", "lab"}
    assert all(x["last_seen"] is None and x["deleted_at"] is None for x in listed)
    office = json.loads(cli("connector", "list", "--tunnel", "office", "--json").stdout)
    assert [x["id"] for x in office] == [a.id, b.id]
    staging = json.loads(cli("connector", "list", "--vnet", "staging", "--json").stdout)
    assert [x["id"] for x in staging] == [c.id]
    table = cli("connector", "list")
    for x in (a, b, c):  # ids, addresses and keys whole, never cropped
        assert x.id in table.stdout and x.address in table.stdout and x.public_key in table.stdout


def test_delete_by_address_or_id_keeps_the_tunnel_and_routes(cli, enrolled) -> None:
    a, b, _ = enrolled
    assert cli("route", "add", "10.1.0.0/24", "--tunnel", "office").exit_code == 0
    r = cli("connector", "delete", b.address, "--json")
    assert r.exit_code == 0, r.stderr
    gone = json.loads(r.stdout)
    assert gone["id"] == b.id
    r = cli("connector", "delete", a.id)
    assert r.exit_code == 0 and r.stdout.strip() == a.id
    remaining = json.loads(cli("connector", "list", "--tunnel", "office", "--json").stdout)
    assert remaining == []
    assert json.loads(cli("tunnel", "show", "office", "--json").stdout)["name"] == "office"
    assert [x["network"] for x in json.loads(cli("routes", "--json").stdout)] == ["10.1.0.0/24"]


@pytest.mark.parametrize("ref", ["100.127.255.254", "0b8f5c38-2f5d-4f6c-9d0e-5d3c2a1b0f9e", "not-an-id"])
def test_delete_of_an_unknown_connector_is_exit_3_and_changes_nothing(cli, enrolled, paths, ref: str) -> None:
    before = dump_state(paths.state)
    r = cli("connector", "delete", ref)
    assert r.exit_code == 3, r.stderr
    assert "no connector with id or address" in r.stderr and "Traceback" not in r.stderr
    assert dump_state(paths.state) == before


def test_unknown_tunnel_filter_is_exit_3(cli, enrolled) -> None:
    r = cli("connector", "list", "--tunnel", "nope")
    assert r.exit_code == 3 and "no tunnel named 'nope'" in r.stderr


def test_no_connectors_says_so_on_stderr(cli, backend) -> None:
    r = cli("connector", "list")
    assert r.exit_code == 0 and r.stdout == "" and "no connectors" in r.stderr
    assert json.loads(cli("connector", "list", "--json").stdout) == []


def test_deleting_a_vnet_with_connectors_or_a_hub_needs_force(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    assert cli("vnet", "add", "staging").exit_code == 0
    assert cli("enroll", "--tunnel", "office", "--vnet", "staging", "--interface", "wcx0").exit_code == 0
    before = dump_state(paths.state)
    r = cli("vnet", "delete", "staging")
    assert_one_line_error(r, 4)
    assert "1 enrolled connector" in r.stderr
    assert dump_state(paths.state) == before
    assert cli("vnet", "delete", "staging", "--force").exit_code == 0
    from warpcli.controllers.local import LocalController
    from warpcli.secret_stores.file_store import FileStore

    ctrl = LocalController(paths.state, secrets=lambda: FileStore(paths.state / "secrets.json"))
    assert ctrl.list_connectors() == []
    ctrl.close()
