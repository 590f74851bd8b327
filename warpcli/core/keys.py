"""WireGuard keys: X25519 pairs in base64 (as ``wg genkey``/``wg pubkey``), hex for UAPI.

The private key is a secret: :class:`KeyPair` never shows it in ``repr``; callers
store it through the secret store and pass it only to :mod:`warpcli.host.wireguard.uapi`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from warpcli.core.errors import InvalidInput

KEY_LEN = 32


@dataclass(frozen=True)
class KeyPair:
    public_key: str
    private_key: str = field(repr=False)


def _decode(key: str, what: str = "key") -> bytes:
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_LEN:
        # never echo the value: it may be a private key
        raise InvalidInput(f"invalid WireGuard {what}", hint="expected 32 bytes in base64 (44 characters)")
    return raw


def _clamp(raw: bytes) -> bytes:
    """Curve25519 clamping, as ``wg genkey`` does (the public key is the same either way)."""
    b = bytearray(raw)
    b[0] &= 248
    b[31] = (b[31] & 127) | 64
    return bytes(b)


def generate_keypair() -> KeyPair:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = X25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    private = base64.b64encode(_clamp(raw)).decode()
    return KeyPair(public_key=public_key(private), private_key=private)


def public_key(private_key: str) -> str:
    """The base64 public key of a base64 private key (``wg pubkey``)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = X25519PrivateKey.from_private_bytes(_decode(private_key, "private key"))
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def validate_key(key: str, what: str = "public key") -> str:
    """Return the key normalised (stripped); raise :class:`InvalidInput` if it is not 32 bytes."""
    _decode(key, what)
    return key.strip()


def b64_to_hex(key: str, what: str = "key") -> str:
    return _decode(key, what).hex()


def hex_to_b64(key: str) -> str:
    try:
        raw = bytes.fromhex(key.strip())
    except ValueError:
        raw = b""
    if len(raw) != KEY_LEN:
        raise InvalidInput("invalid WireGuard key in hex", hint="expected 64 hex digits")
    return base64.b64encode(raw).decode()
