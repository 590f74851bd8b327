"""The kernel decides as `policy test` does: generated policies loaded into a real nftables table,
generated flows sent through a router namespace, and for each one the element (rule) or default
chain whose counter moved compared with the model's first match. The client writes each packet
with a raw socket (``IP_HDRINCL``), so its source address is exactly the flow's.

client (10.1.0.1-15) --veth-- router (forwards; the policy table polices what arrives from the
client) --veth-- server (10.2.0.0/28 routed to it). Each flow is one packet: a TCP SYN, a UDP
datagram or an ICMP echo request from the flow's source address; the router counts it in exactly
one counter, which names the deciding rule. No traffic in the root namespace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.host.conftest import Lab, ip, read_line
from warpcli.core.cidr import Network, format_address
from warpcli.core.policy import Flow, Policy, Rule, decide
from warpcli.host import policy_nft
from warpcli.host.policy_nft.boxes import PIECES_LIMIT
from warpcli.host.policy_nft.ruleset import DEFAULT_NAME

pytestmark = pytest.mark.slow

SRC, DST = 0x0A010000, 0x0A020000  # 10.1.0.0, 10.2.0.0
POLICED = "cl0"

PROBER = r"""
import socket, struct, sys
def csum(data):
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return ~s & 0xFFFF
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL: our source address
print("READY", flush=True)
for n, line in enumerate(sys.stdin):
    proto, src, dst, port = line.split()
    s, d, port = socket.inet_aton(src), socket.inet_aton(dst), int(port)
    sport = 20000 + n % 40000
    if proto == "icmp":
        num, l4 = 1, struct.pack("!BBHHH", 8, 0, 0, 1, n & 0xFFFF) + b"probe!"
        l4 = l4[:2] + struct.pack("!H", csum(l4)) + l4[4:]
    elif proto == "udp":
        num, l4 = 17, struct.pack("!HHHH", sport, port, 9, 0) + b"x"
    else:
        num, l4 = 6, struct.pack("!HHIIBBHHH", sport, port, n, 0, 5 << 4, 0x02, 64240, 0, 0)
        pseudo = s + d + struct.pack("!BBH", 0, 6, len(l4))
        l4 = l4[:16] + struct.pack("!H", csum(pseudo + l4)) + l4[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), n & 0xFFFF, 0, 64, num, 0, s, d)
    raw.sendto(ip + l4, (dst, 0))
    print("SENT", flush=True)
