"""CIDR parsing against Python's ``ipaddress`` as the oracle."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from warpcli.core.cidr import BITS, Network, format_address, network_of, parse_address, parse_network
from warpcli.core.errors import InvalidInput

versions = st.sampled_from([4, 6])


@st.composite
def addresses(draw, version=None):
    v = draw(versions) if version is None else version
    bits = BITS[v]
    kind = draw(st.sampled_from(["uniform", "sparse", "edge", "mapped"]))
    if kind == "uniform":
        value = draw(st.integers(0, (1 << bits) - 1))
    elif kind == "sparse":  # long zero runs: the compressed IPv6 forms
        value = draw(st.integers(0, 0xFFFF)) << draw(st.integers(0, bits - 16))
    elif kind == "edge":
        value = draw(st.sampled_from([0, 1, (1 << bits) - 1]))
    else:  # IPv4-mapped IPv6 (and plain IPv4)
        value = draw(st.integers(0, (1 << 32) - 1)) | (0xFFFF << 32 if v == 6 else 0)
    return v, value


def ip_address(version: int, value: int):
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def oracle_str(net) -> str:
    """ipaddress's canonical text, with IPv4-mapped IPv6 in dotted form (RFC 5952 section 5).

    Python 3.13 prints ``::ffff:1.2.3.4`` like warpcli; 3.11 prints ``::ffff:102:304``.
    """
    if isinstance(net, (ipaddress.IPv6Network, ipaddress.IPv6Address)):
        addr = net.network_address if isinstance(net, ipaddress.IPv6Network) else net
        if addr.ipv4_mapped is not None:
            text = f"::ffff:{addr.ipv4_mapped}"
            return f"{text}/{net.prefixlen}" if isinstance(net, ipaddress.IPv6Network) else text
    return str(net)


# -- addresses -------------------------------------------------------------------------------------


@given(addresses())
def test_parse_address_matches_ipaddress(addr):
    version, value = addr
    oracle = ip_address(version, value)
    for text in {str(oracle), oracle.exploded}:
        assert parse_address(text) == (version, value)
    assert format_address(version, value) == oracle_str(oracle)


@given(addresses())
def test_parse_address_refuses_networks(addr):
    text = f"{format_address(*addr)}/{BITS[addr[0]]}"
    with pytest.raises(InvalidInput):
        parse_address(text)


# -- canonical networks ----------------------------------------------------------------------------


@st.composite
def networks(draw, version=None):
    v, value = draw(addresses(version))
    plen = draw(st.integers(0, BITS[v]))
    return network_of(v, value, plen)


def _oracle_net(net: Network):
    cls = ipaddress.IPv4Network if net.version == 4 else ipaddress.IPv6Network
    return cls((net.value, net.prefixlen))


@given(networks())
def test_canonical_network_round_trips(net):
    oracle = _oracle_net(net)
    parsed = parse_network(str(oracle))
    assert parsed == net
    assert str(parsed) == oracle_str(oracle)
    assert parse_network(str(parsed)) == parsed
    assert parse_network(oracle.exploded) == net
    assert (parsed.lo, parsed.hi) == (int(oracle.network_address), int(oracle.broadcast_address))


@given(addresses())
def test_bare_address_is_a_host_route(addr):
    version, value = addr
    net = parse_network(format_address(version, value))
    assert net == Network(version, value, BITS[version])
    assert net.lo == net.hi == value


@given(addresses(), st.data())
def test_host_bits_set_is_refused_with_the_canonical_form(addr, data):
    version, value = addr
    plen = data.draw(st.integers(0, BITS[version] - 1))
    assume(network_of(version, value, plen).value != value)
    text = f"{format_address(version, value)}/{plen}"
    canonical = ipaddress.ip_network(text, strict=False)
    with pytest.raises(InvalidInput) as err:
        parse_network(text)
    assert err.value.hint == f"did you mean {oracle_str(canonical)}?"
    assert "host bits" in err.value.message
    with pytest.raises(ValueError):
        ipaddress.ip_network(text)  # the oracle refuses it too (strict=True)


@given(networks(), st.integers(0, 2))
def test_prefix_length_is_plain_decimal(net, zeros):
    """The fast path's table of prefix lengths: canonical decimal only (ipaddress would take '/08')."""
    text = f"{format_address(net.version, net.value)}/{'0' * zeros}{net.prefixlen}"
    if zeros:
        with pytest.raises(InvalidInput):
            parse_network(text)
    else:
        oracle = ipaddress.ip_network(text)
        assert parse_network(text) == Network(oracle.version, int(oracle.network_address), oracle.prefixlen)


# -- malformed input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0.0/24/8",
        "10.0.0/24",
        "10.0.0",
        "01.2.3.4/32",
        "1.2.3.04",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "10.0.0.0/08",
        "10.0.0.0/008",
        "::/0128",
        "::/00",
        "10.0.0.0/ 8",
        "10.0.0.0 /8",
        "10.0.0.0/²",
        "10.0.0.0/８",
        "10.0.0.0/",
        "10.0.0.0/8.0",
        "10.0.0.0/255.0.0.0",
        "fe80::1%eth0/64",
        "fe80::1%eth0",
        "1:2:3:4:5:6:7:8:9/128",
        "2001:db8:::/48",
        "",
        "   ",
        "/24",
        "/",
        "abc",
        "256.0.0.0/8",
        "0x0a000000/8",
    ],
)
def test_malformed_networks_are_invalid_input(text):
    with pytest.raises(InvalidInput) as err:
        parse_network(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["", "abc", "10.0.0", "01.2.3.4", "fe80::1%eth0", "10.0.0.0/8", "1.2.3.4.5"])
def test_malformed_addresses_are_invalid_input(text):
    with pytest.raises(InvalidInput):
        parse_address(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        (" 10.0.0.0/8 ", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("255.255.255.255", "255.255.255.255/32"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("2001:0db8:0000:0000:0000:0000:0000:0000/32", "2001:db8::/32"),
        ("::/0", "::/0"),
        ("::a:b", "::a:b/128"),
        ("::1.2.3.4", "::102:304/128"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4/128"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1/128"),
    ],
)
def test_canonical_text(text, expected):
    assert str(parse_network(text)) == expected


def test_host_bits_message_names_canonical_form():
    with pytest.raises(InvalidInput) as err:
        parse_network("10.0.0.1/24")
    assert "10.0.0.0/24" in str(err.value)


# -- containment -----------------------------------------------------------------------------------

small_networks = st.one_of(
    st.tuples(st.integers(0, 255), st.integers(24, 32)).map(lambda t: network_of(4, 0x0A000000 | t[0], t[1])),
    st.tuples(st.integers(0, 255), st.integers(120, 128)).map(
        lambda t: network_of(6, 0x20010DB8 << 96 | t[0], t[1])
    ),
    networks(),
)


@given(small_networks, small_networks)
def test_contains_matches_subnet_of(a, b):
    oa, ob = _oracle_net(a), _oracle_net(b)
    expected = oa.version == ob.version and ob.subnet_of(oa)
    assert a.contains(b) == expected
    if a.version == b.version:
        assert a.contains(b) == (a.lo <= b.lo and b.hi <= a.hi)


@given(small_networks, addresses())
def test_contains_address_matches_ipaddress(net, addr):
    version, value = addr
    expected = version == net.version and ip_address(version, value) in _oracle_net(net)
    assert net.contains_address(version, value) == expected
    assert net.contains(Network(version, value, BITS[version])) == expected
