"""Longest-prefix match (flattened intervals + bisect) against brute force."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from warpcli.core.cidr import BITS, Network, network_of, parse_address, parse_network
from warpcli.core.lpm import PrefixTable

BASE = {4: 0x0A000000, 6: 0x20010DB8 << 96}


@st.composite
def prefixes(draw, v: int) -> Network:
    bits = BITS[v]
    kind = draw(st.sampled_from(["low", "low", "low", "short", "edge", "any"]))
    if kind == "low":  # 64 addresses around BASE: dense nesting and adjacency
        return network_of(v, BASE[v] | draw(st.integers(0, 63)), draw(st.integers(bits - 6, bits)))
    if kind == "short":
        return network_of(v, BASE[v], draw(st.integers(0, bits - 6)))
    if kind == "edge":  # prefixes touching 0 or the max address
        return network_of(v, draw(st.sampled_from([0, (1 << bits) - 1])), draw(st.integers(0, bits)))
    return network_of(v, draw(st.integers(0, (1 << bits) - 1)), draw(st.integers(0, bits)))


@st.composite
def prefix_sets(draw) -> list[Network]:
    nets: list[Network] = []
    for v in (4, 6):
        size = draw(st.integers(0, 20))
        nets += draw(st.lists(prefixes(v), min_size=size, max_size=size, unique=True))
    return draw(st.permutations(nets))


def brute_force(nets: list[Network], version: int, address: int) -> Network | None:
    containing = [n for n in nets if n.contains_address(version, address)]
    return max(containing, key=lambda n: n.prefixlen, default=None)


def probes(nets: list[Network]) -> set[tuple[int, int]]:
    """Every interval edge (lo, hi, lo-1, hi+1) and both ends of each address space."""
    out = {(v, a) for v in (4, 6) for a in (0, 1, (1 << BITS[v]) - 1, (1 << BITS[v]) - 2, BASE[v])}
    for n in nets:
        for a in (n.lo, n.hi, n.lo - 1, n.hi + 1):
            if 0 <= a < 1 << BITS[n.version]:
                out.add((n.version, a))
    return out


def table(nets: list[Network]) -> PrefixTable[Network]:
    return PrefixTable(((n.version, n.lo, n.prefixlen), n) for n in nets)


@given(prefix_sets(), st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, 63)), max_size=20))
def test_lookup_matches_brute_force(nets, near):
    t = table(nets)
    extra = {(v, BASE[v] | x) for v, x in near}
    for version, address in probes(nets) | extra:
        expected = brute_force(nets, version, address)
        assert t.lookup(version, address) == expected, (version, hex(address))


@given(prefix_sets(), st.data())
def test_lookup_random_addresses(nets, data):
    t = table(nets)
    for _ in range(20):
        v = data.draw(st.sampled_from([4, 6]))
        address = data.draw(st.integers(0, (1 << BITS[v]) - 1))
        assert t.lookup(v, address) == brute_force(nets, v, address)


def test_empty_table():
    t: PrefixTable[str] = PrefixTable([])
    for v in (4, 6):
        for address in (0, 1, BASE[v], (1 << BITS[v]) - 1):
            assert t.lookup(v, address) is None


def test_default_routes_cover_the_whole_space():
    t = PrefixTable([((4, 0, 0), "v4"), ((6, 0, 0), "v6")])
    assert t.lookup(4, 0) == t.lookup(4, (1 << 32) - 1) == "v4"
    assert t.lookup(6, 0) == t.lookup(6, (1 << 128) - 1) == "v6"


def test_example():
    nets = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "10.255.0.0/16", "11.0.0.0/8"]
    t = PrefixTable(((parse_network(n)[:]), n) for n in nets)
    cases = {
        "9.255.255.255": None,
        "10.0.0.0": "10.0.0.0/8",
        "10.1.2.2": "10.1.2.0/24",
        "10.1.2.3": "10.1.2.3/32",
        "10.1.2.4": "10.1.2.0/24",
        "10.1.3.0": "10.1.0.0/16",
        "10.2.0.0": "10.0.0.0/8",
        "10.255.255.255": "10.255.0.0/16",  # two prefixes end at the same address
        "11.0.0.0": "11.0.0.0/8",
        "12.0.0.0": None,
    }
    for ip, expected in cases.items():
        assert t.lookup(*parse_address(ip)) == expected, ip


@given(prefix_sets(), st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, 63)), max_size=20))
def test_the_bucket_index_gives_the_same_answers(nets, near):
    """Large tables add a first-level index over the top address bits; force it on small ones."""
    import warpcli.core.lpm as lpm

    saved = lpm.INDEX_MIN
    lpm.INDEX_MIN = 1
    try:
        t = table(nets)
    finally:
        lpm.INDEX_MIN = saved
    assert all(index is not None for _, _, index in t._tables.values())
    extra = {(v, BASE[v] | x) for v, x in near}
    points = sorted(probes(nets) | extra)
    for version in (4, 6):
        addresses = [a for v, a in points if v == version]
        assert t.lookup_many(version, addresses) == [brute_force(nets, version, a) for a in addresses]


def test_a_large_table_matches_a_plain_bisect():
    import random

    rnd = random.Random(5)
    nets = {network_of(4, rnd.getrandbits(32), rnd.randint(8, 32)) for _ in range(6000)}
    t = table(sorted(nets))
    assert t._tables[4][2] is not None  # indexed
    addresses = [rnd.getrandbits(32) for _ in range(3000)] + [n.lo for n in nets] + [n.hi + 1 for n in nets]
    addresses = [a for a in addresses if a < 1 << 32]
    sample = addresses[:300]
    assert t.lookup_many(4, sample) == [brute_force(list(nets), 4, a) for a in sample]
