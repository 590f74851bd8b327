"""`hub up` / `hub down`: the self-hosted edge that routes between the connectors of a vnet.

One WireGuard interface and one routing table per virtual network, so CIDRs that
overlap across vnets never meet. Each enrolled connector of the vnet is a peer
whose allowed IPs are its device address plus the gateway routes of its tunnel;
a rule sends everything that arrives on the interface to the vnet's table, where
every peer's CIDRs point back into the interface (WireGuard then picks the peer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from warpcli.core.cidr import parse_endpoint
from warpcli.core.controller import Controller
from warpcli.core.errors import InvalidInput
from warpcli.core.model import HUB_ADDRESS, Connector, Hub, RouteFilter, VirtualNetwork
from warpcli.host import policy_nft
from warpcli.host.connector import (
    FORWARDING,
    discard_interface,
    mss_plan,
    prepare_run_dir,
    remember_sysctls,
    require_root,
    restore_sysctls,
    rp_filter_key,
    scoped_run_dir,
    unclamp,
)
from warpcli.host.constants import HUB_INTERFACE, TABLE
from warpcli.host.errors import HostError
from warpcli.host.model import Address, HostState, KernelRoute, KernelRule, LinkState, Sysctl
from warpcli.host.routing import mss
from warpcli.host.runstate import read_json, write_json
from warpcli.host.wireguard import uapi, wg
from warpcli.host.wireguard.uapi import PeerConfig

HUB_TABLE_BASE = TABLE + 100  #: a hub's table is HUB_TABLE_BASE + n, its rule priority HUB_PRIORITY_BASE + n
HUB_PRIORITY_BASE = 24520
HUB_SLOTS = 400


def hub_keypair(secrets, vnet_id: str, *, store: bool = True) -> tuple[str, str]:
    """The hub's key pair for this vnet, made once and kept in this host's secret store.

    With ``store=False`` (a dry run) a missing key is made up and not kept.
    """
    from warpcli.core.keys import generate_keypair, public_key

    name = f"hub-key:{vnet_id}"
    private = secrets.get(name)
    if private is None:
        private = generate_keypair().private_key
        if store:
            secrets.set(name, private)
    return private, public_key(private)


@dataclass(frozen=True)
class HubSlot:
    """Which table and rule priority a hub interface owns on this host."""

    ifname: str
    virtual_network_id: str
    n: int

    @property
    def table(self) -> int:
        return HUB_TABLE_BASE + self.n

    @property
    def priority(self) -> int:
        return HUB_PRIORITY_BASE + self.n


def _slots_path(run_dir: Path) -> Path:
    return Path(run_dir) / "hubs.json"


def _load_slots(run_dir: Path) -> dict[str, dict]:
    data = read_json(_slots_path(run_dir))
    return data if isinstance(data, dict) else {}


def claim_slot(run_dir: Path, ifname: str, vnet_id: str, *, dry_run: bool = False) -> HubSlot:
    """The table and rule priority of this hub interface (the next free ones the first time).

    With ``dry_run`` nothing is recorded: the plan shows the slot a real run would take.
    """
    slots = _load_slots(run_dir)
    mine = slots.get(ifname)
    if mine is not None and mine["vnet"] != vnet_id:
        raise InvalidInput(f"{ifname} is the hub of another virtual network", hint="choose another --interface")
    for name, s in slots.items():
        if s["vnet"] == vnet_id and name != ifname:
            raise InvalidInput(f"this virtual network already has a hub on this host ({name})",
                               hint=f"run `warpcli hub down --interface {name}` first")
    if mine is None:
        used = {s["n"] for s in slots.values()}
        mine = {"vnet": vnet_id, "n": next(i for i in range(HUB_SLOTS) if i not in used)}
        if not dry_run:
            slots[ifname] = mine
            write_json(_slots_path(run_dir), slots)
    return HubSlot(ifname, vnet_id, mine["n"])


def planned_slot(run_dir: Path, ifname: str, vnet_id: str, *, netns: str | None = None) -> HubSlot:
    """The slot of this hub interface in the namespace's run state, recording nothing."""
    return claim_slot(scoped_run_dir(run_dir, netns), ifname, vnet_id, dry_run=True)


