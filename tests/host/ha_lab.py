"""The high-availability topology and its traffic (shared by tests/host/test_ha.py and benchmarks/failover.py).

WAN: a bridge joining the hub (192.0.2.1), replicas A1 (.11) and A2 (.13) of tunnel site-a, connector B (.12).
With ``second_vnet``: replicas B1 (.21) and B2 (.23) of tunnel stage-a in the virtual network ``staging``,
on a LAN of their own (the same 10.1.0.0/24, gateway 10.1.0.1, host C at .10), served by a second hub
interface (port 51821) on the same hub: each vnet has its own election.
Site A's LAN: a bridge namespace joining A1 (lan0 10.1.0.2), A2 (lan0 10.1.0.3) and host A (10.1.0.10),
whose default gateway is the shared address 10.1.0.1 that the active replica holds.
Site B: connector B (10.2.0.1) and host B (10.2.0.10, default via B).
With ``second_vnet="same-hosts"``: A1 and A2 also run the replicas (roles ``a1s``, ``a2s``: a config
directory of their own, a second WireGuard interface) of tunnel stage-a in ``staging``, on a second LAN
bridge (lan1: A1 10.5.0.2, A2 10.5.0.3, host C 10.5.0.10, gateway 10.5.0.1); staging's remote site is
connector D (192.0.2.14) and host D on 10.2.0.0/24, the same CIDR as site B in the default vnet.

:data:`TRAFFIC` runs on a host: a TCP and UDP echo server that puts the source address it saw in
every reply, and clients that keep N long-lived TCP connections and a UDP stream toward the other
host; on each line of stdin it prints a JSON report (per connection: local port, replies, sources
seen, error).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import WARPCLI
from tests.host.conftest import Lab, ip

GATEWAY = "10.1.0.1/24"
ROLES = ("wan", "hub", "a1", "a2", "lana", "hosta", "conb", "hostb")
SECOND_VNET_ROLES = ("b1", "b2", "lanc", "hostc")
SAME_HOSTS_ROLES = ("lanc", "hostc", "cond", "hostd")
#: each replica's partner and the hub interface (by role) that routes its tunnel
PARTNER = {"a1": "a2", "a2": "a1", "b1": "b2", "b2": "b1", "a1s": "a2s", "a2s": "a1s"}
HUB_OF = {"a1": "hub", "a2": "hub", "b1": "hub2", "b2": "hub2", "a1s": "hub2", "a2s": "hub2"}
#: same-hosts variant: the staging connectors' roles and the namespace (role) they run in
SAME_HOST = {"a1s": "a1", "a2s": "a2"}
STAGING_GATEWAY = "10.5.0.1/24"
#: a replica's LAN: gateway address, interface, the tunnel's CIDR (the hub routes it to the active one)
LAN_OF = {"a1s": (STAGING_GATEWAY, "lan1", "10.5.0.0/24"), "a2s": (STAGING_GATEWAY, "lan1", "10.5.0.0/24")}
DEFAULT_LAN = ("10.1.0.1/24", "lan0", "10.1.0.0/24")
#: each host's own address: what the far side of its traffic must see
HOST_ADDRESS = {"hosta": "10.1.0.10", "hostb": "10.2.0.10", "hostc": "10.5.0.10", "hostd": "10.2.0.10"}
SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")

TRAFFIC = r"""
import json, socket, sys, threading, time
mode = sys.argv[1]
if mode == "server":
    port = int(sys.argv[2])
    def serve_tcp(c, addr):
        f = c.makefile("rwb")
        try:
            for line in f:
                f.write(line.strip() + b" " + addr[0].encode() + b"\n"); f.flush()
        except OSError:
            pass
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0", port)); t.listen(64)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
    def serve_udp():
        while True:
            data, addr = u.recvfrom(200)
            u.sendto(data + b" " + addr[0].encode(), addr)
    threading.Thread(target=serve_udp, daemon=True).start()
    print("READY", flush=True)
    while True:
        c, addr = t.accept()
        threading.Thread(target=serve_tcp, args=(c, addr), daemon=True).start()
