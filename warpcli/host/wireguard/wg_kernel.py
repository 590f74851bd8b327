"""Kernel WireGuard configuration over generic netlink (pyroute2's ``WireGuard``).

Same inputs and outputs as :class:`warpcli.host.wireguard.uapi.UapiClient`. The socket is
opened inside the namespace (:func:`warpcli.host.routing.netns.run_in`). pyroute2 sets
one peer per message and has no "replace peers" flag, so replacing removes the
peers that are not wanted first.

NOTE: only :func:`parse_info` is tested everywhere (on messages encoded by pyroute2);
the rest runs only on hosts with the ``wireguard`` kernel module, which the CI and
development machines of this project lack (they use wireguard-go).
"""

from __future__ import annotations

from warpcli.core import keys
from warpcli.host.errors import HostError
from warpcli.host.routing import netns as ns
from warpcli.host.wireguard.uapi import DeviceStatus, PeerStatus, format_endpoint


def _b64(value) -> str:
    """pyroute2 decodes a key NLA to its base64 bytes (older versions: a dict with "value")."""
    if not isinstance(value, (bytes, str)):
        value = value["value"]
    return value.decode() if isinstance(value, bytes) else str(value)


def _get(ifname: str) -> DeviceStatus:
    from pyroute2 import WireGuard

    with WireGuard() as wg:
        return parse_info(list(wg.info(ifname)))


def parse_info(msgs) -> DeviceStatus:
    """Decoded ``WG_CMD_GET_DEVICE`` replies (one or more) into a :class:`DeviceStatus`."""
    public = None
    port = fwmark = None
    peers: list[PeerStatus] = []
    for msg in msgs:
        if msg.get_attr("WGDEVICE_A_PUBLIC_KEY") is not None:
            public = _b64(msg.get_attr("WGDEVICE_A_PUBLIC_KEY"))
        port = msg.get_attr("WGDEVICE_A_LISTEN_PORT") or port
        fwmark = msg.get_attr("WGDEVICE_A_FWMARK") or fwmark
        for peer in msg.get_attr("WGDEVICE_A_PEERS") or ():
            ep = peer.get_attr("WGPEER_A_ENDPOINT")
            hs = peer.get_attr("WGPEER_A_LAST_HANDSHAKE_TIME")
            endpoint = None
            if ep is not None:
                endpoint = f"[{ep['addr']}]:{ep['port']}" if ":" in ep["addr"] else f"{ep['addr']}:{ep['port']}"
            peers.append(PeerStatus(
                public_key=_b64(peer.get_attr("WGPEER_A_PUBLIC_KEY")),
                endpoint=endpoint,
                allowed_ips=tuple(a["addr"] for a in peer.get_attr("WGPEER_A_ALLOWEDIPS") or () if "addr" in a),
                last_handshake=(hs["tv_sec"] + hs["tv_nsec"] / 1e9) if hs is not None and hs["tv_sec"] else None,
                rx_bytes=peer.get_attr("WGPEER_A_RX_BYTES") or 0,
                tx_bytes=peer.get_attr("WGPEER_A_TX_BYTES") or 0,
                persistent_keepalive=peer.get_attr("WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL") or 0,
            ))
    return DeviceStatus(public_key=public, listen_port=port, fwmark=fwmark, peers=tuple(peers))


def _set(ifname, private_key, listen_port, peers, replace_peers, fwmark) -> None:
    from pyroute2 import WireGuard

    wanted = {keys.validate_key(p.public_key) for p in peers}
    with WireGuard() as wg:
        if replace_peers:
            for peer in _get(ifname).peers:
                if peer.public_key not in wanted:
                    wg.set(ifname, peer={"public_key": peer.public_key, "remove": True})
        wg.set(ifname, private_key=private_key, listen_port=listen_port, fwmark=fwmark)
        for p in peers:
            spec: dict = {"public_key": keys.validate_key(p.public_key)}
            if p.remove:
                spec["remove"] = True
            else:
                if p.endpoint:
                    host, _, port = format_endpoint(p.endpoint).rpartition(":")
                    spec["endpoint_addr"], spec["endpoint_port"] = host.strip("[]"), int(port)
                if p.persistent_keepalive is not None:
                    spec["persistent_keepalive"] = int(p.persistent_keepalive)
                if p.preshared_key is not None:
                    spec["preshared_key"] = keys.validate_key(p.preshared_key, "preshared key")
                spec["replace_allowed_ips"] = p.replace_allowed_ips
                spec["allowed_ips"] = list(p.allowed_ips)
            wg.set(ifname, peer=spec)


def set_device(ifname: str, netns: str | None, *, private_key=None, listen_port=None, peers=(),
               replace_peers=True, fwmark=None) -> None:
    try:
        ns.run_in(netns, _set, ifname, private_key, listen_port, tuple(peers), replace_peers, fwmark)
    except HostError:
        raise
    except Exception as exc:  # pyroute2 raises NetlinkError / ValueError; never echo the keys
        raise HostError(f"could not configure WireGuard interface {ifname}: {type(exc).__name__}"
                        f"{': ' + exc.args[1] if len(getattr(exc, 'args', ())) > 1 else ''}") from None


def get_device(ifname: str, netns: str | None) -> DeviceStatus:
    try:
        return ns.run_in(netns, _get, ifname)
    except HostError:
        raise
    except Exception as exc:
        raise HostError(f"could not read WireGuard interface {ifname}: {exc}") from None
