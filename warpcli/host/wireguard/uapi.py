"""A client for the WireGuard cross-platform UAPI (the unix socket of ``wireguard-go``).

Protocol (https://www.wireguard.com/xplatform/): one request per connection,
``set=1`` or ``get=1`` followed by ``key=value`` lines and an empty line; keys in
hex; the reply ends with ``errno=N`` and an empty line, N being 0 or a negative
errno. The socket is ``/var/run/wireguard/IFNAME.sock`` whatever network namespace
the interface lives in. Private keys are sent, never returned, logged or repr'd.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path

from warpcli.core import keys
from warpcli.core.errors import InvalidInput
from warpcli.host.constants import WIREGUARD_SOCKET_DIR
from warpcli.host.errors import HostError, UapiError, strerror


@dataclass(frozen=True)
class PeerConfig:
    """A peer to set. ``endpoint`` is ``IP:PORT`` or ``[IPv6]:PORT`` (a host name is resolved)."""

    public_key: str
    endpoint: str | None = None
    allowed_ips: tuple[str, ...] = ()
    persistent_keepalive: int | None = None
    remove: bool = False
    replace_allowed_ips: bool = True
    preshared_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PeerStatus:
    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    last_handshake: float | None  #: seconds since the epoch; None: never
    rx_bytes: int
    tx_bytes: int
    persistent_keepalive: int


@dataclass(frozen=True)
class DeviceStatus:
    public_key: str | None  #: derived from the private key, which is not kept
    listen_port: int | None
    fwmark: int | None
    peers: tuple[PeerStatus, ...]

    def peer(self, public_key: str) -> PeerStatus | None:
        return next((p for p in self.peers if p.public_key == public_key), None)


def socket_path(ifname: str, socket_dir: str | Path = WIREGUARD_SOCKET_DIR) -> Path:
    return Path(socket_dir) / f"{ifname}.sock"


def format_endpoint(endpoint: str) -> str:
    """Canonical ``IP:PORT`` / ``[IPv6]:PORT`` for UAPI; resolves a host name (first address)."""
    text = endpoint.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise InvalidInput(f"invalid endpoint {endpoint!r}", hint="expected HOST:PORT or [IPv6]:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError):
            raise InvalidInput(f"cannot resolve endpoint host {host!r}") from None
        ip = ipaddress.ip_address(infos[0][4][0])
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _cidr(text: str) -> str:
    from warpcli.core.cidr import parse_network

    try:
        return str(parse_network(text.strip()))  # a fast path for canonical CIDRs: 10,000 per `up`
    except InvalidInput:
        raise InvalidInput(f"invalid allowed IP {text!r}", hint="expected a CIDR such as 10.0.0.0/24") from None


def encode_set(
    *,
    private_key: str | None = None,
    listen_port: int | None = None,
    fwmark: int | None = None,
    peers: tuple[PeerConfig, ...] | list[PeerConfig] = (),
    replace_peers: bool = True,
) -> bytes:
    """The ``set=1`` request text. Contains the private key: never log it."""
    lines = ["set=1"]
    if private_key is not None:
        lines.append(f"private_key={keys.b64_to_hex(private_key, 'private key')}")
    if listen_port is not None:
        if not 0 <= int(listen_port) < 65536:
            raise InvalidInput(f"invalid listen port {listen_port}")
        lines.append(f"listen_port={int(listen_port)}")
    if fwmark is not None:
        lines.append(f"fwmark={int(fwmark)}")
    if replace_peers:
        lines.append("replace_peers=true")
    for peer in peers:
        lines.append(f"public_key={keys.b64_to_hex(peer.public_key, 'public key')}")
        if peer.remove:
            lines.append("remove=true")
            continue
        if peer.preshared_key is not None:
            lines.append(f"preshared_key={keys.b64_to_hex(peer.preshared_key, 'preshared key')}")
        if peer.endpoint:
            lines.append(f"endpoint={format_endpoint(peer.endpoint)}")
        if peer.persistent_keepalive is not None:
            lines.append(f"persistent_keepalive_interval={int(peer.persistent_keepalive)}")
        if peer.replace_allowed_ips:
            lines.append("replace_allowed_ips=true")
        lines.extend(f"allowed_ip={_cidr(a)}" for a in peer.allowed_ips)
    return ("\n".join(lines) + "\n\n").encode()


def parse_get(text: str) -> DeviceStatus:
    """Parse a ``get=1`` reply (without its ``errno`` line check, see :func:`_errno`)."""
    device: dict = {"public_key": None, "listen_port": None, "fwmark": None}
    peers: list[dict] = []
    for line in text.splitlines():
        if not line:
            continue
        key, _, value = line.partition("=")
        if key == "public_key":
            peers.append({"public_key": keys.hex_to_b64(value), "endpoint": None, "allowed_ips": [],
                          "sec": 0, "nsec": 0, "rx_bytes": 0, "tx_bytes": 0, "persistent_keepalive": 0})
        elif not peers:
            if key == "private_key":
                device["public_key"] = keys.public_key(keys.hex_to_b64(value))
            elif key == "listen_port":
                device["listen_port"] = int(value)
            elif key == "fwmark":
                device["fwmark"] = int(value)
        else:
            peer = peers[-1]
            if key == "endpoint":
                peer["endpoint"] = value
            elif key == "allowed_ip":
                peer["allowed_ips"].append(value)
            elif key == "last_handshake_time_sec":
                peer["sec"] = int(value)
            elif key == "last_handshake_time_nsec":
                peer["nsec"] = int(value)
            elif key in ("rx_bytes", "tx_bytes"):
                peer[key] = int(value)
            elif key == "persistent_keepalive_interval":
                peer["persistent_keepalive"] = int(value)
    return DeviceStatus(
        public_key=device["public_key"],
        listen_port=device["listen_port"],
        fwmark=device["fwmark"],
        peers=tuple(
            PeerStatus(
                public_key=p["public_key"],
                endpoint=p["endpoint"],
                allowed_ips=tuple(p["allowed_ips"]),
                last_handshake=(p["sec"] + p["nsec"] / 1e9) if (p["sec"] or p["nsec"]) else None,
                rx_bytes=p["rx_bytes"],
                tx_bytes=p["tx_bytes"],
                persistent_keepalive=p["persistent_keepalive"],
            )
            for p in peers
        ),
    )


def _errno(reply: str) -> int | None:
    for line in reversed(reply.splitlines()):
        if line.startswith("errno="):
            try:
                return int(line[6:])
            except ValueError:
                return None
    return None


def _complete(buf: bytes) -> bool:
    """A reply ends with an ``errno=N`` line and an empty line (the server keeps the socket open)."""
    return buf.endswith(b"\n\n") and buf[:-2].rsplit(b"\n", 1)[-1].startswith(b"errno=")


class UapiClient:
    """One interface's UAPI socket; every call opens its own connection."""

    def __init__(self, ifname: str, *, socket_dir: str | Path = WIREGUARD_SOCKET_DIR, timeout: float = 5.0):
        self.ifname = ifname
        self.path = socket_path(ifname, socket_dir)
        self.timeout = timeout

    def _request(self, payload: bytes, what: str) -> str:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            try:
                sock.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError):
                raise HostError(
                    f"no WireGuard UAPI socket for {self.ifname} at {self.path}",
                    hint="is the interface up (wireguard-go running)?",
                ) from None
            except PermissionError:
                raise HostError(f"permission denied on {self.path}", hint="run as root") from None
            sock.sendall(payload)
            buf = b""
            while not _complete(buf):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except TimeoutError:
            raise HostError(f"WireGuard UAPI {what} on {self.ifname} timed out after {self.timeout:g}s") from None
        except OSError as exc:
            raise HostError(f"WireGuard UAPI {what} on {self.ifname} failed: {exc.strerror or exc}") from None
        finally:
            sock.close()
        reply = buf.decode(errors="replace")
        code = _errno(reply)
        if code is None:
            raise UapiError(f"WireGuard UAPI {what} on {self.ifname}: no reply (request refused)")
        if code != 0:
            raise UapiError(f"WireGuard UAPI {what} on {self.ifname} failed: {strerror(code)} (errno {code})",
                            errno=abs(code))
        return reply

    def set_device(
        self,
        private_key: str | None = None,
        listen_port: int | None = None,
        peers: tuple[PeerConfig, ...] | list[PeerConfig] = (),
        *,
        replace_peers: bool = True,
        fwmark: int | None = None,
    ) -> None:
        """Configure the device. With ``replace_peers`` (default) ``peers`` is the whole peer set."""
        payload = encode_set(private_key=private_key, listen_port=listen_port, fwmark=fwmark,
                             peers=tuple(peers), replace_peers=replace_peers)
        self._request(payload, "set")

    def get_device(self) -> DeviceStatus:
        return parse_get(self._request(b"get=1\n\n", "get"))
