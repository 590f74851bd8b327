"""The pure rules of high availability: the hub's choice of replica, the probe protocol, keepalived's config."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warpcli.core.errors import InvalidInput
from warpcli.host.ha import election
from warpcli.host.ha.election import Ack, Claim, Probe, choose_owner
from warpcli.host.ha.keepalived import HaSettings, render_config
from warpcli.host.ha.replica import validate

ADDRS = [f"100.96.0.{i}" for i in range(2, 8)]
claims_st = st.dictionaries(
    st.sampled_from(ADDRS),
    st.builds(Claim, st.sampled_from(election.ROLES), st.integers(1, 254), st.floats(0, 10)),
    max_size=6,
)


def oracle(current, claims, now, ttl):
    """Brute force: every live active claimant ranked by (priority desc, address asc); the current owner
    stays while it is one of them; with none, nothing moves."""
    live = sorted((a for a, c in claims.items() if c.role == "active" and now - c.seen <= ttl),
                  key=lambda a: (-claims[a].priority, int(ipaddress.ip_address(a))))
    if current in live:
        return current
    return live[0] if live else current


@settings(deadline=None, max_examples=300)
@given(st.one_of(st.none(), st.sampled_from(ADDRS)), claims_st, st.floats(0, 12))
def test_choose_owner_matches_the_oracle(current, claims, now) -> None:
    got = choose_owner(current, claims, now, ttl=1.0)
    assert got == oracle(current, claims, now, 1.0)
    # one owner, never a replica that is not a live active claimant unless nothing better exists
    if got != current:
        assert claims[got].role == "active" and now - claims[got].seen <= 1.0


@settings(deadline=None, max_examples=200)
@given(st.one_of(st.none(), st.sampled_from(ADDRS)), claims_st, st.floats(0, 12))
def test_choose_owner_ignores_dict_order(current, claims, now) -> None:
    reordered = dict(reversed(list(claims.items())))
    assert choose_owner(current, claims, now) == choose_owner(current, reordered, now)


def test_split_brain_keeps_the_current_owner_and_failover_takes_the_best() -> None:
    both = {"100.96.0.2": Claim("active", 200, 5.0), "100.96.0.3": Claim("active", 100, 5.0)}
    assert choose_owner("100.96.0.3", both, 5.5) == "100.96.0.3"
    stale = {"100.96.0.2": Claim("active", 200, 1.0), "100.96.0.3": Claim("active", 100, 5.0)}
    assert choose_owner("100.96.0.2", stale, 5.5) == "100.96.0.3"
    tie = {"100.96.0.9": Claim("active", 100, 5.0), "100.96.0.10": Claim("active", 100, 5.0)}
    assert choose_owner(None, tie, 5.0) == "100.96.0.9"  # lowest address, numerically
    assert choose_owner("100.96.0.2", {"100.96.0.2": Claim("fault", 200, 5.0)}, 5.0) == "100.96.0.2"


def test_probe_and_ack_round_trip_and_garbage_is_ignored() -> None:
    p = Probe("t1", "100.96.0.2", "active", 200, 7, promote=3)
    assert election.decode_probe(p.encode()) == p
    a = Ack(7, "100.96.0.2", "100.96.0.3", {"100.96.0.2": ["active", 200, 0.1]})
    assert election.decode_ack(a.encode()) == a
    for junk in (b"", b"{", b"[]", b'{"t":1}', b'{"t":"x","a":"nope","r":"active","p":1,"s":1}',
                 b'{"t":"x","a":"100.96.0.2","r":"boss","p":1,"s":1}',
                 b'{"t":"x","a":"100.96.0.2","r":"active","p":999,"s":1}'):
        assert election.decode_probe(junk) is None
    assert election.decode_ack(b"\xff") is None


def test_vrid_is_stable_and_in_range() -> None:
    ids = [election.vrid(f"tunnel-{i}") for i in range(500)]
    assert all(1 <= v <= 255 for v in ids)
    assert election.vrid("tunnel-1") == ids[1]


def test_keepalived_config_vrrp3_subsecond_private_files(tmp_path: Path) -> None:
    s = HaSettings("t", "100.96.0.2", "wg0", "10.1.0.1/24", "eth1", priority=150, preempt=False,
                   health_check="10.1.0.5:80")
    conf = render_config(s, tmp_path, 42)
    assert "vrrp_version 3" in conf and "advert_int 0.2" in conf and "nopreempt" in conf
    assert "virtual_router_id 42" in conf and "priority 150" in conf
    assert "10.1.0.1/24 dev eth1" in conf and "interface eth1" in conf
    assert f'file "{tmp_path / "fault"}"' in conf and f'vrrp_notify_fifo "{tmp_path / "notify.fifo"}"' in conf
    assert "nopreempt" not in render_config(HaSettings("t", "100.96.0.2", "wg0", "10.1.0.1/24", "eth1"), tmp_path, 1)


@pytest.mark.parametrize("gw, iface, prio, check", [
    ("10.1.0.1", "eth1", 100, None),  # no prefix
    ("10.1.0.0/24", "eth1", 100, None),  # the network address
    ("2001:db8::1/64", "eth1", 100, None),
    ("10.1.0.1/24", "eth1", 255, None),
    ("10.1.0.1/24", "eth1", 100, "nope"),
    ("10.1.0.1/24", "bad/name", 100, None),
])
def test_bad_ha_flags_are_refused(gw, iface, prio, check) -> None:
    with pytest.raises(InvalidInput):
        validate(gw, iface, prio, check)


def test_good_ha_flags() -> None:
    assert validate("10.1.0.1/24", "eth1", 254, "10.1.0.5:80") == "10.1.0.1/24"


def test_hub_responder_retires_when_its_directory_is_removed(tmp_path: Path) -> None:
    """`hub down` (or a script's cleanup) removing the responder's directory ends it: it neither
    lingers nor brings the directory back by writing its state into it."""
    import json
    import subprocess
    import sys
    import time

    d = tmp_path / "run" / "hub-ha-wcnone0"
    d.mkdir(parents=True)
    (d / "peers.json").write_text(json.dumps({"ifname": "wcnone0", "peers": {}}))
    proc = subprocess.Popen([sys.executable, "-m", "warpcli.host.ha.prober", "hub", "--dir", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (d / "state.json").exists():  # it runs and publishes
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the responder never wrote state.json"
            time.sleep(0.05)
        import shutil

        shutil.rmtree(d, ignore_errors=True)  # may race with a write of state.json: once more below
        assert proc.wait(timeout=60) == 0
        shutil.rmtree(d, ignore_errors=True)
        assert not d.exists() and not d.parent.joinpath(".state.json.tmp").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