def running_hubs(run_dir: Path) -> list[HubSlot]:
    """The hub interfaces this host brought up (its run state), by interface name."""
    return [HubSlot(name, s["vnet"], s["n"]) for name, s in sorted(_load_slots(run_dir).items())]


@dataclass(frozen=True)
class HubInfo:
    """One hub of this host as `hub list` shows it."""

    interface: str
    virtual_network_id: str
    table: int
    up: bool  #: its WireGuard interface exists and answers
    listen_port: int | None
    peers: int
    handshakes: int  #: peers with a handshake so far

    def to_dict(self) -> dict:
        return {
            "interface": self.interface, "virtual_network_id": self.virtual_network_id, "table": self.table,
            "up": self.up, "listen_port": self.listen_port, "peers": self.peers, "handshakes": self.handshakes,
        }


def _device_status(ifname: str, *, run_dir: Path, netns: str | None) -> uapi.DeviceStatus | None:
    """What the hub's WireGuard interface reports, or None when it is gone or does not answer."""
    iface = wg.find_interface(ifname, netns=netns, run_dir=run_dir)
    if iface is None:
        return None
    try:
        return wg.show(iface)
    except HostError:
        return None


def hub_list(*, run_dir: Path, netns: str | None = None) -> list[HubInfo]:
    """Every hub this host runs, with what its WireGuard interface reports (read-only)."""
    run_dir = scoped_run_dir(run_dir, netns)
    out = []
    for slot in running_hubs(run_dir):
        status = _device_status(slot.ifname, run_dir=run_dir, netns=netns)
        peers = status.peers if status is not None else ()
        out.append(HubInfo(
            slot.ifname, slot.virtual_network_id, slot.table, status is not None,
            status.listen_port if status is not None else None, len(peers),
            sum(1 for p in peers if p.last_handshake),
        ))
    return out


def hub_status(*, run_dir: Path, netns: str | None = None, interface: str | None = None) -> list[dict]:
    """Every hub this host runs, each with every peer as the hub sees it (read-only): the
    connectors and the vnet's other hubs, with WireGuard's handshake age and byte counts and
    what the HA responder hears through the tunnel: a replica's role and priority, the hub a
    connector routes through, and how long ago its last probe came (``hub status``)."""
    import time

    from warpcli.host.ha import hubwatch

    run_dir = scoped_run_dir(run_dir, netns)
    now = time.time()
    out = []
    for slot in running_hubs(run_dir):
        if interface is not None and slot.ifname != interface:
            continue
        status = _device_status(slot.ifname, run_dir=run_dir, netns=netns)
        heard = hubwatch.state(run_dir, slot.ifname)
        doc = read_json(hubwatch.hub_dir(run_dir, slot.ifname) / "peers.json")
        doc = doc if isinstance(doc, dict) else {}
        connectors = doc.get("peers") or {}
        hubs = doc.get("hubs") or {}
        address_of = {v.get("public_key"): a for a, v in connectors.items() if isinstance(v, dict)}
        address_of.update({key: a for a, key in hubs.items()})
        peers = []
        for p in status.peers if status is not None else ():
            address = address_of.get(p.public_key)
            is_hub = address in hubs
            tunnel = None if is_hub or address is None else connectors[address].get("tunnel_id")
            claim = (heard.get("replicas") or {}).get(tunnel or "", {}).get(address or "")
            via = (heard.get("connectors") or {}).get(address or "")
            seen = (heard.get("hubs") or {}).get(address or "") if is_hub else (
                claim[2] if claim else via[1] if via else None)
            peers.append({
                "kind": "hub" if is_hub else "connector", "address": address, "public_key": p.public_key,
                "tunnel_id": tunnel, "endpoint": p.endpoint,
                "last_handshake_seconds_ago": None if not p.last_handshake else round(max(0.0, now - p.last_handshake), 1),
                "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes,
                "role": claim[0] if claim else None, "priority": claim[1] if claim else None,
                "carries_tunnel": bool(tunnel) and (heard.get("owners") or {}).get(tunnel) == address,
                "routes_via": via[0] if via else None, "last_probe_seconds_ago": seen,
            })
        peers.sort(key=lambda x: (x["kind"] != "hub", x["address"] or "~", x["public_key"]))
        out.append({"interface": slot.ifname, "virtual_network_id": slot.virtual_network_id,
                    "up": status is not None, "listen_port": status.listen_port if status else None,
                    "address": doc.get("me"), "draining": bool(heard.get("draining")),
                    "responder": hubwatch.running_pid(run_dir, slot.ifname) is not None, "peers": peers})
    return out


