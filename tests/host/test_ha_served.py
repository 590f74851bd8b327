"""High availability with a served controller (issue 12, item 9): the topology of tests/host/ha_lab.py,
with ``controller serve`` in the hub's namespace and every host talking to it over the WAN bridge
(the replicas hold only their tunnel token). `hub up --follow` reports what runs; the admin sees the
replicas' roles and last handshakes in `tunnel show`, and promotes the standby through the
controller (Cloudflare's failover endpoint): the hub hands the request to the replica over the tunnel,
and the role moves with no TCP connection lost.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from tests.host.conftest import Lab
from tests.host.ha_lab import HaSite, bring_up, build, follow_hub, use_served, wait_active, wait_for
from tests.host.test_site_to_site_served import serve_in_hub

pytestmark = pytest.mark.slow


@pytest.fixture
def ha(lab: Lab, wireguard_go: str, tmp_path: Path):
    if not shutil.which("keepalived") and not Path("/usr/sbin/keepalived").exists():
        pytest.skip("needs keepalived (apt-get install keepalived)")
    s = build(lab, tmp_path)
    try:
        yield s
    finally:
        s.track()


def _replicas(s: HaSite) -> dict[str, dict]:
    shown = json.loads(s.warpcli(s.admin, "tunnel", "show", "site-a", "--json").stdout)
    return {r["address"]: {**r, "status": shown["status"]} for r in shown["replicas"]}


def test_replicas_fail_over_through_a_served_controller(ha: HaSite) -> None:
    s = ha
    hub = serve_in_hub(s)  # type: ignore[arg-type]  # an HaSite has what it needs: tmp, env, ns, lab
    try:
        use_served(s, hub.url, hub.account_id, hub.token)
        bring_up(s)
        wait_active(s, "a1")
        s.start_traffic()
        first = s.wait_flowing()
        a1, a2 = s.address("a1"), s.address("a2")
        follow = follow_hub(s)

        def reported() -> dict | None:
            r = _replicas(s)
            ok = (r.get(a1, {}).get("role") == "active" and r.get(a2, {}).get("role") == "standby"
                  and all(x["last_seen"] for x in r.values()))
            return r if ok else None

        r = wait_for(reported, "the hub reported both replicas' roles and handshakes")
        assert (r[a1]["priority"], r[a2]["priority"]) == (200, 100)
        assert r[a1]["status"] == "healthy" and r[a1]["version"] and r[a1]["role_changed_at"]

        out = json.loads(s.warpcli(s.admin, "ha", "promote", "--tunnel", "site-a", "--replica", a2,
                                   "--timeout", "60", "--json").stdout)
        assert out == {"role": "active", "hub_owner": a2, "drained": False}
        wait_active(s, "a2")
        s.check_traffic(first, s.wait_flowing(since=s.reports()))
        wait_for(lambda: _replicas(s)[a1]["role"] == "standby", "a1 reported standby after the failover")
        assert s.status("a2")["ha"]["effective_priority"] == 254  # it promoted itself as `ha promote` would

        follow.send_signal(signal.SIGTERM)
        assert follow.wait(timeout=30) == 0, (s.tmp / "hub-follow.log").read_text()
        log = (s.tmp / "hub-follow.log").read_text()
        assert "could not report" not in log and "Traceback" not in log
    finally:
        hub.stop()
