"""High availability in two virtual networks at once (issue 12, item 9): site A's replicas in the default
vnet and stage-a's replicas in ``staging``, the same CIDR (10.1.0.0/24) and gateway on two LANs, one hub
host with an interface and a responder per vnet. Each vnet elects on its own: a failover or a drain
in one leaves the other's roles and the hub's routes of the other untouched.

(Here the second vnet's replicas are hosts of their own and the hub host is shared; the same replica
hosts running a connector of each vnet are tests/host/test_ha_vnets_same_hosts.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.host.conftest import Lab
from tests.host.ha_lab import HaSite, bring_up, bring_up_second_vnet, build, kill, wait_active, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def ha(lab: Lab, wireguard_go: str, tmp_path: Path):
    if not shutil.which("keepalived") and not Path("/usr/sbin/keepalived").exists():
        pytest.skip("needs keepalived (apt-get install keepalived)")
    s = build(lab, tmp_path, second_vnet=True)
    try:
        yield s
    finally:
        s.track()


def test_each_vnet_elects_on_its_own(ha: HaSite) -> None:
    s = ha
    bring_up(s)
    bring_up_second_vnet(s)
    wait_active(s, "a1")  # priority 200 in the default vnet
    wait_active(s, "b2")  # priority 200 in staging: the other way round
    assert (s.status("a2")["role"], s.status("b1")["role"]) == ("standby", "standby")
    b2 = s.address("b2")
    hub_run = s.run_dir("hub")
    assert (hub_run / f"hub-ha-{s.wg['hub']}").is_dir() and (hub_run / f"hub-ha-{s.wg['hub2']}").is_dir()

    # the default vnet's active replica dies: it fails over there, and staging does not move
    kill([s.wireguard_pid("a1"), *s.keepalived_pids("a1")])
    wait_active(s, "a2")
    assert s.hub_owner("hub2") == b2 and s.holds_gateway("b2") and s.status("b2")["role"] == "active"
    assert s.status("b1")["role"] == "standby"

    # a planned switchover in staging leaves the default vnet as it is
    s.warpcli("b2", "ha", "drain")
    wait_active(s, "b1")
    wait_for(lambda: s.status("b2")["role"] == "standby", "b2 standby after its drain")
    a2 = s.address("a2")
    assert s.hub_owner("hub") == a2 and s.holds_gateway("a2") and s.status("a2")["role"] == "active"
