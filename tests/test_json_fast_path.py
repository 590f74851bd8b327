"""`routes --json` is encoded by SQLite (json_object): it must equal Route.to_dict() exactly."""

from __future__ import annotations

import json
from pathlib import Path

from warpcli.controllers.local import LocalController
from warpcli.core.cidr import parse_network
from warpcli.core.controller import Controller
from warpcli.core.model import RouteFilter
from warpcli.secret_stores.file_store import FileStore


def _controller(tmp_path: Path) -> LocalController:
    return LocalController(tmp_path / "s", secrets=lambda: FileStore(tmp_path / "s" / "secrets.json"))


def test_native_json_equals_to_dict_for_every_filter(tmp_path: Path) -> None:
    ctrl = _controller(tmp_path)
    t1 = ctrl.create_tunnel("office")
    t2 = ctrl.create_tunnel('la"b\\ünï')
    staging = ctrl.create_virtual_network("staging ✓")
    rows = [("10.0.0.0/8", t1, None, 'quote " and \\ backslash'), ("10.1.0.0/16", t2, None, "</script> & 'single'"),
            ("2001:db8::/32", t1, staging.id, "ünïcødé ✓"), ("10.1.0.0/16", t1, staging.id, ""),
            ("0.0.0.0/0", t2, staging.id, "emoji 🛰 and \\u0041 literally")]
    made = [ctrl.create_route(parse_network(c), t.id, virtual_network_id=v, comment=m) for c, t, v, m in rows]
    ctrl.delete_route(made[1].id)
    filters = [RouteFilter(), RouteFilter(is_deleted=True), RouteFilter(is_deleted=None),
               RouteFilter(virtual_network_id=staging.id), RouteFilter(tunnel_id=t1.id),
               RouteFilter(network_subset=parse_network("10.0.0.0/8")),
               RouteFilter(network_superset=parse_network("10.1.2.3"))]
    for flt in filters:
        native = [json.loads(text) for text in ctrl.list_routes_json(flt)]
        generic = [json.loads(text) for text in Controller.list_routes_json(ctrl, flt)]
        expected = [r.to_dict() for r in ctrl.list_routes(flt)]
        assert native == expected == generic, flt
        assert [list(d) for d in native] == [list(d) for d in expected]  # the same key order
    assert len(list(ctrl.list_routes_json())) == 4


def test_cli_routes_json_is_valid_and_complete(cli, paths) -> None:
    assert cli("tunnel", "create", "t").exit_code == 0
    for i in range(50):
        assert cli("route", "add", f"10.{i}.0.0/16", "--comment", f"c{i}").exit_code == 0
    out = json.loads(cli("routes", "--json").stdout)
    assert [r["network"] for r in out] == [f"10.{i}.0.0/16" for i in range(50)]
    assert all(r["tunnel_name"] == "t" and r["virtual_network_name"] == "default" for r in out)
