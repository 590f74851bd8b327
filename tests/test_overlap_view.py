"""The overlap report's JSON shapes on a real store: order, names, and the collector left as found."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from warpcli.controllers.local import LocalController
from warpcli.core import service
from warpcli.core.cidr import parse_network
from warpcli.secret_stores.file_store import FileStore


@pytest.fixture
def ctrl(tmp_path: Path):
    c = LocalController(tmp_path / "s", secrets=lambda: FileStore(tmp_path / "s" / "secrets.json"))
    yield c
    c.close()


def test_groups_and_shared_routes_come_in_listing_order(ctrl: LocalController) -> None:
    t = ctrl.create_tunnel("office")
    zulu = ctrl.create_virtual_network("zulu")  # made first, listed last
    alpha = ctrl.create_virtual_network("alpha")
    default = ctrl.list_virtual_networks(is_default=True)[0]
    for vnet in (zulu, alpha, default):  # the same nest in each, IPv6 before IPv4 in creation order
        for cidr in ("2001:db8::/32", "2001:db8::/48", "10.0.0.0/8", "10.1.0.0/16"):
            ctrl.create_route(parse_network(cidr), t.id, virtual_network_id=vnet.id)
    view = service.overlap_view(ctrl)
    nested = list(view.nested())
    assert [(g["virtual_network_name"], g["outer"]["network"]) for g in nested] == [
        (default.name, "10.0.0.0/8"), (default.name, "2001:db8::/32"),
        ("alpha", "10.0.0.0/8"), ("alpha", "2001:db8::/32"),
        ("zulu", "10.0.0.0/8"), ("zulu", "2001:db8::/32"),
    ]
    assert [g["inner"][0]["parent_network"] for g in nested] == ["10.0.0.0/8", "2001:db8::/32"] * 3
    shared = list(view.shared())
    assert [s["network"] for s in shared] == ["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "2001:db8::/48"]
    for s in shared:
        assert [r["virtual_network_name"] for r in s["routes"]] == [default.name, "alpha", "zulu"]
        assert {r["tunnel_name"] for r in s["routes"]} == {"office"}
    assert list(view.nested()) == nested  # iterable again
    json.dumps(view.sections(), default=list)  # every shape is plain JSON


def test_the_command_leaves_the_collector_as_it_found_it(ctrl: LocalController, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from warpcli.cli.app import app
    from warpcli.cli.commands import routes as routes_cli

    t = ctrl.create_tunnel("office")
    for cidr in ("10.0.0.0/8", "10.1.0.0/16"):
        ctrl.create_route(parse_network(cidr), t.id)
    monkeypatch.setattr(routes_cli, "_host_networks", lambda: [])
    env = {"WARPCLI_STATE_DIR": str(tmp_path / "s"), "WARPCLI_CONFIG_DIR": str(tmp_path / "c")}
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    result = CliRunner().invoke(app, ["routes", "--overlaps", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nested"][0]["inner"][0]["network"] == "10.1.0.0/16"
    assert gc.get_freeze_count() == 0 and gc.isenabled()
