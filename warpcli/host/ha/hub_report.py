"""`hub up --follow` tells the controller what runs: each connector's latest WireGuard handshake
(its ``last_seen``) and, from the HA responder, each replica's role, priority and last role
change. The controller's answer lists the failover requests pending for the vnet; they go to the
responder (``failover.json``), which hands each to its replica in the acks of its probes.

Best effort: a report that fails is said once as a warning and tried again at the next poll;
the data plane does not depend on it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from warpcli.core.controller import Controller
from warpcli.core.liveness import ConnectorReport, FailoverRequest
from warpcli.core.model import Connector
from warpcli.host.ha import election, hubwatch
from warpcli.host.runstate import write_json

#: a responder whose state.json is older than this is not running: its roles are not reported
STALE_STATE = 5.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def handshakes(ifname: str, run_dir: Path) -> dict[str, float]:
    """public key -> the latest handshake (epoch seconds) of every peer of the hub interface that had one."""
    from warpcli.host.wireguard import wg

    iface = wg.find_interface(ifname, netns=None, run_dir=run_dir)
    if iface is None:
        return {}
    return {p.public_key: p.last_handshake for p in wg.show(iface).peers if p.last_handshake}


def reports(connectors: list[Connector], shakes: dict[str, float], ha_state: dict,
            now: float | None = None) -> list[ConnectorReport]:
    """One report per connector the hub knows something of (pure: the tests feed it)."""
    now = time.time() if now is None else now
    fresh = isinstance(ha_state.get("updated_at"), (int, float)) and now - ha_state["updated_at"] <= STALE_STATE
    replicas = ha_state.get("replicas", {}) if fresh else {}
    changed = ha_state.get("changed", {}) if fresh else {}
    out = []
    for c in connectors:
        shake = shakes.get(c.public_key)
        claim = (replicas.get(c.tunnel_id) or {}).get(c.address)
        role = priority = since = None
        if isinstance(claim, list) and len(claim) == 3:
            role, priority, age = claim
            role = role if age <= election.CLAIM_TTL else "fault"  # not heard: the hub does not count it
            when = (changed.get(c.tunnel_id) or {}).get(c.address)
            since = _iso(when) if isinstance(when, (int, float)) else None
        if shake is None and role is None:
            continue
        out.append(ConnectorReport(c.id, last_seen=_iso(shake) if shake else None, role=role,
                                   priority=priority if isinstance(priority, int) else None, role_changed_at=since))
    return out


class HubReporter:
    """Reports for one hub interface; ``connectors`` is refreshed after every reconcile."""

    def __init__(self, ctrl: Controller, vnet_id: str, ifname: str, run_dir: Path) -> None:
        self.ctrl = ctrl
        self.vnet_id = vnet_id
        self.ifname = ifname
        self.run_dir = run_dir
        self.connectors: list[Connector] = []
        self.pending: list[FailoverRequest] = []

    def refresh(self) -> None:
        self.connectors = self.ctrl.list_connectors(virtual_network_id=self.vnet_id)

    def report(self) -> list[FailoverRequest]:
        """Send one report; pass the pending failovers on to the responder. Returns them."""
        from warpcli.host.runstate import scoped_run_dir

        run_dir = scoped_run_dir(self.run_dir, None)
        sent = reports(self.connectors, handshakes(self.ifname, run_dir), hubwatch.state(run_dir, self.ifname))
        self.pending = self.ctrl.report_connectors(self.vnet_id, sent)
        d = hubwatch.hub_dir(run_dir, self.ifname)
        if d.is_dir():
            wanted = {f.tunnel_id: [f.address, f.requested_at] for f in self.pending}
            from warpcli.host.runstate import read_json

            if read_json(d / "failover.json") != wanted:
                write_json(d / "failover.json", wanted, mkdir=False)
        return self.pending


def reporting(version, reporter: HubReporter, warn):
    """``version`` for the follow loop that first sends a report (each poll). A failed report is
    a warning, said again only when its message changes; the poll goes on either way."""
    from warpcli.core.errors import WarpcliError

    said: list[str] = []

    def poll():
        try:
            reporter.report()
            said.clear()
        except WarpcliError as exc:
            text = f"warning: could not report to the controller: {exc}"
            if said != [text]:
                said[:] = [text]
                warn(text)
        return version()

    return poll
