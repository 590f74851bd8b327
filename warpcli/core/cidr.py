"""CIDR parsing and integer-interval arithmetic for IPv4 and IPv6.

Networks are kept as ``(version, value, prefixlen)`` integers: every algorithm in
the core (overlap sweep, longest-prefix match, store indexes) works on the
closed integer interval ``[lo, hi]`` a prefix covers. Parsing goes through
``socket.inet_pton``, which is strict (no leading zeros, no short forms, no zone
ids) and several times faster than :mod:`ipaddress`.
"""

from __future__ import annotations

import _socket as socket  # the C module: `socket` builds enums at import, costing start-up
from typing import NamedTuple

from warpcli.core.errors import InvalidInput, WarpcliError

BITS = {4: 32, 6: 128}
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_LEN = {4: 4, 6: 16}


class Network(NamedTuple):
    """A canonical CIDR: the network address has no host bits set."""

    version: int
    value: int
    prefixlen: int

    @property
    def lo(self) -> int:
        return self.value

    @property
    def hi(self) -> int:
        return self.value | ((1 << (BITS[self.version] - self.prefixlen)) - 1)

    def __str__(self) -> str:
        return f"{format_address(self.version, self.value)}/{self.prefixlen}"

    def contains(self, other: Network) -> bool:
        """True when ``other`` lies inside (or equals) this network."""
        return (
            self.version == other.version
            and self.prefixlen <= other.prefixlen
            and other.value >> (BITS[self.version] - self.prefixlen)
            == self.value >> (BITS[self.version] - self.prefixlen)
        )

    def contains_address(self, version: int, address: int) -> bool:
        return version == self.version and self.lo <= address <= self.hi


def _parse_address(text: str) -> tuple[int, int]:
    version = 6 if ":" in text else 4
    try:
        packed = socket.inet_pton(_FAMILY[version], text)
    except (OSError, ValueError):
        raise InvalidInput(f"{text!r} is not a valid IPv{version} address") from None
    return version, int.from_bytes(packed, "big")


_V4_MAPPED = 0xFFFF  # the upper 96 bits of ::ffff:0:0/96


def format_address(version: int, value: int) -> str:
    """RFC 5952 text: lower-case hex, longest zero run compressed, dotted quad only when IPv4-mapped.

    glibc's ``inet_ntop`` also writes ``::a:b`` as ``::0.10.0.11`` (the deprecated
    IPv4-compatible form); those few addresses go through :mod:`ipaddress` instead.
    """
    text = socket.inet_ntop(_FAMILY[version], value.to_bytes(_LEN[version], "big"))
    if version == 6 and "." in text and value >> 32 != _V4_MAPPED:
        import ipaddress

        text = ipaddress.IPv6Address(value).compressed
    return text


def parse_address(text: str) -> tuple[int, int]:
    """Parse an IP address into ``(version, integer)``; raise :class:`InvalidInput`."""
    text = text.strip()
    if "/" in text:
        raise InvalidInput(f"{text!r} is a network, not an address", hint="give a single IP")
    return _parse_address(text)


def mask(version: int, prefixlen: int) -> int:
    bits = BITS[version]
    return ((1 << bits) - 1) ^ ((1 << (bits - prefixlen)) - 1)


_HOSTMASK4 = [(1 << (32 - p)) - 1 for p in range(33)]
_HOSTMASK6 = [(1 << (128 - p)) - 1 for p in range(129)]
# every prefix length as the strict parser accepts it (ASCII digits, no sign, no leading zero):
# one dict probe both validates and converts
_PREFIXLEN = {str(p): p for p in range(129)}
_pton = socket.inet_pton
_from_bytes = int.from_bytes
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6
_new_network = tuple.__new__


def as_network(value: Network | str) -> Network:
    """A :class:`Network` as given, or parsed from CIDR text (so library callers may pass ``"10.0.0.0/24"``)."""
    return value if isinstance(value, Network) else parse_network(value)


