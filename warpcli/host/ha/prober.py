"""The two watchers of HA: the replica's agent and the hub's responder. Both speak :mod:`election`'s
protocol over UDP through the tunnel (never through the controller, which may be down).

Replica agent (``python -m warpcli.host.ha.prober replica --dir D FIFO``; keepalived starts it as its
notify-FIFO script):
reads keepalived's role changes from the FIFO; probes the hub every 0.1 s and at once on
a role change; checks the optional LAN health target; writes the ``fault`` and ``boost``
track files keepalived watches; keeps ``agent.json`` (what `status` shows). It exits
when keepalived (its parent) goes.

Hub responder (``python -m warpcli.host.ha.prober hub --dir D``; `hub up` starts it): answers probes, keeps each
replica's claim, and moves a tunnel's CIDRs (WireGuard allowed IPs) to the replica
:func:`election.choose_owner` picks; ``owners.json`` records the choice for `hub up`.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from warpcli.core.model import HUB_ADDRESS
from warpcli.host.errors import HostError
from warpcli.host.ha import election
from warpcli.host.ha.hubchoice import HELLO_INTERVAL
from warpcli.host.ha.keepalived import HaSettings
from warpcli.host.runstate import read_json, write_json

ROLE_OF_STATE = {"MASTER": "active", "BACKUP": "standby", "FAULT": "fault", "STOP": "standby"}
HEALTH_INTERVAL = 0.3
HEALTH_FAILURES = 3  #: consecutive failed connects before the LAN check counts as failed
DRAIN_BOUND = 5.0  #: how long a drain or yield keeps the instance in FAULT waiting for another replica


def _bound_socket(ifname: str, address: str | None = None, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address or "0.0.0.0", port))
    s.setblocking(False)
    return s


def ifindex(ifname: str) -> int | None:
    """The interface's index now (None: gone). A socket bound to a device that was deleted and
    made again (wireguard-go restarted) hears nothing: its owner compares and binds anew."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


def _alive(pid: int) -> bool:
    from warpcli.host.wireguard.wg import process_alive

    return process_alive(pid)


def _log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}", flush=True)


# --- the replica's agent -----------------------------------------------------------------------

#: how long a stopped agent follows its keepalived's exit before it leaves the gateway to it
KEEPALIVED_EXIT_BOUND = 1.0


class HealthCheck(threading.Thread):
    """TCP connect to HOST:PORT on the LAN every HEALTH_INTERVAL; failed after HEALTH_FAILURES in a row."""

    def __init__(self, target: str) -> None:
        super().__init__(daemon=True, name="health-check")
        from warpcli.core.cidr import parse_endpoint

        self.host, self.port = parse_endpoint(target)
        self.failures = 0
        self.stop_event = threading.Event()

    @property
    def ok(self) -> bool:
        return self.failures < HEALTH_FAILURES

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                self.failures = 0
            except OSError:
                self.failures += 1
            self.stop_event.wait(HEALTH_INTERVAL)


@dataclass
class AgentState:
    role: str = "fault"
    keepalived_state: str = "FAULT"
    role_changed_at: float = field(default_factory=time.time)
    hub_owner: str | None = None
    last_ack: float | None = None  #: monotonic
    problems: list[str] = field(default_factory=list)
    replicas: dict = field(default_factory=dict)
    #: role changes since the agent started, by the role taken (``active``: a failover to this replica)
    role_changes: dict = field(default_factory=dict)


