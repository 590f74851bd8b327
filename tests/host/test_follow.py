"""`up --follow` and `hub up --follow`: controller changes reach the kernel without re-running anything."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

from tests.conftest import WARPCLI
from tests.host.conftest import read_line, tcp_exchange
from tests.host.sites import Site, bring_up


def spawn(s: Site, role: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(["ip", "netns", "exec", s.ns[role], WARPCLI, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=s.env(role))
    s.lab.procs.append(proc)
    return proc


def wait_for(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def table(s: Site, role: str) -> str:
    return s.lab.sh(s.ns[role], "ip", "route", "show", "table", "all").stdout


def test_following_hub_and_connector_pick_up_a_new_route_and_stop_on_sigterm(site: Site) -> None:
    s = site
    bring_up(s)
    hub = spawn(s, "hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"],
                "--follow", "--interval", "0.2", "--json")
    conb = spawn(s, "conb", "up", "--follow", "--interval", "0.2", "--json")
    # the first reconcile of each: nothing to do (bring_up did it), one JSON line each, time-stamped
    first_hub, first_conb = json.loads(read_line(hub)), json.loads(read_line(conb))
    assert first_hub["changed"] is False and first_conb["changed"] is False
    for line in (first_hub, first_conb):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["time"]), line

    s.warpcli("ctl", "route", "add", "10.1.7.0/24", "--tunnel", "site-a")
    change_b = json.loads(read_line(conb))
    assert change_b["changed"] is True and any("10.1.7.0/24" in line for line in change_b["plan"])
    assert json.loads(read_line(hub))["changed"] is True
    wait_for("the route in conb's kernel", lambda: "10.1.7.0/24" in table(s, "conb"))
    wait_for("the route in the hub's kernel", lambda: "10.1.7.0/24" in table(s, "hub"))

    # a host at 10.1.7.x behind site A is reachable from site B through the followed route
    s.lab.sh(s.ns["hosta"], "ip", "addr", "add", "10.1.7.10/24", "dev", "eth0")
    s.lab.sh(s.ns["cona"], "ip", "addr", "add", "10.1.7.1/24", "dev", "lan0")
    reply, peer = tcp_exchange(s.lab, s.ns["hosta"], s.ns["hostb"], "10.1.7.10", 8090, "followed")
    assert reply == "echo:followed" and peer == "10.2.0.10"
    # the status table gives byte counts in human units (the JSON keeps the exact numbers)
    shown = s.warpcli("conb", "status", check=False).stdout
    assert re.search(r"rx \d+(\.\d+)? (B|KiB|MiB|GiB), tx \d+(\.\d+)? (B|KiB|MiB|GiB)", shown), shown
    exact = json.loads(s.warpcli("conb", "status", "--json", check=False).stdout)["peer"]
    assert isinstance(exact["rx_bytes"], int) and exact["rx_bytes"] > 0

    s.warpcli("ctl", "route", "delete", "10.1.7.0/24")
    wait_for("the route gone from conb", lambda: "10.1.7.0/24" not in table(s, "conb"))
    wait_for("the route gone from the hub", lambda: "10.1.7.0/24" not in table(s, "hub"))

    for proc in (hub, conb):
        proc.send_signal(signal.SIGTERM)
    for proc in (hub, conb):
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        assert "Traceback" not in proc.stderr.read()
    # stopping to follow leaves the data plane up
    assert s.wg["conb"] in s.lab.sh(s.ns["conb"], "ip", "link").stdout


def allowed_ips(s: Site, role: str) -> set[str]:
    report = json.loads(s.warpcli(role, "status", "--json", check=False).stdout)
    return set(report["peer"]["allowed_ips"])


def test_following_applies_only_the_change_until_the_host_drifts(site: Site) -> None:
    s = site
    bring_up(s)
    wg = s.wg["conb"]
    conb = spawn(s, "conb", "up", "--follow", "--interval", "0.2", "--json")
    assert json.loads(read_line(conb))["changed"] is False
    before = allowed_ips(s, "conb")

    # a new route: exactly it goes to WireGuard and the kernel (nothing else is planned)
    s.warpcli("ctl", "route", "add", "10.1.7.0/24", "--tunnel", "site-a")
    plan = json.loads(read_line(conb))["plan"]
    assert plan[0].startswith("~ wireguard peer ") and plan[0].endswith("allowed +10.1.7.0/24"), plan
    assert plan[1:] == [f"+ route 10.1.7.0/24 dev {wg} table 24500"]
    assert "10.1.7.0/24" in table(s, "conb")
    assert allowed_ips(s, "conb") == before | {"10.1.7.0/24"}

    # its deletion: out of the kernel and out of the peer's allowed IPs
    s.warpcli("ctl", "route", "delete", "10.1.7.0/24")
    plan = json.loads(read_line(conb))["plan"]
    assert plan[0].endswith("allowed -10.1.7.0/24") and plan[1:] == [f"- route 10.1.7.0/24 dev {wg} table 24500"]
    assert "10.1.7.0/24" not in table(s, "conb")
    assert allowed_ips(s, "conb") == before

    # the interface changed behind warpcli's back: the next change is planned from the kernel again
    s.lab.sh(s.ns["conb"], "ip", "link", "set", wg, "mtu", "1400")
    s.warpcli("ctl", "route", "add", "10.1.8.0/24", "--tunnel", "site-a")
    plan = json.loads(read_line(conb))["plan"]
    assert f"~ link {wg} mtu 1280 (was link {wg} mtu 1400)" in plan, plan
    assert f"+ route 10.1.8.0/24 dev {wg} table 24500" in plan
    assert "mtu 1280" in s.lab.sh(s.ns["conb"], "ip", "link", "show", wg).stdout

    conb.send_signal(signal.SIGTERM)
    assert conb.wait(timeout=20) == 0, conb.stderr.read()
    # what the follow loop left is what a full `up` wants
    assert json.loads(s.warpcli("conb", "up", "--json").stdout)["changed"] is False
    assert allowed_ips(s, "conb") == before | {"10.1.8.0/24"}


def test_follow_refuses_dry_run_and_an_error_waiting_cannot_fix(site: Site) -> None:
    s = site
    r = s.warpcli("cona", "up", "--follow", "--dry-run", check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = s.warpcli("cona", "up", "--follow", "--interval", "0.2", check=False)  # not enrolled: no loop
    assert r.returncode == 3 and "not enrolled" in r.stderr


SCRAPE = """
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode())
"""


def scrape(s: Site, role: str, port: int) -> dict:
    """name -> [(labels, value)] as Prometheus' own parser reads the endpoint inside ``role``'s namespace."""
    from prometheus_client.parser import text_string_to_metric_families

    out = s.lab.python(s.ns[role], SCRAPE, str(port))
    assert out.returncode == 0, out.stderr
    samples: dict = {}
    for family in text_string_to_metric_families(out.stdout):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def test_follow_serves_prometheus_metrics(site: Site) -> None:
    s = site
    bring_up(s)
    hub = spawn(s, "hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"],
                "--follow", "--interval", "0.2", "--json", "--metrics-listen", "127.0.0.1:9108")
    conb = spawn(s, "conb", "up", "--follow", "--interval", "0.2", "--json", "--metrics-listen", "9109")
    assert json.loads(read_line(hub))["changed"] is False
    assert json.loads(read_line(conb))["changed"] is False

    con = scrape(s, "conb", 9109)
    assert con["warpcli_reconciles_total"] == [({"role": "connector"}, 1.0)]
    assert con["warpcli_reconcile_errors_total"] == [({"role": "connector"}, 0.0)]
    assert con["warpcli_reconcile_duration_seconds_count"] == [({"role": "connector"}, 1.0)]
    desired = con["warpcli_routes_desired"][0][1]
    assert desired >= 1 and con["warpcli_routes_installed"][0][1] == desired
    (labels, _), = con["warpcli_peer_receive_bytes_total"]
    assert labels["interface"] == s.wg["conb"]
    assert con["warpcli_peer_scrape_ok"] == [({}, 1.0)]
    assert con["warpcli_peer_last_handshake_age_seconds"][0][1] >= 0

    hub_metrics = scrape(s, "hub", 9108)
    assert hub_metrics["warpcli_reconciles_total"] == [({"role": "hub"}, 1.0)]
    assert len(hub_metrics["warpcli_peer_transmit_bytes_total"]) == 2  # one per connector
    assert hub_metrics["warpcli_routes_installed"][0][1] >= 2

    # a change on the controller: one more reconcile, one more desired route
    s.warpcli("ctl", "route", "add", "10.1.7.0/24", "--tunnel", "site-a")
    assert json.loads(read_line(conb))["changed"] is True
    after = scrape(s, "conb", 9109)
    assert after["warpcli_reconciles_total"] == [({"role": "connector"}, 2.0)]
    assert after["warpcli_routes_desired"][0][1] == desired + 1

    for proc in (hub, conb):
        proc.send_signal(signal.SIGTERM)
    for proc in (hub, conb):
        assert proc.wait(timeout=20) == 0, proc.stderr.read()


def test_metrics_listen_needs_follow_and_a_port(site: Site) -> None:
    s = site
    r = s.warpcli("conb", "up", "--metrics-listen", "9109", check=False)
    assert r.returncode == 2 and "needs --follow" in r.stderr
