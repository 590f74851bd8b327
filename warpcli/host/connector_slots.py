"""Which table and policy rules each connector on a host owns (one connector per virtual network).

The first connector on a host keeps ``TABLE`` behind the two host-wide rules, exactly as a
connector alone on its host; each further one (another vnet's, enrolled from a config directory
of its own) takes a slot: a table of its own behind rules scoped to its LAN interface and its
tunnel (:class:`ConnectorSlot`). The slots are recorded in the namespace's run directory
(``connectors.json``), so ``up``, ``down`` and ``status`` of each connector see only their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warpcli.core.enrollment import ConnectorConfig
from warpcli.host.constants import (
    CONNECTOR_PRIORITY_BASE,
    CONNECTOR_SLOTS,
    CONNECTOR_TABLE_BASE,
    MAIN_TABLE,
    PRIORITY_SUPPRESS_MAIN,
    PRIORITY_TABLE,
    TABLE,
)
from warpcli.host.errors import HostError
from warpcli.host.model import KernelRule, table_rules
from warpcli.host.runstate import read_json, scoped_run_dir, write_json
from warpcli.host.wireguard import wg


def connector_rules() -> list[KernelRule]:
    return table_rules(PRIORITY_SUPPRESS_MAIN, PRIORITY_TABLE, TABLE)


def owns_rule(rule: KernelRule) -> bool:
    """The rules a connector's ``up``/``down`` manage (a hub on the same host has others)."""
    return rule.priority in (PRIORITY_SUPPRESS_MAIN, PRIORITY_TABLE) and rule.table in (MAIN_TABLE, TABLE)


# -- several connectors (one per virtual network) on one host -----------------------------
SLOTS_FILE = "connectors.json"  #: in the namespace's run directory: {IFNAME: {n, vnet, tunnel, lan, config_dir}}
LAN_FILE = "lan.json"  #: in the config directory: the --lan-interface of the last `up`, so `up` at boot keeps it


@dataclass(frozen=True)
class ConnectorSlot:
    """Which table and rules a connector owns on its host. Slot 0 (the first connector on the
    host): ``TABLE`` behind the two host-wide rules, as a connector alone on its host. Slot
    ``n`` > 0 (a connector of another vnet on the same host): table ``CONNECTOR_TABLE_BASE + n``
    behind five rules per IP family, scoped to its LAN interface and its tunnel, before slot 0's:

    - ``P+0 iif LAN lookup main suppress_prefixlength 0`` (the host's specific routes win)
    - ``P+1 iif LAN lookup T`` (the vnet's CIDRs)
    - ``P+2 iif LAN lookup main`` (the host's default route)
    - ``P+3 iif LAN unreachable`` (nothing falls through to another vnet's table)
    - ``P+4 oif WG lookup T`` (sockets bound to its tunnel: the HA agent's, the hub watcher's)
    """

    ifname: str
    n: int
    lan: str | None = None

    @property
    def table(self) -> int:
        return TABLE if self.n == 0 else CONNECTOR_TABLE_BASE + self.n

    @property
    def scoped(self) -> bool:
        return self.n > 0

    @property
    def priority(self) -> int:
        """The first of a scoped slot's rule priorities (P)."""
        return CONNECTOR_PRIORITY_BASE + 10 * (self.n - 1)

    def rules(self) -> list[KernelRule]:
        if not self.scoped:
            return connector_rules()
        if not self.lan:
            raise ValueError("a scoped connector slot needs its LAN interface")
        p, t, lan = self.priority, self.table, self.lan
        return [
            rule
            for family in (4, 6)
            for rule in (
                KernelRule(p, MAIN_TABLE, family, suppress_prefixlength=0, iifname=lan),
                KernelRule(p + 1, t, family, iifname=lan),
                KernelRule(p + 2, MAIN_TABLE, family, iifname=lan),
                KernelRule(p + 3, 0, family, iifname=lan, action="unreachable"),
                KernelRule(p + 4, t, family, oifname=self.ifname),
            )
        ]

    def owns(self, rule: KernelRule) -> bool:
        """The rules of this slot (among those tagged with warpcli's protocol)."""
        if not self.scoped:
            return owns_rule(rule)
        return self.priority <= rule.priority < self.priority + 5


def _slots_path(run_dir: Path) -> Path:
    return Path(run_dir) / SLOTS_FILE


def load_slots(run_dir: Path) -> dict[str, dict]:
    data = read_json(_slots_path(run_dir))
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("n"), int)}


def _save_slots(run_dir: Path, slots: dict[str, dict]) -> None:
    if slots:
        write_json(_slots_path(run_dir), slots)
    else:
        try:
            _slots_path(run_dir).unlink(missing_ok=True)
        except OSError as exc:
            raise HostError(f"cannot remove {_slots_path(run_dir)} ({exc.strerror})") from None


def slot_of(run_dir: Path, ifname: str) -> ConnectorSlot | None:
    """The slot this namespace's run state gives ``ifname``: its record; else slot 0 when no other
    connector holds it (a connector alone on its host, or an older warpcli's); None: unknown."""
    slots = load_slots(run_dir)
    rec = slots.get(ifname)
    if rec is not None:
        return ConnectorSlot(ifname, rec["n"], rec.get("lan"))
    if any(s["n"] == 0 for s in slots.values()):
        return None
    return ConnectorSlot(ifname, 0)


def release_slot(run_dir: Path, ifname: str) -> None:
    slots = load_slots(run_dir)
    if slots.pop(ifname, None) is not None:
        _save_slots(run_dir, slots)


