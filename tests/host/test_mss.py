"""TCP MSS clamping on the tunnel: bulk TCP between sites survives a LAN that drops ICMP.

The LAN hosts' links have MTU 1500, the tunnels 1280. With ICMP dropped on the LAN
hosts, path MTU discovery cannot work: a full-size segment is dropped at the
connector and the "fragmentation needed" answer never reaches the sender. The MSS
rule that `up` and `hub up` add (nftables, tagged per interface) makes both ends send
segments that fit. Without it, the same transfer stalls (shown by removing the rule).
"""

from __future__ import annotations

import shutil

import pytest

from tests.host.conftest import read_line
from tests.host.sites import Site, assert_same, bring_up
from warpcli.host.routing import mss

SIZE = 8 << 20

SINK = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(60)
print("READY", flush=True)
c, _ = s.accept()
c.settimeout(float(sys.argv[3]))  # no progress for this long: the path is a black hole
got = 0
try:
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        got += len(b)
except socket.timeout:
    pass
print("GOT", got, flush=True)
"""

SOURCE = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
c.settimeout(float(sys.argv[4]))
chunk = b"x" * (1 << 16)
left = int(sys.argv[3])
try:
    while left > 0:
        c.sendall(chunk[:left])
        left -= min(left, len(chunk))
    c.shutdown(socket.SHUT_WR)
    print("SENT", flush=True)
except (socket.timeout, OSError) as exc:
    print("STALLED", type(exc).__name__, flush=True)
"""


def _transfer(s: Site, port: int, stall_after: float) -> int:
    """Bytes that host B received of SIZE sent by host A (TCP, through both connectors and the hub)."""
    sink = s.lab.spawn_python(s.ns["hostb"], SINK, "10.2.0.10", str(port), str(stall_after))
    assert read_line(sink) == "READY"
    source = s.lab.python(s.ns["hosta"], SOURCE, "10.2.0.10", str(port), str(SIZE), str(stall_after),
                          timeout=600)
    assert source.returncode == 0, source.stderr
    line = read_line(sink, timeout=600)
    sink.wait(timeout=30)
    kind, got = line.split()
    assert kind == "GOT"
    return int(got)


def _drop_icmp(s: Site, role: str) -> None:
    s.lab.sh(s.ns[role], "nft", "add table inet lab; add chain inet lab in { type filter hook input priority 0; }; "
             "add rule inet lab in meta l4proto { icmp, ipv6-icmp } drop")


@pytest.mark.slow
def test_bulk_tcp_between_sites_completes_with_icmp_dropped_on_the_lan(site: Site) -> None:
    s = site
    if not shutil.which("nft"):
        pytest.skip("needs nftables (nft)")
    for role in ("hosta", "hostb"):
        _drop_icmp(s, role)
    before = s.snapshot()
    bring_up(s)
    for role in ("cona", "conb", "hub"):
        assert mss.present(s.wg[role], s.ns[role]), role
    # a second run sees the rule and adds nothing
    assert s.warpcli("cona", "up").stdout.strip() == "no changes"
    assert s.lab.sh(s.ns["cona"], "nft", "list", "ruleset").stdout.count(mss.tag(s.wg["cona"])) == 1

    assert _transfer(s, 9100, stall_after=60) == SIZE

    # without the clamp the same path is a black hole: the transfer stops short
    for role in ("cona", "conb", "hub"):
        assert mss.remove(s.wg[role], s.ns[role])
    assert _transfer(s, 9101, stall_after=5) < SIZE

    # `up` puts the rule back (one line in its plan); down removes it with everything else
    assert "warpcli-mss" in s.warpcli("cona", "up").stdout
    assert mss.present(s.wg["cona"], s.ns["cona"])
    s.warpcli("cona", "down")
    s.warpcli("conb", "down")
    s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"])
    assert_same(before, s.snapshot())


def test_the_rule_is_removed_by_tag_and_other_rules_in_the_table_stay(lab) -> None:
    if not shutil.which("nft"):
        pytest.skip("needs nftables (nft)")
    ns = lab.netns("mss")
    assert mss.ensure("wgx0", ns) is True
    assert mss.ensure("wgx0", ns) is False  # by tag: never twice
    assert mss.ensure("wgx1", ns) is True
    rules = lab.sh(ns, "nft", "list", "chain", "inet", "warpcli", "mss").stdout
    assert "maxseg size set rt mtu" in rules and 'oifname "wgx0"' in rules and 'oifname "wgx1"' in rules
    assert mss.remove("wgx0", ns) is True
    assert not mss.present("wgx0", ns) and mss.present("wgx1", ns)
    assert mss.remove("wgx1", ns) is True
    assert lab.sh(ns, "nft", "list", "ruleset").stdout.strip() == ""  # the empty table went too
    assert mss.remove("wgx1", ns) is False
