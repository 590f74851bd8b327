"""keepalived as a connector's VRRP engine: a private config, private PID files, started and stopped by PID.

Everything lives in ``RUN_DIR/ha-IFNAME/`` (IFNAME: the tunnel interface), so several
keepalived processes (other replicas, other vnets, other programs) never share a file.
The VRRP instance runs VRRPv3 with sub-second adverts: a dead master is noticed after
3 adverts plus a skew (about 0.65 s at 0.2 s adverts) instead of VRRPv2's 3.6 s.

Two track files steer it, both written by the replica's agent (:mod:`prober`):
``fault`` (weight 0: non-zero puts the instance in FAULT, which drops the gateway
address and sends a priority-0 advert so a backup takes over at once) and ``boost``
(weight 1: added to the priority; ``ha promote``/``ha drain`` use it). keepalived
watches them with inotify, so a change acts immediately. Role changes reach the agent
through keepalived's notify FIFO; keepalived starts the agent itself as the FIFO's
script (``vrrp_notify_fifo_script``), so the agent lives and dies with it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from warpcli.host.errors import HostError
from warpcli.host.processes import terminate

ADVERT_INT = 0.2  #: seconds between VRRP adverts (VRRPv3 allows centiseconds)
INSTANCE = "warpcli"
_children: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class HaSettings:
    """What a replica's HA needs; kept in ``settings.json`` for the agent (which needs no controller)."""

    tunnel_id: str
    address: str  #: the replica's device address
    interface: str  #: the tunnel interface
    lan_gateway: str  #: the shared address with its prefix, e.g. 10.1.0.1/24
    lan_interface: str
    priority: int = 100
    preempt: bool = True
    health_check: str | None = None  #: HOST:PORT on the LAN, TCP connect
    advert_int: float = ADVERT_INT

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HaSettings:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def ha_dir(run_dir: Path, ifname: str) -> Path:
    return Path(run_dir) / f"ha-{ifname}"


def find_keepalived() -> str:
    exe = os.environ.get("WARPCLI_KEEPALIVED") or shutil.which("keepalived") or (
        "/usr/sbin/keepalived" if os.path.exists("/usr/sbin/keepalived") else None)
    if not exe:
        raise HostError("keepalived is not installed (needed for --lan-gateway)", hint="apt-get install keepalived")
    return exe


def render_config(s: HaSettings, d: Path, vrid: int) -> str:
    """keepalived.conf for one replica (pure)."""
    q = lambda p: '"' + str(p) + '"'  # noqa: E731 - keepalived's quoting
    lines = [
        "# written by warpcli up; changes are overwritten",
        "global_defs {",
        f"    router_id warpcli-{s.interface}",
        "    vrrp_version 3",
        "    script_user root",
        "    enable_script_security",
        f"    vrrp_notify_fifo {q(d / 'notify.fifo')}",
        f"    vrrp_notify_fifo_script {q(d / 'agent.sh')}",
        "    vrrp_garp_master_delay 1",
        "    vrrp_garp_master_repeat 3",
        "    vrrp_garp_lower_prio_repeat 1",
        "}",
        "track_file warpcli_fault {",
        f"    file {q(d / 'fault')}",
        "    weight 0",
        "    init_file 1 overwrite",
        "}",
        "track_file warpcli_boost {",
        f"    file {q(d / 'boost')}",
        "    weight 1",
        "}",
        f"vrrp_instance {INSTANCE} {{",
        "    state BACKUP",
        f"    interface {s.lan_interface}",
        f"    virtual_router_id {vrid}",
        f"    priority {s.priority}",
        f"    advert_int {s.advert_int:g}",
        *(["    nopreempt"] if not s.preempt else []),
        "    virtual_ipaddress {",
        f"        {s.lan_gateway} dev {s.lan_interface}",
        "    }",
        "    track_file {",
        "        warpcli_fault",
        "        warpcli_boost",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def agent_script(d: Path, env: dict[str, str]) -> str:
    """The FIFO script keepalived runs: this warpcli's replica agent (keepalived passes the FIFO last)."""
    keep = {k: v for k, v in env.items() if k.startswith("WARPCLI_") or k in ("PATH", "PYTHONPATH", "HOME")}
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(keep.items()))
    return (f"#!/bin/sh\n{exports}exec {shlex.quote(sys.executable)} -m warpcli.host.ha.prober replica "
            f"--dir {shlex.quote(str(d))} \"$@\" >>{shlex.quote(str(d / 'agent.log'))} 2>&1\n")


# --- the process ---------------------------------------------------------------------------

def _pid_file(d: Path, name: str = "keepalived.pid") -> Path:
    return d / name


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    from warpcli.host.wireguard.wg import process_alive

    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        _children.pop(pid, None)
        return False
    return process_alive(pid)


def is_ours(pid: int | None, d: Path) -> bool:
    """True when ``pid`` is a live keepalived started with this directory's config (PID reuse guard)."""
    if not pid or not _alive(pid):
        return False
    argv = _cmdline(pid)
    return bool(argv) and os.path.basename(argv[0]).startswith("keepalived") and str(d / "keepalived.conf") in argv


def running_pid(d: Path) -> int | None:
    pid = read_pid(_pid_file(d))
    return pid if is_ours(pid, d) else None


def vrrp_pid(d: Path) -> int | None:
    """keepalived's VRRP child (the process that sends adverts)."""
    pid = read_pid(_pid_file(d, "vrrp.pid"))
    return pid if pid and _alive(pid) and "keepalived" in " ".join(_cmdline(pid)) else None


def start(d: Path, netns: str | None, timeout: float = 10.0) -> int:
    """Start keepalived (VRRP only, foreground, own session) with this directory's config."""
    from warpcli.host.routing import netns as ns

    exe = find_keepalived()
    check = subprocess.run(ns.exec_argv(netns, [exe, "-t", "-f", str(d / "keepalived.conf")]),
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        tail = (check.stderr or check.stdout).strip().splitlines()
        raise HostError("keepalived refused its configuration" + (f": {tail[-1]}" if tail else ""))
    argv = [exe, "-f", str(d / "keepalived.conf"), "-P", "-n", "-l", "-D", "-G",
            "-p", str(_pid_file(d)), "-r", str(_pid_file(d, "vrrp.pid")), "-c", str(_pid_file(d, "checkers.pid"))]
    with open(d / "keepalived.log", "ab") as log:
        proc = subprocess.Popen(ns.exec_argv(netns, argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    _children[proc.pid] = proc
    # `ip netns exec` execs keepalived: proc.pid is keepalived's own PID
    (d / "keepalived.pid.warpcli").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while not (read_pid(_pid_file(d)) == proc.pid and vrrp_pid(d)):
        if proc.poll() is not None:
            raise HostError(f"keepalived exited with status {proc.returncode} (see {d / 'keepalived.log'})")
        if time.monotonic() > deadline:
            stop(d)
            raise HostError(f"keepalived did not start within {timeout:g}s (see {d / 'keepalived.log'})")
        time.sleep(0.02)
    return proc.pid


def reload(d: Path) -> bool:
    pid = running_pid(d)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def stop(d: Path, timeout: float = 10.0) -> bool:
    """Stop the keepalived this directory's config started (by PID); True when one was running.

    SIGTERM first: keepalived then removes the gateway address and sends a priority-0 advert.
    """
    pid = read_pid(_pid_file(d)) or read_pid(d / "keepalived.pid.warpcli")
    if not is_ours(pid, d):
        return False
    assert pid is not None
    if not terminate(pid, timeout, alive=_alive):
        raise HostError(f"keepalived (pid {pid}) did not exit")
    _children.pop(pid, None)
    return True
