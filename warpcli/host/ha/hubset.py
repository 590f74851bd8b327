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
    from warpcli.host.wg import process_alive

    d = agent_dir(run_dir, ifname)
    pid = read_pid(d / "agent.pid") or read_pid(d / "agent.pid.warpcli")
    if pid and process_alive(pid) and MODULE in _cmdline(pid) and str(d) in _cmdline(pid):
        return pid
    return None


def ensure(run_dir: Path, ifname: str, settings: dict, *, netns: str | None = None) -> list[str]:
    """Write settings.json; start the watcher unless it runs (it rereads the file when it changes)."""
    from warpcli.host import netns as ns

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
    from warpcli.host.wg import process_alive

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
