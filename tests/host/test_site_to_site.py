"""Site to site through real kernels: a hub and two connectors in network namespaces.

WAN: a bridge namespace joining the hub (192.0.2.1) and both connectors (.11, .12).
Site A: connector A with LAN 10.1.0.0/24, host A (10.1.0.10) whose default gateway is A.
Site B: connector B with LAN bridge 10.2.0.0/24, host B (10.2.0.10, default via B), and
host B2 (10.2.0.20) with no default route, which reaches site A only through
`warpcli route add 10.1.0.0/24 --table local --via 10.2.0.1`.

Every warpcli command runs as the installed entry point inside the namespace of its
host, with its own config and run dirs; the controller (a SQLite file) is shared.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import WARPCLI
from tests.host.conftest import Lab, ip, tcp_exchange
from tests.test_docs import _conforms, _field_tables

SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


@dataclass
class Site:
    lab: Lab
    tmp: Path
    ns: dict[str, str]
    wg: dict[str, str]

    def env(self, role: str) -> dict[str, str]:
        return {
            **os.environ,
            "WARPCLI_STATE_DIR": str(self.tmp / "state"),
            "WARPCLI_CONFIG_DIR": str(self.tmp / f"config-{role}"),
            "WARPCLI_RUN_DIR": str(self.tmp / f"run-{role}"),
            "WARPCLI_SECRET_BACKEND": "file",
            "NO_COLOR": "1",
        }

    def warpcli(self, role: str, *args: str, check: bool = True, input: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run warpcli as host ``role`` (inside its namespace; ``ctl`` runs outside any)."""
        argv = [WARPCLI, *args] if role == "ctl" else ["ip", "netns", "exec", self.ns[role], WARPCLI, *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**self.env(role), **(env or {})},
                           input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"warpcli {' '.join(args)} as {role} exited {p.returncode}: {p.stderr}")
        for line in p.stderr.splitlines():
            assert "Traceback" not in line, p.stderr
        return p

    def track_wireguard(self) -> None:
        """Hand every wireguard-go warpcli started to the lab, so teardown ends it by PID."""
        for run in self.tmp.glob("run-*"):
            for f in run.glob("*.json"):
                try:
                    pid = json.loads(f.read_text()).get("pid")
                except (ValueError, AttributeError):
                    continue
                if isinstance(pid, int):
                    self.lab.track(pid)

    def snapshot(self) -> dict[str, str]:
        out = {}
        for role, ns in self.ns.items():
            parts = []
            for argv in (["ip", "-d", "link"], ["ip", "addr"], ["ip", "route", "show", "table", "all"],
                         ["ip", "-6", "route", "show", "table", "all"], ["ip", "rule"], ["ip", "-6", "rule"],
                         ["sysctl", *SYSCTLS]):
                parts.append(self.lab.sh(ns, *argv).stdout)
            # bridge timers tick on their own; everything else must match to the letter
            out[role] = re.sub(r"(\w+_timer)\s+[\d.]+", r"\1 -", "\n".join(parts))
        return out


@pytest.fixture
def site(lab: Lab, wireguard_go: str, tmp_path: Path) -> Site:
    ns = {role: lab.netns(role) for role in ("wan", "hub", "cona", "hosta", "conb", "hostb", "hostb2")}
    wan = ns["wan"]
    ip("-n", wan, "link", "add", "br0", "type", "bridge")
    ip("-n", wan, "link", "set", "br0", "up")
    for role, addr, port in (("hub", "192.0.2.1/24", "p1"), ("cona", "192.0.2.11/24", "p2"),
                             ("conb", "192.0.2.12/24", "p3")):
        lab.veth(ns[role], wan, addr, None, name_a="wan0", name_b=port)
        ip("-n", wan, "link", "set", port, "master", "br0")
    lab.veth(ns["cona"], ns["hosta"], "10.1.0.1/24", "10.1.0.10/24", name_a="lan0", name_b="eth0")
    ip("-n", ns["hosta"], "route", "add", "default", "via", "10.1.0.1")
    ip("-n", ns["conb"], "link", "add", "br-lan", "type", "bridge")
    ip("-n", ns["conb"], "addr", "add", "10.2.0.1/24", "dev", "br-lan")
    ip("-n", ns["conb"], "link", "set", "br-lan", "up")
    for role, addr, port in (("hostb", "10.2.0.10/24", "l1"), ("hostb2", "10.2.0.20/24", "l2")):
        lab.veth(ns["conb"], ns[role], None, addr, name_a=port, name_b="eth0")
        ip("-n", ns["conb"], "link", "set", port, "master", "br-lan")
    ip("-n", ns["hostb"], "route", "add", "default", "via", "10.2.0.1")
    wgs = {role: lab.wg_name() for role in ("hub", "cona", "conb")}
    lab.wg_names.extend([])
    s = Site(lab, tmp_path, ns, wgs)
    try:
        yield s
    finally:
        s.track_wireguard()


def assert_same(before: dict[str, str], after: dict[str, str]) -> None:
    """Kernel snapshots per namespace must be identical; the message shows the diff."""
    diffs = [
        f"{role}:\n" + "\n".join(difflib.unified_diff(before[role].splitlines(), after[role].splitlines(), lineterm=""))
        for role in before
        if before[role] != after.get(role)
    ]
    assert not diffs, "\n".join(diffs)


