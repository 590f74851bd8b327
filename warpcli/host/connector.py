"""`up`, `down` and `status` of a connector: this host as a Layer-3 router for its subnet.

``up`` computes the desired kernel state from the controller (the hub of the vnet,
every remote CIDR of the vnet), diffs it against what warpcli owns in the kernel,
and applies the plan with rollback. Everything it installs is tagged with
warpcli's rtnetlink protocol and lives in warpcli's table behind two rules:
``lookup main suppress_prefixlength 0`` first (the host's own specific routes win),
then ``lookup TABLE``. No NAT is configured anywhere: packets keep their source.

Connectors of several virtual networks on one host (a config directory each, one
WireGuard interface each): the first one on the host keeps ``TABLE`` and the two rules
above; each further one takes a slot (:class:`ConnectorSlot`, recorded in
``RUN_DIR/netns-INODE/connectors.json``) with a table of its own and rules scoped to its
LAN interface and its tunnel (:meth:`ConnectorSlot.rules`), placed before the first one's,
so its LAN's traffic never reaches another vnet's table. ``up``, ``down`` and ``status``
of a connector see only its own table and rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from warpcli.core.controller import Controller
from warpcli.core.enrollment import ConnectorConfig
from warpcli.core.errors import WarpcliError
from warpcli.core.model import DEVICE_RANGE, Hub
from warpcli.host import faults, incremental
from warpcli.host.connector_slots import (
    ConnectorSlot,
    claim_slot,
    release_slot,
    resolve_lan,
    save_lan,
    slot_of,
)
from warpcli.host.errors import HostError, NotRoot
from warpcli.host.model import Address, HostState, KernelRoute, KernelRule, LinkState, Sysctl
from warpcli.host.routing import mss
from warpcli.host.routing.plan import KernelPlan, Shadowing, find_shadowing, split_shadowing
from warpcli.host.wireguard import wg
from warpcli.host.wireguard.uapi import PeerConfig

KEEPALIVE = 25
FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRoot("this needs root (CAP_NET_ADMIN) to change interfaces and routes", hint="run it with sudo")


def rp_filter_key(ifname: str) -> str:
    return f"net.ipv4.conf.{ifname}.rp_filter"


def endpoint_host(endpoint: str) -> str:
    host, _, _ = endpoint.rpartition(":")
    return host.strip("[]")


def endpoint_addresses(endpoint: str) -> list[str]:
    """The hub endpoint's IP addresses (a host name is resolved), for the no-lockout check."""
    import socket

    from warpcli.core.cidr import parse_address
    from warpcli.core.errors import InvalidInput

    host = endpoint_host(endpoint)
    try:
        parse_address(host)
        return [host]
    except InvalidInput:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise HostError(f"cannot resolve the hub endpoint {host}: {reason}") from None
    return sorted({str(info[4][0]).split("%")[0] for info in infos})


# -- the saved state: what `down` must restore (see runstate) ------------------------
from warpcli.host.runstate import (  # noqa: E402 - re-exported for hub
    remember_sysctls,
    remove_stale_temp_files,
    restore_sysctls,
    scoped_run_dir,
)


def prepare_run_dir(run_dir: Path, netns: str | None) -> Path:
    """This namespace's run directory, cleared of temporary files that killed writers left."""
    scoped = scoped_run_dir(run_dir, netns)
    remove_stale_temp_files(scoped)
    return scoped


def discard_interface(ifname: str, *, netns: str | None, run_dir: Path) -> None:
    """Best effort: remove an interface this run created, while a failure is being reported."""
    try:
        wg.delete_interface(ifname, netns=netns, run_dir=run_dir)
    except HostError:
        pass


def mss_plan(ifname: str, netns: str | None, lines: list[str], warnings: list[str], *, exists: bool) -> bool:
    """Whether ``up`` must add the MSS clamp of ``ifname`` (plan line added), or a warning
    when nftables is missing."""
    if not mss.available():
        warnings.append(f"nft not found: TCP MSS is not clamped on {ifname}; where ICMP is dropped, TCP "
                        "through the tunnel can stall (apt-get install nftables)")
        return False
    if exists and mss.present(ifname, netns):
        return False
    lines.append(f"+ {mss.describe(ifname)}")
    return True


