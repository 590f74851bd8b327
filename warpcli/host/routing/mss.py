"""TCP MSS clamping on a tunnel interface, with nftables (``nft``).

A LAN host sends full-size (1500-byte) segments; the tunnel carries less (its MTU).
Path MTU discovery needs ICMP "fragmentation needed" to reach the sender, and a LAN
that drops ICMP turns the tunnel into a black hole for bulk TCP. Rewriting the MSS
option of every SYN that leaves through the tunnel to what the route's MTU allows
(``tcp option maxseg size set rt mtu``, both IP families) makes both ends send
segments that fit, with or without ICMP.

What warpcli owns: the table ``inet warpcli`` and its chain ``mss`` (hook ``forward``,
priority ``mangle``), and in it one rule per tunnel interface whose comment is the tag
``warpcli-mss:IFNAME``. ``ensure`` adds the rule when no rule carries the tag (so a
re-run, or a run after a crash, never duplicates it); ``remove`` deletes every rule
with the tag by handle, then the table when no rule of anyone is left in it. Reads go
through ``nft -j``; writes are one ``nft -f -`` transaction each.
"""

from __future__ import annotations

import json
import shutil
import subprocess

from warpcli.host.errors import HostError
from warpcli.host.routing.netns import exec_argv

TABLE = "warpcli"
CHAIN = "mss"
FAMILY = "inet"


def tag(ifname: str) -> str:
    return f"warpcli-mss:{ifname}"


def available() -> bool:
    return shutil.which("nft") is not None


def _nft(netns: str | None, args: list[str], script: str | None = None) -> str:
    from warpcli.host.nft import run_nft

    return run_nft(netns, args, script, needed_for="TCP MSS clamping needs nftables") or ""


def _rules(netns: str | None) -> list[dict] | None:
    """The rules of warpcli's chain (``comment``, ``handle``), or None when the table is absent."""
    exe = shutil.which("nft")
    if exe is None:
        return None
    p = subprocess.run(exec_argv(netns, [exe, "-j", "list", "table", FAMILY, TABLE]), capture_output=True,
                       text=True, timeout=30)
    if p.returncode != 0:  # no such table
        return None
    try:
        items = json.loads(p.stdout).get("nftables", [])
    except ValueError:
        raise HostError("nft -j printed something that is not JSON") from None
    return [i["rule"] for i in items if "rule" in i and i["rule"].get("chain") == CHAIN]


def present(ifname: str, netns: str | None = None) -> bool:
    return any(r.get("comment") == tag(ifname) for r in _rules(netns) or [])


def _quote(ifname: str) -> str:
    if not ifname or any(c in ifname for c in "\"\\\n ") or len(ifname) > 15:
        raise HostError(f"invalid interface name {ifname!r}")
    return f'"{ifname}"'


def ensure(ifname: str, netns: str | None = None) -> bool:
    """Clamp the MSS of TCP SYNs leaving through ``ifname``; True when the rule was added now."""
    if present(ifname, netns):
        return False
    name = _quote(ifname)
    script = (
        f"add table {FAMILY} {TABLE}\n"
        f"add chain {FAMILY} {TABLE} {CHAIN} {{ type filter hook forward priority mangle; policy accept; }}\n"
        f"add rule {FAMILY} {TABLE} {CHAIN} oifname {name} tcp flags syn / syn,rst "
        f"tcp option maxseg size set rt mtu comment \"{tag(ifname)}\"\n"
    )
    _nft(netns, ["-f", "-"], script)
    return True


def remove(ifname: str, netns: str | None = None) -> bool:
    """Delete this interface's rules (by tag and handle); the table goes when it is left empty.
    True when something was removed."""
    rules = _rules(netns)
    if rules is None:
        return False
    mine = [r for r in rules if r.get("comment") == tag(ifname)]
    lines = [f"delete rule {FAMILY} {TABLE} {CHAIN} handle {int(r['handle'])}" for r in mine]
    if len(mine) == len(rules):
        lines = [f"delete table {FAMILY} {TABLE}"]
    _nft(netns, ["-f", "-"], "\n".join(lines) + "\n")
    return bool(mine)


def describe(ifname: str) -> str:
    return f"nftables: clamp TCP MSS to the route MTU on {ifname} (table {FAMILY} {TABLE}, tag {tag(ifname)})"
