"""A connector replica's HA: what `up`, `down`, `status` and `ha promote|drain` do.

``ensure`` writes ``RUN_DIR/ha-IFNAME/`` (settings for the agent, keepalived.conf, the agent's
FIFO script, the track files) and starts keepalived, or reloads it when its config changed.
``stop`` hands the role over first (a drain, bounded), then stops keepalived, which removes the
gateway address; the agent exits with it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from pathlib import Path

from warpcli.core.errors import Conflict, InvalidInput, WarpcliError
from warpcli.host.ha import election
from warpcli.host.ha import keepalived as ka
from warpcli.host.ha.keepalived import HaSettings
from warpcli.host.runstate import read_json, scoped_run_dir, write_json

HANDOVER_TIMEOUT = 8.0


def validate(lan_gateway: str, lan_interface: str, priority: int, health_check: str | None) -> str:
    """The gateway address as keepalived wants it (``ADDR/PREFIX``); InvalidInput for bad values."""
    from warpcli.core.names import validate_interface

    try:
        gw = ipaddress.ip_interface(lan_gateway)
    except ValueError:
        raise InvalidInput(f"--lan-gateway {lan_gateway!r} is not ADDRESS/PREFIX",
                           hint="e.g. --lan-gateway 10.1.0.1/24") from None
    if "/" not in lan_gateway or gw.version != 4 or (gw.ip in (gw.network.network_address,
                                                              gw.network.broadcast_address) and gw.network.prefixlen < 31):
        raise InvalidInput(f"--lan-gateway {lan_gateway!r} must be an IPv4 host address with its prefix",
                           hint="e.g. --lan-gateway 10.1.0.1/24")
    validate_interface(lan_interface)
    if not 1 <= priority <= 254:
        raise InvalidInput(f"priority {priority} is out of range", hint="1..254 (VRRP)")
    if health_check is not None:
        from warpcli.core.cidr import parse_endpoint

        parse_endpoint(health_check)
    return str(gw)


def settings_of(run_dir: Path, ifname: str) -> HaSettings | None:
    data = read_json(ka.ha_dir(run_dir, ifname) / "settings.json")
    return HaSettings.from_dict(data) if isinstance(data, dict) else None


def ensure(s: HaSettings, *, run_dir: Path, netns: str | None = None, dry_run: bool = False) -> list[str]:
    """Make keepalived run with these settings. Plan lines (empty when nothing changes)."""
    from warpcli.host.routing.netlink import Netlink

    d = ka.ha_dir(run_dir, s.interface)
    with Netlink(netns) as nl:
        if nl.link(s.lan_interface) is None:
            raise InvalidInput(f"--lan-interface {s.lan_interface}: no such interface")
    conf = ka.render_config(s, d, election.vrid(s.tunnel_id))
    running = ka.running_pid(d)
    old_conf = (d / "keepalived.conf").read_text() if (d / "keepalived.conf").exists() else None
    if running and old_conf == conf:
        return []
    what = (f"keepalived: gateway {s.lan_gateway} on {s.lan_interface}, priority {s.priority}, "
            f"{'preempt' if s.preempt else 'no preempt'}, VRRPv3 adverts every {s.advert_int:g} s"
            + (f", health check {s.health_check}" if s.health_check else ""))
    line = f"~ {what}" if running else f"+ {what}"
    if dry_run:
        return [line]
    ka.find_keepalived()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    write_json(d / "settings.json", s.to_dict())
    script = d / "agent.sh"
    script.write_text(ka.agent_script(d, dict(os.environ)))
    script.chmod(0o700)
    if not (d / "boost").exists():
        (d / "boost").write_text("0\n")
    if not (d / "control.json").exists():
        write_json(d / "control.json", {})
    (d / "keepalived.conf").write_text(conf)
    if running:
        ka.stop(d)  # a restart, not SIGHUP: keepalived keeps some settings (the instance name) across reloads
    ka.start(d, netns)
    return [line]


def agent_state(run_dir: Path, ifname: str) -> dict | None:
    data = read_json(ka.ha_dir(run_dir, ifname) / "agent.json")
    return data if isinstance(data, dict) else None


def report(run_dir: Path, ifname: str) -> dict | None:
    """The replica's HA for `status` (None when HA is not configured here)."""
    s = settings_of(run_dir, ifname)
    if s is None:
        return None
    d = ka.ha_dir(run_dir, ifname)
    st = agent_state(run_dir, ifname) or {}
    running = ka.running_pid(d) is not None
    role = st.get("role", "fault") if running else "fault"
    problems = list(st.get("problems", [])) if running else ["keepalived is not running (run `warpcli up`)"]
    if running and time.time() - float(st.get("updated_at") or 0) > 5:
        problems.append("the HA agent does not report (see agent.log in the HA directory)")
    changed = st.get("role_changed_at")
    return {
        "role": role,
        "priority": s.priority,
        "effective_priority": max(1, min(254, s.priority + int(st.get("boost") or 0))),
        "preempt": s.preempt,
        "lan_gateway": s.lan_gateway,
        "lan_interface": s.lan_interface,
        "health_check": s.health_check,
        "keepalived": {"running": running, "pid": ka.running_pid(d), "state": st.get("keepalived_state")},
        "healthy": running and not problems,
        "problems": problems,
        "drained": bool(st.get("drained")),
        "role_changed_at": None if changed is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(changed)),
        "hub_owner": st.get("hub_owner"),
        "hub_sees_active": st.get("hub_owner") == s.address,
        "hub_ack_seconds_ago": st.get("hub_ack_seconds_ago"),
        "replicas": [{"address": a, "role": v[0], "priority": v[1], "seen_seconds_ago": v[2]}
                     for a, v in sorted((st.get("replicas") or {}).items())],
        "role_changes": {str(k): int(v) for k, v in (st.get("role_changes") or {}).items()},
    }