class ReplicaAgent:
    def __init__(self, d: Path, fifo: str | None) -> None:
        self.d = Path(d)
        self.fifo = fifo
        data = read_json(self.d / "settings.json")
        if not isinstance(data, dict):
            raise SystemExit(f"no HA settings in {self.d}")
        self.s = HaSettings.from_dict(data)
        self.state = AgentState()
        self.seq = 0
        self.sock: socket.socket | None = None
        self.health = HealthCheck(self.s.health_check) if self.s.health_check else None
        self.control: dict = {}
        self.control_mtime = 0.0
        self.written: dict[str, str] = {}
        self.drain_until = 0.0
        self.yield_until = 0.0
        self.promote_until = 0.0
        self.failover_done: str | None = None  #: the id of the controller's failover request acted on
        self.ppid = os.getppid()

    # files keepalived and `status` read
    def _write(self, name: str, value: str) -> None:
        if self.written.get(name) != value:
            tmp = self.d / f".{name}.tmp"
            tmp.write_text(value)
            os.replace(tmp, self.d / name)
            self.written[name] = value

    def _publish(self) -> bool:
        """Write agent.json; False when our directory is gone (the setup was torn down: time to go)."""
        st = self.state
        now = time.monotonic()
        try:
            self._write_agent_json(st, now)
        except HostError:
            return self.d.is_dir()
        return True

    def _write_agent_json(self, st: AgentState, now: float) -> None:
        write_json(self.d / "agent.json", {
            "pid": os.getpid(), "role": st.role, "keepalived_state": st.keepalived_state,
            "role_changed_at": st.role_changed_at, "hub_owner": st.hub_owner,
            "hub_ack_seconds_ago": None if st.last_ack is None else round(now - st.last_ack, 2),
            "healthy": not st.problems, "problems": st.problems, "replicas": st.replicas,
            "drained": bool(self.control.get("drain")), "boost": int(self.control.get("boost") or 0),
            "role_changes": st.role_changes,
            "priority": self.s.priority, "updated_at": time.time(),
        }, mkdir=False)

    def _read_control(self) -> None:
        p = self.d / "control.json"
        try:
            mtime = p.stat().st_mtime
        except OSError:
            return
        if mtime == self.control_mtime:
            return
        self.control_mtime = mtime
        data = read_json(p)
        old = self.control
        self.control = data if isinstance(data, dict) else {}
        now = time.monotonic()
        if self.control.get("drain_seq") != old.get("drain_seq") and self.control.get("drain"):
            self.drain_until = now + DRAIN_BOUND
        if self.control.get("promote") and self.control.get("promote") != old.get("promote"):
            self.promote_until = now + DRAIN_BOUND

    # the protocol
    def _send_probe(self) -> None:
        self.seq += 1
        promote = int(self.control.get("promote") or 0) if time.monotonic() < self.promote_until else 0
        probe = election.Probe(self.s.tunnel_id, self.s.address, self.state.role,
                               max(1, min(254, self.s.priority + int(self.control.get("boost") or 0))), self.seq,
                               promote if self.state.role != "active" else 0)
        try:
            if self.sock is None:
                self.sock = _bound_socket(self.s.interface, self.s.address)
            self.sock.sendto(probe.encode(), (self._hub_address(), election.PORT))
        except OSError:  # the tunnel interface is gone or not up yet: no acks, the hub counts as lost
            self._close_socket()

    def _hub_address(self) -> str:
        """The hub to probe: the one the hub watcher routes through (several hubs), else the only one."""
        data = read_json(self.d.parent / f"hubs-{self.s.interface}" / "state.json")
        active = data.get("active") if isinstance(data, dict) else None
        return active if isinstance(active, str) and active else HUB_ADDRESS

    def _close_socket(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _on_ack(self, data: bytes) -> None:
        ack = election.decode_ack(data)
        if ack is None:
            return
        self.state.last_ack = time.monotonic()
        self.state.hub_owner = ack.owner
        self.state.replicas = ack.replicas
        if ack.yield_to and ack.yield_to != self.s.address and self.state.role == "active":
            self.yield_until = time.monotonic() + DRAIN_BOUND
        if ack.failover and ack.failover[0] == self.s.address and ack.failover[1] != self.failover_done:
            self.failover_done = ack.failover[1]
            self._promote_self()

    def _promote_self(self) -> None:
        """What `warpcli ha promote` writes, for a failover the controller asked for (through the hub)."""
        data = {**self.control, "drain": False, "boost": 254 - self.s.priority, "promote": time.time_ns()}
        try:
            write_json(self.d / "control.json", data, mkdir=False)
        except HostError:
            return
        _log(f"promoted by the controller (failover request {self.failover_done})")

    def _on_fifo(self, line: str) -> bool:
        _log(f"keepalived: {line}")
        parts = line.split()
        # events that are not states (MASTER_RX_LOWER_PRI: a master heard a lower priority) change nothing
        if len(parts) >= 3 and parts[0] == "INSTANCE" and parts[2] in ROLE_OF_STATE:
            ka = parts[2]
            role = ROLE_OF_STATE[ka]
            self.state.keepalived_state = ka
            if role != self.state.role:
                self.state.role = role
                self.state.role_changed_at = time.time()
                self.state.role_changes[role] = self.state.role_changes.get(role, 0) + 1
                return True
        return False

    def _evaluate(self) -> None:
        now = time.monotonic()
        problems = []
        if self.state.last_ack is None or now - self.state.last_ack > election.HUB_TIMEOUT:
            problems.append("no answer from the hub through the tunnel")
        if self.health is not None and not self.health.ok:
            problems.append(f"LAN health check {self.s.health_check} failed {self.health.failures} times")
        self.state.problems = problems
        me = self.s.address
        handing_over = (now < self.drain_until or now < self.yield_until) and self.state.hub_owner == me
        if self.state.hub_owner not in (me, None):
            self.drain_until = self.yield_until = 0.0  # another replica carries the tunnel: the pulse is over
        self._write("fault", "1\n" if problems or handing_over else "0\n")
        self._write("boost", f"{int(self.control.get('boost') or 0)}\n")

    def _keepalived_gone(self, bound: float = KEEPALIVED_EXIT_BOUND) -> bool:
        """Whether the keepalived that ran this agent is gone, waiting (bounded) for it to finish dying.

        A SIGKILL of keepalived's two processes reaches this agent first as the SIGTERM of the
        dying parent's shutdown: the parent is still alive at that instant and is killed a moment
        later, before it removes the gateway address. So a stop is followed for a moment; a
        keepalived that lives on (a reload, a graceful stop that removes the address itself) is
        left to do its own work."""
        deadline = time.monotonic() + bound
        while _alive(self.ppid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _drop_gateway(self) -> None:
        """keepalived died without removing the gateway address (SIGKILL): remove it, so that this
        host stops answering ARP for it and the LAN follows the replica that took over."""
        import subprocess

        subprocess.run(["ip", "addr", "del", self.s.lan_gateway, "dev", self.s.lan_interface],
                       capture_output=True, timeout=10)

    def run(self) -> None:
        fifo_fd = os.open(self.fifo, os.O_RDWR | os.O_NONBLOCK) if self.fifo else None
        if self.health is not None:
            self.health.start()
        (self.d / "agent.pid").write_text(f"{os.getpid()}\n")
        buf = b""
        next_probe = 0.0
        next_publish = 0.0
        _log(f"agent started (pid {os.getpid()}, keepalived {self.ppid}, fifo {self.fifo})")
        import signal
        import sys

        # keepalived ends its scripts with SIGTERM (also when it dies: parent-death signal): clean up first
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while os.getppid() == self.ppid or self.fifo is None:
                now = time.monotonic()
                self._read_control()
                urgent = False
                rlist = [x for x in (self.sock, fifo_fd) if x is not None]
                ready, _, _ = select.select(rlist, [], [], max(0.0, min(next_probe, next_publish) - now))
                if fifo_fd is not None and fifo_fd in ready:
                    try:
                        buf += os.read(fifo_fd, 4096)
                    except BlockingIOError:
                        pass
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        urgent |= self._on_fifo(line.decode(errors="replace"))
                if self.sock is not None and self.sock in ready:
                    while True:
                        try:
                            data = self.sock.recv(election.MAX_DATAGRAM)
                        except BlockingIOError:
                            break
                        except OSError:
                            self._close_socket()
                            break
                        self._on_ack(data)
                now = time.monotonic()
                if urgent or now >= next_probe:
                    self._send_probe()
                    next_probe = now + election.PROBE_INTERVAL
                self._evaluate()
                if urgent or now >= next_publish:
                    if not self._publish():
                        _log("its directory is gone: exiting")
                        break
                    next_publish = now + 0.25
        finally:
            if self.health is not None:
                self.health.stop_event.set()
            if self.fifo is not None and self._keepalived_gone():
                _log("keepalived is gone: dropping the gateway address")
                self._drop_gateway()
            self.state.role = "fault" if self.state.role == "active" else self.state.role
            try:
                (self.d / "agent.pid").unlink(missing_ok=True)
            except OSError:
                pass


# --- the hub's responder -------------------------------------------------------------------------

class HubResponder:
    """Answers probes on one hub interface; gives each tunnel's CIDRs to its elected replica, or
    (several hubs) to the peer of the hub that replica routes through."""

    def __init__(self, d: Path) -> None:
        self.d = Path(d)
        self.peers: dict[str, dict] = {}  #: device address -> {public_key, tunnel_id, cidrs}
        self.peers_mtime = 0.0
        self.ifname = ""
        self.run_dir = self.d.parent
        self.me = HUB_ADDRESS  #: this hub's device address
        self.hubs: dict[str, str] = {}  #: the vnet's other hubs: device address -> public key
        self.claims: dict[str, dict[str, election.Claim]] = {}  #: tunnel -> address -> claim
        owners = read_json(self.d / "owners.json")
        self.owners: dict[str, str] = owners if isinstance(owners, dict) else {}
        placed = read_json(self.d / "placement.json")
        self.placed: dict[str, str] = placed if isinstance(placed, dict) else {}  #: tunnel -> peer address
        self.direct: dict[str, tuple[str, float]] = {}  #: connector -> (hub it says it uses, when)
        self.heard: dict[str, tuple[str, float]] = {}  #: connector -> (hub that says it carries it, when)
        self.hub_seen: dict[str, float] = {}  #: another hub -> when its last hello came
        self.promote: dict[str, tuple[str, float]] = {}  #: tunnel -> (address asking, until)
        #: tunnel -> [address, request id]: failovers the controller asked for (failover.json, `hub up --follow`)
        self.failover: dict[str, list] = {}
        self.failover_mtime = 0.0
        self.changed: dict[str, dict[str, float]] = {}  #: tunnel -> address -> when its role last changed (epoch)
        self._reload()

    def _reload_failover(self) -> None:
        p = self.d / "failover.json"
        try:
            mtime = p.stat().st_mtime
        except OSError:
            self.failover = {}
            return
        if mtime != self.failover_mtime:
            self.failover_mtime = mtime
            data = read_json(p)
            self.failover = {t: [str(v[0]), str(v[1])] for t, v in (data or {}).items()
                             if isinstance(v, list) and len(v) == 2} if isinstance(data, dict) else {}

    def _reload(self) -> None:
        self._reload_failover()
        p = self.d / "peers.json"
        try:
            mtime = p.stat().st_mtime
        except OSError:
            return
        if mtime == self.peers_mtime:
            return
        self.peers_mtime = mtime
        data = read_json(p) or {}
        self.ifname = data.get("ifname", self.ifname)
        self.peers = data.get("peers", {})
        self.me = data.get("me") or HUB_ADDRESS
        self.hubs = data.get("hubs") or {}
        tunnels = {v["tunnel_id"] for v in self.peers.values()}
        self.owners = {t: a for t, a in self.owners.items() if t in tunnels and a in self.peers}
        self.placed = {t: a for t, a in self.placed.items() if t in tunnels and (a in self.peers or a in self.hubs)}
        for t, a in self._owner_or_default().items():  # where `hub up` put the CIDRs of a tunnel new to us
            self.placed.setdefault(t, a)

    @property
    def draining(self) -> bool:
        """`hub down` asked the connectors to move away first (a planned removal)."""
        return (self.d / "drain").exists()

    def _replicas(self, tunnel: str, now: float) -> dict:
        return {a: [c.role, c.priority, round(now - c.seen, 2)] for a, c in self.claims.get(tunnel, {}).items()}

    def on_probe(self, data: bytes, source: str, now: float) -> election.Ack | None:
        probe = election.decode_probe(data)
        peer = self.peers.get(source)
        if probe is None or peer is None or probe.address != source or probe.tunnel_id != peer["tunnel_id"]:
            return None
        t = probe.tunnel_id
        before = self.claims.get(t, {}).get(source)
        if before is None or before.role != probe.role or now - before.seen > election.CLAIM_TTL:
            self.changed.setdefault(t, {})[source] = time.time()
        self.claims.setdefault(t, {})[source] = election.Claim(probe.role, probe.priority, now)
        if probe.via:
            self.direct[source] = (probe.via, now)
        if probe.promote and self.owners.get(t) != source:
            self.promote[t] = (source, now + DRAIN_BOUND)
        self.elect(t, now)
        self.place(now)
        owner = self.owners.get(t)
        asking = self.promote.get(t)
        yield_to = asking[0] if asking and asking[1] > now and owner == source and asking[0] != source else None
        failover = self.failover.get(t)
        if failover is not None and owner == failover[0] and probe.role == "active" and source == owner:
            failover = None  # done: the replica asked for carries the tunnel
        return election.Ack(probe.seq, owner, yield_to, self._replicas(t, now), self.draining, failover)

    def on_hello(self, data: bytes, source: str, now: float) -> bool:
        """Another hub says which connectors route through it; False when it is not a hello."""
        from warpcli.host.ha.hubchoice import decode_hello

        hello = decode_hello(data)
        if hello is None:
            return False
        if hello.hub == source and source in self.hubs:
            self.hub_seen[source] = now
            for a in hello.connectors:
                if a in self.peers:
                    self.heard[a] = (source, now)
            self.place(now)
        return True

    def hello(self, now: float) -> bytes:
        """What this hub tells the others: the connectors that said they route through it."""
        from warpcli.host.ha.hubchoice import VIA_TTL, Hello

        mine = tuple(sorted(a for a, (via, seen) in self.direct.items() if via == self.me and now - seen <= VIA_TTL))
        return Hello(self.me, mine, self.draining).encode()

    def elect(self, tunnel: str, now: float) -> None:
        current = self.owners.get(tunnel)
        owner = election.choose_owner(current, self.claims.get(tunnel, {}), now)
        if owner != current and owner is not None:
            self.owners[tunnel] = owner
            try:
                write_json(self.d / "owners.json", self.owners, mkdir=False)
            except HostError:
                pass
            self._log(f"tunnel {tunnel}: CIDRs now routed to {owner} (was {current})")

    def _owner_or_default(self) -> dict[str, str]:
        """Every tunnel's owner: the elected replica, else its lowest device address (as `hub up` does)."""
        out: dict[str, str] = {}
        for a in sorted(self.peers, key=election._address_key):
            out.setdefault(self.peers[a]["tunnel_id"], a)
        out.update({t: a for t, a in self.owners.items() if a in self.peers})
        return out

    def place(self, now: float) -> None:
        """Move every tunnel whose CIDRs should go to another peer (one WireGuard change)."""
        from warpcli.host.ha.hubchoice import placement

        owners = self._owner_or_default()
        target = placement(owners, self.me, self.direct, self.heard, set(self.hubs), now)
        before = {t: self.placed.get(t, owners[t]) for t in target}
        moved = {t for t in target if target[t] != before[t]}
        if not moved:
            return
        touched = {before[t] for t in moved} | {target[t] for t in moved}
        if self._apply(target, touched):
            self.placed = dict(target)
            try:
                write_json(self.d / "placement.json", self.placed, mkdir=False)
            except HostError:
                return
            for t in sorted(moved):
                self._log(f"tunnel {t}: CIDRs now on peer {target[t]} (was {before[t]})")

    def _apply(self, target: dict[str, str], touched: set[str]) -> bool:
        from warpcli.host.wireguard import wg
        from warpcli.host.wireguard.uapi import PeerConfig

        iface = wg.find_interface(self.ifname, netns=None, run_dir=self.run_dir)
        if iface is None:
            return False
        cidrs: dict[str, list[str]] = {}
        for a, p in self.peers.items():
            t = p["tunnel_id"]
            if target.get(t) is not None and self._owner_or_default().get(t) == a:
                cidrs.setdefault(target[t], []).extend(p["cidrs"])
        keys = {**{a: p["public_key"] for a, p in self.peers.items()}, **self.hubs}
        peers = [PeerConfig(keys[a], allowed_ips=(f"{a}/32", *cidrs.get(a, ()))) for a in touched if a in keys]
        peers.sort(key=lambda p: len(p.allowed_ips), reverse=True)  # the gaining peers first
        try:
            wg.configure(iface, peers=peers, replace_peers=False)
        except Exception as exc:
            self._log(f"moving CIDRs failed: {exc}")
            return False
        return True

    def _log(self, text: str) -> None:
        try:
            with open(self.d / "hub-agent.log", "a") as f:
                f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")
        except OSError:
            pass  # retired (directory removed): the main loop exits on its next tick

    def _publish(self, now: float) -> None:
        try:
            write_json(self.d / "state.json", {
                "pid": os.getpid(), "owners": self.owners,
                "replicas": {t: self._replicas(t, now) for t in self.claims}, "updated_at": time.time(),
                "me": self.me, "placement": self.placed, "draining": self.draining,
                "hubs": {h: None if h not in self.hub_seen else round(now - self.hub_seen[h], 2) for h in self.hubs},
                "connectors": {a: [via, round(now - seen, 2)] for a, (via, seen) in self.direct.items()},
                "changed": self.changed,
            }, mkdir=False)
        except HostError:
            pass  # the directory went away under us: the next tick sees it and exits

    def run(self) -> None:
        sock = None
        bound_to: int | None = None
        (self.d / "hub-agent.pid").write_text(f"{os.getpid()}\n")
        next_tick = next_hello = 0.0
        while True:
            now = time.monotonic()
            if sock is None:
                try:
                    bound_to = ifindex(self.ifname)
                    sock = _bound_socket(self.ifname, None, election.PORT)
                except OSError:
                    sock = None
            timeout = max(0.0, min(next_tick, next_hello if self.hubs else next_tick) - now)
            if sock is None:
                time.sleep(min(timeout, 0.1) or 0.05)
                ready: list = []
            else:
                ready, _, _ = select.select([sock], [], [], timeout)
            if ready and sock is not None:
                while True:
                    try:
                        data, (src, port) = sock.recvfrom(election.MAX_DATAGRAM)[:2]
                    except BlockingIOError:
                        break
                    except OSError:
                        sock.close()
                        sock = None
                        break
                    if self.on_hello(data, src, time.monotonic()):
                        continue
                    ack = self.on_probe(data, src, time.monotonic())
                    if ack is not None:
                        try:
                            sock.sendto(ack.encode(), (src, port))
                        except OSError:
                            pass
            now = time.monotonic()
            if self.hubs and sock is not None and now >= next_hello:
                hello = self.hello(now)
                for h in self.hubs:
                    try:
                        sock.sendto(hello, (h, election.PORT))
                    except OSError:
                        pass
                next_hello = now + HELLO_INTERVAL
            if now >= next_tick:
                if not self.d.is_dir():
                    return  # `hub down`, or a cleanup, removed our directory: nothing left to serve
                if sock is not None and ifindex(self.ifname) != bound_to:
                    sock.close()
                    sock = None
                self._reload()
                for t in list(self.claims):
                    self.elect(t, now)
                self.place(now)
                self._publish(now)
                next_tick = now + 0.25


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m warpcli.host.ha.prober")
    parser.add_argument("side", choices=("replica", "hub"))
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("fifo", nargs="?")
    args = parser.parse_intermixed_args(argv)
    if args.side == "replica":
        ReplicaAgent(args.dir, args.fifo).run()
    else:
        HubResponder(args.dir).run()


if __name__ == "__main__":
    main()