def unclamp(ifname: str, netns: str | None) -> list[str]:
    """Best effort: remove the MSS clamp of ``ifname``; the plan line when it was there."""
    try:
        return [f"- {mss.describe(ifname)}"] if mss.available() and mss.remove(ifname, netns) else []
    except HostError:
        return []


# -- desired state ------------------------------------------------------------------
@dataclass
class Desired:
    state: HostState
    peers: list[PeerConfig]
    skipped: list[Shadowing] = field(default_factory=list)


def connector_sysctls(iface: str, observed_sysctls: dict[str, str]) -> list[Sysctl]:
    """Forwarding on; loose reverse-path filtering on the tunnel where it was strict (it would drop
    replies routed back through it)."""
    sysctls = [Sysctl(k, "1") for k in FORWARDING]
    if observed_sysctls.get(rp_filter_key(iface)) == "1":
        sysctls.append(Sysctl(rp_filter_key(iface), "2"))
    return sysctls


def desired_connector(
    cfg: ConnectorConfig,
    hub: Hub,
    remote: list[str],
    *,
    connected: list[str],
    observed_sysctls: dict[str, str],
    others: tuple[Hub, ...] = (),
    slot: ConnectorSlot | None = None,
) -> Desired:
    """The kernel state and WireGuard peers a connector wants (pure).

    ``hub`` is the hub it routes through; ``others`` the vnet's other hubs (several hubs): a
    peer each, with only its own device address (WireGuard gives a CIDR to one peer).
    ``slot``: its table and rules on a host with several connectors (None: the first's)."""
    iface = cfg.interface
    slot = slot or ConnectorSlot(iface, 0)
    routes = [KernelRoute(cidr, table=slot.table, ifname=iface) for cidr in sorted(set(remote) | {DEVICE_RANGE})]
    endpoints = [a for h in (hub, *others) for a in endpoint_addresses(h.endpoint)]
    routes, skipped = split_shadowing(routes, connected=connected, endpoints=endpoints)
    sysctls = connector_sysctls(iface, observed_sysctls)
    state = HostState(
        addresses=[Address(iface, f"{cfg.address}/32")],
        links=[LinkState(iface, mtu=cfg.mtu, up=True)],
        routes=routes,
        rules=slot.rules(),
        sysctls=sysctls,
    )
    allowed = tuple(r.dst for r in routes)
    peers = [PeerConfig(hub.public_key, endpoint=hub.endpoint, allowed_ips=allowed, persistent_keepalive=KEEPALIVE)]
    peers += [PeerConfig(h.public_key, endpoint=h.endpoint, allowed_ips=(f"{h.address}/32",),
                         persistent_keepalive=KEEPALIVE) for h in others]
    return Desired(state, peers, skipped)


def remote_networks(ctrl: Controller, cfg: ConnectorConfig) -> list[str]:
    """Every CIDR of the vnet that another tunnel serves."""
    return ctrl.route_networks(cfg.virtual_network_id, except_tunnel=cfg.tunnel_id)


# -- up -------------------------------------------------------------------------------
@dataclass
class UpResult:
    lines: list[str]  #: the plan as printed: interface, WireGuard and kernel changes
    changed: bool
    applied: bool
    skipped: list[Shadowing]
    warnings: list[str]
    #: what this run left behind, for the next reconcile of a follow loop (None after a dry run)
    baseline: incremental.Baseline | None = None


def route_counts(result: UpResult, ctrl: Controller | None, cfg: ConnectorConfig, *,
                 run_dir: Path) -> tuple[int | None, int | None]:
    """Routes desired and installed after ``result`` (for metrics): from its baseline when it
    has one, else read back with :func:`status`."""
    if result.baseline is not None:
        n = result.baseline.installed_count
        return n, n
    report = status(ctrl, cfg, run_dir=run_dir)
    desired = report["routes"]["desired"]
    return (None if desired is None else len(desired)), len(report["routes"]["installed"])


