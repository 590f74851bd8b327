"""Both kinds of redundancy at once (issues 12 and 13): two hubs, three sites, site A a replica pair.

Every hub must know which replica of site A is active — also the hub the replicas do not route
through, which learns it from their hub watchers' probes — so that each hub gives 10.1.0.0/24 to
one peer: the active replica, or the other hub when that replica routes through it. The
controller is away for the whole failover. Topology: tests/host/hub_lab.py (``replicas=True``).
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from tests.host.conftest import Lab
from tests.host.hub_lab import HubSite, bring_up, build, wait_for
from tests.host.sites import assert_same

pytestmark = pytest.mark.slow


@pytest.fixture
def hubs(lab: Lab, wireguard_go: str, tmp_path: Path):
    if not shutil.which("keepalived") and not Path("/usr/sbin/keepalived").exists():
        pytest.skip("needs keepalived (apt-get install keepalived)")
    s = build(lab, tmp_path, replicas=True)
    try:
        yield s
    finally:
        s.track()


def _all_on(s: HubSite, address: str) -> bool:
    return all(s.active_hub(r) == address for r in s.connectors)


def _site_a_on(s: HubSite, replica: str, addr: dict[str, str], via: str) -> bool:
    """``replica`` holds the gateway alone, and each hub gives site A's CIDR to one peer: the replica
    (the hub it routes through) or that hub (the other)."""
    other = "ca2" if replica == "ca1" else "ca1"
    me = s.address(replica)
    return (s.holds_gateway(replica) and not s.holds_gateway(other)
            and s.carries(via, "10.1.0.0/24") == me
            and all(s.carries(h, "10.1.0.0/24") == addr[via] for h in ("hub1", "hub2") if h != via))


def test_a_replica_pair_under_two_hubs_survives_losing_a_hub_and_then_its_active_replica(hubs: HubSite) -> None:
    s = hubs
    before = s.snapshot()
    bring_up(s)
    addr = s.hub_addresses()
    wait_for(lambda: _all_on(s, addr["hub1"]), "every connector on hub1 (the higher priority)", s=s)
    wait_for(lambda: _site_a_on(s, "ca1", addr, "hub1"), "ca1 active; hub1 routes site A to it, hub2 via hub1",
             s=s)
    s.start_traffic()
    first = s.wait_flowing()

    # the controller is away from here on: failover needs none
    state = s.tmp / "state"
    state.rename(s.tmp / "state.away")

    # the active hub dies: every site (both replicas too) moves to hub2, the same connections carry on
    os.kill(s.wireguard_pid("hub1"), signal.SIGKILL)
    wait_for(lambda: _all_on(s, addr["hub2"]), "every connector on hub2 after hub1 died", s=s)
    wait_for(lambda: s.carries("hub2", "10.1.0.0/24") == s.address("ca1"), "hub2 routes site A to ca1", s=s)
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # then site A's active replica dies (WireGuard and keepalived, SIGKILL): ca2 takes the gateway,
    # hub2 learns it through the tunnel and moves site A's CIDR, the same connections carry on
    for pid in [s.wireguard_pid("ca1"), *s.keepalived_pids("ca1")]:
        os.kill(pid, signal.SIGKILL)
    ca2 = s.address("ca2")
    wait_for(lambda: s.holds_gateway("ca2") and not s.holds_gateway("ca1")
             and s.carries("hub2", "10.1.0.0/24") == ca2, "ca2 active and hub2 routing site A to it", s=s)
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # hub1 returns (preempt): every live connector goes back to it; it learns which replica is
    # active from their probes (not from the controller) and routes site A to ca2; hub2 via hub1
    (s.tmp / "state.away").rename(state)  # bringing a hub back is an operator's `hub up`: it reads the controller
    s.warpcli("hub1", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub1"])
    s.track()
    live = ("ca2", "cb", "cc")
    wait_for(lambda: all(s.active_hub(r) == addr["hub1"] for r in live), "the live connectors back on hub1", s=s)
    wait_for(lambda: s.carries("hub1", "10.1.0.0/24") == ca2 and s.carries("hub2", "10.1.0.0/24") == addr["hub1"],
             "hub1 routes site A to ca2, hub2 via hub1", s=s)
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # everything down: the kernels as they were, in every namespace, no keepalived left
    s.stop_traffic()
    for role in s.connectors:
        s.warpcli(role, "down")
    for role in ("hub1", "hub2"):
        s.warpcli(role, "hub", "down", "--interface", s.wg[role])
    for role in s.connectors:
        assert not list(s.run_dir(role).glob("hubs-*")) and not list(s.run_dir(role).glob("ha-*")), "files left"
    assert_same(before, s.snapshot())
