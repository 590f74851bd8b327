"""Site to site with a served controller: three "machines" that share no file.

The topology of test_site_to_site.py (see tests/host/sites.py), but the controller is a
real ``warpcli controller serve`` process inside the hub's namespace, listening on the
hub's WAN address (192.0.2.1). The admin works on the hub with an API token; each
connector, in its own namespace with its own config and state directories, is handed
its tunnel token and nothing else, and talks to the controller over the WAN bridge.
"""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import WARPCLI
from tests.host.conftest import tcp_exchange
from tests.host.sites import Site, assert_same
from tests.served import _read_json_object, create_token, parse_logfmt
from tests.test_docs import _conforms, _field_tables

HUB_ENDPOINT = "192.0.2.1:51820"


@dataclass
class HubController:
    """``controller serve`` in the hub's namespace and the API token of its admin."""

    proc: subprocess.Popen
    url: str
    account_id: str
    token: str
    log_file: Path

    @property
    def admin_env(self) -> dict[str, str]:
        return {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": self.url,
                "CLOUDFLARE_ACCOUNT_ID": self.account_id, "CLOUDFLARE_API_TOKEN": self.token}

    @property
    def connector_env(self) -> dict[str, str]:
        """Only where the controller is: no account id, no API token (the tunnel token says both)."""
        return {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": self.url}

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def access_log(self) -> list[dict[str, str]]:
        lines = [parse_logfmt(x) for x in self.log_file.read_text().splitlines() if x.strip()]
        return [x for x in lines if x.get("logger") == "warpcli.server.access"]


def serve_in_hub(s: Site) -> HubController:
    state = s.tmp / "hub-controller"
    made = create_token(state, "admin", env=s.env("hub"))
    log_file = s.tmp / "hub-controller.log"
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", s.ns["hub"], WARPCLI, "controller", "serve", "--listen", "192.0.2.1:0",
             "--state-dir", str(state), "--json"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=s.env("hub"),
        )
    s.lab.procs.append(proc)  # killed by the lab's cleanup whatever happens
    info = _read_json_object(proc, 30)
    assert info["url"].startswith("http://192.0.2.1:") and info["account_id"] == made["account_id"]
    return HubController(proc, info["url"], made["account_id"], made["token"], log_file)


def as_connector(s: Site, role: str) -> dict[str, str]:
    """A connector's own directories (nothing shared), and no controller settings at all."""
    return {"WARPCLI_STATE_DIR": str(s.tmp / f"state-{role}")}


@pytest.fixture
def served_site(site: Site):
    hub = serve_in_hub(site)
    yield site, hub
    if hub.proc.poll() is None:
        hub.stop()


def test_site_to_site_over_http_true_source_both_ways_and_clean_down(served_site) -> None:
    s, hub = served_site
    before = s.snapshot()
    admin = hub.admin_env

    # the admin, on the hub, with the API token
    for name, cidr in (("site-a", "10.1.0.0/24"), ("site-b", "10.2.0.0/24")):
        s.warpcli("hub", "tunnel", "create", name, env=admin)
        s.warpcli("hub", "route", "add", cidr, "--tunnel", name, env=admin)
    tokens = {role: s.warpcli("hub", "tunnel", "token", name, env=admin).stdout
              for role, name in (("cona", "site-a"), ("conb", "site-b"))}

    # each connector gets its tunnel token, nothing else
    for role in ("cona", "conb"):
        env = {**as_connector(s, role), **hub.connector_env}
        out = json.loads(s.warpcli(role, "enroll", "--interface", s.wg[role], "--json", input=tokens[role],
                                   env=env).stdout)
        assert out["changed"] is True
    s.warpcli("hub", "hub", "up", "--endpoint", HUB_ENDPOINT, "--interface", s.wg["hub"], env=admin)
    s.track_wireguard()
    for role in ("cona", "conb"):  # connector.toml says where the controller is
        s.warpcli(role, "up", env=as_connector(s, role))
        s.track_wireguard()

    # site A -> site B and back, over real TCP: the server sees the true source
    reply, peer = tcp_exchange(s.lab, s.ns["hostb"], s.ns["hosta"], "10.2.0.10", 8080, "from-a")
    assert (reply, peer) == ("echo:from-a", "10.1.0.10")
    reply, peer = tcp_exchange(s.lab, s.ns["hosta"], s.ns["hostb"], "10.1.0.10", 8081, "from-b")
    assert (reply, peer) == ("echo:from-b", "10.2.0.10")

    # idempotent, and healthy as far as the served controller knows
    assert s.warpcli("cona", "up", env=as_connector(s, "cona")).stdout.strip() == "no changes"
    status = json.loads(s.warpcli("cona", "status", "--json", env=as_connector(s, "cona")).stdout)
    _conforms(status, _field_tables()["Status report"], "status --json")
    assert status["healthy"] is True, status["problems"]
    assert set(status["routes"]["desired"]) == {"10.2.0.0/24", "100.96.0.0/12"}

    # a route added by the admin reaches the other site after hub up / up
    s.warpcli("hub", "route", "add", "10.1.7.0/24", "--tunnel", "site-a", env=admin)
    drift = s.warpcli("conb", "status", "--json", check=False, env=as_connector(s, "conb"))
    assert drift.returncode == 8 and json.loads(drift.stdout)["routes"]["missing"] == ["10.1.7.0/24"]
    s.warpcli("hub", "hub", "up", "--endpoint", HUB_ENDPOINT, "--interface", s.wg["hub"], env=admin)
    assert "10.1.7.0/24" in s.warpcli("conb", "up", env=as_connector(s, "conb")).stdout
    assert "10.1.7.0/24" in s.lab.sh(s.ns["hub"], "ip", "route", "show", "table", "all").stdout

    # clean down everywhere
    for role in ("cona", "conb"):
        assert json.loads(s.warpcli(role, "down", "--json", env=as_connector(s, role)).stdout)["changed"]
    s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"], env=admin)
    assert_same(before, s.snapshot())
    assert hub.stop() == 0

    # no shared file: the connectors kept no state of their own, only their key and token
    for role in ("cona", "conb"):
        assert not (s.tmp / f"state-{role}" / "state.db").exists()
        assert not (s.tmp / "state" / "state.db").exists()
        secrets = json.loads((s.tmp / f"config-{role}" / "secrets.json").read_text())
        assert sorted(k.split(":")[0] for k in secrets) == ["connector-key", "tunnel-token"]
    # ... and every request of theirs came over the WAN with their tunnel token
    access = hub.access_log()
    by_host = {}
    for line in access:
        by_host.setdefault(line["remote"], set()).add(line["principal"])
    assert by_host["192.0.2.11"] <= {"tunnel", "-"} and "tunnel" in by_host["192.0.2.11"]
    assert by_host["192.0.2.12"] <= {"tunnel", "-"} and "tunnel" in by_host["192.0.2.12"]
    assert by_host["192.0.2.1"] <= {"api", "-"} and "api" in by_host["192.0.2.1"]  # the admin, on the hub
    failed = [(x["method"], x["path"].rsplit("/warpcli/", 1)[-1], x["status"]) for x in access
              if not x["status"].startswith("2")]
    assert [(m, p.split("/", 2)[0], status) for m, p, status in failed] == [("GET", "virtual_networks", "404")], \
        "only the first `hub up` asks for a hub that is not there yet"
    log = hub.log_file.read_text()
    assert hub.token not in log and not any(t.strip() in log for t in tokens.values())
