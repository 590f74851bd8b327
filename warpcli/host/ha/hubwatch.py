"""The hub's side of HA, as `hub up` / `hub down` use it: the responder process and its files.

``RUN_DIR/hub-ha-IFNAME/peers.json`` tells the responder which device address is which
connector of which tunnel and which CIDRs the tunnel serves (the responder needs no
controller); ``owners.json`` is its answer: the replica each tunnel's CIDRs go to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from warpcli.host.processes import terminate
from warpcli.host.runstate import read_json, write_json


def hub_dir(run_dir: Path, ifname: str) -> Path:
    return Path(run_dir) / f"hub-ha-{ifname}"


def owners(run_dir: Path, ifname: str) -> dict[str, str]:
    """tunnel id -> the device address of the replica that carries its CIDRs (as the responder chose)."""
    data = read_json(hub_dir(run_dir, ifname) / "owners.json")
    return data if isinstance(data, dict) else {}


def state(run_dir: Path, ifname: str) -> dict:
    data = read_json(hub_dir(run_dir, ifname) / "state.json")
    return data if isinstance(data, dict) else {}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_pid(run_dir: Path, ifname: str) -> int | None:
    from warpcli.host.ha.keepalived import read_pid
    from warpcli.host.wireguard.wg import process_alive

    d = hub_dir(run_dir, ifname)
    pid = read_pid(d / "hub-agent.pid") or read_pid(d / "hub-agent.pid.warpcli")
    if pid and process_alive(pid) and "warpcli.host.ha.prober hub" in _cmdline(pid) and str(d) in _cmdline(pid):
        return pid
    return None


def placement(run_dir: Path, ifname: str) -> dict[str, str]:
    """tunnel id -> the peer (device address of a connector or of another hub) that carries its CIDRs."""
    data = read_json(hub_dir(run_dir, ifname) / "placement.json")
    return data if isinstance(data, dict) else {}


def ensure(run_dir: Path, ifname: str, peers: dict[str, dict], *, netns: str | None = None,
           me: str | None = None, hubs: dict[str, str] | None = None) -> list[str]:
    """Write peers.json; start the responder unless it runs (it rereads peers.json when it changes).

    ``me``: this hub's device address; ``hubs``: the vnet's other hubs (address -> public key)."""
    from warpcli.host.routing import netns as ns

    d = hub_dir(run_dir, ifname)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"ifname": ifname, "peers": peers, "me": me, "hubs": hubs or {}}
    if read_json(d / "peers.json") != data:
        write_json(d / "peers.json", data)
    if running_pid(run_dir, ifname):
        return []
    with open(d / "hub-agent.log", "ab") as log:
        proc = subprocess.Popen(
            ns.exec_argv(netns, [sys.executable, "-m", "warpcli.host.ha.prober", "hub", "--dir", str(d)]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            env={**os.environ, "WARPCLI_RUN_DIR": str(run_dir)},
        )
    (d / "hub-agent.pid.warpcli").write_text(f"{proc.pid}\n")
    return [f"+ HA responder on {ifname} (pid {proc.pid})"]


def stop(run_dir: Path, ifname: str, timeout: float = 10.0) -> list[str]:
    from warpcli.host.wireguard.wg import process_alive

    d = hub_dir(run_dir, ifname)
    pid = running_pid(run_dir, ifname)
    lines = []
    if pid:
        terminate(pid, timeout, alive=process_alive)
        lines.append(f"- HA responder on {ifname}")
    if d.exists():
        import shutil

        shutil.rmtree(d, ignore_errors=True)
    return lines


DRAIN_TIMEOUT = 10.0


def drain(run_dir: Path, ifname: str, *, timeout: float = DRAIN_TIMEOUT) -> list[str]:
    """A planned `hub down` with other hubs in the vnet: answer probes with "draining" and wait
    (bounded) until no connector says it routes through this hub, so they move first and no
    connection is lost. Nothing to do without a responder or without another hub."""
    import time

    from warpcli.host.ha.hubchoice import VIA_TTL

    d = hub_dir(run_dir, ifname)
    peers = read_json(d / "peers.json")
    if not running_pid(run_dir, ifname) or not isinstance(peers, dict) or not peers.get("hubs"):
        return []
    me = peers.get("me")
    (d / "drain").write_text("1\n")
    start = time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = state(run_dir, ifname)
        fresh = st.get("updated_at", 0) > start + 2 * VIA_TTL  # written after every connector heard "draining"
        using = [a for a, (via, age) in (st.get("connectors") or {}).items() if via == me and age <= VIA_TTL]
        if fresh and not using:
            return [f"~ connectors moved to the other hubs ({time.time() - start:.1f} s)"]
        time.sleep(0.1)  # polling the responder's state file (another process)
    return [f"~ some connectors still route through {ifname} after {timeout:.0f} s"]