def _control(d: Path, **changes) -> dict:
    data = read_json(d / "control.json")
    data = data if isinstance(data, dict) else {}
    data.update(changes)
    write_json(d / "control.json", data)
    return data


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _require_running(run_dir: Path, ifname: str) -> tuple[HaSettings, Path]:
    s = settings_of(run_dir, ifname)
    d = ka.ha_dir(run_dir, ifname)
    if s is None or ka.running_pid(d) is None:
        raise InvalidInput("high availability is not running on this host",
                           hint="run `warpcli up --lan-gateway CIDR --lan-interface IF` first")
    return s, d


def drain(run_dir: Path, ifname: str, *, timeout: float = HANDOVER_TIMEOUT) -> dict:
    """Hand the role to another replica and stay standby (effective priority 1) until `ha promote`."""
    run_dir = scoped_run_dir(run_dir, None)  # this namespace's run state (idempotent)
    s, d = _require_running(run_dir, ifname)
    _control(d, drain=True, drain_seq=time.time_ns(), boost=1 - s.priority, promote=0)
    moved = _wait(lambda: _handed_over(run_dir, ifname, s), timeout)
    st = agent_state(run_dir, ifname) or {}
    if not moved:
        raise Conflict("no other replica took over within "
                       f"{timeout:g} s; this replica stays active at the lowest priority",
                       hint="check the other replica with `warpcli status`")
    return {"role": st.get("role"), "hub_owner": st.get("hub_owner"), "drained": True}


def _handed_over(run_dir: Path, ifname: str, s: HaSettings) -> bool:
    st = agent_state(run_dir, ifname) or {}
    return st.get("role") != "active" and st.get("hub_owner") not in (None, s.address)


def promote(run_dir: Path, ifname: str, *, timeout: float = HANDOVER_TIMEOUT) -> dict:
    """Take the role (effective priority 254; the active replica is asked through the hub to yield)."""
    run_dir = scoped_run_dir(run_dir, None)  # this namespace's run state (idempotent)
    s, d = _require_running(run_dir, ifname)
    _control(d, drain=False, boost=254 - s.priority, promote=time.time_ns())

    def done() -> bool:
        st = agent_state(run_dir, ifname) or {}
        return st.get("role") == "active" and st.get("hub_owner") == s.address

    if not _wait(done, timeout):
        st = agent_state(run_dir, ifname) or {}
        raise Conflict(f"this replica did not become active within {timeout:g} s (role {st.get('role')})",
                       hint="`warpcli status` shows its health problems")
    return {"role": "active", "hub_owner": s.address, "drained": False}


