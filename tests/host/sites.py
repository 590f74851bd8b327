"""The site-to-site topology shared by the data-plane tests (see test_site_to_site.py).

WAN: a bridge namespace joining the hub (192.0.2.1) and both connectors (.11, .12).
Site A: connector A with LAN 10.1.0.0/24, host A (10.1.0.10) whose default gateway is A.
Site B: connector B with LAN bridge 10.2.0.0/24, host B (10.2.0.10, default via B), and
host B2 (10.2.0.20) with no default route.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import WARPCLI
from tests.host.conftest import Lab, ip

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
            for f in run.rglob("*.json"):  # run state is per namespace: run-ROLE/netns-INODE/
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
            nft = [["nft", "list", "ruleset"]] if shutil.which("nft") else []
            for argv in (["ip", "-d", "link"], ["ip", "addr"], ["ip", "route", "show", "table", "all"],
                         ["ip", "-6", "route", "show", "table", "all"], ["ip", "rule"], ["ip", "-6", "rule"],
                         ["sysctl", *SYSCTLS], *nft):
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
