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
from dataclasses import dataclass, field
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
    #: more replicas on the same PostgreSQL database: (process, url, log file); site B uses the first
    replicas: list[tuple[subprocess.Popen, str, Path]] = field(default_factory=list)

    def connector_env_of(self, role: str) -> dict[str, str]:
        """The controller URL a connector is given: with replicas, site B talks to another one."""
        url = self.replicas[0][1] if self.replicas and role == "conb" else self.url
        return {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": url}

    @property
    def log_files(self) -> list[Path]:
        return [self.log_file, *(f for _, _, f in self.replicas)]

    @property
    def admin_env(self) -> dict[str, str]:
        return {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": self.url,
                "CLOUDFLARE_ACCOUNT_ID": self.account_id, "CLOUDFLARE_API_TOKEN": self.token}

    @property
    def connector_env(self) -> dict[str, str]:
        """Only where the controller is: no account id, no API token (the tunnel token says both)."""
        return {"WARPCLI_CONTROLLER": "cloudflare", "WARPCLI_API_URL": self.url}

    def stop(self) -> int:
        """SIGTERM to every replica; the worst exit status."""
        codes = []
        for proc in (self.proc, *(p for p, _, _ in self.replicas)):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            codes.append(proc.wait(timeout=30))
        return max(codes, key=abs)

    def access_log(self) -> list[dict[str, str]]:
        lines = [parse_logfmt(x) for f in self.log_files for x in f.read_text().splitlines() if x.strip()]
        return [x for x in lines if x.get("logger") == "warpcli.server.access"]


def serve_in_hub(s: Site, database_url: str | None = None, replicas: int = 1) -> HubController:
    """``controller serve`` in the hub's namespace; with a database URL, ``replicas`` of them on it."""
    state = s.tmp / "hub-controller"
    env = {**s.env("hub"), **({"WARPCLI_DATABASE_URL": database_url} if database_url else {})}
    made = create_token(state, "admin", env=env)
    started = []
    for i in range(replicas):
        log_file = s.tmp / f"hub-controller{i or ''}.log"
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", s.ns["hub"], WARPCLI, "controller", "serve", "--listen", "192.0.2.1:0",
                 "--state-dir", str(state), "--json"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
            )
        s.lab.procs.append(proc)  # killed by the lab's cleanup whatever happens
        info = _read_json_object(proc, 30)
        assert info["url"].startswith("http://192.0.2.1:") and info["account_id"] == made["account_id"]
        started.append((proc, info["url"], log_file))
    (proc, url, log_file), *more = started
    return HubController(proc, url, made["account_id"], made["token"], log_file, more)


def as_connector(s: Site, role: str) -> dict[str, str]:
    """A connector's own directories (nothing shared), and no controller settings at all."""
    return {"WARPCLI_STATE_DIR": str(s.tmp / f"state-{role}")}


@pytest.fixture(params=["sqlite", "postgresql-2-replicas"])
def served_site(site: Site, request: pytest.FixtureRequest):
    """The controller on SQLite; then on PostgreSQL behind two replicas, the connectors using one URL
    each (the database reached over its unix socket, which no network namespace hides)."""
    if request.param == "sqlite":
        hub = serve_in_hub(site)
    else:
        cluster = request.getfixturevalue("pg_cluster")
        hub = serve_in_hub(site, cluster.socket_url(cluster.new_database().rsplit("/", 1)[1]), replicas=2)
    yield site, hub
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
        env = {**as_connector(s, role), **hub.connector_env_of(role)}
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
    if hub.replicas:  # site B enrolled and followed through the second replica, on the same database
        second = [parse_logfmt(x) for x in hub.replicas[0][2].read_text().splitlines() if x.strip()]
        assert {x.get("remote") for x in second if x.get("logger") == "warpcli.server.access"} == {"192.0.2.12"}
    failed = [(x["method"], x["path"].rsplit("/warpcli/", 1)[-1], x["status"]) for x in access
              if not x["status"].startswith("2")]
    assert failed == [], "no request fails (`hub up` reads the vnet's hub list, [] before the first hub)"
    log = "".join(f.read_text() for f in hub.log_files)
    assert hub.token not in log and not any(t.strip() in log for t in tokens.values())