def bring_up(s: Site) -> None:
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    s.warpcli("ctl", "route", "add", "10.1.0.0/24", "--tunnel", "site-a")
    s.warpcli("ctl", "route", "add", "10.2.0.0/24", "--tunnel", "site-b")
    token = s.warpcli("ctl", "tunnel", "token", "site-a").stdout
    s.warpcli("cona", "enroll", "--interface", s.wg["cona"], input=token)
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()
    for role in ("cona", "conb"):
        s.warpcli(role, "up")
        s.track_wireguard()


def test_site_to_site_true_source_both_ways_and_clean_down(site: Site) -> None:
    s = site
    before = s.snapshot()
    bring_up(s)

    # site A -> site B: the server sees site A's host itself (no NAT anywhere)
    reply, peer = tcp_exchange(s.lab, s.ns["hostb"], s.ns["hosta"], "10.2.0.10", 8080, "from-a")
    assert reply == "echo:from-a"
    assert peer == "10.1.0.10"
    # server-initiated, the other way: site B's host opens to site A's host
    reply, peer = tcp_exchange(s.lab, s.ns["hosta"], s.ns["hostb"], "10.1.0.10", 8081, "from-b")
    assert reply == "echo:from-b"
    assert peer == "10.2.0.10"

    # idempotent: a second up changes nothing and says so
    again = s.warpcli("cona", "up")
    assert again.stdout.strip() == "no changes"
    assert s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"]).stdout \
        .strip().endswith("no changes")
    docs = _field_tables()
    up_json = json.loads(s.warpcli("conb", "up", "--json").stdout)
    _conforms(up_json, docs["Up result"], "up --json")
    assert up_json == {"changed": False, "applied": False, "plan": ["no changes"], "skipped": []}
    hub_json = json.loads(s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"],
                                    "--json").stdout)
    _conforms(hub_json, docs["Hub result"], "hub up --json")
    assert hub_json["peers"] == 2 and hub_json["changed"] is False

    status = json.loads(s.warpcli("cona", "status", "--json").stdout)
    _conforms(status, docs["Status report"], "status --json")
    assert status["healthy"] is True
    assert status["peer"]["last_handshake_seconds_ago"] is not None
    assert status["peer"]["rx_bytes"] > 0 and status["peer"]["tx_bytes"] > 0
    assert set(status["routes"]["installed"]) == {"10.2.0.0/24", "100.96.0.0/12"}

    # a route added on the controller reaches the other side after re-running up / hub up
    s.warpcli("ctl", "route", "add", "10.1.7.0/24", "--tunnel", "site-a")
    drift = s.warpcli("conb", "status", "--json", check=False)
    assert drift.returncode == 8 and json.loads(drift.stdout)["routes"]["missing"] == ["10.1.7.0/24"]
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    assert "10.1.7.0/24" in s.warpcli("conb", "up").stdout
    assert "10.1.7.0/24" in s.lab.sh(s.ns["conb"], "ip", "route", "show", "table", "all").stdout
    assert "10.1.7.0/24" in s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all").stdout
    # ... and a deleted one disappears
    s.warpcli("ctl", "route", "delete", "10.1.7.0/24")
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.warpcli("conb", "up")
    assert "10.1.7.0/24" not in s.lab.sh(s.ns["conb"], "ip", "route", "show", "table", "all").stdout
    assert "10.1.7.0/24" not in s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all").stdout

    # down removes exactly what up installed and restores the sysctls
    down_json = json.loads(s.warpcli("cona", "down", "--json").stdout)
    _conforms(down_json, docs["Down result"], "down --json")
    assert down_json["changed"] is True and any("interface" in x for x in down_json["removed"])
    s.warpcli("conb", "down")
    hub_down = json.loads(s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"], "--json").stdout)
    _conforms(hub_down, docs["Hub down result"], "hub down --json")
    assert_same(before, s.snapshot())
    assert s.warpcli("cona", "down").stdout.strip() == "nothing to remove"


def test_dry_run_changes_nothing_and_other_softwares_routes_survive(site: Site) -> None:
    s = site
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    s.warpcli("ctl", "route", "add", "10.1.0.0/24", "--tunnel", "site-a")
    s.warpcli("ctl", "route", "add", "10.2.0.0/24", "--tunnel", "site-b")
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()
    # another program's route to the same prefix, in the main table
    ip("-n", s.ns["conb"], "route", "add", "10.1.0.0/24", "via", "192.0.2.1", "proto", "static")
    before = s.snapshot()
    plan = s.warpcli("conb", "up", "--dry-run")
    assert "+ interface" in plan.stdout and "10.1.0.0/24" in plan.stdout
    assert_same(before, s.snapshot())
    s.warpcli("conb", "up")
    s.track_wireguard()
    s.warpcli("conb", "down")
    after = s.lab.sh(s.ns["conb"], "ip", "route", "show", "10.1.0.0/24").stdout
    assert "proto static" in after
    assert_same(before, s.snapshot())


def test_up_needs_enrollment_and_root_errors_are_one_line(site: Site) -> None:
    s = site
    r = s.warpcli("cona", "up", check=False)
    assert r.returncode == 3 and r.stderr.startswith("warpcli: error: this host is not enrolled")
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("cona", "enroll", "--tunnel", "site-a", "--interface", s.wg["cona"])
    r = s.warpcli("cona", "up", check=False)
    assert r.returncode == 3 and "has no hub yet" in r.stderr and len(r.stderr.splitlines()) == 1
    # an interface of that name that is not warpcli's
    ip("-n", s.ns["cona"], "link", "add", s.wg["cona"], "type", "bridge")
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()
    before = s.snapshot()
    r = s.warpcli("cona", "up", check=False)
    assert r.returncode == 4 and "is not warpcli's" in r.stderr and len(r.stderr.splitlines()) == 1
    assert_same(before, s.snapshot())
