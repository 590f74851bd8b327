"""`up`/`down` converge after a kill at any step, and `down` leaves the namespace exactly as
before (issue 17, items 14-17), through real kernels, wireguard-go and network namespaces.

A fault hook stops the process at a chosen step (``WARPCLI_FAULT_KILL_AT=STEP``: SIGKILL
of itself there, no timing race); then `up` and `down` run again, and the full snapshot of
the namespace (links, addresses, every routing table, rules, every forwarding sysctl of
every interface, wireguard-go processes and sockets, run-state files) must equal the one
taken before the first `up`.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.host.conftest import lab, wireguard_go  # noqa: F401 - fixtures of the host harness
from tests.host.sites import Site, assert_same, site  # noqa: F401
from warpcli.host.constants import WIREGUARD_SOCKET_DIR

pytestmark = pytest.mark.slow


def _setup(s: Site) -> None:
    s.warpcli("ctl", "tunnel", "create", "site-a")
    s.warpcli("ctl", "tunnel", "create", "site-b")
    for cidr, tunnel in (("10.1.0.0/24", "site-a"), ("2001:db8:1::/48", "site-a"), ("10.2.0.0/24", "site-b")):
        s.warpcli("ctl", "route", "add", cidr, "--tunnel", tunnel)
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    s.warpcli("hub", "hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"])
    s.track_wireguard()


def snapshot(s: Site, role: str = "conb") -> dict[str, str]:
    """Everything `down` must put back, in one namespace, as text."""
    ns = s.ns[role]
    parts = [s.snapshot()[role]]
    parts.append(s.lab.sh(ns, "sh", "-c", "sysctl -a 2>/dev/null | grep -E '\\.forwarding|ip_forward' | sort").stdout)
    parts.append("pids: " + " ".join(sorted(s.lab.sh(ns, "true") and
                                             os.popen(f"ip netns pids {ns}").read().split())))
    sockets = sorted(p.name for p in Path(WIREGUARD_SOCKET_DIR).glob(f"{s.wg[role]}*"))
    parts.append(f"sockets: {sockets}")
    run = s.tmp / f"run-{role}"
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()) if run.exists() else []
    parts.append(f"run files: {files}")
    return {role: "\n".join(parts)}


UP_STEPS = ["wg-intent", "wg-spawned", "wg-recorded", "created", "configured", "action-1", "action-5"]
DOWN_STEPS = ["down-routes", "wg-deleted", "down-interface"]


@pytest.mark.parametrize("step", UP_STEPS)
def test_a_kill_at_each_step_of_up_converges(site: Site, step: str) -> None:
    s = site
    _setup(s)
    before = snapshot(s)
    crashed = s.warpcli("conb", "up", check=False, env={"WARPCLI_FAULT_KILL_AT": step})
    s.track_wireguard()
    assert crashed.returncode == -signal.SIGKILL, (step, crashed.returncode, crashed.stderr)
    again = s.warpcli("conb", "up", check=False)  # before the fix: exit 4, "exists and is not warpcli's"
    s.track_wireguard()
    assert again.returncode == 0, (step, again.stderr)
    assert s.warpcli("conb", "up").stdout.strip() == "no changes"
    assert s.warpcli("conb", "status", "--json", check=False).returncode in (0, 8)
    s.warpcli("conb", "down")
    assert_same(before, snapshot(s))


@pytest.mark.parametrize("step", UP_STEPS[:3])
def test_down_after_a_kill_in_up_removes_everything(site: Site, step: str) -> None:
    s = site
    _setup(s)
    before = snapshot(s)
    crashed = s.warpcli("conb", "up", check=False, env={"WARPCLI_FAULT_KILL_AT": step})
    s.track_wireguard()
    assert crashed.returncode == -signal.SIGKILL
    s.warpcli("conb", "down")  # before the fix: "nothing to remove", wireguard-go left running
    assert_same(before, snapshot(s))


@pytest.mark.parametrize("step", DOWN_STEPS)
def test_a_kill_at_each_step_of_down_converges(site: Site, step: str) -> None:
    s = site
    _setup(s)
    before = snapshot(s)
    s.warpcli("conb", "up")
    s.track_wireguard()
    crashed = s.warpcli("conb", "down", check=False, env={"WARPCLI_FAULT_KILL_AT": step})
    assert crashed.returncode == -signal.SIGKILL, (step, crashed.returncode, crashed.stderr)
    s.warpcli("conb", "down")
    assert_same(before, snapshot(s))


def test_down_restores_every_per_interface_forwarding_value(site: Site) -> None:
    """Global forwarding off, but on for one LAN interface and for new interfaces (IPv4 and
    IPv6): `down` must leave exactly that, the IPv6 router-anycast route of br-lan included."""
    s = site
    _setup(s)
    ns = s.ns["conb"]
    s.lab.sh(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")
    s.lab.sh(ns, "sysctl", "-q", "-w", "net.ipv4.conf.br-lan.forwarding=1", "net.ipv6.conf.br-lan.forwarding=1",
             "net.ipv4.conf.default.forwarding=1", "net.ipv6.conf.default.forwarding=1")
    local6 = s.lab.sh(ns, "ip", "-6", "route", "show", "table", "local").stdout
    assert "anycast fe80::" in local6 and "br-lan" in local6, local6
    before = snapshot(s)
    s.warpcli("conb", "up")
    s.track_wireguard()
    assert s.lab.sh(ns, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    s.warpcli("conb", "down")
    assert_same(before, snapshot(s))


def test_run_state_is_kept_per_network_namespace(site: Site) -> None:
    """Two connectors in two namespaces, one run directory: `down` in one restores its
    forwarding although the other is still up."""
    s = site
    _setup(s)
    token = s.warpcli("ctl", "tunnel", "token", "site-a").stdout
    s.warpcli("cona", "enroll", "--interface", s.wg["cona"], input=token)
    shared = {"WARPCLI_RUN_DIR": str(s.tmp / "run-shared")}
    before = snapshot(s, "conb")
    for role in ("cona", "conb"):
        s.warpcli(role, "up", env=shared)
    s.track_wireguard()
    for f in (s.tmp / "run-shared").rglob("*.json"):
        pid = json.loads(f.read_text()).get("pid")
        if isinstance(pid, int):
            s.lab.track(pid)
    dirs = sorted(p.name for p in (s.tmp / "run-shared").iterdir())
    assert len(dirs) == 2 and all(d.startswith("netns-") for d in dirs), dirs
    s.warpcli("conb", "down", env=shared)
    after = snapshot(s, "conb")
    before["conb"] = before["conb"].split("run files:")[0]
    after["conb"] = after["conb"].split("run files:")[0]
    assert_same(before, after)
    assert s.lab.sh(s.ns["cona"], "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert s.warpcli("cona", "status", "--json", check=False, env=shared).returncode in (0, 8)
    s.warpcli("cona", "down", env=shared)


def test_a_killed_wireguard_go_and_a_killed_writer_leave_nothing_behind(site: Site) -> None:
    s = site
    _setup(s)
    before = snapshot(s)
    s.warpcli("conb", "up")
    s.track_wireguard()
    [record] = [f for f in (s.tmp / "run-conb").rglob(f"{s.wg['conb']}.json")]
    pid = json.loads(record.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # like the OOM killer
    sock = Path(WIREGUARD_SOCKET_DIR) / f"{s.wg['conb']}.sock"
    # a writer killed mid-write leaves its temporary file; a live writer's is left alone
    dead = record.parent / f".sysctls.json.{4194304 + 7}.tmp"  # above pid_max: provably not running
    live = record.parent / f".sysctls.json.{os.getpid()}.tmp"
    dead.write_text("{")
    live.write_text("{")
    s.warpcli("conb", "down")
    assert not sock.exists()
    assert not dead.exists() and live.exists()
    live.unlink()
    assert_same(before, snapshot(s))


@pytest.mark.parametrize("step", ["wg-intent", "wg-spawned", "wg-recorded"])
def test_a_kill_while_hub_up_makes_its_interface_converges(site: Site, step: str) -> None:
    s = site
    s.warpcli("ctl", "tunnel", "create", "site-b")
    s.warpcli("ctl", "route", "add", "10.2.0.0/24", "--tunnel", "site-b")
    s.warpcli("conb", "enroll", "--tunnel", "site-b", "--interface", s.wg["conb"])
    before = snapshot(s, "hub")
    hub_up = ["hub", "up", "--endpoint", "192.0.2.1:51820", "--interface", s.wg["hub"]]
    crashed = s.warpcli("hub", *hub_up, check=False, env={"WARPCLI_FAULT_KILL_AT": step})
    s.track_wireguard()
    assert crashed.returncode == -signal.SIGKILL, (step, crashed.returncode, crashed.stderr)
    s.warpcli("hub", *hub_up)
    s.track_wireguard()
    assert "no changes" in s.warpcli("hub", *hub_up).stdout
    s.warpcli("hub", "hub", "down", "--interface", s.wg["hub"])
    assert_same(before, snapshot(s, "hub"))
