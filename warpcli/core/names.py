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


#: Cyrillic and Greek letters drawn like a Latin one (from Unicode's confusables, UTS #39, the
#: letters of those two scripts whose prototype is a single Latin letter): ``bürо`` with a Cyrillic
#: ``о`` is ``büro`` to a reader
_LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l", "о": "o", "р": "p",
    "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y",
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "Ԛ": "Q", "Ѕ": "S", "Т": "T", "Ԝ": "W", "Х": "X", "Ү": "Y", "Ζ": "Z",
    # Greek
    "ο": "o", "ν": "v", "ρ": "p", "ι": "i",
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X",
})


def name_skeleton(name: str) -> str:
    """What a name looks like to a reader: compatibility forms folded (NFKC: ``ｏffice`` (fullwidth)
    and ``office``, ``ﬁle`` (ligature) and ``file``), then Cyrillic and Greek look-alikes of Latin
    letters mapped to them (``bürо`` with a Cyrillic ``о`` and ``büro``)."""
    if name.isascii():
        return name
    # decomposed first, so that a look-alike carrying a mark (Cyrillic ``ӧ``) maps as its base letter does
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", name).translate(_LOOKALIKES))


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
    if not comment.isprintable():
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
