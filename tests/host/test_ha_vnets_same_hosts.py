"""Two virtual networks on the same replica hosts (issue 12, item 9): A1 and A2 each run a connector of
site-a (default vnet, LAN lan0 10.1.0.0/24, gateway 10.1.0.1) and one of stage-a (vnet ``staging``, LAN
lan1 10.5.0.0/24, gateway 10.5.0.1), each with its own config directory, WireGuard interface, keepalived
and election; the hub serves each vnet on its own interface. Staging's remote site (connector D, host D)
uses 10.2.0.0/24 like site B in the default vnet: the two connectors of a host route in tables of their
own (the first one's ``TABLE``, a further one's slot table behind rules scoped to its LAN and tunnel).

Topology and traffic: tests/host/ha_lab.py (``build(..., second_vnet="same-hosts")``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.host.conftest import Lab, ip
from tests.host.ha_lab import HaSite, bring_up, bring_up_same_hosts, build, kill, wait_active, wait_for
from tests.host.sites import assert_same

pytestmark = pytest.mark.slow

PAIRS = (("hosta", "10.2.0.10"), ("hostb", "10.1.0.10"), ("hostc", "10.2.0.10"), ("hostd", "10.5.0.10"))


@pytest.fixture
def ha(lab: Lab, wireguard_go: str, tmp_path: Path):
    if not shutil.which("keepalived") and not Path("/usr/sbin/keepalived").exists():
        pytest.skip("needs keepalived (apt-get install keepalived)")
    s = build(lab, tmp_path, second_vnet="same-hosts")
    try:
        yield s
    finally:
        s.track()


def rules(s: HaSite, role: str) -> str:
    return s.lab.sh(s.ns[role], "ip", "rule").stdout + s.lab.sh(s.ns[role], "ip", "-6", "rule").stdout


def table(s: HaSite, role: str, number: int) -> str:
    return s.lab.sh(s.ns[role], "ip", "route", "show", "table", str(number), check=False).stdout


def test_slot_rules_round_trip_through_the_kernel(lab: Lab) -> None:
    """The scoped rules (iif, oif, unreachable) go in as `ip rule` shows them and read back equal."""
    from warpcli.host.connector_slots import ConnectorSlot
    from warpcli.host.constants import ROUTE_PROTO
    from warpcli.host.routing.netlink import Netlink

    ns = lab.netns("r")
    for name in ("lanx", "wgx"):  # (no dummy interfaces in every kernel: a veth pair each)
        ip("-n", ns, "link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    slot = ConnectorSlot("wgx", 1, "lanx")
    with Netlink(ns) as nl:
        for r in slot.rules():
            nl.add_rule(r)
        got = nl.rules(proto=ROUTE_PROTO)
        assert sorted(got, key=repr) == sorted(slot.rules(), key=repr)
        assert got == nl._rules_pyroute2(proto=ROUTE_PROTO)
        assert all(slot.owns(r) for r in got)
    text = lab.sh(ns, "ip", "rule").stdout
    p = slot.priority
    for line in (f"{p}:\tfrom all iif lanx lookup main suppress_prefixlength 0", f"{p + 1}:\tfrom all iif lanx lookup 24551",
                 f"{p + 2}:\tfrom all iif lanx lookup main", f"{p + 3}:\tfrom all iif lanx unreachable",
                 f"{p + 4}:\tfrom all oif wgx lookup 24551"):
        assert f"{line} proto 245\n" in text, text
    with Netlink(ns) as nl:
        for r in slot.rules():
            nl.delete_rule(r)
        assert nl.rules(proto=ROUTE_PROTO) == []


def test_a_second_connector_on_a_host_is_refused_without_its_own_lan(ha: HaSite) -> None:
    s = ha
    bring_up(s)
    s.warpcli("ctl", "vnet", "add", "staging")
    s.warpcli("ctl", "tunnel", "create", "stage-a")
    s.warpcli("ctl", "route", "add", "10.5.0.0/24", "--tunnel", "stage-a", "--vnet", "staging")
    s.warpcli("a1s", "enroll", "--vnet", "staging", "--interface", s.wg["a1s"],
              input=s.warpcli("ctl", "tunnel", "token", "stage-a").stdout)
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51821", "--vnet", "staging", "--interface", s.wg["hub2"])
    s.track()
    ip("-n", s.ns["a1"], "link", "add", "lanx", "type", "veth", "peer", "name", "lanxp")
    ip("-n", s.ns["a1"], "addr", "add", "10.1.0.200/25", "dev", "lanx")  # inside site A's LAN network
    before = s.snapshot()["a1"]
    slots = (s.run_dir("a1") / "connectors.json").read_text()
    for args, says in ((("up",), "needs --lan-interface"),
                       (("up", "--lan-interface", "lan0"), "already the LAN"),
                       (("up", "--lan-interface", "lanx"), "must be different subnets"),
                       (("up", "--lan-interface", "nope0"), "no such interface"),
                       (("up", "--lan-gateway", "10.1.0.1/24", "--lan-interface", "lan0"), "already the LAN")):
        p = s.warpcli("a1s", *args, check=False)
        assert p.returncode == 2 and says in p.stderr, (args, p.returncode, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    # a dry run shows the slot it would take, scoped to lan1 and the tunnel
    plan = s.warpcli("a1s", "up", "--dry-run", "--lan-interface", "lan1").stdout
    assert "iif lan1 unreachable" in plan and f"oif {s.wg['a1s']} lookup 24551" in plan, plan
    assert s.snapshot()["a1"] == before
    assert (s.run_dir("a1") / "connectors.json").read_text() == slots
    assert not (s.run_dir("a1") / f"ha-{s.wg['a1s']}").exists()

    # without HA: a crashed `up` is completed by the next one (the LAN interface is kept)
    s.role_env["a1s"] = {"WARPCLI_FAULT_KILL_AT": "action-4"}
    assert s.warpcli("a1s", "up", "--lan-interface", "lan1", check=False).returncode != 0
    s.track()
    s.role_env["a1s"] = {}
    s.warpcli("a1s", "up")
    s.track()
    assert "iif lan1 unreachable" in rules(s, "a1") and s.wg["a1s"] in table(s, "a1", 24551)
    assert s.warpcli("a1s", "up").stdout.strip() == "no changes"
    assert s.status("a1s")["routes"]["installed"] == ["100.96.0.0/12"]
    # a `down` killed once its interface is gone: the other connector's next `up` removes what it left
    s.role_env["a1s"] = {"WARPCLI_FAULT_KILL_AT": "down-interface"}
    assert s.warpcli("a1s", "down", check=False).returncode != 0
    s.role_env["a1s"] = {}
    assert s.wg["a1s"] in json.loads((s.run_dir("a1") / "connectors.json").read_text())
    s.warpcli("a1", "up")
    assert json.loads((s.run_dir("a1") / "connectors.json").read_text()).keys() == {s.wg["a1"]}
    assert "lan1" not in rules(s, "a1") and table(s, "a1", 24551) == ""
    ledger = json.loads((s.run_dir("a1") / "sysctls.json").read_text())
    assert ledger["users"] == [s.wg["a1"]]


def test_two_vnets_on_the_same_replica_hosts(ha: HaSite) -> None:
    s = ha
    before = s.snapshot()
    bring_up(s)  # site A: A1 priority 200, A2 100
    bring_up_same_hosts(s)  # stage-a on the same hosts: A1 100, A2 200
    wait_active(s, "a1")
    wait_active(s, "a2s")
    assert (s.status("a2")["role"], s.status("a1s")["role"]) == ("standby", "standby")

    # each connector of a host routes in its own table: the first in 24500, the second in its slot's
    for role in ("a1", "a2"):
        text = rules(s, role)
        assert "24500:\tfrom all lookup main suppress_prefixlength 0" in text and "24510:\tfrom all lookup 24500" in text
        assert "iif lan1 lookup 24551" in text and "iif lan1 unreachable" in text
        assert f"oif {s.wg[role + 's']} lookup 24551" in text
        assert s.wg[role] in table(s, role, 24500) and s.wg[role + "s"] not in table(s, role, 24500)
        assert s.wg[role + "s"] in table(s, role, 24551) and s.wg[role] not in table(s, role, 24551)
        mine, other = s.status(role)["routes"], s.status(role + "s")["routes"]
        assert mine["installed"] == ["10.2.0.0/24", "100.96.0.0/12"] and not mine["missing"] and not mine["extra"]
        assert other["installed"] == ["10.2.0.0/24", "100.96.0.0/12"] and not other["missing"] and not other["extra"]
        slots = json.loads((s.run_dir(role) / "connectors.json").read_text())
        assert {k: (v["n"], v["lan"]) for k, v in slots.items()} == {s.wg[role]: (0, "lan0"),
                                                                      s.wg[role + "s"]: (1, "lan1")}

    s.start_traffic(pairs=PAIRS)
    first = s.wait_flowing()

    # the default vnet's active replica dies (its WireGuard and keepalived): only the default vnet fails over
    a2s = s.address("a2s")
    kill([s.wireguard_pid("a1"), *s.keepalived_pids("a1")])
    wait_active(s, "a2")
    assert s.hub_owner("hub2", "10.5.0.0/24") == a2s and s.holds_gateway("a2s") and not s.holds_gateway("a1s")
    assert (s.status("a2s")["role"], s.status("a1s")["role"]) == ("active", "standby")
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # A1 comes back and takes the default vnet back (preempt); staging stays on A2
    s.warpcli("a1", "up")
    s.track()
    wait_active(s, "a1")
    assert s.hub_owner("hub2", "10.5.0.0/24") == a2s
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # down of one connector on a host leaves the other one working: the second (standby) on A1 ...
    s.warpcli("a1s", "down")
    assert "lan1" not in rules(s, "a1") and table(s, "a1", 24551) == ""
    assert s.status("a1")["role"] == "active" and s.status("a1")["routes"]["installed"] == ["10.2.0.0/24",
                                                                                              "100.96.0.0/12"]
    s.check_traffic(first, s.wait_flowing(since=s.reports()))
    # ... and the first (standby) on A2, under the active staging connector
    s.warpcli("a2", "down")
    assert "24510:" not in rules(s, "a2") and table(s, "a2", 24500) == "" and "iif lan1" in rules(s, "a2")
    assert s.status("a2s")["role"] == "active"
    assert s.lab.sh(s.ns["a2"], "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    s.check_traffic(first, s.wait_flowing(since=s.reports()))

    # down of everything: every namespace as before
    for role in ("a1", "a2s", "conb", "cond"):
        s.warpcli(role, "down")
    for hub in ("hub", "hub2"):
        s.warpcli("hub", "hub", "down", "--interface", s.wg[hub])
    for client in s.clients.values():
        client.kill()
    s.clients.clear()
    for role in ("a1", "a2"):
        assert not list(s.run_dir(role).glob("ha-*")), "HA files left"
        assert not (s.run_dir(role) / "connectors.json").exists()
    wait_for(lambda: not s.holds_gateway("a2s"), "the staging gateway address released")
    assert_same(before, s.snapshot())
