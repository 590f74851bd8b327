"""Sysctls inside a namespace: read, write with previous values, restore; the host's stay put."""

from __future__ import annotations

import re

import pytest

from warpcli.host.errors import HostError
from warpcli.host.routing import sysctl


def test_write_returns_previous_and_restores(lab):
    ns_ = lab.netns("s")
    root_before = sysctl.read("net.ipv4.ip_forward")  # reading the host's value only
    assert sysctl.read("net.ipv4.ip_forward", ns_) == "0"
    previous = sysctl.write_many({"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1,
                                  "net/ipv4/conf/lo/rp_filter": 2}, ns_)
    assert previous == {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0",
                        "net/ipv4/conf/lo/rp_filter": "0"}
    assert lab.sh(ns_, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert sysctl.read_many(list(previous), ns_) == {"net.ipv4.ip_forward": "1",
                                                     "net.ipv6.conf.all.forwarding": "1",
                                                     "net/ipv4/conf/lo/rp_filter": "2"}
    assert sysctl.read("net.ipv4.ip_forward") == root_before
    sysctl.write_many(previous, ns_)
    assert sysctl.read_many(list(previous), ns_) == previous


def test_write_many_is_all_or_nothing(lab):
    ns_ = lab.netns("s")
    with pytest.raises(HostError, match=re.escape("no sysctl net.ipv4.conf.nope0.rp_filter")):
        sysctl.write_many({"net.ipv4.ip_forward": 1, "net.ipv4.conf.nope0.rp_filter": 2}, ns_)
    assert sysctl.read("net.ipv4.ip_forward", ns_) == "0"


@pytest.mark.parametrize("key", ["kernel.hostname", "net/../kernel/hostname", "net", "vm.swappiness"])
def test_only_network_keys(key):
    with pytest.raises(HostError, match="refusing sysctl"):
        sysctl.key_path(key)


def test_conf_key_keeps_dotted_interface_names():
    key = sysctl.conf_key(4, "eth0.100", "rp_filter")
    assert str(sysctl.key_path(key)) == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"


def test_missing_namespace(lab):
    with pytest.raises(HostError, match="does not exist"):
        sysctl.read("net.ipv4.ip_forward", "wct-never-created-ns")
