"""Small state files in the run directory (a tmpfs: nothing here survives a reboot, nor should it).

Run state is per network namespace: ``RUN_DIR/netns-INODE`` (:func:`scoped_run_dir`), so
warpcli in two namespaces of one host (containers, ``ip netns exec``) never shares an
interface record or a sysctl ledger.

The sysctl ledger records the original value of every sysctl warpcli changes and which
users (connector and hub interfaces on this host) rely on them: the values go back
only when the last user goes down, so a hub that stops while a connector (or another
hub) still forwards does not switch forwarding off under it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from warpcli.core.files import atomic_write
from warpcli.host.errors import HostError
from warpcli.host.model import Sysctl

LEDGER = "sysctls.json"
#: the per-interface forwarding sysctls: writing a global forwarding switch resets them all
#: (and, for IPv6, the router-anycast routes that follow them), so `down` must put them back
CONF_FORWARDING = re.compile(r"^net/ipv[46]/conf/([^/]+)/forwarding$")
_TMP = re.compile(r"^\..+\.(\d+)\.tmp$")  # core.files.atomic_write's temporary files


def netns_inode(netns: str | None) -> int:
    """The inode of a network namespace: the one this thread is in (None), or a named one."""
    from warpcli.host.routing import netns as ns

    try:
        return os.stat(ns.path(netns) if netns else "/proc/thread-self/ns/net").st_ino
    except OSError as exc:
        raise HostError(f"cannot identify the network namespace ({exc.strerror})") from None


def scoped_run_dir(run_dir: Path, netns: str | None) -> Path:
    """Where the run state of one network namespace lives: ``RUN_DIR/netns-INODE``.

    Files an older warpcli left directly in ``RUN_DIR`` are moved in the first time the
    host's own namespace (PID 1's) asks: that is where they were written.
    """
    base = Path(run_dir)
    inode = netns_inode(netns)
    if base.name == f"netns-{inode}":  # already scoped (idempotent: entry points may nest)
        return base
    scoped = base / f"netns-{inode}"
    if not scoped.is_dir():
        _adopt_legacy(base, scoped, inode)
    return scoped


def _adopt_legacy(base: Path, scoped: Path, inode: int) -> None:
    try:
        if os.stat("/proc/1/ns/net").st_ino != inode:
            return
        legacy = [p for p in base.iterdir() if p.is_file() and p.suffix in (".json", ".log")]
    except OSError:
        return
    if not legacy:
        return
    try:
        scoped.mkdir(parents=True, exist_ok=True, mode=0o700)
        for p in legacy:
            os.replace(p, scoped / p.name)
    except OSError as exc:
        raise HostError(f"cannot move run state into {scoped} ({exc.strerror})",
                        hint="check WARPCLI_RUN_DIR / run_dir") from None


def remove_stale_temp_files(run_dir: Path) -> list[str]:
    """Remove ``.NAME.PID.tmp`` files of writers that were killed mid-write (their PID is gone).

    Provably ours: only atomic_write makes names of that shape in the run directory, and a
    writer that is still running is left alone. Returns the removed names.
    """
    removed: list[str] = []
    try:
        entries = list(Path(run_dir).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TMP.match(p.name)
        if not m or not p.is_file():
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and os.path.exists(f"/proc/{pid}"):
            continue
        try:
            p.unlink()
            removed.append(p.name)
        except OSError:
            pass
    return removed


def read_json(path: Path) -> Any | None:
    """A JSON file's content; None when absent or unreadable as JSON; HostError on I/O trouble."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ValueError:
        return None
    except OSError as exc:
        raise HostError(f"cannot read {path} ({exc.strerror})", hint="check WARPCLI_RUN_DIR / run_dir") from None


