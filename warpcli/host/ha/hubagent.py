"""The connector's hub watcher: with several hubs it probes each one through the tunnel and
routes through the best live one (``python -m warpcli.host.ha.hubagent --dir D``; `up` starts it).

Every PROBE_INTERVAL it sends each hub a Probe naming the hub it uses (``via``); a hub that
has not answered for HUB_LOST, or answers "draining", is left. Moving is one WireGuard
change: the chosen hub's peer gets the remote CIDRs (the others keep only their own /32),
and the next probes tell every hub. No controller is involved. ``settings.json`` (written
by `up`) says what to probe; ``state.json`` is what `status` shows.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

from warpcli.host.errors import HostError
from warpcli.host.ha import election
from warpcli.host.ha.hubchoice import HubView, choose_hub, live
from warpcli.host.ha.prober import _bound_socket, _log, ifindex
from warpcli.host.runstate import read_json, write_json


class HubAgent:
    def __init__(self, d: Path) -> None:
        self.d = Path(d)
        self.settings: dict = {}
        self.mtime = 0.0
        self.sock: socket.socket | None = None
        self.bound_to: int | None = None
        self.seq = 0
        self.sent: dict[int, tuple[str, float]] = {}  #: seq -> (hub, when): round trips
        self.last_ack: dict[str, float] = {}
        self.rtt: dict[str, float] = {}
        self.draining: dict[str, bool] = {}
        state = read_json(self.d / "state.json")
        self.active: str | None = state.get("active") if isinstance(state, dict) else None
        self.run_dir = Path(os.environ.get("WARPCLI_RUN_DIR") or self.d.parent)

    def _reload(self) -> None:
        p = self.d / "settings.json"
        try:
            mtime = p.stat().st_mtime
        except OSError:
            return
        if mtime != self.mtime:
            self.mtime = mtime
            data = read_json(p)
            self.settings = data if isinstance(data, dict) else {}
            if self.active is None:
                self.active = self.settings.get("active")  # what `up` configured

    @property
    def hubs(self) -> list[dict]:
        return list(self.settings.get("hubs") or [])

    def _role(self) -> str:
        """A replica's role as its agent last said (connector-replica HA), else active."""
        path = self.settings.get("replica_agent")
        if path:
            data = read_json(Path(path))
            if isinstance(data, dict) and data.get("role") in election.ROLES:
                return str(data["role"])
        return "active"

    def _send(self) -> None:
        s = self.settings
        if not s:
            return
        try:
            if self.sock is None:
                self.bound_to = ifindex(s["ifname"])
                self.sock = _bound_socket(s["ifname"], s["address"])
        except OSError:
            return
        role = self._role()
        now = time.monotonic()
        for h in self.hubs:
            self.seq += 1
            probe = election.Probe(s["tunnel_id"], s["address"], role, int(s.get("priority") or 100), self.seq,
                                   via=self.active or "")
            try:
                self.sock.sendto(probe.encode(), (h["address"], election.PORT))
                self.sent[self.seq] = (h["address"], now)
            except OSError:
                pass
        if len(self.sent) > 1000:
            self.sent = {k: v for k, v in self.sent.items() if now - v[1] < 5}

    def _receive(self) -> None:
        while self.sock is not None:
            try:
                data, (src, _port) = self.sock.recvfrom(election.MAX_DATAGRAM)[:2]
            except BlockingIOError:
                return
            except OSError:
                self.sock.close()
                self.sock = None
                return
            ack = election.decode_ack(data)
            if ack is None:
                continue
            sent = self.sent.pop(ack.seq, None)
            now = time.monotonic()
            if sent is None or sent[0] != src:
                continue
            self.last_ack[src] = now
            self.rtt[src] = now - sent[1]
            self.draining[src] = ack.draining

    def _views(self) -> list[HubView]:
        return [HubView(h["address"], int(h["priority"]), self.last_ack.get(h["address"]),
                        self.draining.get(h["address"], False)) for h in self.hubs]

    def _move(self, new: str) -> bool:
        """Give the remote CIDRs to ``new``'s peer; the others keep only their own address."""
        from warpcli.host.wireguard import wg
        from warpcli.host.wireguard.uapi import PeerConfig

        s = self.settings
        iface = wg.find_interface(s["ifname"], netns=None, run_dir=self.run_dir)
        if iface is None:
            return False
        peers = []
        for h in self.hubs:
            mine = (f"{h['address']}/32",)
            extra = tuple(c for c in s.get("cidrs", []) if c != mine[0]) if h["address"] == new else ()
            peers.append(PeerConfig(h["public_key"], allowed_ips=mine + extra))
        peers.sort(key=lambda p: len(p.allowed_ips) > 1, reverse=True)  # the gaining peer first
        try:
            wg.configure(iface, peers=peers, replace_peers=False)
        except (HostError, OSError) as exc:
            _log(f"moving to hub {new} failed: {exc}")
            return False
        _log(f"routing through hub {new} (was {self.active})")
        return True

    def _publish(self, now: float) -> None:
        hubs = {}
        for h in self.hubs:
            a = h["address"]
            ack = self.last_ack.get(a)
            view = HubView(a, int(h["priority"]), ack, self.draining.get(a, False))
            hubs[a] = {"endpoint": h.get("endpoint"), "public_key": h["public_key"], "priority": int(h["priority"]),
                       "role": "active" if a == self.active else ("draining" if view.draining else
                                                                  "standby" if live(view, now) else "down"),
                       "probe_rtt_ms": round(self.rtt[a] * 1000, 2) if a in self.rtt else None,
                       "ack_seconds_ago": None if ack is None else round(now - ack, 2)}
        try:
            write_json(self.d / "state.json", {"pid": os.getpid(), "active": self.active, "hubs": hubs,
                                               "updated_at": time.time()}, mkdir=False)
        except HostError:
            pass

    def run(self) -> None:
        (self.d / "agent.pid").write_text(f"{os.getpid()}\n")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        _log(f"hub watcher started (pid {os.getpid()})")
        next_probe = next_tick = 0.0
        while True:
            now = time.monotonic()
            rlist: list[socket.socket] = [self.sock] if self.sock is not None else []
            timeout = max(0.0, min(next_probe, next_tick) - now)
            if rlist:
                ready, _, _ = select.select(rlist, [], [], timeout)
                if ready:
                    self._receive()
            else:
                time.sleep(min(timeout, 0.05))
            now = time.monotonic()
            choice = choose_hub(self._views(), self.active, now, preempt=bool(self.settings.get("preempt", True)))
            if choice is not None and choice != self.active and self._move(choice):
                self.active = choice
                next_probe = 0.0  # tell every hub at once
                next_tick = 0.0
            if now >= next_probe:
                self._send()
                next_probe = now + election.PROBE_INTERVAL
            if now >= next_tick:
                if not self.d.is_dir():
                    return  # `down` removed our directory
                self._reload()
                if self.sock is not None and ifindex(self.settings.get("ifname", "")) != self.bound_to:
                    self.sock.close()  # the interface was made again: bind to the new one
                    self.sock = None
                self._publish(now)
                next_tick = now + 0.25


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m warpcli.host.ha.hubagent")
    parser.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    HubAgent(args.dir).run()


if __name__ == "__main__":
    main()