host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
conns = []
lock = threading.Lock()
def tcp_client(rec):
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.settimeout(120)
        rec["port"] = s.getsockname()[1]
        f = s.makefile("rwb")
        seq = 0
        while True:
            seq += 1
            f.write(b"%d\n" % seq); f.flush()
            reply = f.readline()
            if not reply:
                rec["error"] = "closed"; return
            got, src = reply.split()
            with lock:
                rec["replies"] += 1; rec["sources"][src.decode()] = 1; rec["last"] = time.monotonic()
            time.sleep(0.05)
    except OSError as exc:
        rec["error"] = repr(exc)
for _ in range(n):
    rec = {"port": None, "replies": 0, "sources": {}, "error": None, "last": None}
    conns.append(rec)
    threading.Thread(target=tcp_client, args=(rec,), daemon=True).start()
udp = {"sent": 0, "replies": 0, "sources": {}, "last": None, "arrivals": []}
def udp_client():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.connect((host, port)); u.settimeout(0.02)
    while True:
        udp["sent"] += 1
        try:
            u.send(b"%d" % udp["sent"])
        except OSError:
            pass
        end = time.monotonic() + 0.02
        while time.monotonic() < end:
            try:
                data = u.recv(200)
            except (socket.timeout, OSError):
                break
            with lock:
                udp["replies"] += 1; udp["sources"][data.split()[1].decode()] = 1; udp["last"] = time.monotonic()
threading.Thread(target=udp_client, daemon=True).start()
print("READY", flush=True)
for _ in sys.stdin:
    with lock:
        print(json.dumps({"tcp": conns, "udp": {k: v for k, v in udp.items() if k != "arrivals"},
                          "now": time.monotonic()}), flush=True)
