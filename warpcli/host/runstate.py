"""Small state files in the run directory (a tmpfs: nothing here survives a reboot, nor should it).

The sysctl ledger records the original value of every sysctl warpcli changes and which
users (connector and hub interfaces on this host) rely on them: the values go back
only when the last user goes down, so a hub that stops while a connector (or another
hub) still forwards does not switch forwarding off under it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from warpcli.core.files import atomic_write
from warpcli.host.errors import HostError
from warpcli.host.model import Sysctl

LEDGER = "sysctls.json"


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


def write_json(path: Path, obj: Any) -> None:
    """Write atomically (temp file created exclusively, 0600, then renamed)."""
    try:
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


def remember_sysctls(run_dir: Path, user: str, observed: list[Sysctl], desired: list[Sysctl]) -> None:
    """Before changing sysctls: record the original values (the first record wins, so a
    crash mid-``up`` never mistakes warpcli's own value for the original) and the user."""
    ledger = _ledger(run_dir)
    current = {s.key: s.value for s in observed}
    for s in desired:
        if current.get(s.key) != s.value and s.key in current:
            ledger["original"].setdefault(s.key, current[s.key])
    ledger["users"] = sorted(set(ledger["users"]) | {user})
    write_json(Path(run_dir) / LEDGER, ledger)


def restore_sysctls(run_dir: Path, user: str, netns: str | None) -> list[str]:
    """``user`` no longer needs the sysctls; the last user puts the originals back. Plan lines."""
    from warpcli.host import sysctl

    path = Path(run_dir) / LEDGER
    ledger = _ledger(run_dir)
    ledger["users"] = [u for u in ledger["users"] if u != user]
    # the user's own interface keys went away with its interface
    ledger["original"] = {k: v for k, v in ledger["original"].items() if not k.startswith(f"net.ipv4.conf.{user}.")}
    if ledger["users"]:
        write_json(path, ledger)
        return []
    lines = []
    for key, value in sorted(ledger["original"].items()):
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
