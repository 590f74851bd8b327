"""The follow loop's Prometheus endpoint on a connector replica: its HA role and role changes,
scraped over HTTP from a real endpoint on loopback and read with the client library's parser."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from warpcli.core.errors import InvalidInput
from warpcli.metrics.follow import FollowMetrics


def scrape(m: FollowMetrics) -> dict[tuple[str, tuple], float]:
    for _attempt in range(20):  # a free port, found by binding (another process may take it first)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        try:
            host, port = m.serve(f"127.0.0.1:{free}")
            break
        except InvalidInput:
            continue
    else:
        raise AssertionError("no free port on loopback")
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_replica_exports_its_role_priority_and_role_changes() -> None:
    report = {"role": "standby", "effective_priority": 100, "role_changes": {"active": 2, "standby": 3}}
    m = FollowMetrics("connector", lambda: [], ha=lambda: report)
    try:
        got = scrape(m)
    finally:
        m.close()
    assert {r: got[("warpcli_ha_role", (("role", r),))] for r in ("active", "standby", "fault")} == \
        {"active": 0, "standby": 1, "fault": 0}
    assert got[("warpcli_ha_effective_priority", ())] == 100
    assert got[("warpcli_ha_role_changes_total", (("to", "active"),))] == 2
    assert got[("warpcli_ha_role_changes_total", (("to", "standby"),))] == 3
    assert got[("warpcli_ha_role_changes_total", (("to", "fault"),))] == 0


@pytest.mark.parametrize("report", [lambda: None, lambda: 1 / 0], ids=["no HA here", "HA torn down"])
def test_no_ha_series_without_a_replica_and_the_scrape_still_answers(report) -> None:
    m = FollowMetrics("connector", lambda: [], ha=report)
    try:
        got = scrape(m)
    finally:
        m.close()
    assert not [k for k in got if k[0].startswith("warpcli_ha_")]
    assert got[("warpcli_peer_scrape_ok", ())] == 1


def test_the_ha_agent_counts_the_role_changes_keepalived_announces(tmp_path) -> None:
    """keepalived's notify FIFO lines move the agent's role; each move is counted by the role taken
    (what `warpcli_ha_role_changes_total` exports); a repeated state or a non-state event is not."""
    from warpcli.host.ha.keepalived import HaSettings
    from warpcli.host.ha.prober import ReplicaAgent
    from warpcli.host.runstate import write_json

    write_json(tmp_path / "settings.json", HaSettings("t", "100.96.0.2", "wg0", "10.1.0.1/24", "eth1").to_dict())
    agent = ReplicaAgent(tmp_path, None)
    for line in ('INSTANCE "wc_t" BACKUP 100', 'INSTANCE "wc_t" MASTER 100', 'INSTANCE "wc_t" MASTER 100',
                 'INSTANCE "wc_t" MASTER_RX_LOWER_PRI 100', 'INSTANCE "wc_t" BACKUP 100', 'INSTANCE "wc_t" MASTER 100'):
        agent._on_fifo(line)
    assert agent.state.role == "active"
    assert agent.state.role_changes == {"standby": 2, "active": 2}


@pytest.mark.parametrize(("text", "metrics", "serve"), [
    ("127.0.0.1:9469", ("127.0.0.1", 9469), ("127.0.0.1", 9469)),
    ("[::1]:9469", ("::1", 9469), ("::1", 9469)),
    ("9469", ("127.0.0.1", 9469), None),          # a bare port: loopback for metrics, refused by serve
    ("127.0.0.1:0", None, ("127.0.0.1", 0)),       # port 0: a free port for serve only
    ("::1:9469", None, None),                      # unbracketed IPv6: ambiguous
    ("127.0.0.1:65536", None, None), ("host:", None, None), (":80", None, None), ("1.2.3.4:８０", None, None),
])
def test_one_listen_parser_for_both_endpoints(text: str, metrics, serve) -> None:
    from warpcli.core.cidr import parse_listen

    for expected, kw in ((metrics, {"bare_port_host": "127.0.0.1"}), (serve, {"port_zero": True})):
        if expected is None:
            with pytest.raises(InvalidInput) as caught:
                parse_listen(text, option="--x", example="e", **kw)
            assert repr(text) in str(caught.value)
        else:
            assert parse_listen(text, option="--x", example="e", **kw) == expected