"""


@dataclass
class HaSite:
    lab: Lab
    tmp: Path
    ns: dict[str, str]
    wg: dict[str, str]
    clients: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: more environment per role: with a served controller, where it is and which token (:func:`use_served`)
    role_env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the role that runs the admin's commands (tunnels, routes, tokens): "ctl" (the embedded
    #: controller, outside any namespace) or, with a served controller, "hub" (where it listens)
    admin: str = "ctl"
    #: the client's own address, by the host that runs it (what the far side must see)
    expected: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def host(role: str) -> str:
        """The role whose namespace (and run directory) ``role`` runs in: a1s runs on a1."""
        return SAME_HOST.get(role, role)

    def env(self, role: str) -> dict[str, str]:
        return {
            **os.environ,
            "WARPCLI_STATE_DIR": str(self.tmp / "state"),
            "WARPCLI_CONFIG_DIR": str(self.tmp / f"config-{self.host(role)}"),
            "WARPCLI_RUN_DIR": str(self.tmp / f"run-{self.host(role)}"),
            "WARPCLI_SECRET_BACKEND": "file",
            "NO_COLOR": "1",
            **self.role_env.get(role, {}),
        }

    def run_dir(self, role: str) -> Path:
        """The role's run state: warpcli keeps it per network namespace (RUN_DIR/netns-INODE)."""
        from warpcli.host.runstate import netns_inode

        role = self.host(role)
        return self.tmp / f"run-{role}" / f"netns-{netns_inode(self.ns[role])}" if role in self.ns else \
            self.tmp / f"run-{role}"

    def warpcli(self, role: str, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        if role in SAME_HOST:  # a second connector on the host: a config directory of its own
            args = ("--config-dir", str(self.tmp / f"config-{role}"), *args)
        argv = [WARPCLI, *args] if role == "ctl" else ["ip", "netns", "exec", self.ns[self.host(role)], WARPCLI, *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=self.env(role), input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"warpcli {' '.join(args)} as {role} exited {p.returncode}: {p.stderr}")
        assert "Traceback" not in p.stderr, p.stderr
        return p

    def status(self, role: str) -> dict:
        return json.loads(self.warpcli(role, "status", "--json", check=False).stdout)

    def track(self) -> None:
        """Hand every process warpcli started (wireguard-go, keepalived, the agents) to the lab's teardown."""
        for run in self.tmp.glob("run-*/netns-*"):
            for f in [*run.glob("*.json"), *run.glob("ha-*/*.pid*"), *run.glob("hub-ha-*/*.pid*")]:
                try:
                    text = f.read_text()
                    pid = json.loads(text).get("pid") if f.suffix == ".json" else int(text.split()[0])
                except (ValueError, AttributeError, IndexError, OSError):
                    continue
                if isinstance(pid, int):
                    self.lab.track(pid)

    def address(self, role: str) -> str:
        return json.loads(self.warpcli(role, "status", "--json", check=False).stdout)["address"]

    def hub_owner(self, hub: str = "hub", cidr: str = "10.1.0.0/24") -> str | None:
        """The replica the hub's WireGuard routes ``cidr`` to (by its device address); ``hub``:
        the hub interface's role (``hub2``: the second vnet's)."""
        from warpcli.host.wireguard.uapi import UapiClient

        dev = UapiClient(self.wg[hub]).get_device()
        owners = [p for p in dev.peers if cidr in p.allowed_ips]
        assert len(owners) <= 1, "one CIDR on two peers"
        if not owners:
            return None
        return next(a.split("/")[0] for a in owners[0].allowed_ips if a.startswith("100."))

    def holds_gateway(self, role: str) -> bool:
        gateway, dev, _ = LAN_OF.get(role, DEFAULT_LAN)
        return gateway in self.lab.sh(self.ns[self.host(role)], "ip", "-4", "-o", "addr", "show", "dev", dev).stdout

    def keepalived_pids(self, role: str) -> list[int]:
        d = self.run_dir(role) / f"ha-{self.wg[role]}"
        return [int((d / f).read_text().split()[0]) for f in ("keepalived.pid", "vrrp.pid")]

    def wireguard_pid(self, role: str) -> int:
        return json.loads((self.run_dir(role) / f"{self.wg[role]}.json").read_text())["pid"]

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
        """Who holds what, and the tails of the HA logs: for failure messages."""
        lines = [f"hub routes 10.1.0.0/24 to {self.hub_owner()}"]
        for role in ("a1", "a2"):
            st = self.status(role)
            lines.append(f"{role}: {st.get('address')} gateway={self.holds_gateway(role)} role={st.get('role')} "
                         f"ha={json.dumps(st.get('ha'))}")
        for f in sorted([*self.tmp.glob("run-*/netns-*/ha-*/*.log"), *self.tmp.glob("run-*/netns-*/hub-ha-*/*.log")]):
            tail = f.read_text(errors="replace").splitlines()[-15:]
            lines.append(f"--- {f.relative_to(self.tmp)}\n" + "\n".join(tail))
        return "\n".join(lines)

    # --- traffic -------------------------------------------------------------------------------
    def start_traffic(self, connections: int = 4,
                      pairs: tuple[tuple[str, str], ...] = (("hosta", "10.2.0.10"), ("hostb", "10.1.0.10"))) -> None:
        """A server on each host of ``pairs`` and a client on each toward its target address."""
        for role, _ in pairs:
            server = self.lab.spawn_python(self.ns[role], TRAFFIC, "server", "9000")
            assert _readline(server) == "READY"
        for role, target in pairs:
            self.expected[role] = HOST_ADDRESS[role]
            client = subprocess.Popen(["ip", "netns", "exec", self.ns[role], "python3", "-u", "-c", TRAFFIC, "client",
                                       target, "9000", str(connections)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.lab.procs.append(client)
            assert _readline(client) == "READY"
            self.clients[role] = client

    def report(self, role: str) -> dict:
        client = self.clients[role]
        client.stdin.write("r\n")
        client.stdin.flush()
        return json.loads(_readline(client))

    def reports(self) -> dict[str, dict]:
        return {role: self.report(role) for role in self.clients}

    def wait_flowing(self, since: dict[str, dict] | None = None, bound: float = 60.0, more: int = 3) -> dict:
        """Wait until every TCP connection and both UDP streams got ``more`` replies beyond ``since``."""
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
                raise AssertionError(f"traffic did not resume within {bound}s: {lagging}")
            time.sleep(0.1)

    def check_traffic(self, first: dict, last: dict) -> None:
        """The same TCP connections (same local ports, no error) and only the true sources on arrival."""
        expected = self.expected  # what the far side saw: the client itself
        for role in self.clients:
            assert [c["port"] for c in last[role]["tcp"]] == [c["port"] for c in first[role]["tcp"]]
            for c in last[role]["tcp"]:
                assert c["error"] is None, c
                assert list(c["sources"]) == [expected[role]], c
            assert list(last[role]["udp"]["sources"]) == [expected[role]], last[role]["udp"]


def _readline(proc: subprocess.Popen, timeout: float = 30.0) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output within {timeout}s")
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"process exited: {proc.stderr.read()}")
    return line.strip()


def build(lab: Lab, tmp: Path, *, second_vnet: bool | str = False) -> HaSite:
    """The topology; ``second_vnet``: True for staging's replicas on hosts of their own (B1, B2),
    ``"same-hosts"`` for them on A1 and A2 (:func:`_same_hosts`)."""
    same_hosts = second_vnet == "same-hosts"
    extra = SAME_HOSTS_ROLES if same_hosts else SECOND_VNET_ROLES if second_vnet else ()
    ns = {role: lab.netns(role) for role in ROLES + extra}
    for bridge_ns in (ns["wan"], ns["lana"]):
        ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        ip("-n", bridge_ns, "link", "set", "br0", "up")
    for role, addr, port in (("hub", "192.0.2.1/24", "p1"), ("a1", "192.0.2.11/24", "p2"),
                             ("a2", "192.0.2.13/24", "p3"), ("conb", "192.0.2.12/24", "p4")):
        lab.veth(ns[role], ns["wan"], addr, None, name_a="wan0", name_b=port)
        ip("-n", ns["wan"], "link", "set", port, "master", "br0")
    for role, addr, port in (("a1", "10.1.0.2/24", "l1"), ("a2", "10.1.0.3/24", "l2"), ("hosta", "10.1.0.10/24", "l3")):
        lab.veth(ns[role], ns["lana"], addr, None, name_a="lan0" if role != "hosta" else "eth0", name_b=port)
        ip("-n", ns["lana"], "link", "set", port, "master", "br0")
    ip("-n", ns["hosta"], "route", "add", "default", "via", "10.1.0.1")
    lab.veth(ns["conb"], ns["hostb"], "10.2.0.1/24", "10.2.0.10/24", name_a="lan0", name_b="eth0")
    ip("-n", ns["hostb"], "route", "add", "default", "via", "10.2.0.1")
    wgs = {role: lab.wg_name() for role in ("hub", "a1", "a2", "conb")}
    if same_hosts:
        _same_hosts(lab, ns, wgs)
    elif second_vnet:
        ip("-n", ns["lanc"], "link", "add", "br0", "type", "bridge")
        ip("-n", ns["lanc"], "link", "set", "br0", "up")
        for role, addr, port in (("b1", "192.0.2.21/24", "p5"), ("b2", "192.0.2.23/24", "p6")):
            lab.veth(ns[role], ns["wan"], addr, None, name_a="wan0", name_b=port)
            ip("-n", ns["wan"], "link", "set", port, "master", "br0")
        for role, addr, port in (("b1", "10.1.0.2/24", "l1"), ("b2", "10.1.0.3/24", "l2"),
                                 ("hostc", "10.1.0.10/24", "l3")):
            lab.veth(ns[role], ns["lanc"], addr, None, name_a="lan0" if role != "hostc" else "eth0", name_b=port)
            ip("-n", ns["lanc"], "link", "set", port, "master", "br0")
        ip("-n", ns["hostc"], "route", "add", "default", "via", "10.1.0.1")
        wgs.update({role: lab.wg_name() for role in ("hub2", "b1", "b2")})
    return HaSite(lab, tmp, ns, wgs)


def _same_hosts(lab: Lab, ns: dict[str, str], wgs: dict[str, str]) -> None:
    """Staging on A1 and A2: their second LAN (lan1 on a bridge with host C, gateway 10.5.0.1),
    connector D on the WAN with host D behind it (10.2.0.0/24, as site B), WireGuard names for
    the hub's second interface and the second connector of each replica host."""
    ip("-n", ns["lanc"], "link", "add", "br0", "type", "bridge")
    ip("-n", ns["lanc"], "link", "set", "br0", "up")
    for role, addr, port in (("a1", "10.5.0.2/24", "l1"), ("a2", "10.5.0.3/24", "l2"), ("hostc", "10.5.0.10/24", "l3")):
        lab.veth(ns[role], ns["lanc"], addr, None, name_a="lan1" if role != "hostc" else "eth0", name_b=port)
        ip("-n", ns["lanc"], "link", "set", port, "master", "br0")
    ip("-n", ns["hostc"], "route", "add", "default", "via", "10.5.0.1")
    lab.veth(ns["cond"], ns["wan"], "192.0.2.14/24", None, name_a="wan0", name_b="p7")
    ip("-n", ns["wan"], "link", "set", "p7", "master", "br0")
    lab.veth(ns["cond"], ns["hostd"], "10.2.0.1/24", "10.2.0.10/24", name_a="lan0", name_b="eth0")
    ip("-n", ns["hostd"], "route", "add", "default", "via", "10.2.0.1")
    wgs.update({role: lab.wg_name() for role in ("hub2", "a1s", "a2s", "cond")})


def bring_up_same_hosts(s: HaSite, priorities=(100, 200)) -> None:
    """Tunnel stage-a (10.5.0.0/24) in vnet ``staging`` on A1 and A2 beside site-a (A2 preferred:
    the other way round from site A), tunnel stage-d (10.2.0.0/24, as site-b) on connector D, and
    the hub's second interface. Each replica's staging connector: its own config directory
    (``--config-dir``), WireGuard interface and LAN (lan1)."""
    admin = s.admin
    s.warpcli(admin, "vnet", "add", "staging")
    s.warpcli(admin, "tunnel", "create", "stage-a")
    s.warpcli(admin, "tunnel", "create", "stage-d")
    s.warpcli(admin, "route", "add", "10.5.0.0/24", "--tunnel", "stage-a", "--vnet", "staging")
    s.warpcli(admin, "route", "add", "10.2.0.0/24", "--tunnel", "stage-d", "--vnet", "staging")
    token = s.warpcli(admin, "tunnel", "token", "stage-a").stdout
    for role, prio in zip(("a1s", "a2s"), priorities, strict=True):
        s.warpcli(role, "enroll", "--vnet", "staging", "--interface", s.wg[role], "--priority", str(prio), input=token)
    s.warpcli("cond", "enroll", "--vnet", "staging", "--interface", s.wg["cond"],
              input=s.warpcli(admin, "tunnel", "token", "stage-d").stdout)
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51821", "--vnet", "staging", "--interface", s.wg["hub2"])
    s.track()
    s.warpcli("cond", "up")
    s.track()
    for role in ("a1s", "a2s"):
        s.warpcli(role, "up", "--lan-gateway", STAGING_GATEWAY, "--lan-interface", "lan1")
        s.track()


def use_served(s: HaSite, url: str, account_id: str, api_token: str) -> None:
    """Every host talks to the controller ``controller serve`` runs at ``url`` (in the hub's namespace):
    the admin and the hub with the API token, each connector with only its tunnel token and its own
    state directory (it is given the URL; `enroll` writes it into its connector.toml)."""
    s.admin = "hub"
    s.role_env["hub"] = {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": url,
                         "CLOUDFLARE_ACCOUNT_ID": account_id, "CLOUDFLARE_API_TOKEN": api_token}
    for role in ("a1", "a2", "conb"):
        s.role_env[role] = {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": url,
                            "WARPCLI_STATE_DIR": str(s.tmp / f"state-{role}")}


def follow_hub(s: HaSite, interval: float = 0.5) -> subprocess.Popen:
    """``hub up --follow`` in the hub's namespace (it reports to the controller at every poll)."""
    with open(s.tmp / "hub-follow.log", "wb") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", s.ns["hub"], WARPCLI, "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface",
             s.wg["hub"], "--follow", "--interval", str(interval)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=s.env("hub"))
    s.lab.procs.append(proc)
    return proc


def bring_up(s: HaSite, *, a1: tuple[str, ...] = (), a2: tuple[str, ...] = (), priorities=(200, 100)) -> None:
    admin = s.admin
    s.warpcli(admin, "tunnel", "create", "site-a")
    s.warpcli(admin, "tunnel", "create", "site-b")
    s.warpcli(admin, "route", "add", "10.1.0.0/24", "--tunnel", "site-a")
    s.warpcli(admin, "route", "add", "10.2.0.0/24", "--tunnel", "site-b")
    token = s.warpcli(admin, "tunnel", "token", "site-a").stdout
    for role, prio in zip(("a1", "a2"), priorities, strict=True):
        s.warpcli(role, "enroll", "--interface", s.wg[role], "--priority", str(prio), input=token)
    if admin == "ctl":
        s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    else:  # a served controller: the connector holds only its tunnel token
        s.warpcli("conb", "enroll", "--interface", s.wg["conb"], input=s.warpcli(admin, "tunnel", "token",
                                                                                 "site-b").stdout)
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track()
    s.warpcli("conb", "up")
    s.track()
    for role, extra in (("a1", a1), ("a2", a2)):
        s.warpcli(role, "up", "--lan-gateway", GATEWAY, "--lan-interface", "lan0", *extra)
        s.track()


def bring_up_second_vnet(s: HaSite, priorities=(100, 200)) -> None:
    """Tunnel stage-a in vnet ``staging`` (the same CIDR as site-a), replicas B1 and B2 (B2 preferred:
    the other way round from site A), and the hub's second interface."""
    admin = s.admin
    s.warpcli(admin, "vnet", "add", "staging")
    s.warpcli(admin, "tunnel", "create", "stage-a")
    s.warpcli(admin, "route", "add", "10.1.0.0/24", "--tunnel", "stage-a", "--vnet", "staging")
    token = s.warpcli(admin, "tunnel", "token", "stage-a").stdout
    for role, prio in zip(("b1", "b2"), priorities, strict=True):
        s.warpcli(role, "enroll", "--vnet", "staging", "--interface", s.wg[role], "--priority", str(prio), input=token)
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51821", "--vnet", "staging", "--interface", s.wg["hub2"])
    s.track()
    for role in ("b1", "b2"):
        s.warpcli(role, "up", "--lan-gateway", GATEWAY, "--lan-interface", "lan0")
        s.track()


def wait_for(cond, what: str, bound: float = 60.0):
    deadline = time.monotonic() + bound
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound}s: {what}")
        time.sleep(0.1)


def wait_active(s: HaSite, role: str, bound: float = 60.0) -> None:
    """``role`` holds the gateway, its partner does not, and the hub routes its tunnel's CIDR to it."""
    other = PARTNER[role]
    addr = s.address(role)
    cidr = LAN_OF.get(role, DEFAULT_LAN)[2]
    try:
        wait_for(lambda: s.holds_gateway(role) and not s.holds_gateway(other) and s.hub_owner(HUB_OF[role], cidr) == addr
                 and s.status(role).get("role") == "active",
                 f"{role} active (gateway, hub routes, status)", bound)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{s.diagnose()}") from None


def kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