def hubs_to_remove(run_dir: Path, interface: str | None, *, remove_all: bool) -> list[str]:
    """The interfaces `hub down` takes down: the one named, every hub with ``remove_all``, or
    the only hub this host runs. Several hubs and no choice: refused, listing them."""
    if interface is not None:
        return [interface]
    running = [s.ifname for s in running_hubs(run_dir)]
    if not running:  # no run state (e.g. lost with /run): the default interface, as before
        return [HUB_INTERFACE]
    if remove_all or len(running) == 1:
        return running
    raise InvalidInput(f"this host runs {len(running)} hubs ({', '.join(running)})",
                       hint="say which with --interface NAME, or --all")


def release_slot(run_dir: Path, ifname: str) -> HubSlot | None:
    slots = _load_slots(run_dir)
    s = slots.pop(ifname, None)
    if s is None:
        return None
    if slots:
        write_json(_slots_path(run_dir), slots)
    else:  # the last hub is down: leave the run directory as it was before the first `hub up`
        _slots_path(run_dir).unlink(missing_ok=True)
    return HubSlot(ifname, s["vnet"], s["n"])


def tunnel_cidrs(ctrl: Controller, vnet: VirtualNetwork) -> dict[str, list[str]]:
    by_tunnel: dict[str, list[str]] = {}
    for r in ctrl.list_routes(RouteFilter(virtual_network_id=vnet.id)):
        by_tunnel.setdefault(r.tunnel_id, []).append(r.network)
    return by_tunnel


def hub_peers(ctrl: Controller, vnet: VirtualNetwork, owners: dict[str, str] | None = None,
              connectors: list[Connector] | None = None,
              by_tunnel: dict[str, list[str]] | None = None) -> list[tuple[Connector, list[str]]]:
    """Each connector of the vnet and the CIDRs it answers for.

    Several connectors of one tunnel (replicas) share its routes; WireGuard allows a
    CIDR on one peer only, so the routes go to the replica the HA responder elected
    (``owners``: tunnel id -> device address), else to the first (lowest address) one.
    """
    if connectors is None:
        connectors = ctrl.list_connectors(virtual_network_id=vnet.id)
    if by_tunnel is None:
        by_tunnel = tunnel_cidrs(ctrl, vnet)
    owners = owners or {}
    present = {(c.tunnel_id, c.address) for c in connectors}
    seen: set[str] = set()
    out = []
    for c in connectors:
        cidrs = [f"{c.address}/32"]
        owner = owners.get(c.tunnel_id)
        elected = c.address == owner if (c.tunnel_id, owner) in present else c.tunnel_id not in seen
        if elected:
            cidrs += by_tunnel.get(c.tunnel_id, [])
        seen.add(c.tunnel_id)
        out.append((c, cidrs))
    return out


def ha_peers(connectors: list[Connector], by_tunnel: dict[str, list[str]]) -> dict[str, dict]:
    """What the HA responder needs to know of each connector (see warpcli.host.ha.hubwatch)."""
    return {c.address: {"public_key": c.public_key, "tunnel_id": c.tunnel_id,
                        "cidrs": sorted(by_tunnel.get(c.tunnel_id, []))} for c in connectors}


