"""The policy in the kernel: running nft, and the entry points the hub calls.

:func:`plan` says what loading a policy changes and returns what loads it: with a run directory,
the change alone in one transaction, compiled against the record of what the table holds; without
a usable record, or when the table is not what the record says, the whole table (the full load).
:func:`load` always loads it whole; :func:`remove` deletes the table and the record;
:func:`stats` and :func:`counters` read what each rule decided.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warpcli.core.policy import Policy
from warpcli.host.errors import HostError
from warpcli.host.nft import run_nft
from warpcli.host.policy_nft.compiler import compile_full, compile_update
from warpcli.host.policy_nft.layout import Layout, Spec, locked, read_record, record_path, stamp_of, write_record
from warpcli.host.policy_nft.ruleset import (
    DEFAULT_CHAIN,
    FAMILY,
    GEN_CHAIN_PREFIX,
    LOG_CHAIN_PREFIX,
    SUFFIX_CHAIN,
    delta_commands,
    full_commands,
    table,
)


def _nft(netns: str | None, args: list[str], stdin: str | None = None, *, check: bool = True) -> str | None:
    return run_nft(netns, args, stdin, needed_for="network policies need nftables", check=check, timeout=60)


def _run(netns: str | None, cmds: list[dict]) -> None:
    _nft(netns, ["-j", "-f", "-"], json.dumps({"nftables": cmds}, separators=(",", ":")))


def _items(text: str | None) -> list[dict]:
    if text is None:
        return []
    try:
        return json.loads(text).get("nftables", [])
    except ValueError:
        raise HostError("nft -j printed something that is not JSON") from None


def loaded_gen(ifname: str, netns: str | None = None) -> str | None:
    """The generation of the table in the kernel ("" for a table without one, as an older warpcli
    made); None when there is no table. Lists chains only, not the maps: cheap at any size."""
    t = table(ifname)
    names = [item["chain"].get("name", "") for item in _items(_nft(netns, ["-j", "list", "chains", FAMILY],
                                                                    check=False))
             if "chain" in item and item["chain"].get("table") == t]
    if not names:
        return None
    return next((n.removeprefix(GEN_CHAIN_PREFIX) for n in names if n.startswith(GEN_CHAIN_PREFIX)), "")


@dataclass
class RuleCounters:
    """One rule's counters in the kernel: packets and bytes it decided (original direction),
    and for a ``--log`` rule the new connections it logged."""

    packets: int = 0
    bytes: int = 0
    logged: int | None = None


def stats(ifname: str, netns: str | None = None) -> dict[str, RuleCounters]:
    """Rule name (and ``(default)``) -> its counters; {} without a table."""
    out: dict[str, RuleCounters] = {}
    for item in _items(_nft(netns, ["-j", "list", "table", FAMILY, table(ifname)], check=False)):
        if "map" in item:
            for elem, _ in item["map"].get("elem", []):
                e = elem.get("elem", {}) if isinstance(elem, dict) else {}
                c, name = e.get("counter"), e.get("comment")
                if c is not None and name is not None:
                    r = out.setdefault(name, RuleCounters())
                    r.packets += int(c["packets"])
                    r.bytes += int(c["bytes"])
        rule = item.get("rule")
        name = rule.get("comment") if isinstance(rule, dict) else None
        if not rule or not name:
            continue
        chain = rule.get("chain", "")
        for e in rule.get("expr", []):
            if "counter" not in e:
                continue
            r = out.setdefault(name, RuleCounters())
            if chain.startswith(LOG_CHAIN_PREFIX):
                r.logged = (r.logged or 0) + int(e["counter"]["packets"])
            elif chain in (DEFAULT_CHAIN, SUFFIX_CHAIN):
                r.packets += int(e["counter"]["packets"])
                r.bytes += int(e["counter"]["bytes"])
    return out


def counters(ifname: str, netns: str | None = None) -> dict[str, tuple[int, int]]:
    """Rule name -> (packets, bytes) as the kernel counted them (the sum over the rule's map
    elements); {} without a table."""
    return {name: (c.packets, c.bytes) for name, c in stats(ifname, netns).items()}


def load(policy: Policy, ifname: str, netns: str | None = None, run_dir: Path | None = None) -> None:
    """Replace the table by ``policy`` in one transaction (its counters start from zero)."""
    spec = Spec.of_policy(policy)
    with locked(run_dir, ifname):
        _apply_full(spec, compile_full(spec, ifname), ifname, netns, run_dir)


def _apply_full(spec: Spec, layout: Layout, ifname: str, netns: str | None, run_dir: Path | None) -> None:
    """The whole table in one transaction, then its record (the caller holds the lock)."""
    path = record_path(run_dir, ifname) if run_dir is not None else None
    if path is not None:
        path.unlink(missing_ok=True)
    layout.gen = secrets.token_hex(6)
    layout.fingerprint = spec.fingerprint(ifname)
    _run(netns, full_commands(layout, spec.rules(), ifname, layout.gen))
    if path is not None:
        write_record(path, layout)


def plan(spec: Spec, ifname: str, *, netns: str | None = None,
         run_dir: Path | None = None) -> tuple[list[str], Callable[[], object] | None]:
    """The plan line for loading ``spec`` at this hub, and what loads it (None: the table already
    holds it). With ``run_dir``, against the record of what the table holds: the change alone,
    in one transaction; without a usable record, the whole table."""
    if not spec.sigs and spec.default == "allow":  # no table: today's behaviour
        if shutil.which("nft") is None or loaded_gen(ifname, netns) is None:
            return [], None
        return [f"- {describe(0, 'allow', ifname)}"], lambda: remove(ifname, netns, run_dir)
    gen = loaded_gen(ifname, netns)
    record = read_record(run_dir, ifname) if run_dir is not None and gen else None
    if record is not None and record.gen != gen:
        record = None
    if record is not None and record.fingerprint == spec.fingerprint(ifname):
        return [], None
    update = compile_update(record, spec) if record is not None else None
    live = sum(r is not None for r in spec.rules()) if update is None else update[0].live
    if live == 0 and spec.default == "allow":  # every rule names tunnels without routes
        if gen is None:
            return [], None
        return [f"- {describe(0, 'allow', ifname)}"], lambda: remove(ifname, netns, run_dir)
    line = f"{'+' if gen is None else '~'} {describe(live, spec.default, ifname)}"

    def apply() -> None:
        with locked(run_dir, ifname):
            if record is None or update is None or run_dir is None:
                _apply_full(spec, compile_full(spec, ifname), ifname, netns, run_dir)
                return
            path = record_path(run_dir, ifname)
            if stamp_of(path) != record.stamp:  # another writer came first: what it left is unknown here
                _apply_full(spec, compile_full(spec, ifname), ifname, netns, run_dir)
                return
            layout, delta = update
            path.unlink()  # from here until written again, the record describes nothing
            cmds = delta_commands(record, layout, delta, spec, ifname)
            try:
                if cmds:
                    _run(netns, cmds)
            except HostError:  # the table is not what the record said: load it whole
                _apply_full(spec, compile_full(spec, ifname), ifname, netns, run_dir)
                return
            layout.gen, layout.fingerprint = record.gen, spec.fingerprint(ifname)
            write_record(path, layout)

    return [line], apply


def remove(ifname: str, netns: str | None = None, run_dir: Path | None = None) -> bool:
    """Delete the table (and its record); True when there was one."""
    with locked(run_dir, ifname):
        if run_dir is not None:
            record_path(run_dir, ifname).unlink(missing_ok=True)
        gone = shutil.which("nft") is not None and _nft(netns, ["delete", "table", FAMILY, table(ifname)],
                                                        check=False) is not None
    if run_dir is not None:
        (Path(run_dir) / f"policy-{ifname}.lock").unlink(missing_ok=True)
    return gone


def wanted(policy: Policy) -> bool:
    """Whether the policy needs a table at all (default allow and no rule: today's behaviour)."""
    return bool(policy.rules) or policy.default != "allow"


def describe(rules: int, default: str, ifname: str) -> str:
    return (f"nftables policy: {rules} rule{'s' if rules != 1 else ''}, default {default} "
            f"(table {FAMILY} {table(ifname)})")