def parse_network(text: str) -> Network:
    """Parse a CIDR strictly.

    A bare address is a host route (/32 or /128). A network with host bits set
    (``10.0.0.1/24``) is refused with the canonical form in the message: nothing
    is rounded silently.

    The common case (a canonical ``addr/len``) takes a fast path with no
    function calls beyond ``inet_pton``: bulk imports and overlap reports parse
    millions of these. Anything else falls through to the careful path, which
    produces the error messages.
    """
    addr, _, plen = text.partition("/")
    p = _PREFIXLEN.get(plen)
    if p is not None:
        try:
            if ":" in addr:
                value = _from_bytes(_pton(_AF6, addr), "big")
                if not value & _HOSTMASK6[p]:
                    return _new_network(Network, (6, value, p))
            elif p <= 32:
                value = _from_bytes(_pton(_AF4, addr), "big")
                if not value & _HOSTMASK4[p]:
                    return _new_network(Network, (4, value, p))
        except (OSError, ValueError):
            pass
    return _parse_network_carefully(text)


def _parse_network_carefully(text: str) -> Network:
    raw = text.strip()
    addr, slash, plen = raw.partition("/")
    if not addr:
        raise InvalidInput(f"{text!r} is not a CIDR", hint="expected e.g. 10.0.0.0/24 or 2001:db8::/32")
    try:
        version, value = _parse_address(addr)
    except InvalidInput:
        raise InvalidInput(
            f"{text!r} is not a CIDR", hint="expected e.g. 10.0.0.0/24 or 2001:db8::/32"
        ) from None
    bits = BITS[version]
    if not slash:
        return Network(version, value, bits)
    if not (
        plen.isascii() and plen.isdigit() and len(plen) <= 3 and int(plen) <= bits
        and (plen[0] != "0" or plen == "0")
    ):
        raise InvalidInput(f"{text!r} has an invalid prefix length", hint=f"use 0 to {bits}")
    prefixlen = int(plen)
    network = value & mask(version, prefixlen)
    if network != value:
        canonical = Network(version, network, prefixlen)
        raise InvalidInput(f"{raw} has host bits set", hint=f"did you mean {canonical}?")
    return Network(version, value, prefixlen)


def network_of(version: int, address: int, prefixlen: int) -> Network:
    """The prefix of length ``prefixlen`` that contains ``address``."""
    return Network(version, address & mask(version, prefixlen), prefixlen)


def parse_address_or_network(text: str) -> Network:
    """An IP (as a host prefix) or a CIDR: what ``--contains`` and ``--within`` take."""
    return parse_network(text)


def parse_listen(text: str, *, option: str, example: str, bare_port_host: str | None = None,
                 port_zero: bool = False) -> tuple[str, int]:
    """``ADDR:PORT`` (``[V6]:PORT`` for IPv6) to listen on -> (address, port).

    ``bare_port_host``: a ``PORT`` alone listens there (the metrics endpoints: loopback);
    ``port_zero``: port 0 picks a free port. An unbracketed IPv6 address is ambiguous: refused.
    """
    host, sep, port = text.rpartition(":")
    if not sep and bare_port_host is not None:
        host, port, sep = bare_port_host, text, ":"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""
    lowest = 0 if port_zero else 1
    if not sep or not host or not (port.isascii() and port.isdigit()) or not lowest <= int(port) <= 65535:
        raise InvalidInput(f"{option} {text!r} is not ADDR:PORT with a port from {lowest} to 65535",
                           hint=f"e.g. {example}")
    return host, int(port)


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``HOST:PORT`` where HOST is an IP (IPv6 in brackets) or a DNS name; refused otherwise."""
    bad = InvalidInput(f"{endpoint!r} is not HOST:PORT", hint="e.g. 203.0.113.7:51820 or [2001:db8::1]:51820")
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise bad
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise bad
    elif ":" in host:  # an IPv6 address needs brackets, or its last group reads as the port
        raise bad
    try:
        parse_address(host)
        return host, int(port)
    except WarpcliError:
        pass
    try:
        ascii_name = host.encode("idna").decode()
    except UnicodeError:
        raise bad from None
    labels = ascii_name.rstrip(".").split(".")
    if ":" in host or len(ascii_name) > 253 or not all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-") for label in labels
    ):
        raise bad
    return host, int(port)
