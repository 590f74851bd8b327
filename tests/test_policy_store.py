"""Stored network policies on both engines: order, revisions, state_version, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ENGINES, open_engine
from warpcli.core import policies, service
from warpcli.core.errors import Conflict, InvalidInput, NotFound
from warpcli.core.policies import PolicySpec, make_rule


@pytest.fixture(params=ENGINES)
def ctrl(request: pytest.FixtureRequest, tmp_path: Path):
    c = open_engine(request.param, tmp_path / "state", request)
    yield c
    c.close()


def _rule(ctrl, name: str, **kw):
    kw.setdefault("action", "allow")
    kw.setdefault("sources", [])
    kw.setdefault("destinations", [])
    return make_rule(name, tunnel_exists=lambda n: bool(ctrl.list_tunnels(name=n)), **kw)


def test_rules_keep_their_order_and_every_change_moves_state_version(ctrl) -> None:
    vnet = service.resolve_vnet(ctrl, None).id
    assert ctrl.get_policy(vnet) == PolicySpec()
    v0 = ctrl.state_version(vnet)
    policies.set_default(ctrl, vnet, "deny")
    v1 = ctrl.state_version(vnet)
    assert v1 != v0
    ctrl.create_tunnel("site-a")
    policies.add_rule(ctrl, vnet, _rule(ctrl, "web", sources=["10.2.0.0/24"], destinations=["10.1.0.5"],
                                        protocol="tcp", port="443,8443"))
    policies.add_rule(ctrl, vnet, _rule(ctrl, "voip", sources=["site-a"], protocol="udp", port="5060,10000-20000",
                                        log=True, comment="phones"))
    policies.add_rule(ctrl, vnet, _rule(ctrl, "ping", protocol="icmp"), before="web")
    assert [r.name for r in ctrl.get_policy(vnet).rules] == ["ping", "web", "voip"]
    policies.move_rule(ctrl, vnet, "voip", before="ping")
    policies.move_rule(ctrl, vnet, "ping", after="web")
    p = ctrl.get_policy(vnet)
    assert [r.name for r in p.rules] == ["voip", "web", "ping"]
    assert p.default == "deny" and p.revision == 6
    assert p.rules[1].destinations == ("10.1.0.5/32",) and p.rules[1].ports == ((443, 443), (8443, 8443))
    assert p.rules[0].sources == ("site-a",) and p.rules[0].log and p.rules[0].comment == "phones"
    assert ctrl.state_version(vnet) != v1
    gone = policies.delete_rule(ctrl, vnet, "web")
    assert gone is not None and gone.name == "web"
    assert policies.delete_rule(ctrl, vnet, "web", if_exists=True) is None
    with pytest.raises(NotFound):
        policies.delete_rule(ctrl, vnet, "web")
    # another vnet has its own policy
    other = ctrl.create_virtual_network("other").id
    assert ctrl.get_policy(other) == PolicySpec()


def test_a_stale_revision_is_refused(ctrl) -> None:
    vnet = service.resolve_vnet(ctrl, None).id
    first = ctrl.get_policy(vnet)
    ctrl.put_policy(vnet, PolicySpec("deny", (), first.revision))
    with pytest.raises(Conflict, match="changed meanwhile"):
        ctrl.put_policy(vnet, PolicySpec("allow", (), first.revision))
    assert ctrl.get_policy(vnet).default == "deny"


@pytest.mark.parametrize("kw, error", [
    ({"protocol": "tcp", "port": "0"}, InvalidInput),
    ({"protocol": "tcp", "port": "65536"}, InvalidInput),
    ({"protocol": "tcp", "port": "20-10"}, InvalidInput),
    ({"sources": ["10.1.0.1/24"]}, InvalidInput),
    ({"sources": ["no-such-tunnel"]}, NotFound),
    ({"protocol": "icmp", "port": "80"}, InvalidInput),
    ({"action": "maybe"}, InvalidInput),
    ({"protocol": "sctp"}, InvalidInput),
])
def test_bad_input_changes_nothing(ctrl, kw, error) -> None:
    vnet = service.resolve_vnet(ctrl, None).id
    policies.add_rule(ctrl, vnet, _rule(ctrl, "one"))
    before = ctrl.get_policy(vnet)
    with pytest.raises(error):
        policies.add_rule(ctrl, vnet, _rule(ctrl, "two", **kw))
    assert ctrl.get_policy(vnet) == before


def test_duplicate_names_and_bad_moves_are_refused(ctrl) -> None:
    vnet = service.resolve_vnet(ctrl, None).id
    policies.add_rule(ctrl, vnet, _rule(ctrl, "one"))
    policies.add_rule(ctrl, vnet, _rule(ctrl, "two"))
    before = ctrl.get_policy(vnet)
    with pytest.raises(Conflict, match="exists"):
        policies.add_rule(ctrl, vnet, _rule(ctrl, "one"))
    with pytest.raises(NotFound):
        policies.move_rule(ctrl, vnet, "one", before="three")
    with pytest.raises(InvalidInput):
        policies.move_rule(ctrl, vnet, "one", before="one")
    assert ctrl.get_policy(vnet) == before


def test_test_and_lint_resolve_tunnel_names_to_their_routes(ctrl) -> None:
    vnet = service.resolve_vnet(ctrl, None).id
    t = ctrl.create_tunnel("site-b")
    ctrl.create_route("10.2.0.0/24", t.id)
    policies.set_default(ctrl, vnet, "deny")
    policies.add_rule(ctrl, vnet, _rule(ctrl, "b-web", sources=["site-b"], destinations=["10.1.0.0/24"],
                                        protocol="tcp", port="443"))
    policies.add_rule(ctrl, vnet, _rule(ctrl, "b-one", sources=["10.2.0.7"], destinations=["10.1.0.5"],
                                        protocol="tcp", port="443", action="deny"))
    r = policies.test_flow(ctrl, vnet, "10.2.0.7", "10.1.0.5:443/tcp")
    assert (r.allowed, r.rule, r.name) == (True, 1, "b-web")
    r = policies.test_flow(ctrl, vnet, "10.3.0.7", "10.1.0.5:443/tcp")
    assert (r.allowed, r.rule, r.name) == (False, None, None)
    assert [(f["rule"], f["kind"], f["by"]) for f in policies.lint_policy(ctrl, vnet)] == [(2, "conflicting", 1)]