def stop(run_dir: Path, ifname: str, *, timeout: float = HANDOVER_TIMEOUT) -> list[str]:
    """Hand over (when active and another replica can take it), stop keepalived, remove the directory."""
    from warpcli.host.wireguard.wg import process_alive

    d = ka.ha_dir(run_dir, ifname)
    if not d.exists():
        return []
    lines = []
    s = settings_of(run_dir, ifname)
    st = agent_state(run_dir, ifname) or {}
    if s is not None and ka.running_pid(d) and st.get("role") == "active":
        try:
            drain(run_dir, ifname, timeout=timeout)
            lines.append("~ handed the gateway and the hub's routes to another replica")
        except WarpcliError:
            pass  # no other replica: nothing to hand over to
    agent_pid = ka.read_pid(d / "agent.pid")
    if ka.stop(d):
        lines.append(f"- keepalived (gateway {s.lan_gateway if s else '?'})")
    if agent_pid and process_alive(agent_pid) and "warpcli.host.ha.prober replica" in " ".join(ka._cmdline(agent_pid)) and \
            str(d) in ka._cmdline(agent_pid):
        os.kill(agent_pid, 15)
        _wait(lambda: not process_alive(agent_pid), 5.0)
    shutil.rmtree(d, ignore_errors=True)
    return lines


CONFIG_FILE = "ha.json"  #: in the config directory: the HA flags of the last `up`, so `up` at boot keeps them


def save_settings(config_dir: Path, s: HaSettings) -> None:
    if read_json(Path(config_dir) / CONFIG_FILE) != s.to_dict():
        write_json(Path(config_dir) / CONFIG_FILE, s.to_dict())


def resolve_settings(cfg, run_dir: Path, *, lan_gateway: str | None, lan_interface: str | None,
                     preempt: bool | None, health_check: str | None,
                     config_dir: Path | None = None) -> HaSettings | None:
    """The HA settings `up` should apply: the flags given, else what the last `up` used (the run
    directory's copy, else the config directory's, which survives a reboot); None: no HA (also
    for ``--lan-interface`` alone: a connector's LAN without a gateway to elect)."""
    run_dir = scoped_run_dir(run_dir, None)  # this namespace's run state (idempotent)
    stored = settings_of(run_dir, cfg.interface)
    if stored is None and config_dir is not None:
        data = read_json(Path(config_dir) / CONFIG_FILE)
        stored = HaSettings.from_dict(data) if isinstance(data, dict) and data.get("interface") == cfg.interface \
            and data.get("tunnel_id") == cfg.tunnel_id else None
    if lan_gateway is None and stored is None and lan_interface is not None \
            and preempt is None and health_check is None:
        return None  # a LAN interface alone: no HA, the connector's LAN (connector.up's lan_interface)
    if lan_gateway is None and lan_interface is None:
        if stored is None:
            if preempt is not None or health_check is not None:
                raise InvalidInput("--preempt/--no-preempt and --health-check need --lan-gateway and --lan-interface")
            return None
        lan_gateway, lan_interface = stored.lan_gateway, stored.lan_interface
    if lan_gateway is None or lan_interface is None:
        raise InvalidInput("--lan-gateway and --lan-interface go together")
    priority = cfg.priority or (stored.priority if stored else 100)
    gw = validate(lan_gateway, lan_interface, priority, health_check)
    return HaSettings(
        tunnel_id=cfg.tunnel_id, address=cfg.address, interface=cfg.interface, lan_gateway=gw,
        lan_interface=lan_interface, priority=priority,
        preempt=preempt if preempt is not None else (stored.preempt if stored else True),
        health_check=health_check if health_check is not None else (stored.health_check if stored else None),
    )