def on_hubs(peers: list[tuple[Connector, list[str]]], others: list[Hub],
            placed: dict[str, str]) -> tuple[list[tuple[Connector, list[str]]], list[tuple[Hub, list[str]]]]:
    """Several hubs: the CIDRs of a tunnel whose connector routes through another hub go to that
    hub's peer (``placed``, the responder's answer: tunnel id -> peer address); each other hub's
    peer also carries its own device address."""
    by_address = {h.address: h for h in others}
    hubs: dict[str, list[str]] = {h.address: [f"{h.address}/32"] for h in others}
    out = []
    for c, cidrs in peers:
        target = placed.get(c.tunnel_id)
        if target in by_address and len(cidrs) > 1:
            hubs[target] += cidrs[1:]
            cidrs = cidrs[:1]
        out.append((c, cidrs))
    return out, [(by_address[a], cidrs) for a, cidrs in hubs.items()]


def desired_hub(slot: HubSlot, peers: list[tuple[Connector, list[str]]], observed_sysctls: dict[str, str],
                address: str = HUB_ADDRESS, hubs: list[tuple[Hub, list[str]]] | None = None):
    from warpcli.host.connector import KEEPALIVE

    iface = slot.ifname
    hubs = hubs or []
    routes = sorted({KernelRoute(cidr, table=slot.table, ifname=iface) for _, cidrs in [*peers, *hubs] for cidr in cidrs},
                    key=KernelRoute.sort_key)
    sysctls = [Sysctl(k, "1") for k in FORWARDING]
    if observed_sysctls.get(rp_filter_key(iface)) == "1":
        sysctls.append(Sysctl(rp_filter_key(iface), "2"))
    state = HostState(
        addresses=[Address(iface, f"{address}/32")],
        links=[LinkState(iface, mtu=None, up=True)],
        routes=routes,
        rules=[KernelRule(slot.priority, slot.table, family, iifname=iface) for family in (4, 6)],
        sysctls=sysctls,
    )
    wg_peers = [PeerConfig(c.public_key, allowed_ips=tuple(cidrs)) for c, cidrs in peers]
    wg_peers += [PeerConfig(h.public_key, endpoint=h.endpoint, allowed_ips=tuple(cidrs),
                            persistent_keepalive=KEEPALIVE) for h, cidrs in hubs]
    return state, wg_peers


@dataclass
class HubResult:
    lines: list[str]
    changed: bool
    peers: int
    warnings: list[str] = field(default_factory=list)


