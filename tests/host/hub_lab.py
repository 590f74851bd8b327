"""Two hubs, three sites (shared by tests/host/test_hub_ha.py and benchmarks/failover.py).

WAN: a bridge joining hub1 (192.0.2.1, priority 200), hub2 (192.0.2.2, priority 100) and the
connectors of site-a (.11), site-b (.12) and site-c (.13). Behind each connector one host:
10.1.0.10, 10.2.0.10, 10.3.0.10 (default route via its connector).
With ``replicas``: site A is a replica pair instead (connector-replica HA): ca1 (.11, priority 200)
and ca2 (.14, priority 100) on a LAN bridge (lan0 10.1.0.2 and .3) with host A, whose default
gateway is the shared address 10.1.0.1 that the active replica holds (keepalived).

Traffic (tests/host/ha_lab.py's TRAFFIC): every host runs the echo server; host A keeps TCP
connections and a UDP stream to host B, host B to host C, host C to host A, so every pair of
sites talks, and every reply names the source address the far side saw.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import WARPCLI
from tests.host.conftest import Lab, ip
from tests.host.ha_lab import SYSCTLS, TRAFFIC, _readline

SITES = ("a", "b", "c")
HUBS = {"hub1": ("192.0.2.1", 200), "hub2": ("192.0.2.2", 100)}
ROLES = ("wan", "hub1", "hub2", "ca", "cb", "cc", "hosta", "hostb", "hostc")
REPLICA_ROLES = ("wan", "hub1", "hub2", "ca1", "ca2", "lana", "cb", "cc", "hosta", "hostb", "hostc")
GATEWAY = "10.1.0.1/24"
TALKS_TO = {"hosta": "hostb", "hostb": "hostc", "hostc": "hosta"}
HOST_ADDRESS = {"hosta": "10.1.0.10", "hostb": "10.2.0.10", "hostc": "10.3.0.10"}


@dataclass
class HubSite:
    lab: Lab
    tmp: Path
    ns: dict[str, str]
    wg: dict[str, str]
    clients: dict[str, subprocess.Popen] = field(default_factory=dict)
    replicas: bool = False

    @property
    def connectors(self) -> tuple[str, ...]:
        """Every connector's role: site A's two replicas, or its one connector."""
        return ("ca1", "ca2", "cb", "cc") if self.replicas else ("ca", "cb", "cc")

    def env(self, role: str) -> dict[str, str]:
        return {
            **os.environ,
            "WARPCLI_STATE_DIR": str(self.tmp / "state"),
            "WARPCLI_CONFIG_DIR": str(self.tmp / f"config-{role}"),
            "WARPCLI_RUN_DIR": str(self.tmp / f"run-{role}"),
            "WARPCLI_SECRET_BACKEND": "file",
            "NO_COLOR": "1",
        }

    def run_dir(self, role: str) -> Path:
        from warpcli.host.runstate import netns_inode

        return self.tmp / f"run-{role}" / f"netns-{netns_inode(self.ns[role])}"

    def warpcli(self, role: str, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        argv = [WARPCLI, *args] if role == "ctl" else ["ip", "netns", "exec", self.ns[role], WARPCLI, *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=self.env(role), input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"warpcli {' '.join(args)} as {role} exited {p.returncode}: {p.stderr}")
        assert "Traceback" not in p.stderr, p.stderr
        return p

    def track(self) -> None:
        """Hand every process warpcli started (wireguard-go, the watchers, the responders) to the teardown."""
        for run in self.tmp.glob("run-*/netns-*"):
            for f in [*run.glob("*.json"), *run.glob("hubs-*/*.pid*"), *run.glob("hub-ha-*/*.pid*"),
                      *run.glob("ha-*/*.pid*")]:
                try:
                    text = f.read_text()
                    pid = json.loads(text).get("pid") if f.suffix == ".json" else int(text.split()[0])
                except (ValueError, AttributeError, IndexError, OSError):
                    continue
                if isinstance(pid, int):
                    self.lab.track(pid)

    def hub_addresses(self) -> dict[str, str]:
        """hub role -> its device address (as the controller gave it)."""
        from warpcli.controllers.local import LocalController
        from warpcli.secret_stores.file_store import FileStore

        state = self.tmp / "state"
        ctrl = LocalController(state, secrets=lambda: FileStore(state / "secrets.json"))
        try:
            by_endpoint = {h.endpoint: h.address for h in ctrl.list_hubs()}
        finally:
            ctrl.close()
        return {role: by_endpoint[f"{addr}:51820"] for role, (addr, _) in HUBS.items()}

    def active_hub(self, role: str) -> str | None:
        """The hub address a connector's watcher routes through now."""
        try:
            data = json.loads((self.run_dir(role) / f"hubs-{self.wg[role]}" / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return data.get("active")

    def carries(self, role: str, cidr: str) -> str | None:
        """Which peer (by its allowed /32) a WireGuard interface gives ``cidr`` to."""
        from warpcli.host.wireguard.uapi import UapiClient

        try:
            dev = UapiClient(self.wg[role]).get_device()
        except OSError:
            return None
        owners = [p for p in dev.peers if cidr in p.allowed_ips]
        assert len(owners) <= 1, "one CIDR on two peers"
        if not owners:
            return None
        return next((a.split("/")[0] for a in owners[0].allowed_ips if a.startswith("100.") and a.endswith("/32")),
                    None)

    def wireguard_pid(self, role: str) -> int:
        return json.loads((self.run_dir(role) / f"{self.wg[role]}.json").read_text())["pid"]

    def keepalived_pids(self, role: str) -> list[int]:
        d = next(self.run_dir(role).glob("ha-*"))
        return [int((d / f).read_text().split()[0]) for f in ("keepalived.pid", "vrrp.pid")]

    def holds_gateway(self, role: str) -> bool:
        return GATEWAY in self.lab.sh(self.ns[role], "ip", "-4", "-o", "addr", "show", "dev", "lan0").stdout

    def address(self, role: str) -> str:
        return json.loads(self.warpcli(role, "status", "--json", check=False).stdout)["address"]

    def snapshot(self) -> dict[str, str]:
        out = {}
        for role, ns in self.ns.items():
            # IPv6 duplicate address detection ends on the kernel's clock: wait (bounded) for it, so a
            # link-local address tentative in one snapshot and not the next is not a difference
            deadline = time.monotonic() + 10
            while "tentative" in self.lab.sh(ns, "ip", "-6", "addr").stdout and time.monotonic() < deadline:
                time.sleep(0.05)
            parts = []
            for argv in (["ip", "-d", "link"], ["ip", "addr"], ["ip", "route", "show", "table", "all"],
                         ["ip", "-6", "route", "show", "table", "all"], ["ip", "rule"], ["ip", "-6", "rule"],
                         ["sysctl", *SYSCTLS]):
                parts.append(self.lab.sh(ns, *argv).stdout)
            out[role] = re.sub(r"(\w+_timer)\s+[\d.]+", r"\1 -", "\n".join(parts))
        return out

    def diagnose(self) -> str:
        lines = [f"{r}: active hub {self.active_hub(r)}" for r in self.connectors]
        for f in sorted([*self.tmp.glob("run-*/netns-*/hubs-*/*.log"), *self.tmp.glob("run-*/netns-*/hub-ha-*/*.log"),
                         *self.tmp.glob("run-*/netns-*/hub-ha-*/state.json"), *self.tmp.glob("run-*/netns-*/ha-*/*.log")]):
            tail = f.read_text(errors="replace").splitlines()[-12:]
            lines.append(f"--- {f.relative_to(self.tmp)}\n" + "\n".join(tail))
        return "\n".join(lines)

    # --- traffic -------------------------------------------------------------------------------
    def start_traffic(self, connections: int = 2) -> None:
        for role in TALKS_TO:
            server = self.lab.spawn_python(self.ns[role], TRAFFIC, "server", "9000")
            assert _readline(server) == "READY"
        for role, target in TALKS_TO.items():
            client = subprocess.Popen(["ip", "netns", "exec", self.ns[role], "python3", "-u", "-c", TRAFFIC, "client",
                                       HOST_ADDRESS[target], "9000", str(connections)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.lab.procs.append(client)
            assert _readline(client) == "READY"
            self.clients[role] = client

    def reports(self) -> dict[str, dict]:
        out = {}
        for role, client in self.clients.items():
            client.stdin.write("r\n")
            client.stdin.flush()
            out[role] = json.loads(_readline(client))
        return out

    def wait_flowing(self, since: dict[str, dict] | None = None, bound: float = 60.0, more: int = 3) -> dict:
        """Every TCP connection and UDP stream got ``more`` replies beyond ``since`` (bounded)."""
        deadline = time.monotonic() + bound
        while True:
            now = self.reports()
            lagging = []
            for role, rep in now.items():
                before = since[role] if since else None
                for i, c in enumerate(rep["tcp"]):
                    base = before["tcp"][i]["replies"] if before else 0
                    if c["error"] or c["replies"] < base + more:
                        lagging.append(f"{role} tcp#{i} {c['replies']}/{base + more} {c['error'] or ''}")
                base = before["udp"]["replies"] if before else 0
                if rep["udp"]["replies"] < base + more:
                    lagging.append(f"{role} udp {rep['udp']['replies']}/{base + more}")
            if not lagging:
                return now
            if any("Error" in x or "closed" in x for x in lagging) or time.monotonic() > deadline:
                raise AssertionError(f"traffic did not resume within {bound}s: {lagging}\n{self.diagnose()}")
            time.sleep(0.1)

    def check_traffic(self, first: dict, last: dict) -> None:
        """The same TCP connections (same local ports, no error), only true sources on arrival."""
        for role in self.clients:
            assert [c["port"] for c in last[role]["tcp"]] == [c["port"] for c in first[role]["tcp"]]
            for c in last[role]["tcp"]:
                assert c["error"] is None, c
                assert list(c["sources"]) == [HOST_ADDRESS[role]], c
            assert list(last[role]["udp"]["sources"]) == [HOST_ADDRESS[role]], last[role]["udp"]

    def stop_traffic(self) -> None:
        for client in self.clients.values():
            client.kill()
            client.wait()
        self.clients.clear()


def build(lab: Lab, tmp: Path, *, replicas: bool = False) -> HubSite:
    ns = {role: lab.netns(role) for role in (REPLICA_ROLES if replicas else ROLES)}
    bridges = ("wan", "lana") if replicas else ("wan",)
    for b in bridges:
        ip("-n", ns[b], "link", "add", "br0", "type", "bridge")
        ip("-n", ns[b], "link", "set", "br0", "up")
    site_a = {"ca1": "192.0.2.11/24", "ca2": "192.0.2.14/24"} if replicas else {"ca": "192.0.2.11/24"}
    wan = {"hub1": "192.0.2.1/24", "hub2": "192.0.2.2/24", **site_a, "cb": "192.0.2.12/24", "cc": "192.0.2.13/24"}
    for i, (role, addr) in enumerate(wan.items()):
        lab.veth(ns[role], ns["wan"], addr, None, name_a="wan0", name_b=f"p{i}")
        ip("-n", ns["wan"], "link", "set", f"p{i}", "master", "br0")
    for n, site in enumerate(SITES, start=1):
        if site == "a" and replicas:
            for role, addr, port in (("ca1", "10.1.0.2/24", "l1"), ("ca2", "10.1.0.3/24", "l2"),
                                     ("hosta", "10.1.0.10/24", "l3")):
                lab.veth(ns[role], ns["lana"], addr, None, name_a="eth0" if role == "hosta" else "lan0", name_b=port)
                ip("-n", ns["lana"], "link", "set", port, "master", "br0")
        else:
            lab.veth(ns[f"c{site}"], ns[f"host{site}"], f"10.{n}.0.1/24", f"10.{n}.0.10/24", name_a="lan0",
                     name_b="eth0")
        ip("-n", ns[f"host{site}"], "route", "add", "default", "via", f"10.{n}.0.1")
    wgs = {role: lab.wg_name() for role in ("hub1", "hub2", *site_a, "cb", "cc")}
    return HubSite(lab, tmp, ns, wgs, replicas=replicas)


def bring_up(s: HubSite) -> None:
    for n, site in enumerate(SITES, start=1):
        s.warpcli("ctl", "tunnel", "create", f"site-{site}")
        s.warpcli("ctl", "route", "add", f"10.{n}.0.0/24", "--tunnel", f"site-{site}")
        if site == "a" and s.replicas:
            token = s.warpcli("ctl", "tunnel", "token", "site-a").stdout
            for role, prio in (("ca1", 200), ("ca2", 100)):
                s.warpcli(role, "enroll", "--interface", s.wg[role], "--priority", str(prio), input=token)
        else:
            s.warpcli(f"c{site}", "enroll", "--tunnel", f"site-{site}", "--interface", s.wg[f"c{site}"])
    for role, (addr, prio) in HUBS.items():
        s.warpcli(role, "hub", "up", "--endpoint", f"{addr}:51820", "--interface", s.wg[role], "--priority", str(prio))
        s.track()
    for role, (addr, _) in HUBS.items():  # again: each hub now knows the other (as --follow would)
        s.warpcli(role, "hub", "up", "--endpoint", f"{addr}:51820", "--interface", s.wg[role])
    for role in s.connectors:
        lan = ("--lan-gateway", GATEWAY, "--lan-interface", "lan0") if role in ("ca1", "ca2") else ()
        s.warpcli(role, "up", *lan)
        s.track()


def wait_for(cond, what: str, bound: float = 60.0, s: HubSite | None = None):
    deadline = time.monotonic() + bound
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound}s: {what}" + (f"\n{s.diagnose()}" if s else ""))
        time.sleep(0.1)
