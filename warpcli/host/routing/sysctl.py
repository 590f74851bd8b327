"""Read and write network sysctls inside a network namespace, returning previous values.

Only ``net.*`` keys are accepted: they are the per-namespace ones, so writing one
inside a test namespace can never change the host. Keys take the dotted form
(``net.ipv4.ip_forward``) or the slash form, which is needed when an interface
name contains a dot (``net/ipv4/conf/eth0.100/rp_filter``).
"""

from __future__ import annotations

from pathlib import Path

from warpcli.host.errors import HostError
from warpcli.host.routing import netns as ns

PROC_SYS = Path("/proc/sys")


def key_path(key: str) -> Path:
    parts = key.strip().split("/") if "/" in key else key.strip().split(".")
    if len(parts) < 2 or parts[0] != "net" or any(p in ("", ".", "..") for p in parts):
        raise HostError(f"refusing sysctl {key!r}", hint="only net.* keys (per network namespace)")
    return PROC_SYS.joinpath(*parts)


def conf_key(family: int, ifname: str, name: str) -> str:
    """``net/ipv4/conf/IFNAME/NAME`` (slash form: interface names may contain dots)."""
    return f"net/ipv{family}/conf/{ifname}/{name}"


def _read_all(keys: list[str]) -> dict[str, str]:
    out = {}
    for key in keys:
        p = key_path(key)
        try:
            out[key] = p.read_text().strip()
        except FileNotFoundError:
            raise HostError(f"no sysctl {key}") from None
        except OSError as exc:
            raise HostError(f"cannot read sysctl {key}: {exc.strerror}", errno=exc.errno) from None
    return out


def _write_all(values: dict[str, str]) -> dict[str, str]:
    """Write in order; on a failure restore what was written, then raise. Returns previous values."""
    previous: dict[str, str] = {}
    try:
        for key, value in values.items():
            p = key_path(key)
            previous[key] = _read_all([key])[key]
            try:
                p.write_text(f"{value}\n")
            except OSError as exc:
                raise HostError(f"cannot set sysctl {key}={value}: {exc.strerror}", errno=exc.errno) from None
    except HostError:
        for key, value in reversed(list(previous.items())):
            try:
                key_path(key).write_text(f"{value}\n")
            except OSError:
                pass
        raise
    return previous


def read(key: str, netns: str | None = None) -> str:
    return ns.run_in(netns, _read_all, [key])[key]


def read_many(keys: list[str], netns: str | None = None) -> dict[str, str]:
    return ns.run_in(netns, _read_all, list(keys))


def write(key: str, value: str | int, netns: str | None = None) -> str:
    """Set one sysctl; return its previous value."""
    return ns.run_in(netns, _write_all, {key: str(value)})[key]


def write_many(values: dict[str, str | int], netns: str | None = None) -> dict[str, str]:
    """Set several sysctls, all or nothing; return their previous values (pass them to
    :func:`write_many` again to restore)."""
    return ns.run_in(netns, _write_all, {k: str(v) for k, v in values.items()})
