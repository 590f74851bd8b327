"""Crash safety and rollback of `up`, through real kernels.

`kill -9` at each point of `up` (WARPCLI_FAULT_KILL_AT makes the process SIGKILL
itself there, deterministically), then `up` again: it converges with nothing
duplicated, a third `up` has no changes, and `down` leaves the namespaces exactly as
they were. A route the kernel refuses mid-`up` rolls back everything that run did.
"""

from __future__ import annotations

import signal

import pytest

from tests.host.sites import Site, assert_same


def _setup(s: Site) -> None:
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    for cidr, tunnel in (("10.1.0.0/24", "site-a"), ("10.1.1.0/24", "site-a"), ("2001:db8:1::/48", "site-a"),
                         ("10.2.0.0/24", "site-b")):
        s.warpcli("ctl", "route", "add", cidr, "--tunnel", tunnel)
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()


@pytest.mark.parametrize("point", ["created", "configured", "action-1", "action-4", "action-8", "action-11"])
def test_kill_9_anywhere_in_up_then_up_converges_and_down_cleans(site: Site, point: str) -> None:
    s = site
    _setup(s)
    before = s.snapshot()
    crashed = s.warpcli("conb", "up", check=False, env={"WARPCLI_FAULT_KILL_AT": point})
    s.track_wireguard()
    assert crashed.returncode == -signal.SIGKILL, (point, crashed.returncode, crashed.stderr)
    s.warpcli("conb", "up")
    s.track_wireguard()
    assert s.warpcli("conb", "up").stdout.strip() == "no changes"
    table = s.lab.sh(s.ns["conb"], "ip", "route", "show", "table", "24500").stdout.splitlines()
    table6 = s.lab.sh(s.ns["conb"], "ip", "-6", "route", "show", "table", "24500").stdout.splitlines()
    assert sorted(line.split()[0] for line in table + table6) == [
        "10.1.0.0/24", "10.1.1.0/24", "100.96.0.0/12", "2001:db8:1::/48"]
    rules = s.lab.sh(s.ns["conb"], "ip", "rule").stdout
    assert rules.count("lookup 24500") == 1 and rules.count("suppress_prefixlength 0") == 1
    s.warpcli("conb", "down")
    assert_same(before, s.snapshot())


def test_a_route_the_kernel_refuses_rolls_back_the_whole_run(site: Site) -> None:
    s = site
    _setup(s)
    # new interfaces in this namespace get no IPv6: the IPv6 route will be refused mid-up,
    # after the interface, its address and the IPv4 routes are in
    s.lab.sh(s.ns["conb"], "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
    before = s.snapshot()
    r = s.warpcli("conb", "up", check=False)
    s.track_wireguard()
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "2001:db8:1::/48" in lines[0] and "rolled back" in lines[0], r.stderr
    assert_same(before, s.snapshot())
    assert s.warpcli("conb", "status", check=False).returncode == 8


def test_missing_wireguard_go_is_one_clear_line(site: Site) -> None:
    s = site
    _setup(s)
    before = s.snapshot()
    r = s.warpcli("conb", "up", check=False, env={"WARPCLI_WIREGUARD_GO": "/nonexistent/wireguard-go"})
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "apt-get install wireguard-go" in r.stderr
    assert_same(before, s.snapshot())


def test_a_masquerade_rule_is_named_in_a_warning(site: Site) -> None:
    import shutil

    s = site
    if not shutil.which("iptables-save") and not shutil.which("nft"):
        pytest.skip("needs iptables or nft to create a NAT rule")
    _setup(s)
    if shutil.which("iptables"):
        made = s.lab.sh(s.ns["conb"], "iptables", "-t", "nat", "-A", "POSTROUTING", "-j", "MASQUERADE", check=False)
    else:
        made = s.lab.sh(s.ns["conb"], "nft", "add table ip wct; add chain ip wct post { type nat hook postrouting "
                        "priority 100; }; add rule ip wct post masquerade", check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot create a NAT rule here: {made.stderr.strip()}")
    r = s.warpcli("conb", "up", "--dry-run")
    assert "warning: a catch-all source NAT rule" in r.stderr and "MASQUERADE" in r.stderr.upper()
