"""`hub up --endpoint` is checked before anything is registered: connectors must be able to dial it."""

from __future__ import annotations

import pytest

from warpcli.core.cidr import parse_endpoint
from warpcli.core.errors import InvalidInput


@pytest.mark.parametrize("endpoint, expected", [
    ("192.0.2.1:51820", ("192.0.2.1", 51820)),
    ("[2001:db8::1]:51820", ("2001:db8::1", 51820)),
    ("hub.example.net:443", ("hub.example.net", 443)),
    ("bücher.example:1", ("bücher.example", 1)),
])
def test_good_endpoints(endpoint: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", [
    "192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:８０", ":51820", "2001:db8::1:51820",
    "[192.0.2.1]:5", "bad host:1", "hub_x.net:5", "a" * 64 + ".example:1", ("a." * 130) + "b:1", "-x.net:1",
])
def test_bad_endpoints(endpoint: str) -> None:
    with pytest.raises(InvalidInput, match="is not HOST:PORT"):
        parse_endpoint(endpoint)


def test_hub_up_with_a_bad_endpoint_changes_nothing(cli, paths) -> None:
    from tests.conftest import dump_state

    assert cli("tunnel", "create", "office").exit_code == 0
    before = dump_state(paths.state)
    r = cli("hub", "up", "--endpoint", "a" * 64 + ".example:51820")
    assert r.exit_code == 2 and r.stderr.startswith("warpcli: error: ") and len(r.stderr.splitlines()) == 1
    assert dump_state(paths.state) == before and not (paths.config / "secrets.json").exists()


def test_a_dry_run_keeps_no_hub_key(cli, paths, monkeypatch) -> None:
    """hub up --dry-run writes nothing: not even the hub's key (it makes up one for the plan)."""
    from warpcli.host import hub

    calls = {}

    def fake_hub_up(ctrl, vnet, **kw):
        calls.update(kw)
        return hub.HubResult(["+ interface"], True, 0)

    monkeypatch.setattr(hub, "hub_up", fake_hub_up)
    r = cli("hub", "up", "--endpoint", "192.0.2.1:51820", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert calls["dry_run"] is True and calls["private_key"]
    assert not (paths.config / "secrets.json").exists()


def test_hub_down_without_interface_asks_when_several_hubs_run(tmp_path) -> None:
    """Several hubs in the run state and no --interface: refused with their names, nothing removed."""
    from warpcli.core.errors import InvalidInput
    from warpcli.host import hub
    from warpcli.host.constants import HUB_INTERFACE

    run = tmp_path / "run"
    run.mkdir()
    assert hub.hubs_to_remove(run, None, remove_all=False) == [HUB_INTERFACE]  # no run state: the default
    hub.claim_slot(run, "hub-a", "vnet-a")
    assert hub.hubs_to_remove(run, None, remove_all=False) == ["hub-a"]
    hub.claim_slot(run, "hub-b", "vnet-b")
    with pytest.raises(InvalidInput, match="runs 2 hubs") as exc:
        hub.hubs_to_remove(run, None, remove_all=False)
    assert "hub-a, hub-b" in str(exc.value) and "--all" in (exc.value.hint or "")
    assert hub.hubs_to_remove(run, None, remove_all=True) == ["hub-a", "hub-b"]
    assert hub.hubs_to_remove(run, "hub-b", remove_all=False) == ["hub-b"]
    assert [s.ifname for s in hub.running_hubs(run)] == ["hub-a", "hub-b"]  # nothing was released
