"""The connector's side of several hubs, as `up` / `down` / `status` use it: the hub watcher
process (:mod:`warpcli.host.ha.hubagent`) and its files under ``RUN_DIR/hubs-IFNAME/``.

`up` starts the watcher when the vnet has more than one hub (with one there is nothing to
choose) and stops it when only one is left; `down` stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from warpcli.host.processes import terminate
from warpcli.host.runstate import read_json, write_json

MODULE = "warpcli.host.ha.hubagent"


def agent_dir(run_dir: Path, ifname: str) -> Path:
    return Path(run_dir) / f"hubs-{ifname}"


def state(run_dir: Path, ifname: str) -> dict | None:
    """What the watcher last wrote (``active``, ``hubs``), or None when it does not run."""
    if running_pid(run_dir, ifname) is None:
        return None
    data = read_json(agent_dir(run_dir, ifname) / "state.json")
    return data if isinstance(data, dict) else None


def active_hub(run_dir: Path, ifname: str) -> str | None:
    """The device address of the hub the watcher routes through now (None: no watcher)."""
    st = state(run_dir, ifname)
    return st.get("active") if st else None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_pid(run_dir: Path, ifname: str) -> int | None:
    from warpcli.host.ha.keepalived import read_pid
    from warpcli.host.wireguard.wg import process_alive

    d = agent_dir(run_dir, ifname)
    pid = read_pid(d / "agent.pid") or read_pid(d / "agent.pid.warpcli")
    if pid and process_alive(pid) and MODULE in _cmdline(pid) and str(d) in _cmdline(pid):
        return pid
    return None


def ensure(run_dir: Path, ifname: str, settings: dict, *, netns: str | None = None) -> list[str]:
    """Write settings.json; start the watcher unless it runs (it rereads the file when it changes)."""
    from warpcli.host.routing import netns as ns

    d = agent_dir(run_dir, ifname)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    if read_json(d / "settings.json") != settings:
        write_json(d / "settings.json", settings)
    if running_pid(run_dir, ifname):
        return []
    with open(d / "agent.log", "ab") as log:
        proc = subprocess.Popen(
            ns.exec_argv(netns, [sys.executable, "-m", MODULE, "--dir", str(d)]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            env={**os.environ, "WARPCLI_RUN_DIR": str(run_dir)},
        )
    (d / "agent.pid.warpcli").write_text(f"{proc.pid}\n")
    return [f"+ hub watcher on {ifname} (pid {proc.pid}, {len(settings.get('hubs', []))} hubs)"]


def stop(run_dir: Path, ifname: str, timeout: float = 10.0) -> list[str]:
    from warpcli.host.wireguard.wg import process_alive

    d = agent_dir(run_dir, ifname)
    pid = running_pid(run_dir, ifname)
    lines = []
    if pid:
        terminate(pid, timeout, alive=process_alive)
        lines.append(f"- hub watcher on {ifname}")
    if d.exists():
        import shutil

        shutil.rmtree(d, ignore_errors=True)
    return lines


def report(run_dir: Path, ifname: str, peers: list, now: float) -> tuple[list[dict], dict | None, list[str]]:
    """`status`: every hub (role, handshake age, probe round trip), the one in use, and problems.

    ``peers``: the interface's WireGuard peers (uapi.PeerStatus). Without a watcher (one hub)
    each peer is a hub and the first one is in use. A vnet with several hubs that runs on its
    last live one is a problem (degraded): one more loss cuts it off."""
    def handshake(key: str) -> float | None:
        p = next((p for p in peers if p.public_key == key), None)
        return None if p is None or not p.last_handshake else round(max(0.0, now - p.last_handshake), 1)

    settings = read_json(agent_dir(run_dir, ifname) / "settings.json")
    st = state(run_dir, ifname)
    if not isinstance(settings, dict) or st is None:
        hubs = [{"address": None, "endpoint": p.endpoint, "public_key": p.public_key, "priority": None,
                 "role": "active" if i == 0 else "standby", "last_handshake_seconds_ago": handshake(p.public_key),
                 "probe_rtt_ms": None, "ack_seconds_ago": None} for i, p in enumerate(peers)]
        return hubs, (dict(hubs[0]) if hubs else None), []
    seen = st.get("hubs") or {}
    hubs = []
    for h in settings.get("hubs") or []:
        got = seen.get(h["address"]) or {}
        hubs.append({"address": h["address"], "endpoint": h.get("endpoint"), "public_key": h["public_key"],
                     "priority": h["priority"], "role": got.get("role", "down"),
                     "last_handshake_seconds_ago": handshake(h["public_key"]),
                     "probe_rtt_ms": got.get("probe_rtt_ms"), "ack_seconds_ago": got.get("ack_seconds_ago")})
    active = next((dict(h) for h in hubs if h["address"] == st.get("active")), None)
    live = [h for h in hubs if h["role"] in ("active", "standby")]
    problems = []
    if not live:
        problems.append(f"no hub answers through the tunnel ({len(hubs)} configured)")
    elif len(live) == 1 and len(hubs) > 1:
        problems.append(f"the virtual network runs on its last hub ({live[0]['endpoint']}; "
                        f"{len(hubs) - 1} of {len(hubs)} do not answer)")
    return hubs, active, problems
