"""Network policies enforced at the hub, with real traffic between three sites.

WAN: a bridge namespace joining the hub (192.0.2.1) and connectors A, B, C (.11, .12, .13).
Site A: host A 10.1.0.10 behind connector A; site B: host B 10.2.0.10; site C: host C 10.3.0.10.
Every host runs one echo server (TCP and UDP) that answers with the peer address it saw, so a
client learns whether its flow passed and with which source address. Denied flows are dropped
at the hub: the client's connect or UDP exchange times out (a bounded wait, the only way to
see a drop); allowed ones answer at once.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.host.conftest import Lab, ip, read_line
from tests.host.sites import Site, assert_same
from tests.host.test_follow import spawn

pytestmark = pytest.mark.slow

SERVER = r"""
import socket, sys, threading
host, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
def tcp_conn(c, addr):
    with c:
        while True:
            data = c.recv(100)
            if not data:
                return
            c.sendall(f"{addr[0]}:{data.decode()}".encode())
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(8)
    while True:
        c, addr = s.accept()
        threading.Thread(target=tcp_conn, args=(c, addr), daemon=True).start()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((host, port))
    while True:
        data, addr = s.recvfrom(100)
        s.sendto(f"{addr[0]}:{data.decode()}".encode(), addr)
for p in ports:
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
    threading.Thread(target=udp, args=(p,), daemon=True).start()
print("READY", flush=True)
threading.Event().wait()
"""

PROBE = r"""
import socket, sys
proto, host, port, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    if proto == "tcp":
        c = socket.create_connection((host, port), timeout=wait)
        c.sendall(b"hi")
    else:
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(wait)
        c.sendto(b"hi", (host, port))
    print("ok", c.recv(100).decode())
except (socket.timeout, TimeoutError):
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""

#: a connection kept open: each stdin line is sent, and the echo (or "timeout") printed
KEEP = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print("CONNECTED", flush=True)
for line in sys.stdin:
    c.settimeout(float(sys.argv[3]))
    try:
        c.sendall(line.strip().encode())
        print("ok", c.recv(100).decode(), flush=True)
    except (socket.timeout, TimeoutError):
        print("timeout", flush=True)