def _lan_networks(nl, lan: str) -> list:
    import ipaddress

    out = []
    for a in nl.addresses():
        if a.ifname != lan:
            continue
        net = ipaddress.ip_interface(a.address).network
        if not (net.version == 6 and net.is_link_local):
            out.append(net)
    return out


def _remove_slot_leftovers(nl, slot: ConnectorSlot) -> None:
    """A dead connector's rules and routes (its interface and its record of it are gone)."""
    from warpcli.host.constants import ROUTE_PROTO

    for rule in [r for r in nl.rules(proto=ROUTE_PROTO) if slot.owns(r)]:
        nl.delete_rule(rule, missing_ok=True)
    nl.purge_routes(table=slot.table)


def claim_slot(run_dir: Path, cfg: ConnectorConfig, *, lan: str | None, nl, netns: str | None,
               forget: Callable[[str], object], config_dir: Path | None = None,
               dry_run: bool = False) -> tuple[ConnectorSlot, bool]:
    """This connector's slot on the host (the next free one the first time) and whether it was
    recorded just now. Refuses, before anything changes: a second connector of the same vnet, an
    interface that another config directory's connector (another vnet) uses, a further connector
    without its LAN interface, two connectors on one LAN interface or on overlapping LAN networks.

    The records of connectors that are gone (no interface, no interface record: a ``down`` killed
    before its end) are removed, with their rules and routes; ``forget(IFNAME)`` removes the rest
    of such a connector (its MSS clamp, its sysctl ledger). ``dry_run`` records nothing."""
    from warpcli.core.errors import Conflict, InvalidInput
    from warpcli.host.errors import InterfaceInUse

    ifname, vnet = cfg.interface, cfg.virtual_network_id
    slots = load_slots(run_dir)
    stale = [name for name in slots if name != ifname and nl.link(name) is None
             and not wg.has_record(name, netns=netns, run_dir=run_dir)]
    for name in stale:
        rec = slots.pop(name)
        if not dry_run:  # what its killed `down` did not get to: rules, routes, MSS clamp, sysctl ledger
            _remove_slot_leftovers(nl, ConnectorSlot(name, rec["n"], rec.get("lan")))
            forget(name)
    mine = slots.get(ifname)
    if (mine is not None and mine.get("vnet") != vnet and mine.get("config_dir") and config_dir is not None
            and mine["config_dir"] != os.path.abspath(config_dir)):
        raise InterfaceInUse(f"{ifname} is the interface of another virtual network's connector on this host "
                             f"(config directory {mine['config_dir']})", hint="enroll this one with another --interface")
    for name, rec in slots.items():
        if name != ifname and rec.get("vnet") == vnet:
            raise Conflict(f"this virtual network already has a connector on this host ({name})",
                           hint="one connector per virtual network and host")
    lan = lan or (mine or {}).get("lan")
    if mine is not None:
        n = mine["n"]
    else:
        used = {rec["n"] for rec in slots.values()}
        free = [i for i in range(CONNECTOR_SLOTS) if i not in used]
        if not free:
            raise HostError(f"this host runs {CONNECTOR_SLOTS} connectors already")
        n = free[0]
    if n > 0 and not lan:
        names = ", ".join(sorted(x for x in slots if x != ifname))
        raise InvalidInput(f"this host runs the connector of another virtual network ({names}): "
                           "this one needs --lan-interface (its LAN's traffic is routed by interface)",
                           hint="warpcli up --lan-interface IF")
    if lan:
        if nl.link(lan) is None:
            raise InvalidInput(f"--lan-interface {lan}: no such interface")
        mine_nets = _lan_networks(nl, lan)
        for name, rec in slots.items():
            other = rec.get("lan")
            if name == ifname or not other:
                continue
            if other == lan:
                raise InvalidInput(f"{lan} is already the LAN of another virtual network's connector on this host "
                                   f"({name}); each connector needs a LAN interface of its own")
            clash = [(a, b) for a in mine_nets for b in _lan_networks(nl, other) if a.overlaps(b)]
            if clash:
                a, b = clash[0]
                raise InvalidInput(f"the LAN network {a} on {lan} overlaps {b} on {other}, the LAN of another "
                                   f"virtual network's connector on this host ({name}); two LANs on one host "
                                   "must be different subnets")
    record = {"n": n, "vnet": vnet, "tunnel": cfg.tunnel_id, "lan": lan,
              "config_dir": os.path.abspath(config_dir) if config_dir is not None else (mine or {}).get("config_dir")}
    if not dry_run and (record != mine or stale):
        slots[ifname] = record
        _save_slots(run_dir, slots)
    return ConnectorSlot(ifname, n, lan), mine is None and not dry_run


def resolve_lan(cfg: ConnectorConfig, lan_interface: str | None, *, run_dir: Path, netns: str | None = None,
                config_dir: Path | None = None) -> str | None:
    """The LAN interface ``up`` gives this connector's slot: the flag, else the last run's (the
    run directory's record, else the config directory's copy, which survives a reboot)."""
    if lan_interface:
        from warpcli.core.names import validate_interface

        validate_interface(lan_interface)
        return lan_interface
    rec = load_slots(scoped_run_dir(run_dir, netns)).get(cfg.interface) or {}
    if rec.get("lan"):
        return str(rec["lan"])
    if config_dir is not None:
        data = read_json(Path(config_dir) / LAN_FILE)
        if isinstance(data, dict) and data.get("interface") == cfg.interface and data.get("lan_interface"):
            return str(data["lan_interface"])
    return None


def save_lan(config_dir: Path, cfg: ConnectorConfig, lan: str) -> None:
    want = {"interface": cfg.interface, "lan_interface": lan}
    if read_json(Path(config_dir) / LAN_FILE) != want:
        write_json(Path(config_dir) / LAN_FILE, want)
