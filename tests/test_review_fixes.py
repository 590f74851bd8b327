"""Bad input found in review: each is one line, a documented exit code, and changes nothing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import dump_state


def _one_line(r, code: int) -> None:
    assert r.exit_code == code, (r.exit_code, r.stderr)
    assert r.stderr.startswith("warpcli: error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr


def test_import_of_a_file_that_is_not_utf8(sh, paths, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    for name, data in (("latin1.csv", "network,tunnel,vnet,comment\n10.0.0.0/24,office,,caf\xe9\n".encode("latin-1")),
                       ("binary.csv", b"\xff\xfe\x00\x01garbage")):
        f = tmp_path / name
        f.write_bytes(data)
        r = sh("routes", "import", str(f))
        assert r.exit_code == 2 and "Traceback" not in r.stderr, r.stderr
        assert "not UTF-8" in r.stderr
    assert dump_state(paths.state) == before


def test_import_with_a_huge_csv_field(sh, paths, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    f = tmp_path / "huge.csv"
    f.write_text("network,tunnel,vnet,comment\n10.0.0.0/24,office,,\"" + "x" * 200_000 + "\"\n")
    r = sh("routes", "import", str(f))
    assert r.exit_code == 2 and "unreadable CSV" in r.stderr and "Traceback" not in r.stderr
    assert dump_state(paths.state) == before


def test_enroll_with_a_binary_token_file(sh, paths, tmp_path: Path) -> None:
    assert sh("tunnel", "create", "office").exit_code == 0
    f = tmp_path / "token"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    before = dump_state(paths.state)
    r = sh("enroll", "--token-file", str(f))
    _one_line(r, 2)
    assert "malformed" in r.stderr
    assert dump_state(paths.state) == before and not (paths.config / "connector.toml").exists()


def test_re_enrolling_with_other_settings_needs_force(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    assert cli("vnet", "add", "staging").exit_code == 0
    assert cli("enroll", "--tunnel", "office", "--interface", "wcx0").exit_code == 0
    cfg = (paths.config / "connector.toml").read_bytes()
    before = dump_state(paths.state)
    for extra in (["--vnet", "staging"], ["--interface", "wcx1"], ["--mtu", "1400"]):
        r = cli("enroll", "--tunnel", "office", *extra)
        _one_line(r, 4)
        assert "with other settings" in r.stderr and "--force" in r.stderr
    assert (paths.config / "connector.toml").read_bytes() == cfg and dump_state(paths.state) == before
    assert cli("enroll", "--tunnel", "office", "--interface", "wcx0").exit_code == 0  # the same: a no-op
    forced = cli("enroll", "--tunnel", "office", "--mtu", "1400", "--force")
    assert forced.exit_code == 0 and "mtu = 1400" in (paths.config / "connector.toml").read_text()


def test_a_connector_config_with_a_bad_address_is_one_line(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    assert cli("enroll", "--tunnel", "office", "--interface", "wcx0").exit_code == 0
    path = paths.config / "connector.toml"
    good = path.read_text()
    for bad in ('"not-an-ip"', '"10.0.0.1"', '"2001:db8::1"'):
        path.write_text(good.replace('address = "100.96.0.2"', f"address = {bad}"))
        r = cli("status")
        _one_line(r, 2)
        assert "connector.toml is not a valid connector config" in r.stderr


def test_deleting_a_vnet_with_connectors_or_a_hub_needs_force(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    assert cli("vnet", "add", "staging").exit_code == 0
    assert cli("enroll", "--tunnel", "office", "--vnet", "staging", "--interface", "wcx0").exit_code == 0
    before = dump_state(paths.state)
    r = cli("vnet", "delete", "staging")
    _one_line(r, 4)
    assert "1 enrolled connector" in r.stderr
    assert dump_state(paths.state) == before
    assert cli("vnet", "delete", "staging", "--force").exit_code == 0
    from warpcli.controllers.local import LocalController
    from warpcli.secrets.file_store import FileStore

    ctrl = LocalController(paths.state, secrets=lambda: FileStore(paths.state / "secrets.json"))
    assert ctrl.list_connectors() == []
    ctrl.close()


def test_import_refuses_rows_whose_tunnel_was_deleted_meanwhile(tmp_path: Path) -> None:
    """Rows are resolved before the write transaction; the transaction checks again."""
    import pytest

    from warpcli.controllers.local import LocalController
    from warpcli.core.cidr import parse_network
    from warpcli.core.controller import RouteSpec
    from warpcli.core.errors import BulkImportError
    from warpcli.secrets.file_store import FileStore

    ctrl = LocalController(tmp_path / "s", secrets=lambda: FileStore(tmp_path / "s" / "secrets.json"))
    keep, gone = ctrl.create_tunnel("keep"), ctrl.create_tunnel("gone")
    vnet = ctrl.list_virtual_networks()[0]
    specs = [RouteSpec(parse_network("10.0.0.0/24"), keep.id, vnet.id, "", 1),
             RouteSpec(parse_network("10.0.1.0/24"), gone.id, vnet.id, "", 2)]
    ctrl.delete_tunnel(gone.id)  # another process, between resolution and import
    with pytest.raises(BulkImportError) as err:
        ctrl.import_routes(specs)
    assert [p["row"] for p in err.value.problems] == [2]
    assert list(ctrl.list_routes()) == []
    ctrl.close()


def test_names_and_comments_that_would_break_scripts_or_terminals(cli, paths) -> None:
    assert cli("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    for args in (["vnet", "add", "all"], ["route", "add", "10.0.0.0/24", "--comment", "\x1b[31mred\x1b[0m"],
                 ["vnet", "add", "ok", "--comment", "bell\x07"]):
        r = cli(*args)
        _one_line(r, 2)
    assert dump_state(paths.state) == before