def hub_up(
    ctrl: Controller,
    vnet: VirtualNetwork,
    *,
    endpoint: str,
    private_key: str,
    public_key: str,
    ifname: str,
    run_dir: Path,
    mtu: int | None = None,
    dry_run: bool = False,
    netns: str | None = None,
    on_progress=None,
    priority: int | None = None,
) -> HubResult:
    from warpcli.host.routing.kernel import KernelExecutor, observe
    from warpcli.host.routing.netlink import Netlink
    from warpcli.host.routing.plan import apply, diff

    require_root()
    _, port = parse_endpoint(endpoint)
    wg.validate_ifname(ifname)
    run_dir = prepare_run_dir(run_dir, netns)
    existing = wg.find_interface(ifname, netns=netns, run_dir=run_dir)
    if existing is None and not dry_run:
        wg.reclaim(ifname, netns=netns, run_dir=run_dir)  # what a killed run left half made
    if existing is None:
        with Netlink(netns) as nl:
            if nl.link(ifname) is not None and not (dry_run and wg.has_record(ifname, netns=netns, run_dir=run_dir)):
                from warpcli.host.errors import InterfaceInUse

                raise InterfaceInUse(f"an interface named {ifname} exists and is not warpcli's",
                                     hint="choose another --interface")
    lines: list[str] = []
    registered, previous = None, None
    created = None
    clamped = False
    policy_loaded = False
    try:
        previous = _current_hub(ctrl, vnet, public_key, endpoint)
        address = previous.address if previous is not None else HUB_ADDRESS
        if not dry_run:
            registered = ctrl.register_hub(public_key, endpoint, virtual_network_id=vnet.id, priority=priority)
            address = registered.address
            lines.append(f"hub of virtual network {vnet.name!r} at {registered.endpoint} "
                         f"(address {address}, priority {registered.priority})")
        from warpcli.host.ha import hubwatch

        slot = claim_slot(run_dir, ifname, vnet.id, dry_run=dry_run)
        connectors = ctrl.list_connectors(virtual_network_id=vnet.id)
        by_tunnel = tunnel_cidrs(ctrl, vnet)
        peers = hub_peers(ctrl, vnet, hubwatch.owners(run_dir, ifname), connectors, by_tunnel)
        others = [h for h in ctrl.list_hubs(vnet.id) if h.public_key != public_key and h.address != address]
        peers, hub_links = on_hubs(peers, others, hubwatch.placement(run_dir, ifname))
        policy_lines, load_policy = policy_plan(ctrl, vnet, ifname, netns, run_dir)
        if existing is None:
            lines.append(f"+ interface {ifname} (WireGuard, port {port})")
            if dry_run:
                lines.append(f"+ {mss.describe(ifname)}")
                return HubResult(lines + policy_lines, True, len(peers))
            existing = created = wg.create_interface(ifname, netns=netns, run_dir=run_dir)
        status = wg.show(existing)
        have = {p.public_key: set(p.allowed_ips) for p in status.peers}
        keys = [*FORWARDING, rp_filter_key(ifname)]
        observed = observe(netns, tables=[slot.table], interfaces=[ifname], sysctl_keys=keys)
        observed.rules = [r for r in observed.rules if r.table == slot.table]
        state, wg_peers = desired_hub(slot, peers, {s.key: s.value for s in observed.sysctls}, address, hub_links)
        if mtu:
            state.links = [LinkState(ifname, mtu=mtu, up=True)]
        want = {p.public_key: set(p.allowed_ips) for p in wg_peers}
        peer_lines = [f"+ peer {k[:8]}… {', '.join(sorted(v))}" for k, v in want.items() if k not in have]
        peer_lines += [f"~ peer {k[:8]}… {', '.join(sorted(v))}" for k, v in want.items() if k in have and have[k] != v]
        peer_lines += [f"- peer {k[:8]}…" for k in have if k not in want]
        if status.listen_port != port:
            peer_lines.insert(0, f"~ listen port {port}")
        plan = diff(state, observed)
        lines += peer_lines + ([] if plan.empty else plan.lines()) + policy_lines
        warnings: list[str] = []
        clamp = mss_plan(ifname, netns, lines, warnings, exists=created is None)
        changed = bool(created) or bool(peer_lines) or not plan.empty or clamp or bool(policy_lines)
        if dry_run:
            return HubResult(lines if changed else [*lines, "no changes"], changed, len(peers), warnings)
        if changed:
            if load_policy is not None:  # before the peers: a new hub forwards nothing the policy denies
                load_policy()
                policy_loaded = True
            wg.sync_peers(existing, private_key=private_key, listen_port=port, peers=wg_peers)
            remember_sysctls(run_dir, ifname, observed.sysctls, state.sysctls, netns)
            if clamp:
                clamped = mss.ensure(ifname, netns)
            with KernelExecutor(netns) as executor:
                apply(plan, executor, on_progress)
        started = hubwatch.ensure(run_dir, ifname, ha_peers(connectors, by_tunnel), netns=netns, me=address,
                                  hubs={h.address: h.public_key for h in others})
        if not changed and not started:
            return HubResult([*lines, "no changes"], False, len(peers), warnings)
        lines += started
    except BaseException:
        if policy_loaded and created is not None:
            policy_nft.remove(ifname, netns, run_dir)
        if clamped:
            unclamp(ifname, netns)
        if created is not None:
            discard_interface(ifname, netns=netns, run_dir=run_dir)
        if registered is not None:
            _restore_hub(ctrl, vnet, previous, registered)
        raise
    return HubResult(lines, True, len(peers), warnings)


