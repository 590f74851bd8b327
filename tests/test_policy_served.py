"""Network policies through `controller serve`'s extension endpoints, with warpcli's own client
(the Cloudflare controller pointed at a served controller), and refused against Cloudflare."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cfstub.server import CloudflareStandIn
from tests.test_served_enrollment import World, _client, served, world  # noqa: F401 - fixtures
from warpcli.core import policies
from warpcli.core.errors import Conflict
from warpcli.core.policies import PolicySpec, make_rule


def test_policies_round_trip_through_the_served_extension(world: World) -> None:
    ctrl = _client(world.cf, world.cf.token)
    vnet = world.default.id
    assert ctrl.get_policy(vnet) == PolicySpec()
    v0 = ctrl.state_version(vnet)
    exists = lambda n: bool(ctrl.list_tunnels(name=n))  # noqa: E731
    policies.set_default(ctrl, vnet, "deny")
    policies.add_rule(ctrl, vnet, make_rule("web", action="allow", sources=["site-b"], destinations=["10.1.0.5"],
                                            protocol="tcp", port="443", tunnel_exists=exists))
    policies.add_rule(ctrl, vnet, make_rule("ping", action="allow", sources=[], destinations=[], protocol="icmp",
                                            tunnel_exists=exists), before="web")
    got = ctrl.get_policy(vnet)
    assert [r.name for r in got.rules] == ["ping", "web"] and got.default == "deny" and got.revision == 3
    assert ctrl.state_version(vnet) != v0  # `hub up --follow` sees policy changes
    assert world.ctl.get_policy(vnet) == got  # what the server stored
    with pytest.raises(Conflict, match="changed meanwhile"):
        ctrl.put_policy(vnet, PolicySpec("allow", (), 1))
    ctrl.close()


@pytest.mark.parametrize("rule, status", [
    ({"name": "x", "action": "allow", "protocol": "icmp", "ports": ["80"]}, 400),
    ({"name": "x", "action": "allow", "sources": ["10.0.0.1/8"]}, 400),
    ({"name": "x", "action": "maybe"}, 400),
    ({"name": "x", "action": "allow", "sources": ["nobody"]}, 404),
])
def test_a_bad_rule_is_refused_and_nothing_changes(world: World, rule: dict, status: int) -> None:
    path = f"/accounts/{{a}}/warpcli/virtual_networks/{world.default.id}/policy"
    before = world.ctl.get_policy(world.default.id)
    resp = world.call("PUT", path, world.cf.token, {"default": "deny", "rules": [rule], "revision": 0})
    assert resp.status_code == status, resp.text
    assert world.ctl.get_policy(world.default.id) == before


def test_against_cloudflare_a_vnet_without_gateway_rules_has_the_empty_policy(tmp_path: Path) -> None:
    """Cloudflare's API (no warpcli extension): the policy lives in Gateway network rules
    (tests/test_policy_cloudflare.py); none yet is the empty allow-all policy, and the state
    fingerprint goes on."""
    with CloudflareStandIn(tmp_path / "cf", warpcli_extension=False) as cf:
        ctrl = _client(cf, cf.token)
        vnet = ctrl.list_virtual_networks(is_default=True)[0].id
        got = ctrl.get_policy(vnet)
        assert (got.default, got.rules) == (PolicySpec().default, ())
        ctrl.state_version(vnet)
        ctrl.close()
        assert cf.problems() == []
