"""wireguard-go in two namespaces, configured only through warpcli's UAPI client; real TCP."""

from __future__ import annotations

import os
import time

import pytest

from warpcli.core import keys
from warpcli.host.constants import PRIORITY_SUPPRESS_MAIN, PRIORITY_TABLE, TABLE
from warpcli.host.errors import InterfaceInUse, UapiError, WireGuardMissing
from warpcli.host.model import Address, KernelRoute, KernelRule, LinkState
from warpcli.host.routing import kernel
from warpcli.host.routing.netlink import Netlink
from warpcli.host.wireguard import uapi, wg

from .conftest import ip, tcp_exchange


def _wait(cond, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def pair(lab, wireguard_go):
    """Namespaces a and b on a veth underlay (10.200.0.0/24), a wireguard-go interface in each,
    configured through UAPI: a = 100.96.0.1, b = 100.96.0.2."""
    a, b = lab.netns("a"), lab.netns("b")
    lab.veth(a, b, "10.200.0.1/24", "10.200.0.2/24")
    ka, kb = keys.generate_keypair(), keys.generate_keypair()
    ifaces = {}
    for name, ns_, _key, addr in ((a, a, ka, "100.96.0.1/24"), (b, b, kb, "100.96.0.2/24")):
        iface = wg.create_interface(lab.wg_name(), netns=ns_, run_dir=lab.run_dir, backend="userspace")
        lab.track(iface.pid)
        ifaces[name] = iface
        with Netlink(ns_) as nl:
            nl.add_address(Address(iface.ifname, addr))
            nl.set_link(iface.ifname, mtu=1280, up=True)
    ia, ib = ifaces[a], ifaces[b]
    uapi.UapiClient(ia.ifname).set_device(ka.private_key, 51820, [
        uapi.PeerConfig(kb.public_key, endpoint="10.200.0.2:51821", allowed_ips=("100.96.0.2/32",)),
    ])
    uapi.UapiClient(ib.ifname).set_device(kb.private_key, 51821, [
        uapi.PeerConfig(ka.public_key, endpoint="10.200.0.1:51820", allowed_ips=("100.96.0.1/32",),
                        persistent_keepalive=25),
    ])
    return a, b, ia, ib, ka, kb


def test_tcp_across_the_tunnel_keeps_the_true_source_address(lab, pair):
    a, b, ia, ib, ka, kb = pair
    reply, peer = tcp_exchange(lab, server_ns=b, client_ns=a, host="100.96.0.2", port=8080)
    assert reply == "echo:hello"
    assert peer == "100.96.0.1"

    status = uapi.UapiClient(ia.ifname).get_device()
    assert status.public_key == ka.public_key and status.listen_port == 51820
    [p] = status.peers
    assert p.public_key == kb.public_key
    assert p.endpoint == "10.200.0.2:51821"
    assert p.allowed_ips == ("100.96.0.2/32",)
    assert p.last_handshake is not None and p.last_handshake > 0
    assert p.rx_bytes > 0 and p.tx_bytes > 0
    # the point-to-point TUN device reports its own address (IFA_LOCAL), not a peer address;
    # the IPv6 link-local address the kernel may add is not warpcli's
    observed = kernel.observe(a, tables=[], interfaces=[ia.ifname])
    assert observed.addresses == [Address(ia.ifname, "100.96.0.1/24")]
    assert observed.links == [LinkState(ia.ifname, mtu=1280, up=True)]
    other = uapi.UapiClient(ib.ifname).get_device().peer(ka.public_key)
    assert other is not None and other.persistent_keepalive == 25 and other.rx_bytes > 0
    # the reverse direction, opened by the other side
    reply, peer = tcp_exchange(lab, server_ns=a, client_ns=b, host="100.96.0.1", port=8081, message="back")
    assert (reply, peer) == ("echo:back", "100.96.0.2")


def test_routes_in_warpcli_table_behind_rules_carry_traffic(lab, pair):
    """A remote subnet reached through warpcli's table, selected by warpcli's rules."""
    a, b, _ia, ib, ka, _kb = pair
    ip("-n", a, "addr", "add", "10.77.0.1/32", "dev", "lo")  # a "LAN host" address behind a
    uapi.UapiClient(ib.ifname).set_device(peers=[uapi.PeerConfig(
        ka.public_key, allowed_ips=("100.96.0.1/32", "10.77.0.0/24"))], replace_peers=False)
    with Netlink(b) as nl:
        nl.add_route(KernelRoute("10.77.0.0/24", table=TABLE, ifname=ib.ifname))
        nl.add_rule(KernelRule(PRIORITY_SUPPRESS_MAIN, 254, suppress_prefixlength=0))
        nl.add_rule(KernelRule(PRIORITY_TABLE, TABLE))
    reply, peer = tcp_exchange(lab, server_ns=a, client_ns=b, host="10.77.0.1", port=8082)
    assert reply == "echo:hello" and peer == "100.96.0.2"
    # main's specific routes win over warpcli's table: a connected /24 is never captured
    route = lab.sh(b, "ip", "route", "get", "10.200.0.1").stdout
    assert " dev v0 " in route
    route = lab.sh(b, "ip", "route", "get", "10.77.0.1").stdout
    assert f" dev {ib.ifname} " in route and f"table {TABLE}" in route


def test_create_is_idempotent_and_delete_stops_the_process(lab, wireguard_go):
    ns_ = lab.netns("c")
    name = lab.wg_name()
    first = wg.create_interface(name, netns=ns_, run_dir=lab.run_dir, backend="userspace")
    lab.track(first.pid)
    assert first.backend == "userspace" and wg.is_wireguard_go(first.pid, name)
    # it runs inside the test's namespace
    assert os.stat(f"/proc/{first.pid}/ns/net").st_ino == os.stat(f"/var/run/netns/{ns_}").st_ino
    again = wg.create_interface(name, netns=ns_, run_dir=lab.run_dir, backend="userspace")
    assert again == first
    assert wg.find_interface(name, netns=ns_, run_dir=lab.run_dir) == first
    assert wg.delete_interface(name, netns=ns_, run_dir=lab.run_dir) is True
    assert not wg.is_wireguard_go(first.pid, name)
    with Netlink(ns_) as nl:
        assert nl.link(name) is None
    assert not uapi.socket_path(name).exists()
    assert list(lab.run_dir.iterdir()) == []
    assert wg.delete_interface(name, netns=ns_, run_dir=lab.run_dir) is False


def test_name_in_use_is_refused_and_left_alone(lab, wireguard_go):
    x, y = lab.netns("x"), lab.netns("y")
    name = lab.wg_name()
    ip("-n", x, "link", "add", name, "type", "bridge")  # someone else's interface of that name
    with pytest.raises(InterfaceInUse, match=f"{name} already exists"):
        wg.create_interface(name, netns=x, run_dir=lab.run_dir, backend="userspace")
    with Netlink(x) as nl:
        assert nl.link(name).kind == "bridge"
    assert wg.delete_interface(name, netns=x, run_dir=lab.run_dir) is False  # not ours: untouched
    with Netlink(x) as nl:
        assert nl.link(name) is not None
    # a wireguard-go of that name in another namespace: its socket is machine-wide
    other = lab.wg_name()
    iface = wg.create_interface(other, netns=y, run_dir=lab.run_dir / "y", backend="userspace")
    lab.track(iface.pid)
    with pytest.raises(InterfaceInUse, match="unique on this machine"):
        wg.create_interface(other, netns=x, run_dir=lab.run_dir / "x", backend="userspace")
    assert wg.is_wireguard_go(iface.pid, other)


def test_uapi_error_reply_is_raised_clearly(lab, wireguard_go):
    ns_ = lab.netns("p")
    one = wg.create_interface(lab.wg_name(), netns=ns_, run_dir=lab.run_dir, backend="userspace")
    two = wg.create_interface(lab.wg_name(), netns=ns_, run_dir=lab.run_dir, backend="userspace")
    lab.track(one.pid), lab.track(two.pid)
    uapi.UapiClient(one.ifname).set_device(keys.generate_keypair().private_key, 51900)
    with pytest.raises(UapiError) as err:
        uapi.UapiClient(two.ifname).set_device(listen_port=51900)
    assert err.value.errno == 98 and "Address already in use" in str(err.value)
    # a failed request leaves the device usable
    assert uapi.UapiClient(two.ifname).get_device().listen_port != 51900


def test_uapi_socket_missing_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="no WireGuard UAPI socket for nope0"):
        uapi.UapiClient("nope0", socket_dir=tmp_path).get_device()