def write_json(path: Path, obj: Any, *, mkdir: bool = True) -> None:
    """Write atomically (temp file created exclusively, 0600, then renamed). ``mkdir=False`` is for
    a long-lived writer whose directory someone may remove to retire it: it must not bring it back."""
    try:
        if mkdir:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # one line: easy to grep in scripts
        atomic_write(path, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(), 0o600)
    except OSError as exc:
        raise HostError(f"cannot write {path} ({exc.strerror})", hint="check WARPCLI_RUN_DIR / run_dir") from None


def _ledger(run_dir: Path) -> dict:
    data = read_json(Path(run_dir) / LEDGER)
    if not isinstance(data, dict):
        data = {}
    return {"original": dict(data.get("original", {})), "users": sorted(set(data.get("users", [])))}


def remember_sysctls(run_dir: Path, user: str, observed: list[Sysctl], desired: list[Sysctl],
                     netns: str | None = None) -> None:
    """Before changing sysctls: record the original values (the first record wins, so a
    crash mid-``up`` never mistakes warpcli's own value for the original) and the user.

    When a global forwarding switch is about to change, every per-interface forwarding
    value (``conf/IF/forwarding``, ``conf/default/forwarding``) is recorded too: the kernel
    overwrites them all when the global one is written."""
    ledger = _ledger(run_dir)
    current = {s.key: s.value for s in observed}
    changing = [s for s in desired if current.get(s.key) != s.value and s.key in current]
    for s in changing:
        ledger["original"].setdefault(s.key, current[s.key])
    if any(s.key in GLOBAL_FORWARDING for s in changing):
        for key, value in per_interface_forwarding(netns).items():
            ledger["original"].setdefault(key, value)
    ledger["users"] = sorted(set(ledger["users"]) | {user})
    write_json(Path(run_dir) / LEDGER, ledger)


GLOBAL_FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def per_interface_forwarding(netns: str | None) -> dict[str, str]:
    """``net/ipv4/conf/IF/forwarding`` and the IPv6 ones, for every interface and ``default``
    (``all`` is the global switch itself), in slash form (interface names may hold dots)."""
    from warpcli.host.routing import netns as ns

    def read() -> dict[str, str]:
        out = {}
        for family in (4, 6):
            conf = Path(f"/proc/sys/net/ipv{family}/conf")
            try:
                names = sorted(os.listdir(conf))
            except OSError:
                continue  # no IPv6 in this namespace
            for name in names:
                if name == "all":
                    continue
                try:
                    out[f"net/ipv{family}/conf/{name}/forwarding"] = (conf / name / "forwarding").read_text().strip()
                except OSError:
                    continue  # the interface went away meanwhile
        return out

    return ns.run_in(netns, read)


def _restore_order(item: tuple[str, str]) -> tuple[int, str]:
    """Global switches first (they overwrite every interface), then ``default``, then interfaces."""
    key = item[0]
    if key in GLOBAL_FORWARDING:
        return (0, key)
    m = CONF_FORWARDING.match(key)
    if m:
        return (2 if m.group(1) == "default" else 3, key)
    return (1, key)


def restore_sysctls(run_dir: Path, user: str, netns: str | None) -> list[str]:
    """``user`` no longer needs the sysctls; the last user puts the originals back. Plan lines."""
    from warpcli.host.routing import sysctl

    path = Path(run_dir) / LEDGER
    ledger = _ledger(run_dir)
    ledger["users"] = [u for u in ledger["users"] if u != user]
    # the user's own interface keys went away with its interface
    own = (f"net.ipv4.conf.{user}.", f"net/ipv4/conf/{user}/", f"net/ipv6/conf/{user}/")
    ledger["original"] = {k: v for k, v in ledger["original"].items() if not k.startswith(own)}
    if ledger["users"]:
        write_json(path, ledger)
        return []
    lines = []
    for key, value in sorted(ledger["original"].items(), key=_restore_order):
        try:
            before = sysctl.write(key, value, netns)
        except (OSError, HostError):
            continue
        if before != value:
            lines.append(f"~ sysctl {key}: {before} -> {value}")
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return lines
