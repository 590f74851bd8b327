"""The rules of several hubs per vnet (warpcli.host.ha.hubchoice), against brute-force oracles."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from warpcli.host.ha import election
from warpcli.host.ha.hubchoice import (
    HUB_LOST,
    VIA_TTL,
    Hello,
    HubView,
    choose_hub,
    decode_hello,
    placement,
    route_via,
)

NOW = 100.0
ADDRESSES = [f"100.96.0.{i}" for i in range(1, 7)]

_hub = st.builds(
    HubView,
    address=st.sampled_from(ADDRESSES),
    priority=st.integers(1, 4),
    last_ack=st.one_of(st.none(), st.floats(NOW - 3, NOW)),
    draining=st.booleans(),
)
_hubs = st.lists(_hub, max_size=5, unique_by=lambda h: h.address)


def _oracle(hubs: list[HubView], current: str | None, preempt: bool) -> str | None:
    answering = [h for h in hubs if h.last_ack is not None and NOW - h.last_ack <= HUB_LOST]
    live = [h for h in answering if not h.draining]
    pool = live or answering
    if not pool or (not live and current in {h.address for h in answering}):
        return current
    if not preempt and current in {h.address for h in pool}:
        return current
    best = max(h.priority for h in pool)
    return sorted((h for h in pool if h.priority == best), key=lambda h: int(ipaddress.ip_address(h.address)))[0].address


@settings(deadline=None, max_examples=300)
@given(hubs=_hubs, current=st.one_of(st.none(), st.sampled_from(ADDRESSES)), preempt=st.booleans())
def test_choose_hub_matches_the_oracle(hubs, current, preempt) -> None:
    assert choose_hub(hubs, current, NOW, preempt=preempt) == _oracle(hubs, current, preempt)


def test_the_preferred_hub_loses_and_returns() -> None:
    a = HubView("100.96.0.1", 200, NOW)
    b = HubView("100.96.0.5", 100, NOW)
    assert choose_hub([a, b], None, NOW) == "100.96.0.1"
    dead = HubView("100.96.0.1", 200, NOW - HUB_LOST - 0.01)
    assert choose_hub([dead, b], "100.96.0.1", NOW) == "100.96.0.5"
    assert choose_hub([a, b], "100.96.0.5", NOW) == "100.96.0.1"  # preempt
    assert choose_hub([a, b], "100.96.0.5", NOW, preempt=False) == "100.96.0.5"
    draining = HubView("100.96.0.1", 200, NOW, draining=True)
    assert choose_hub([draining, b], "100.96.0.1", NOW) == "100.96.0.5"
    assert choose_hub([draining], "100.96.0.1", NOW) == "100.96.0.1"  # nowhere else to go
    assert choose_hub([dead], "100.96.0.1", NOW) == "100.96.0.1"  # nothing answers: stay


def test_hello_and_probe_round_trip_and_garbage_is_ignored() -> None:
    h = Hello("100.96.0.1", ("100.96.0.2", "100.96.0.3"), draining=True)
    assert decode_hello(h.encode()) == h
    for junk in (b"", b"[]", b"{}", b'{"k":"hello","h":"x","c":[]}', b'{"k":"hello","h":"100.96.0.1","c":["y"]}',
                 election.Probe("t", "100.96.0.2", "active", 100, 1).encode()):
        assert decode_hello(junk) is None
    p = election.Probe("t", "100.96.0.2", "active", 100, 7, via="100.96.0.5")
    assert election.decode_probe(p.encode()) == p
    assert election.decode_probe(h.encode()) is None
    ack = election.Ack(7, None, draining=True)
    assert election.decode_ack(ack.encode()) == ack


_via = st.dictionaries(st.sampled_from(ADDRESSES[1:]),
                       st.tuples(st.sampled_from(ADDRESSES), st.floats(NOW - 3, NOW)), max_size=5)


@settings(deadline=None, max_examples=300)
@given(direct=_via, heard=_via, hubs=st.sets(st.sampled_from(ADDRESSES), max_size=3),
       owners=st.dictionaries(st.sampled_from("xyz"), st.sampled_from(ADDRESSES[1:]), max_size=3))
def test_placement_follows_the_freshest_word(direct, heard, hubs, owners) -> None:
    me = "100.96.0.1"
    hubs.discard(me)
    got = placement(owners, me, direct, heard, hubs, NOW)
    assert set(got) == set(owners)
    for tunnel, owner in owners.items():
        # oracle: the connector's own word first, then another hub's, each only when fresh and naming a hub we know
        via = me
        for source in (direct, heard):
            word = source.get(owner)
            if word is not None and NOW - word[1] <= VIA_TTL and (word[0] == me or word[0] in hubs):
                via = word[0]
                break
        assert route_via(owner, me, direct, heard, hubs, NOW) == via
        assert got[tunnel] == (owner if via == me else via)