def test_missing_wireguard_go_says_how_to_install(lab):
    ns_ = lab.netns("m")
    with pytest.raises(WireGuardMissing) as err:
        wg.create_interface(lab.wg_name(), netns=ns_, run_dir=lab.run_dir, backend="userspace",
                            wireguard_go="/nonexistent/wireguard-go")
    assert "apt-get install wireguard-go" in str(err.value)
    assert ip("-n", ns_, "-o", "link").stdout.count("\n") == 1  # only lo


def test_auto_backend_matches_the_kernel(lab, wireguard_go):
    ns_ = lab.netns("k")
    kernel_has_wg = ip("-n", ns_, "link", "add", "probe0", "type", "wireguard", check=False).returncode == 0
    if kernel_has_wg:
        ip("-n", ns_, "link", "del", "probe0")
    iface = wg.create_interface(lab.wg_name(), netns=ns_, run_dir=lab.run_dir)
    lab.track(iface.pid)
    assert iface.backend == ("kernel" if kernel_has_wg else "userspace")
    with Netlink(ns_) as nl:
        assert nl.link(iface.ifname) is not None
    assert wg.delete_interface(iface.ifname, netns=ns_, run_dir=lab.run_dir)
    with Netlink(ns_) as nl:
        assert nl.link(iface.ifname) is None