"""


def net(base: int) -> st.SearchStrategy[Network]:
    """A /28../32 inside base/28."""
    return st.builds(lambda plen, i: Network(4, base + ((i >> (32 - plen)) << (32 - plen)), plen),
                     st.integers(28, 32), st.integers(0, 15))


@st.composite
def rules(draw, name: str) -> Rule:
    protocol = draw(st.sampled_from(["any", "tcp", "udp", "icmp"]))
    ports = ()
    if protocol in ("tcp", "udp"):
        ports = tuple(draw(st.lists(st.tuples(st.integers(1, 8), st.integers(0, 3)).map(
            lambda t: (t[0], min(8, t[0] + t[1]))), max_size=2)))
    return Rule(name, draw(st.sampled_from(["allow", "deny"])), tuple(draw(st.lists(net(SRC), max_size=2))),
                tuple(draw(st.lists(net(DST), max_size=2))), protocol, ports)


policies = st.integers(0, 5).flatmap(
    lambda n: st.tuples(*(rules(f"r{i}") for i in range(n)), st.sampled_from(["allow", "deny"]))
).map(lambda t: Policy(t[-1], tuple(t[:-1])))
flows = st.lists(st.tuples(st.integers(1, 15), st.integers(1, 15), st.sampled_from(["tcp", "udp", "icmp"]),
                           st.integers(1, 9)), min_size=5, max_size=20)


class Router:
    """The three namespaces and the prober process (built by the ``router`` fixture)."""

    lab: Lab
    client: str
    router: str
    server: str
    prober: subprocess.Popen

    def counts(self) -> dict[str, int]:
        out = self.lab.sh(self.router, "nft", "-j", "list", "table", "inet", policy_nft.table(POLICED)).stdout
        got: dict[str, int] = {}
        for item in json.loads(out)["nftables"]:
            for elem, _ in item.get("map", {}).get("elem", []):
                e = elem["elem"]
                got[e["comment"]] = got.get(e["comment"], 0) + e["counter"]["packets"]
            rule = item.get("rule", {})
            counter = next((x["counter"]["packets"] for x in rule.get("expr", []) if "counter" in x), None)
            if counter is not None and rule.get("comment"):  # the default chain's, and the ordered suffix's
                got[rule["comment"]] = got.get(rule["comment"], 0) + counter
        return got

    def send(self, proto: str, src: str, dst: str, port: int) -> str:
        """The name of the rule whose counter moved (the default's name when none did)."""
        before = self.counts()
        assert self.prober.stdin is not None and self.prober.stderr is not None
        try:
            self.prober.stdin.write(f"{proto} {src} {dst} {port}\n")
            self.prober.stdin.flush()
        except BrokenPipeError:
            raise AssertionError(f"the prober died ({self.prober.wait(5)}): {self.prober.stderr.read()}") from None
        assert read_line(self.prober) == "SENT"
        deadline = time.monotonic() + 5
        while True:
            after = self.counts()
            moved = [k for k in after if after[k] != before.get(k, 0)]
            if moved:
                assert len(moved) == 1, moved
                return moved[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no counter moved for {proto} {src} -> {dst}:{port}")
            time.sleep(0.01)


@pytest.fixture
def router(lab: Lab) -> Router:
    r = Router()
    r.lab = lab
    r.client, r.router, r.server = lab.netns("pcl"), lab.netns("prt"), lab.netns("psv")
    lab.veth(r.client, r.router, "10.1.0.1/28", None, name_a="eth0", name_b=POLICED)
    lab.veth(r.router, r.server, "10.9.0.1/30", "10.9.0.2/30", name_a="sv0", name_b="eth0")
    ip("-n", r.router, "addr", "add", "10.1.0.254/32", "dev", POLICED)
    for i in range(2, 16):
        ip("-n", r.client, "addr", "add", f"10.1.0.{i}/32", "dev", "eth0")
    ip("-n", r.client, "route", "add", "10.1.0.254/32", "dev", "eth0")
    ip("-n", r.client, "route", "add", "10.2.0.0/28", "via", "10.1.0.254")
    ip("-n", r.router, "route", "add", "10.1.0.0/28", "dev", POLICED)
    ip("-n", r.router, "route", "add", "10.2.0.0/28", "via", "10.9.0.2")
    ip("-n", r.server, "route", "add", "10.1.0.0/28", "via", "10.9.0.1")
    lab.sh(r.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    r.prober = subprocess.Popen(["ip", "netns", "exec", r.client, sys.executable, "-u", "-c", PROBER],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lab.procs.append(r.prober)
    assert read_line(r.prober) == "READY"
    return r


@pytest.mark.parametrize("limit", [PIECES_LIMIT, 0], ids=["maps", "ordered-suffix"])
@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies, cases=flows)
def test_the_kernel_decides_each_flow_as_the_model(router: Router, limit: int, policy: Policy, cases,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``limit`` 0 sends every rule after the first overlap to the ordered suffix."""
    monkeypatch.setattr("warpcli.host.policy_nft.boxes.PIECES_LIMIT", limit)
    policy_nft.load(policy, POLICED, router.router)
    for s, d, proto, port in cases:
        src, dst = format_address(4, SRC + s), format_address(4, DST + d)
        flow = Flow((4, SRC + s), (4, DST + d), proto, port if proto != "icmp" else None)
        expected = decide(policy, flow)
        moved = router.send(proto, src, dst, port)
        assert moved == (expected.name or DEFAULT_NAME), (policy, flow)
    assert policy_nft.remove(POLICED, router.router)
