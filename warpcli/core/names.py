"""Rules for the names of tunnels and virtual networks."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from warpcli.core.errors import InvalidInput
from warpcli.core.model import is_uuid

MAX_NAME = 255


def normalize_name(name: str) -> str:
    """The one spelling a name is stored and looked up in: Unicode NFC.

    ``büro`` typed as one code point (NFC) or as ``u`` plus a combining diaeresis (NFD, as
    macOS file names and some keyboards give it) is one name, not two that look alike.
    """
    return name if name.isascii() else unicodedata.normalize("NFC", name)


def name_skeleton(name: str) -> str:
    """What a name looks like once compatibility forms are folded (NFKC): ``ｏffice`` (fullwidth)
    and ``office``, or ``ﬁle`` (ligature) and ``file``, share a skeleton."""
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


def confusable_with(name: str, existing: Iterable[str]) -> str | None:
    """An existing name that differs from ``name`` but looks the same (same skeleton), or None.

    Both sides are compared in NFC; an identical name is not "confusable" (the caller's
    uniqueness check reports it).
    """
    name = normalize_name(name)
    skeleton = name_skeleton(name)
    for other in existing:
        other = normalize_name(other)
        if other != name and name_skeleton(other) == skeleton:
            return other
    return None


def validate_name(kind: str, name: str) -> str:
    """Refuse names that scripts and tables cannot round-trip; return the name in NFC.

    A name shaped like a UUID is refused too: commands accept a name or an id,
    and such a name would be ambiguous.
    """
    name = normalize_name(name)
    if not name or name != name.strip():
        raise InvalidInput(f"{kind} name {name!r} is empty or has surrounding spaces")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"{kind} name is longer than {MAX_NAME} characters")
    if any(not ch.isprintable() for ch in name):
        raise InvalidInput(f"{kind} name {name!r} contains control characters")
    if is_uuid(name):
        raise InvalidInput(f"{kind} name {name!r} looks like an id", hint="choose a name that is not a UUID")
    if kind == "virtual network" and name == RESERVED_VNET:
        raise InvalidInput(f"{name!r} is reserved (`--vnet all` means every virtual network)")
    return name


RESERVED_VNET = "all"
MAX_COMMENT = 1000
#: Cloudflare's limit for a virtual network's comment (``tunnel_virtual_network_comment``)
MAX_VNET_COMMENT = 256


def validate_comment(comment: str, limit: int = MAX_COMMENT) -> str:
    """Free text, but no control characters: they would reach terminals and tables raw."""
    if len(comment) > limit:
        raise InvalidInput(f"the comment is longer than {limit} characters")
    if any(not ch.isprintable() for ch in comment):
        raise InvalidInput("the comment contains control characters")
    return comment


#: Linux's IFNAMSIZ - 1; the characters are the ones wg-quick accepts, which every tool can quote
IFNAME_MAX = 15
_IFNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=+.-")


def validate_interface(name: str) -> str:
    """A network interface name: 1-15 characters out of letters, digits and ``_=+.-``."""
    if not (0 < len(name) <= IFNAME_MAX) or not _IFNAME_CHARS.issuperset(name) or name in (".", ".."):
        raise InvalidInput(
            f"{name!r} is not a usable interface name",
            hint=f"1 to {IFNAME_MAX} characters out of letters, digits and _=+.-",
        )
    return name