"""

DROP_WAIT = "2"  # seconds a denied flow is given to show it is not answered
HOSTS = {"hosta": "10.1.0.10", "hostb": "10.2.0.10", "hostc": "10.3.0.10"}
PORTS = "8080,8081,5353"


@pytest.fixture
def sites(lab: Lab, wireguard_go: str, tmp_path: Path):
    roles = ("wan", "hub", "cona", "hosta", "conb", "hostb", "conc", "hostc")
    ns = {role: lab.netns(role) for role in roles}
    wan = ns["wan"]
    ip("-n", wan, "link", "add", "br0", "type", "bridge")
    ip("-n", wan, "link", "set", "br0", "up")
    for role, addr, port in (("hub", "192.0.2.1/24", "p1"), ("cona", "192.0.2.11/24", "p2"),
                             ("conb", "192.0.2.12/24", "p3"), ("conc", "192.0.2.13/24", "p4")):
        lab.veth(ns[role], wan, addr, None, name_a="wan0", name_b=port)
        ip("-n", wan, "link", "set", port, "master", "br0")
    for n, site in ((1, "a"), (2, "b"), (3, "c")):
        lab.veth(ns[f"con{site}"], ns[f"host{site}"], f"10.{n}.0.1/24", f"10.{n}.0.10/24", name_a="lan0",
                 name_b="eth0")
        ip("-n", ns[f"host{site}"], "route", "add", "default", "via", f"10.{n}.0.1")
    s = Site(lab, tmp_path, ns, {role: lab.wg_name() for role in ("hub", "cona", "conb", "conc")})
    try:
        yield s
    finally:
        s.track_wireguard()


def bring_up(s: Site) -> None:
    for n, site in ((1, "a"), (2, "b"), (3, "c")):
        s.warpcli("ctl", "tunnel", "create", f"site-{site}")
        s.warpcli("ctl", "route", "add", f"10.{n}.0.0/24", "--tunnel", f"site-{site}")
        s.warpcli(f"con{site}", "enroll", "--tunnel", f"site-{site}", "--interface", s.wg[f"con{site}"])
    hub_up(s)
    for role in ("cona", "conb", "conc"):
        s.warpcli(role, "up")
        s.track_wireguard()


def hub_up(s: Site, *extra: str) -> subprocess.CompletedProcess:
    p = s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"], *extra)
    s.track_wireguard()
    return p


def probe(s: Site, client: str, proto: str, server: str, port: int) -> tuple[bool, str | None]:
    """Whether the flow got an answer, and the source address the server saw."""
    p = s.lab.python(s.ns[client], PROBE, proto, HOSTS[server], str(port), DROP_WAIT)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split()
    return (True, out[1].split(":")[0]) if out[0] == "ok" else (False, None)


def model(s: Site, client: str, proto: str, server: str, port: int) -> bool:
    p = s.warpcli("ctl", "policy", "test", "--from", HOSTS[client], "--to", f"{HOSTS[server]}:{port}/{proto}",
                  check=False)
    assert p.returncode in (0, 11), p.stderr
    return p.returncode == 0


def test_default_deny_lets_only_allowed_flows_through_with_their_true_source(sites: Site) -> None:
    s = sites
    before = s.snapshot()
    bring_up(s)
    for host in HOSTS:
        server = s.lab.spawn_python(s.ns[host], SERVER, HOSTS[host], PORTS)
        assert read_line(server) == "READY"
    assert probe(s, "hostb", "tcp", "hosta", 8081) == (True, "10.2.0.10")  # no policy: everything passes

    s.warpcli("ctl", "policy", "default", "deny")
    s.warpcli("ctl", "policy", "add", "b-to-a-web", "--from", "10.2.0.0/24", "--to", "10.1.0.10", "--proto", "tcp",
              "--port", "8080", "--action", "allow")
    s.warpcli("ctl", "policy", "add", "c-to-a-dns", "--from", "site-c", "--to", "site-a", "--proto", "udp",
              "--port", "5353", "--action", "allow", "--log")
    plan = hub_up(s).stdout
    assert f"+ nftables policy: 2 rules, default deny (table inet warpcli_policy_{s.wg['hub']})" in plan

    cases = [  # (client, proto, server, port, expected)
        ("hostb", "tcp", "hosta", 8080, True),
        ("hostc", "udp", "hosta", 5353, True),
        ("hostc", "tcp", "hosta", 8080, False),  # another source
        ("hostb", "tcp", "hosta", 8081, False),  # another port
        ("hostb", "udp", "hosta", 8080, False),  # another protocol
        ("hostb", "udp", "hosta", 5353, False),
        ("hosta", "tcp", "hostb", 8080, False),  # server-initiated: the reverse direction has no rule
        ("hostb", "tcp", "hostc", 8080, False),
    ]
    for client, proto, server, port, expected in cases:
        passed, source = probe(s, client, proto, server, port)
        assert passed == expected, (client, proto, server, port)
        if passed:  # replies came back, and the server saw the client itself (no NAT)
            assert source == HOSTS[client]
        assert model(s, client, proto, server, port) == passed, ("policy test disagrees", client, server, port)

    # the reverse flow passes only once it has a rule of its own
    s.warpcli("ctl", "policy", "add", "a-to-b", "--from", "site-a", "--to", "10.2.0.10", "--proto", "tcp",
              "--port", "8080", "--action", "allow")
    assert "~ nftables policy: 3 rules, default deny" in hub_up(s).stdout
    assert probe(s, "hosta", "tcp", "hostb", 8080) == (True, "10.1.0.10")
    assert model(s, "hosta", "tcp", "hostb", 8080)

    # counters count since the policy was loaded: one more of each allowed flow
    assert probe(s, "hostb", "tcp", "hosta", 8080)[0] and probe(s, "hostc", "udp", "hosta", 5353)[0]
    listed = json.loads(s.warpcli("hub", "policy", "list", "--json").stdout)
    counts = {r["name"]: r["packets"] for r in listed["rules"]}
    assert counts["b-to-a-web"] > 0 and counts["c-to-a-dns"] > 0 and counts["a-to-b"] > 0
    assert hub_up(s).stdout.strip().endswith("no changes")

    for role in ("cona", "conb", "conc"):
        s.warpcli(role, "down")
    down = s.warpcli("hub", "hub", "down").stdout
    assert "- nftables policy" in down
    for proc in list(s.lab.procs):
        proc.kill()
        proc.wait(timeout=10)
    assert_same(before, s.snapshot())


def test_follow_applies_changes_keeps_allowed_connections_and_cuts_denied_ones(sites: Site) -> None:
    s = sites
    bring_up(s)
    server = s.lab.spawn_python(s.ns["hosta"], SERVER, HOSTS["hosta"], PORTS)
    assert read_line(server) == "READY"
    s.warpcli("ctl", "policy", "default", "deny")
    s.warpcli("ctl", "policy", "add", "b-web", "--from", "site-b", "--to", "site-a", "--proto", "tcp",
              "--port", "8080-8081", "--action", "allow")
    hub = spawn(s, "hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"],
                "--follow", "--interval", "0.2", "--json")
    assert json.loads(read_line(hub))["changed"] is True  # the policy loaded

    def keep(port: int) -> subprocess.Popen:
        proc = subprocess.Popen(["ip", "netns", "exec", s.ns["hostb"], "python3", "-u", "-c", KEEP, HOSTS["hosta"],
                                 str(port), DROP_WAIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        s.lab.procs.append(proc)
        assert read_line(proc) == "CONNECTED"
        return proc

    def say(proc: subprocess.Popen, text: str) -> str:
        assert proc.stdin is not None
        proc.stdin.write(text + "\n")
        proc.stdin.flush()
        return read_line(proc)

    stays, goes = keep(8080), keep(8081)
    assert say(stays, "one") == "ok 10.2.0.10:one" and say(goes, "one") == "ok 10.2.0.10:one"

    def changed() -> None:
        assert json.loads(read_line(hub))["changed"] is True

    # a rule added first, moved, deleted: the allowed connections go on through every update
    s.warpcli("ctl", "policy", "add", "c-any", "--from", "site-c", "--action", "allow", "--before", "b-web")
    changed()
    s.warpcli("ctl", "policy", "move", "c-any", "--after", "b-web")
    changed()
    s.warpcli("ctl", "policy", "delete", "c-any")
    changed()
    assert say(stays, "two") == "ok 10.2.0.10:two" and say(goes, "two") == "ok 10.2.0.10:two"

    # a deny placed first cuts the established connection to 8081; 8080 stays allowed and goes on
    s.warpcli("ctl", "policy", "add", "no-8081", "--to", "10.1.0.10", "--proto", "tcp", "--port", "8081",
              "--action", "deny", "--before", "b-web")
    changed()
    assert say(goes, "three") == "timeout"
    assert say(stays, "three") == "ok 10.2.0.10:three"
    assert model(s, "hostb", "tcp", "hosta", 8080) and not model(s, "hostb", "tcp", "hosta", 8081)

    hub.send_signal(signal.SIGTERM)
    assert hub.wait(timeout=20) == 0
    assert "Traceback" not in (hub.stderr.read() if hub.stderr else "")


def test_log_rules_count_new_connections_on_the_metrics_endpoint(sites: Site) -> None:
    """`hub up --follow --metrics-listen`: a --log rule's logged-connections counter moves by exactly
    the number of new connections it let through, and keeps counting across an update of the policy
    (applied as a change, not a reload); rules without --log have packet and byte counters only."""
    from tests.host.test_follow import scrape, wait_for

    s = sites
    bring_up(s)
    server = s.lab.spawn_python(s.ns["hosta"], SERVER, HOSTS["hosta"], PORTS)
    assert read_line(server) == "READY"
    s.warpcli("ctl", "policy", "default", "deny")
    s.warpcli("ctl", "policy", "add", "b-web", "--from", "site-b", "--to", "site-a", "--proto", "tcp",
              "--port", "8080", "--action", "allow", "--log")
    s.warpcli("ctl", "policy", "add", "c-dns", "--from", "site-c", "--to", "site-a", "--proto", "udp",
              "--port", "5353", "--action", "allow", "--log")
    s.warpcli("ctl", "policy", "add", "b-quiet", "--from", "site-b", "--to", "10.1.0.10", "--proto", "tcp",
              "--port", "8081", "--action", "allow")
    hub = spawn(s, "hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"],
                "--follow", "--interval", "0.2", "--json", "--metrics-listen", "127.0.0.1:9110")
    assert json.loads(read_line(hub))["changed"] is True

    def series(name: str) -> dict[str, float]:
        return {labels["rule"]: value for labels, value in scrape(s, "hub", 9110).get(name, [])
                if labels.get("vnet") == "default"}

    def logged() -> dict[str, float]:
        return series("warpcli_policy_logged_connections_total")

    # warm-up: one flow of each (WireGuard handshakes), then the counters as they stand
    assert probe(s, "hostb", "tcp", "hosta", 8080)[0] and probe(s, "hostc", "udp", "hosta", 5353)[0]
    wait_for("the warm-up flows counted", lambda: all(logged().get(r, 0) >= 1 for r in ("b-web", "c-dns")))
    base = logged()
    assert set(base) == {"b-web", "c-dns"}  # only --log rules have the series

    def connections(n_tcp: int, n_udp: int) -> None:
        for _ in range(n_tcp):
            assert probe(s, "hostb", "tcp", "hosta", 8080) == (True, "10.2.0.10")
        for _ in range(n_udp):
            assert probe(s, "hostc", "udp", "hosta", 5353) == (True, "10.3.0.10")

    connections(5, 3)
    assert probe(s, "hostb", "tcp", "hosta", 8081)[0]  # allowed, not logged
    assert not probe(s, "hostb", "udp", "hosta", 8081)[0]  # the default's
    want = {"b-web": base["b-web"] + 5, "c-dns": base["c-dns"] + 3}
    wait_for(f"logged connections {want}", lambda: logged() == want, timeout=15)
    packets, size = series("warpcli_policy_packets_total"), series("warpcli_policy_bytes_total")
    assert packets["b-web"] >= 3 * want["b-web"] and size["b-web"] > 0  # SYN, data, FIN and ACKs
    assert packets["c-dns"] == want["c-dns"]  # one datagram each way; the reply is not counted
    assert packets["b-quiet"] > 0 and packets["(default)"] > 0
    assert scrape(s, "hub", 9110)["warpcli_policy_scrape_ok"] == [({}, 1.0)]

    # a rule added before them: applied as a change, so the counters go on from where they were
    s.warpcli("ctl", "policy", "add", "a-ping", "--from", "site-a", "--proto", "icmp", "--action", "allow",
              "--before", "b-web")
    assert json.loads(read_line(hub))["changed"] is True
    connections(2, 1)
    want = {"b-web": want["b-web"] + 2, "c-dns": want["c-dns"] + 1}
    wait_for(f"logged connections {want}", lambda: logged() == want, timeout=15)

    hub.send_signal(signal.SIGTERM)
    assert hub.wait(timeout=20) == 0
    assert "Traceback" not in (hub.stderr.read() if hub.stderr else "")
