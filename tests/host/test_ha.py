"""High availability through real kernels: two replicas of site A under keepalived (VRRPv3), a hub that
moves site A's CIDR to the active replica when the replicas' probes through the tunnel say so.

Topology and traffic: tests/host/ha_lab.py. Every test keeps long-lived TCP connections and UDP
streams running both ways between host A and host B and checks, after each event, that the same
connections carry on and that every reply names the true source address (no NAT).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.host.conftest import Lab, ip
from tests.host.ha_lab import HaSite, bring_up, build, kill, wait_active, wait_for
from tests.host.sites import assert_same
from tests.test_docs import _conforms, _field_tables

pytestmark = pytest.mark.slow


@pytest.fixture
def ha(lab: Lab, wireguard_go: str, tmp_path: Path):
    if not shutil.which("keepalived") and not Path("/usr/sbin/keepalived").exists():
        pytest.skip("needs keepalived (apt-get install keepalived)")
    s = build(lab, tmp_path)
    try:
        yield s
    finally:
        s.track()


def test_kill_active_fails_over_both_ways_then_preempts_back_and_down_leaves_nothing(ha: HaSite) -> None:
    s = ha
    before = s.snapshot()
    bring_up(s)
    wait_active(s, "a1")
    assert s.status("a2")["role"] == "standby"
    s.start_traffic()
    first = s.wait_flowing()

    # the active replica dies: its WireGuard process and keepalived (parent and VRRP child), SIGKILL
    kill([s.wireguard_pid("a1"), *s.keepalived_pids("a1")])
    wait_active(s, "a2")
    after = s.wait_flowing(since=s.reports())
    s.check_traffic(first, after)
    st = s.status("a2")
    assert st["ha"]["hub_sees_active"] is True and st["ha"]["role_changed_at"]
    docs = _field_tables()
    _conforms(st, docs["Status report"], "status --json")
    _conforms(st["ha"], docs["HA report"], "status --json .ha")
    assert {r["address"]: r["role"] for r in st["ha"]["replicas"]}[s.address("a2")] == "active"

    kept = json.loads((s.tmp / "config-a1" / "ha.json").read_text())  # for `up` at boot
    assert (kept["lan_gateway"], kept["lan_interface"], kept["priority"]) == ("10.1.0.1/24", "lan0", 200)
    # a1 comes back (`up` again): with preempt (the default) it takes the role back, no connection lost
    s.warpcli("a1", "up")
    s.track()
    wait_active(s, "a1")
    again = s.wait_flowing(since=s.reports())
    s.check_traffic(first, again)

    # down on the standby first (the active keeps working), then on the active: everything as before
    s.warpcli("a2", "down")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    for role in ("a1", "conb"):
        s.warpcli(role, "down")
    s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"])
    for client in s.clients.values():
        client.kill()
    s.clients.clear()
    for role in ("a1", "a2"):
        assert not list(s.run_dir(role).glob("ha-*")), "HA files left"
    assert_same(before, s.snapshot())


def test_active_losing_its_hub_gives_up_the_gateway(ha: HaSite) -> None:
    s = ha
    bring_up(s)
    wait_active(s, "a1")
    s.start_traffic()
    first = s.wait_flowing()
    ip("-n", s.ns["a1"], "link", "set", "wan0", "down")  # only the WAN: its LAN stays up
    wait_active(s, "a2")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    st = s.status("a1")
    assert st["role"] == "fault" and any("hub" in p for p in st["ha"]["problems"]), st["ha"]
    # the WAN comes back: preempt hands the role back to a1
    ip("-n", s.ns["a1"], "link", "set", "wan0", "up")
    wait_active(s, "a1")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))


def test_failed_lan_health_check_hands_over_and_no_preempt_keeps_the_new_active(ha: HaSite) -> None:
    s = ha
    checks = {}
    for role, port in (("a1", "9101"), ("a2", "9102")):
        checks[role] = s.lab.spawn_python(s.ns["hosta"], LISTENER, port)
        assert checks[role].stdout.readline().strip() == "READY"
    bring_up(s, a1=("--health-check", "10.1.0.10:9101", "--no-preempt"),
             a2=("--health-check", "10.1.0.10:9102", "--no-preempt"))
    wait_active(s, "a1")
    s.start_traffic()
    first = s.wait_flowing()
    checks["a1"].kill()  # a1's LAN service goes away
    checks["a1"].wait()
    wait_active(s, "a2")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    assert any("health check" in p for p in s.status("a1")["ha"]["problems"])
    # the service is back: a1 is healthy again, but with --no-preempt a2 keeps the role
    checks["a1"] = s.lab.spawn_python(s.ns["hosta"], LISTENER, "9101")
    assert checks["a1"].stdout.readline().strip() == "READY"
    wait_for(lambda: s.status("a1")["role"] == "standby", "a1 healthy standby again")
    assert s.status("a2")["role"] == "active" and s.holds_gateway("a2")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))


def test_promote_and_drain_lose_no_connection(ha: HaSite) -> None:
    s = ha
    bring_up(s)
    wait_active(s, "a1")
    s.start_traffic()
    first = s.wait_flowing()
    out = json.loads(s.warpcli("a2", "ha", "promote", "--json").stdout)
    _conforms(out, _field_tables()["Handover result"], "ha promote --json")
    assert out["role"] == "active"
    wait_active(s, "a2")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    out = json.loads(s.warpcli("a2", "ha", "drain", "--json").stdout)
    _conforms(out, _field_tables()["Handover result"], "ha drain --json")
    assert out["drained"] is True and out["hub_owner"] == s.address("a1")
    wait_active(s, "a1")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    assert s.status("a2")["ha"]["drained"] is True
    # drain with nobody to take over is refused in one line, and the replica stays active
    s.warpcli("a2", "down")
    r = s.warpcli("a1", "ha", "drain", "--timeout", "2", check=False)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    wait_active_alone = lambda: s.holds_gateway("a1") and s.status("a1")["role"] == "active"  # noqa: E731
    wait_for(wait_active_alone, "a1 active again after the refused drain")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))


LISTENER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(64)
print("READY", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


def test_split_brain_the_hub_still_routes_each_cidr_to_one_replica(ha: HaSite) -> None:
    """VRRP adverts blocked on site A's LAN bridge: both replicas become master and hold the gateway.

    What each side sees then: the hub keeps routing site A's CIDR to the replica it had (one peer only:
    WireGuard also accepts site A's sources from that peer only). Host A's packets leave through
    whichever replica its ARP cache names (the last gratuitous ARP wins): through the hub's replica they
    flow; through the other one the hub drops them, so host A's connections stall (in both directions,
    since its replies stall too) for as long as the split lasts. When the adverts flow again VRRP settles
    on one master (the higher priority), and the same connections carry on with their true sources.
    """
    s = ha
    bring_up(s)
    wait_active(s, "a1")
    s.start_traffic()
    first = s.wait_flowing()
    a1 = s.address("a1")
    nft = ["nft", "-f", "-"]
    rules = ("table bridge warpcli_test {\n  chain c {\n    type filter hook forward priority 0;\n"
             "    ip protocol 112 drop\n  }\n}\n")
    p = subprocess.run(["ip", "netns", "exec", s.ns["lana"], *nft], input=rules, capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 0:
        pytest.skip(f"nftables bridge filtering unavailable: {p.stderr.strip()}")
    wait_for(lambda: s.holds_gateway("a1") and s.holds_gateway("a2"), "both replicas hold the gateway")
    wait_for(lambda: s.status("a2")["role"] == "active", "a2 claims active")
    assert s.hub_owner() == a1  # the hub kept its choice: one peer, the one it had
    wait_for(lambda: s.status("a2")["ha"]["hub_owner"] == a1, "a2 hears from the hub that it routes to a1")
    assert s.hub_owner() == a1
    s.lab.sh(s.ns["lana"], "nft", "delete", "table", "bridge", "warpcli_test")
    wait_active(s, "a1")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))


def test_promote_with_no_preempt_asks_the_active_replica_to_yield_through_the_hub(ha: HaSite) -> None:
    """With --no-preempt a standby does not take over by priority alone: the hub tells the active one."""
    s = ha
    bring_up(s, a1=("--no-preempt",), a2=("--no-preempt",))
    wait_active(s, "a1")
    s.start_traffic()
    first = s.wait_flowing()
    s.warpcli("a2", "ha", "promote")
    wait_active(s, "a2")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    assert s.status("a1")["role"] == "standby"