CREATE_AND_EXIT = r"""
import sys
from pathlib import Path
from warpcli.host.wireguard import wg
iface = wg.create_interface(sys.argv[1], netns=sys.argv[2], run_dir=Path(sys.argv[3]), backend="userspace")
print(iface.pid, flush=True)
"""


def test_interface_outlives_the_process_that_created_it(lab, wireguard_go):
    """What ``up`` then ``down`` in two separate runs needs: the second finds and stops it by PID."""
    import subprocess
    import sys

    ns_ = lab.netns("o")
    name = lab.wg_name()
    p = subprocess.run([sys.executable, "-c", CREATE_AND_EXIT, name, ns_, str(lab.run_dir)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    pid = int(p.stdout)
    lab.track(pid)
    found = wg.find_interface(name, netns=ns_, run_dir=lab.run_dir)
    assert found is not None and found.pid == pid and wg.is_wireguard_go(pid, name)
    assert uapi.UapiClient(name).get_device().peers == ()
    assert wg.delete_interface(name, netns=ns_, run_dir=lab.run_dir)
    assert not wg.is_wireguard_go(pid, name)
    with Netlink(ns_) as nl:
        assert nl.link(name) is None


def test_after_wireguard_go_is_killed_create_starts_a_new_one(lab, wireguard_go):
    import signal

    ns_ = lab.netns("r")
    name = lab.wg_name()
    first = wg.create_interface(name, netns=ns_, run_dir=lab.run_dir, backend="userspace")
    lab.track(first.pid)
    os.kill(first.pid, signal.SIGKILL)
    with Netlink(ns_) as nl:
        assert nl.wait_link(name, 10, present=False)  # the TUN device dies with its process
    assert wg.find_interface(name, netns=ns_, run_dir=lab.run_dir) is None
    second = wg.create_interface(name, netns=ns_, run_dir=lab.run_dir, backend="userspace")
    lab.track(second.pid)
    assert second.pid != first.pid and wg.is_wireguard_go(second.pid, name)
    uapi.UapiClient(name).set_device(keys.generate_keypair().private_key, 51830)  # the stale socket was replaced
    assert wg.delete_interface(name, netns=ns_, run_dir=lab.run_dir)