def _peer_lines(status, peers: list[PeerConfig]) -> list[str]:
    """What the WireGuard configuration would change (empty when it already matches)."""
    have = {p.public_key: p for p in status.peers} if status is not None else {}
    lines = []
    for p in peers:
        cur = have.pop(p.public_key, None)
        if cur is None:
            lines.append(f"+ wireguard peer {p.public_key[:8]}… endpoint {p.endpoint} allowed {', '.join(p.allowed_ips)}")
        elif set(cur.allowed_ips) != set(p.allowed_ips) or (p.endpoint and cur.endpoint != p.endpoint):
            lines.append(f"~ wireguard peer {p.public_key[:8]}… allowed {', '.join(p.allowed_ips)}")
    lines += [f"- wireguard peer {k[:8]}…" for k in have]
    return lines


def masquerade_warnings(netns: str | None = None) -> list[str]:
    """Name catch-all MASQUERADE/SNAT rules that would rewrite forwarded sources."""
    import shutil
    import subprocess

    from warpcli.host.routing.netns import exec_argv

    found: list[str] = []
    for tool in ("iptables-save", "nft"):
        exe = shutil.which(tool)
        if not exe:
            continue
        argv = [exe] if tool == "iptables-save" else [exe, "list", "ruleset"]
        try:
            out = subprocess.run(exec_argv(netns, argv), capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            text = line.strip()
            if ("MASQUERADE" in text.upper() or "SNAT" in text.upper()) and " -s " not in text and "saddr" not in text:
                found.append(f"{tool}: {text}")
    return [f"a catch-all source NAT rule would rewrite forwarded traffic's source address: {f}" for f in found]


def up(
    ctrl: Controller,
    cfg: ConnectorConfig,
    private_key: str,
    *,
    run_dir: Path,
    dry_run: bool = False,
    netns: str | None = None,
    ha=None,
    config_dir: Path | None = None,
    since: incremental.Baseline | None = None,
    on_progress=None,
    lan_interface: str | None = None,
) -> UpResult:
    """Reconcile the tunnel; with ``ha`` (:class:`warpcli.host.ha.keepalived.HaSettings`) also run
    this replica's keepalived and agent (started after the tunnel, so the agent can reach the hub).

    ``since``: the baseline of the previous reconcile of a follow loop; only what changed since
    is applied while it is still valid (:mod:`warpcli.host.incremental`).
    ``on_progress(done, total)``: kernel changes made so far (``plan.apply``).
    ``lan_interface``: this connector's LAN (HA: ``ha.lan_interface``); required when the host
    already runs another vnet's connector (:class:`ConnectorSlot`), kept for later runs."""
    lan = ha.lan_interface if ha is not None else resolve_lan(cfg, lan_interface, run_dir=run_dir, netns=netns,
                                                              config_dir=config_dir)
    result = None
    if since is not None and not dry_run:
        result = _up_since(ctrl, cfg, since, run_dir=run_dir, netns=netns)
    if result is None:
        result = _up_tunnel(ctrl, cfg, private_key, run_dir=run_dir, dry_run=dry_run, netns=netns,
                            on_progress=on_progress, lan=lan, config_dir=config_dir)
    if ha is None and lan_interface and config_dir is not None and not dry_run:
        save_lan(config_dir, cfg, lan_interface)
    if ha is None:
        return result
    from warpcli.host.ha import replica

    ha_lines = replica.ensure(ha, run_dir=scoped_run_dir(run_dir, netns), netns=netns, dry_run=dry_run)
    if config_dir is not None and not dry_run:
        replica.save_settings(config_dir, ha)
    if not ha_lines:
        return result
    lines = [x for x in result.lines if x != "no changes"] + ha_lines
    return UpResult(lines, True, not dry_run, result.skipped, result.warnings, result.baseline)


def _up_tunnel(
    ctrl: Controller,
    cfg: ConnectorConfig,
    private_key: str,
    *,
    run_dir: Path,
    dry_run: bool = False,
    netns: str | None = None,
    on_progress=None,
    lan: str | None = None,
    config_dir: Path | None = None,
) -> UpResult:
    from warpcli.host.routing.netlink import Netlink

    require_root()
    run_dir = prepare_run_dir(run_dir, netns)
    hub, others = _hubs(ctrl, cfg, run_dir)
    remote = remote_networks(ctrl, cfg)
    iface_name = cfg.interface
    existing = wg.find_interface(iface_name, netns=netns, run_dir=run_dir)
    if existing is None and not dry_run:
        wg.reclaim(iface_name, netns=netns, run_dir=run_dir)  # what a killed run left half made
    with Netlink(netns) as nl:
        connected = [n for n in nl.connected_networks() if not n.startswith(f"{cfg.address}/")]
        if (existing is None and nl.link(iface_name) is not None
                and not (dry_run and wg.has_record(iface_name, netns=netns, run_dir=run_dir))):
            from warpcli.host.errors import InterfaceInUse

            raise InterfaceInUse(f"an interface named {iface_name} exists and is not warpcli's",
                                 hint="enroll again with another --interface")
        slot, fresh = claim_slot(run_dir, cfg, lan=lan, nl=nl, netns=netns, config_dir=config_dir, dry_run=dry_run,
                                 forget=lambda name: (unclamp(name, netns), restore_sysctls(run_dir, name, netns)))
    try:
        return _up_slot(cfg, private_key, hub, others, remote, connected, existing, slot, run_dir=run_dir,
                        dry_run=dry_run, netns=netns, on_progress=on_progress)
    except BaseException:
        if fresh:  # a first run that failed: nothing of it is left to own the slot
            release_slot(run_dir, iface_name)
        raise


def _up_slot(cfg: ConnectorConfig, private_key: str, hub: Hub, others: tuple[Hub, ...], remote: list[str],
             connected: list[str], existing: wg.WgInterface | None, slot: ConnectorSlot, *, run_dir: Path,
             dry_run: bool, netns: str | None, on_progress) -> UpResult:
    """``up``'s plan and its application, in ``slot``'s table and rules."""
    from warpcli.host.routing.kernel import KernelExecutor, observe
    from warpcli.host.routing.plan import apply, diff

    iface_name = cfg.interface
    keys = [*FORWARDING, rp_filter_key(iface_name)]
    observed = observe(netns, tables=[slot.table], interfaces=[iface_name] if existing else [],
                       sysctl_keys=[k for k in keys if existing or not k.startswith("net.ipv4.conf.")])
    observed.rules = [r for r in observed.rules if slot.owns(r)]
    current = {s.key: s.value for s in observed.sysctls}
    want = desired_connector(cfg, hub, remote, connected=connected, observed_sysctls=current, others=others,
                             slot=slot)

    lines: list[str] = []
    if existing is None:
        lines.append(f"+ interface {iface_name} (WireGuard)")
        observed.links = [LinkState(iface_name, mtu=None, up=False)]
        lines += [f"+ wireguard peer {h.public_key[:8]}… endpoint {h.endpoint}" for h in (hub, *others)]
        # a new interface: its rp_filter is read after creation
        want.state.sysctls = [s for s in want.state.sysctls if s.key in current]
    else:
        lines += _peer_lines(wg.show(existing), want.peers)
    plan = diff(want.state, observed)
    if existing is None:
        plan = KernelPlan(tuple(a for a in plan.actions if not (a.op == "set" and isinstance(a.obj, LinkState))))
    lines += [] if plan.empty else plan.lines()
    warnings = [s.message() + "; skipped" for s in want.skipped] + masquerade_warnings(netns)
    clamp = mss_plan(iface_name, netns, lines, warnings, exists=existing is not None)
    changed = bool(lines)
    if dry_run:
        return UpResult(lines or ["no changes"], changed, False, want.skipped, warnings)
    if not changed:
        watch = _watch_hubs(cfg, hub, others, want, run_dir=run_dir, netns=netns)
        base = None if existing is None or slot.scoped else _baseline(cfg, hub, others, remote, want, connected,
                                                                       existing, netns)
        return UpResult(watch or ["no changes"], bool(watch), bool(watch), want.skipped, warnings, base)

    created = None
    clamped = False
    try:
        iface = existing or wg.create_interface(iface_name, netns=netns, run_dir=run_dir)
        created = None if existing else iface
        faults.point("created")
        wg.sync_peers(iface, private_key=private_key, peers=want.peers)
        faults.point("configured")
        if created is not None:  # plan the link and its sysctls now that the interface exists
            observed = observe(netns, tables=[slot.table], interfaces=[iface_name], sysctl_keys=keys)
            observed.rules = [r for r in observed.rules if slot.owns(r)]
            # only the sysctls depend on what was observed after creation: the routes stay as planned
            want.state.sysctls = connector_sysctls(iface_name, {s.key: s.value for s in observed.sysctls})
            plan = diff(want.state, observed)
        remember_sysctls(run_dir, iface_name, observed.sysctls, want.state.sysctls, netns)
        if clamp:
            clamped = mss.ensure(iface_name, netns)
        with KernelExecutor(netns) as executor:
            apply(plan, faults.CountingExecutor(executor), on_progress)
    except BaseException:
        if clamped:
            unclamp(iface_name, netns)
        if created is not None:
            discard_interface(iface_name, netns=netns, run_dir=run_dir)
        raise
    lines += _watch_hubs(cfg, hub, others, want, run_dir=run_dir, netns=netns)
    # a scoped slot has no baseline: incremental.delta plans in TABLE, so each reconcile is a full one
    return UpResult(lines, True, True, want.skipped, warnings,
                    None if slot.scoped else _baseline(cfg, hub, others, remote, want, connected, iface, netns))


def _baseline(cfg: ConnectorConfig, hub: Hub, others: tuple[Hub, ...], remote: list[str], want: Desired,
              connected: list[str], iface: wg.WgInterface, netns: str | None) -> incremental.Baseline | None:
    """What a full reconcile leaves behind, for the next one of a follow loop. None with several
    hubs: the hub watcher moves the routes between their peers, so each change is a full reconcile."""
    import time

    if others:
        return None

    from warpcli.host.routing.netlink import Netlink

    with Netlink(netns) as nl:
        link = nl.link(cfg.interface)
        now = frozenset(n for n in nl.connected_networks() if not n.startswith(f"{cfg.address}/"))
    if link is None:
        return None
    endpoints = tuple(endpoint_addresses(hub.endpoint))
    installed = frozenset(r.dst for r in want.state.routes)
    if now != frozenset(connected):  # e.g. the new interface's link-local network: is the plan still right?
        if frozenset(connected) - now or find_shadowing(installed, connected=now - frozenset(connected)):
            return None
    return incremental.Baseline(
        cfg.interface, link.index, link.mtu, iface.backend, (hub.public_key, hub.endpoint), endpoints, now,
        tuple(remote), tuple(want.skipped), len(installed), time.monotonic())


def _up_since(ctrl: Controller, cfg: ConnectorConfig, since: incremental.Baseline, *, run_dir: Path,
              netns: str | None) -> UpResult | None:
    """A follow loop's reconcile from the previous one's baseline: only the routes that changed go
    to the kernel and the WireGuard peer. None when the baseline no longer holds (a full
    reconcile is needed). No MASQUERADE warnings here: the full reconcile gave them."""
    from warpcli.host.routing.kernel import KernelExecutor
    from warpcli.host.routing.netlink import Netlink
    from warpcli.host.routing.plan import apply

    require_root()
    hub, others = _hubs(ctrl, cfg, run_dir)
    if others:  # a hub was added: the hub watcher takes over (a full reconcile starts it)
        return None
    with Netlink(netns) as nl:
        link = nl.link(cfg.interface)
        connected = [n for n in nl.connected_networks() if not n.startswith(f"{cfg.address}/")]
    if link is None or not incremental.still_valid(
            since, hub=(hub.public_key, hub.endpoint), ifindex=link.index, mtu=link.mtu, up=link.up,
            connected=connected, endpoints=endpoint_addresses(hub.endpoint)):
        return None
    d = incremental.delta(since, remote_networks(ctrl, cfg))
    warnings = [s.message() + "; skipped" for s in d.shadowed]
    skipped = list(d.baseline.skipped)
    if d.empty:
        return UpResult(["no changes"], False, False, skipped, warnings, d.baseline)
    plan = d.plan()
    lines = [incremental.peer_line(hub.public_key, d) or "", *plan.lines()]
    iface = wg.WgInterface(cfg.interface, netns, since.backend)
    if d.deletes:  # wireguard-go cannot remove one allowed IP: set the whole list
        peer = PeerConfig(hub.public_key, allowed_ips=tuple(sorted(d.baseline.installed)))
    else:
        peer = PeerConfig(hub.public_key, allowed_ips=tuple(r.dst for r in d.adds), replace_allowed_ips=False)
    try:
        wg.configure(iface, peers=[peer], replace_peers=False)
        faults.point("configured")
        with KernelExecutor(netns) as executor:
            apply(plan, faults.CountingExecutor(executor))
    except BaseException:
        try:  # the peer's allowed IPs as they were
            wg.configure(iface, peers=[PeerConfig(hub.public_key, allowed_ips=tuple(sorted(since.installed)))],
                         replace_peers=False)
        except HostError:
            pass
        raise
    return UpResult(lines, True, True, skipped, warnings, d.baseline)


def _hubs(ctrl: Controller, cfg: ConnectorConfig, run_dir: Path) -> tuple[Hub, tuple[Hub, ...]]:
    """The hub to route through and the vnet's other hubs: the one the hub watcher uses now
    (several hubs), else the preferred one. NotFound when the vnet has no hub."""
    from warpcli.host.ha import hubset

    hubs = ctrl.list_hubs(cfg.virtual_network_id)
    if not hubs:
        return ctrl.get_hub(cfg.virtual_network_id), ()  # raises NotFound with its hint
    using = hubset.active_hub(run_dir, cfg.interface) if len(hubs) > 1 else None
    hub = next((h for h in hubs if h.address == using), hubs[0])
    return hub, tuple(h for h in hubs if h is not hub)


def _watch_hubs(cfg: ConnectorConfig, hub: Hub, others: tuple[Hub, ...], want: Desired, *, run_dir: Path,
                netns: str | None) -> list[str]:
    """Start (or update) the hub watcher when the vnet has several hubs; stop it when one is left."""
    from warpcli.host.ha import hubset
    from warpcli.host.ha import keepalived as ka

    if not others:
        return hubset.stop(run_dir, cfg.interface)
    settings = {
        "ifname": cfg.interface, "address": cfg.address, "tunnel_id": cfg.tunnel_id,
        "priority": cfg.priority or 100, "preempt": True, "active": hub.address,
        "hubs": [{"address": h.address, "public_key": h.public_key, "priority": h.priority, "endpoint": h.endpoint}
                 for h in (hub, *others)],
        "cidrs": list(want.peers[0].allowed_ips),
        "replica_agent": str(ka.ha_dir(run_dir, cfg.interface) / "agent.json"),
    }
    return hubset.ensure(run_dir, cfg.interface, settings, netns=netns)


# -- down -----------------------------------------------------------------------------
@dataclass
class DownResult:
    lines: list[str]
    changed: bool


def down(cfg: ConnectorConfig, *, run_dir: Path, netns: str | None = None) -> DownResult:
    """Remove exactly what ``up`` installed (by tag), restore the sysctls it changed.

    Only this connector's table and rules (its slot): another vnet's connector on the host keeps
    working; the shared sysctls (forwarding) go back when the last connector or hub goes down."""
    from warpcli.host.ha import replica
    from warpcli.host.routing.netlink import Netlink

    require_root()
    run_dir = prepare_run_dir(run_dir, netns)
    lines: list[str] = replica.stop(run_dir, cfg.interface)  # hand over first, while the tunnel still works
    from warpcli.host.ha import hubset

    lines += hubset.stop(run_dir, cfg.interface)
    slot = slot_of(run_dir, cfg.interface)  # None: not recorded while another connector holds slot 0
    if slot is not None:
        with Netlink(netns) as nl:
            for rule in [r for r in nl.rules() if slot.owns(r) and r.proto == KernelRule(0, 0).proto]:
                nl.delete_rule(rule, missing_ok=True)
                lines.append(f"- {rule.describe()}")
            for route in nl.purge_routes(table=slot.table):
                lines.append(f"- {route.describe()}")
    faults.point("down-routes")
    lines += unclamp(cfg.interface, netns)
    if wg.delete_interface(cfg.interface, netns=netns, run_dir=run_dir):
        lines.insert(0, f"- interface {cfg.interface}")
    elif wg.remove_stale_socket(cfg.interface):
        lines.append(f"- stale socket of {cfg.interface}")
    faults.point("down-interface")
    lines += restore_sysctls(run_dir, cfg.interface, netns)
    release_slot(run_dir, cfg.interface)
    return DownResult(lines or ["nothing to remove"], bool(lines))


# -- status ---------------------------------------------------------------------------
HANDSHAKE_FRESH = 180  # seconds: WireGuard re-handshakes every 2 minutes while traffic flows


def status(ctrl: Controller | None, cfg: ConnectorConfig, *, run_dir: Path, netns: str | None = None) -> dict:
    """Interface, peer, handshake, bytes, installed vs desired routes, forwarding; ``healthy``."""
    import time

    from warpcli.host.routing import sysctl
    from warpcli.host.routing.netlink import Netlink

    run_dir = scoped_run_dir(run_dir, netns)
    iface = wg.find_interface(cfg.interface, netns=netns, run_dir=run_dir)
    slot = slot_of(run_dir, cfg.interface)
    with Netlink(netns) as nl:  # only this connector's table: another vnet's connector may share the host
        installed = [] if slot is None else sorted(r.dst for r in nl.routes(table=slot.table))
    forwarding = sysctl.read_many(list(FORWARDING), netns)
    report: dict = {
        "interface": cfg.interface,
        "address": cfg.address,
        "tunnel_name": cfg.tunnel_name,
        "up": iface is not None,
        "backend": iface.backend if iface else None,
        "peer": None,
        "routes": {"installed": installed, "desired": None, "missing": [], "extra": []},
        "forwarding": {k: v == "1" for k, v in forwarding.items()},
        "problems": [],
    }
    report["active_hub"], report["hubs"] = None, []
    if iface is not None:
        from warpcli.host.ha import hubset

        dev = wg.show(iface)
        report["hubs"], report["active_hub"], hub_problems = hubset.report(run_dir, cfg.interface, list(dev.peers),
                                                                           time.time())
        report["problems"] += hub_problems
        if dev.peers:
            using = (report["active_hub"] or {}).get("public_key")
            p = next((x for x in dev.peers if x.public_key == using), dev.peers[0])
            age = None if not p.last_handshake else max(0.0, time.time() - p.last_handshake)
            report["peer"] = {
                "public_key": p.public_key, "endpoint": p.endpoint, "allowed_ips": list(p.allowed_ips),
                "last_handshake_seconds_ago": None if age is None else round(age, 1),
                "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes,
            }
            if age is None or age > HANDSHAKE_FRESH:
                report["problems"].append("no recent handshake with the hub")
        else:
            report["problems"].append("no peer configured")
    else:
        report["problems"].append(f"interface {cfg.interface} is not up")
    if ctrl is not None:
        try:
            hub = ctrl.get_hub(cfg.virtual_network_id)
            with Netlink(netns) as nl:
                connected = [n for n in nl.connected_networks() if not n.startswith(f"{cfg.address}/")]
            want = desired_connector(cfg, hub, remote_networks(ctrl, cfg), connected=connected, observed_sysctls={})
            desired = sorted(r.dst for r in want.state.routes)
            report["routes"].update(
                desired=desired,
                missing=sorted(set(desired) - set(installed)),
                extra=sorted(set(installed) - set(desired)),
            )
            if report["routes"]["missing"] or report["routes"]["extra"]:
                report["problems"].append("installed routes differ from the controller's (run `warpcli up`)")
        except WarpcliError as exc:  # no hub yet, controller unreadable: degraded, not a crash
            report["problems"].append(str(exc))
    if not all(report["forwarding"].values()):
        report["problems"].append("IP forwarding is off")
    from warpcli.host.ha import replica

    ha = replica.report(run_dir, cfg.interface)
    report["role"] = ha["role"] if ha else None
    report["ha"] = ha
    if ha is not None:
        report["problems"] += [f"high availability: {p}" for p in ha["problems"]]
    report["healthy"] = not report["problems"]
    return report