def policy_plan(ctrl: Controller, vnet: VirtualNetwork, ifname: str, netns: str | None,
                run_dir: Path | None = None) -> tuple[list[str], Callable[[], object] | None]:
    """The plan line for the vnet's network policy at this hub, and what applies it (None:
    the table in the kernel already is the policy). With ``run_dir``, a change is applied as
    the change alone (see :func:`policy_nft.plan`). A controller that keeps no policies leaves
    the hub as it is."""
    from warpcli.core.errors import NotSupported
    from warpcli.core.policies import resolver

    try:
        with policy_nft.without_gc():
            doc = ctrl.get_policy_document(vnet.id)
    except NotSupported:
        return [], None
    routes: list[Callable[[str], list]] = []

    def tunnel_networks(name: str) -> list:  # routes are read only if a rule names a tunnel
        if not routes:
            routes.append(resolver(ctrl, vnet.id))
        return routes[0](name)

    spec = policy_nft.Spec.of_document(doc, tunnel_networks)
    return policy_nft.plan(spec, ifname, netns=netns, run_dir=run_dir)


def _current_hub(ctrl: Controller, vnet: VirtualNetwork, public_key: str, endpoint: str) -> Hub | None:
    """This host's hub record in the vnet (by key, else by endpoint, as register_hub matches)."""
    hubs = ctrl.list_hubs(vnet.id)
    same = [h for h in hubs if h.public_key == public_key] or [h for h in hubs if h.endpoint == endpoint]
    return same[0] if same else None


def _restore_hub(ctrl: Controller, vnet: VirtualNetwork, previous: Hub | None, registered: Hub) -> None:
    """Put the controller's hub record back as it was: a failed `hub up` must not announce a hub."""
    from warpcli.core.errors import WarpcliError

    try:
        if previous is None:
            ctrl.delete_hub(vnet.id, hub_id=registered.id)
        else:
            ctrl.register_hub(previous.public_key, previous.endpoint, virtual_network_id=vnet.id,
                              priority=previous.priority)
    except WarpcliError:
        pass  # the original error is the one to report


def hubs_down(interface: str | None, *, remove_all: bool = False, run_dir: Path,
              netns: str | None = None) -> list[str]:
    """`hub down`: the hub named, the only one, or (``remove_all``) every one this host runs."""
    require_root()
    run_dir = prepare_run_dir(run_dir, netns)
    names = hubs_to_remove(run_dir, interface, remove_all=remove_all)
    lines = [line for name in names for line in hub_down(name, run_dir=run_dir, netns=netns)
             if line != "nothing to remove"]
    return lines or ["nothing to remove"]


def hub_down(ifname: str, *, run_dir: Path, netns: str | None = None) -> list[str]:
    from warpcli.host.ha import hubwatch
    from warpcli.host.routing.netlink import Netlink

    require_root()
    run_dir = prepare_run_dir(run_dir, netns)
    lines: list[str] = hubwatch.drain(run_dir, ifname)  # several hubs: connectors move away first
    lines += hubwatch.stop(run_dir, ifname)
    slot = release_slot(run_dir, ifname)
    if slot is not None:
        with Netlink(netns) as nl:
            for rule in [r for r in nl.rules() if r.table == slot.table and r.priority == slot.priority]:
                nl.delete_rule(rule, missing_ok=True)
                lines.append(f"- {rule.describe()}")
            lines += [f"- {r.describe()}" for r in nl.purge_routes(table=slot.table)]
    if policy_nft.remove(ifname, netns, run_dir):
        lines.append(f"- nftables policy (table {policy_nft.FAMILY} {policy_nft.table(ifname)})")
    lines += unclamp(ifname, netns)
    if wg.delete_interface(ifname, netns=netns, run_dir=run_dir):
        lines.insert(0, f"- interface {ifname}")
    elif wg.remove_stale_socket(ifname):
        lines.append(f"- stale socket of {ifname}")
    lines += restore_sysctls(run_dir, ifname, netns)
    return lines or ["nothing to remove"]


def policy_counters(run_dir: Path, vnet_id: str, netns: str | None = None) -> dict[str, tuple[int, int]]:
    """Counters of the vnet's hub when this host runs it and may read nftables; {} otherwise."""
    import os
    import shutil

    from warpcli.host.connector import scoped_run_dir

    if os.geteuid() != 0 or shutil.which("nft") is None:
        return {}
    try:
        slots = [s for s in running_hubs(scoped_run_dir(run_dir, netns)) if s.virtual_network_id == vnet_id]
        return policy_nft.counters(slots[0].ifname, netns) if slots else {}
    except (HostError, OSError):
        return {}
